"""Periodic work. Every job reads its state from the database, so a restart simply runs it again at the next
tick: reminders, escalations and digests are rows or timestamps, not timers held in memory."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram.ext import Application, ContextTypes

from bot.inbox import purge_handled
from bot.leases import LeaseKeeper
from bot.runtime import USER_CHANGES_POLL_SECONDS, Runtime
from handlers import booking, custodian, feedback, notices, privacy, stats, timebank

log = logging.getLogger(__name__)

JobFunction = Callable[[Runtime], Awaitable[None]]
STATISTICS_FIRST_WARM_AFTER = 2.0  # seconds: after the bot has started answering, before anyone opens the screen


@dataclass(frozen=True)
class PeriodicJob:
    name: str
    every_seconds: float
    run: JobFunction
    # Seconds before the first run; None: one interval, as a job that only catches up on what came due.
    first_after: float | None = None
    # False: one instance at a time runs it, the one holding the jobs' lease (bot/leases.py); True: every instance
    # runs it, for what each process keeps in its own memory (content, the user cache).
    every_instance: bool = False


async def watch_content(rt: Runtime) -> None:
    """Reload content when an editor saves a file; an invalid save leaves the last good version in service."""
    if rt.content_store.changed_on_disk():
        problems = rt.content_store.reload()
        if problems:
            log.warning("content not reloaded, %d problem(s); first: %s", len(problems), problems[0])
        else:
            log.info("content reloaded (version %s)", rt.content.version)


async def warm_statistics(rt: Runtime) -> None:
    """Count again the statistics people read lately, so the screen answers from memory (storage.stats.SummaryCache)."""
    began = time.perf_counter()
    counted = await rt.summaries.refresh(rt.db, rt.content, rt.settings.timezone, rt.clock.now())
    log.debug("statistics kept warm: %d summaries counted in %.0f ms", counted, (time.perf_counter() - began) * 1000)


# Features append their jobs here (reminders, escalations, digests); bot/app.py schedules every one. Every job runs
# on ONE instance at a time (the holder of the jobs' lease) unless marked every_instance: with several instances
# behind a proxy, an escalation or a digest is still sent once. Reminders and other messages are outbox rows,
# which every instance's sender claims with a lease of its own (storage/outbox.py).
# Every instance: each process reloads its own copy of the content when an editor saves a file.
PERIODIC_JOBS: list[PeriodicJob] = [PeriodicJob("content-watcher", 5.0, watch_content, every_instance=True)]
# Every instance: roles changed on any instance (an admin revoked one) stop working in this process's user cache
# within two seconds: one indexed read.
PERIODIC_JOBS.append(PeriodicJob("user-changes", USER_CHANGES_POLL_SECONDS, Runtime.drop_changed_users, first_after=0.0,
                                 every_instance=True))
# Waitlist offers not confirmed in time pass to the next tenant in line (reminders need no job: outbox rows).
PERIODIC_JOBS.append(PeriodicJob("waitlist-offers", 60.0, booking.expire_waitlist_offers))
# Reports: escalate tickets nobody took in charge, send each custodian's daily digest, close resolved tickets
# nobody reopened within 14 days.
PERIODIC_JOBS.append(PeriodicJob("ticket-escalations", 60.0, custodian.escalate_overdue))
PERIODIC_JOBS.append(PeriodicJob("ticket-digests", 60.0, custodian.send_digests))
PERIODIC_JOBS.append(PeriodicJob("ticket-closing", 600.0, custodian.close_resolved))

# Feedback: questions after attended bookings and confirmed fixes (at most one a day per tenant); committees'
# monthly digest, once per member and month.
PERIODIC_JOBS.append(PeriodicJob("feedback-prompts", 60.0, feedback.send_prompts))
PERIODIC_JOBS.append(PeriodicJob("committee-digests", 600.0, stats.send_committee_digests))
# Statistics: the summaries read lately, and the whole city's this month, counted again every minute; the first
# time right after a start, so that an admin's first look is already warm.
# Inbox: updates handled more than a day ago are deleted (bot/inbox.py).
PERIODIC_JOBS.append(PeriodicJob("inbox-purge", 3600.0, purge_handled))
PERIODIC_JOBS.append(PeriodicJob("statistics-warm", 60.0, warm_statistics, first_after=STATISTICS_FIRST_WARM_AFTER))
# Privacy: once a night after QC_PURGE_TIME, what has been kept as long as the retention settings say is purged
# (storage/privacy.py), in short transactions; checked every ten minutes.
PERIODIC_JOBS.append(PeriodicJob("privacy-purge", 600.0, privacy.nightly_purge))

# Time bank: the weekly "new offers near you" for members who asked (one per member and week, through the outbox),
# and personal data past its retention (storage/timebank.RETENTION).
PERIODIC_JOBS.append(PeriodicJob("timebank-digests", 600.0, timebank.send_digests))
PERIODIC_JOBS.append(PeriodicJob("timebank-retention", 3600.0, timebank.purge_personal_data))

# Neighbourhood life: new items of the programme to their followers (once), the Monday digest, retention.
PERIODIC_JOBS.append(PeriodicJob("whats-on-announce", 60.0, notices.announce_new_items, first_after=1.0))
PERIODIC_JOBS.append(PeriodicJob("whats-on-digest", 600.0, notices.weekly_digest))
PERIODIC_JOBS.append(PeriodicJob("neighbourhood-retention", 86400.0, notices.retention, first_after=600.0))


def schedule_all(application: Application) -> None:
    rt: Runtime = application.bot_data["runtime"]
    lease: LeaseKeeper | None = application.bot_data.get("jobs_lease")  # None: a lone process (bench, sandbox)
    for job in PERIODIC_JOBS:

        async def tick(_context: ContextTypes.DEFAULT_TYPE, job: PeriodicJob = job) -> None:
            if not job.every_instance and lease is not None and not lease.held:
                return  # another instance runs it now
            try:
                await job.run(rt)
            except Exception:
                log.exception("job %s failed; it runs again at the next tick", job.name)
            rt.wake_outbox()

        first = job.every_seconds if job.first_after is None else job.first_after
        application.job_queue.run_repeating(tick, interval=job.every_seconds, first=first, name=job.name)
