"""One instance at a time: a lease row is held by one owner, renewed by it, taken by another only once it has run
out (or at once after a clean release); jobs marked for one instance skip their tick elsewhere."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from bot import app, jobs, leases as lease_keeper
from storage.domain import inbox, leases

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
LEASE = timedelta(seconds=45)


async def test_one_owner_at_a_time_and_a_dead_ones_lease_taken_when_it_runs_out(db):
    assert await leases.hold(db, "periodic-jobs", "a/1", NOW, LEASE)
    assert not await leases.hold(db, "periodic-jobs", "b/2", NOW + timedelta(seconds=10), LEASE)
    assert await leases.hold(db, "periodic-jobs", "a/1", NOW + timedelta(seconds=15), LEASE)  # renewed
    assert not await leases.hold(db, "periodic-jobs", "b/2", NOW + timedelta(seconds=50), LEASE)  # still a's
    assert await leases.holder(db, "periodic-jobs", NOW + timedelta(seconds=50)) == "a/1"
    # a stops renewing (it died): b takes it once it has run out, and a cannot have it back while b renews.
    assert await leases.hold(db, "periodic-jobs", "b/2", NOW + timedelta(seconds=61), LEASE)
    assert not await leases.hold(db, "periodic-jobs", "a/1", NOW + timedelta(seconds=62), LEASE)
    # A known-dead holder (same host, its pid gone) is replaced at once; a clean release frees it at once too.
    assert await leases.hold(db, "periodic-jobs", "c/3", NOW + timedelta(seconds=63), LEASE, replacing="b/2")
    await leases.release(db, "periodic-jobs", "c/3")
    assert await leases.holder(db, "periodic-jobs", NOW + timedelta(seconds=64)) is None
    assert await leases.hold(db, "periodic-jobs", "a/1", NOW + timedelta(seconds=64), LEASE)
    # Leases by other names are independent.
    assert await leases.hold(db, "long-polling", "b/2", NOW + timedelta(seconds=64), LEASE)


async def test_two_asking_at_once_get_it_once(db):
    got = await asyncio.gather(*(leases.hold(db, "periodic-jobs", f"h{n}/1", NOW, LEASE) for n in range(6)))
    assert sum(got) == 1


def test_the_jobs_that_run_on_every_instance_are_those_about_the_process_own_memory():
    assert {job.name for job in app.PERIODIC_JOBS if job.every_instance} == {"content-watcher", "user-changes"}


def test_a_holder_on_this_host_whose_process_is_gone_is_known_dead():
    assert lease_keeper._dead_on_this_host("host:8443/999999999", "host:8443")
    assert not lease_keeper._dead_on_this_host(lease_keeper.owner_name("host:8443"), "host:8443")  # this process
    assert not lease_keeper._dead_on_this_host("other:8443/999999999", "host:8443")
    assert not lease_keeper._dead_on_this_host(None, "host:8443")


async def test_an_older_update_of_the_chat_held_elsewhere_is_waited_for(db):
    chat = {"id": 5, "type": "private"}
    payloads = [{"update_id": n, "message": {"message_id": n, "date": 0, "chat": chat, "text": "x"}} for n in (1, 2)]
    await inbox.store(db, payloads[:1], NOW, "b:8443")
    await inbox.store(db, payloads[1:], NOW, "a:8443")
    assert await inbox.older_pending_elsewhere(db, 5, 2, "a:8443")
    assert not await inbox.older_pending_elsewhere(db, 5, 1, "b:8443")  # nothing older
    assert not await inbox.older_pending_elsewhere(db, 6, 2, "a:8443")  # another chat never waits
    await inbox.mark_handled(db, 1, NOW)
    assert not await inbox.older_pending_elsewhere(db, 5, 2, "a:8443")


async def test_an_update_stored_while_no_other_instance_held_its_chat_need_not_ask_again(db):
    def text(update_id: int, chat_id: int) -> dict:
        return {"update_id": update_id, "message": {"message_id": update_id, "date": 0, "text": "x",
                                                    "chat": {"id": chat_id, "type": "private"}}}

    await inbox.store(db, [text(1, 5)], NOW, "b:8443")  # held by another instance, not handled yet
    writer = inbox.InboxWriter(db)
    assert await writer.store([text(2, 5), text(3, 6)], NOW, "a:8443") == [2, 3]
    assert await writer.store([text(3, 6)], NOW, "a:8443") == []  # sent again: not new, nothing to take
    # On PostgreSQL chat 6 was nobody else's: its update goes straight to its turn, once; chat 5 must ask (and wait
    # for update 1). SQLite has one instance and never asks (bot/runners.py), so nothing is clear there.
    assert writer.take_clear(3) is (not db.is_sqlite)
    assert writer.take_clear(3) is False
    assert writer.take_clear(2) is False
    assert await inbox.older_pending_elsewhere(db, 5, 2, "a:8443")
