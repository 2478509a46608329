"""Periodic work. Every job reads its state from the database, so a restart simply runs it again at the next
tick: reminders, escalations and digests are rows or timestamps, not timers held in memory."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from telegram.ext import Application, ContextTypes

from bot.leases import LeaseKeeper
from bot.runtime import Runtime
from storage.domain import search

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
            search.prepare_index(rt.content)  # here, not in the first search after the reload


async def warm_statistics(rt: Runtime) -> None:
    """Count again the statistics people read lately, so the screen answers from memory (storage.domain.stats.SummaryCache)."""
    began = time.perf_counter()
    counted = await rt.summaries.refresh(rt.db, rt.content, rt.settings.timezone, rt.clock.now())
    log.debug("statistics kept warm: %d summaries counted in %.0f ms", counted, (time.perf_counter() - began) * 1000)


def schedule_all(application: Application, periodic_jobs: list[PeriodicJob]) -> None:
    """Every job of bot/app.py's PERIODIC_JOBS on PTB's job queue; a failing tick is logged and runs again. Every
    job runs on ONE instance at a time (the holder of the jobs' lease, bot/leases.py) unless marked every_instance:
    with several instances behind a proxy, an escalation or a digest is still sent once. Reminders and other
    messages are outbox rows, which every instance's sender claims with a lease of its own
    (storage/domain/outbox.py)."""
    rt: Runtime = application.bot_data["runtime"]
    lease: LeaseKeeper | None = application.bot_data.get("jobs_lease")  # None: a lone process (bench, sandbox)
    for job in periodic_jobs:

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
