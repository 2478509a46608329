"""The inbox's storage rules: stored once, handed back oldest first, forgotten when handled, purged after a day."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from bot.ui import slim_pressed_message
from storage.db import Database
from storage.domain import inbox, privacy
from storage.models import InboxUpdate
from tests.scan import traces_of

NOW = datetime(2026, 12, 6, 9, 0, tzinfo=timezone.utc)
ME, OTHER = "host-a", "host-b:8080"


def text_update(update_id: int, chat_id: int, text: str = "ciao") -> dict:
    chat = {"id": chat_id, "type": "private"}
    return {"update_id": update_id, "message": {"message_id": 1, "date": 0, "chat": chat, "text": text}}


def pressed(update_id: int, chat_id: int) -> dict:
    message = {"message_id": 2, "date": 0, "chat": {"id": chat_id, "type": "private"}}
    return {"update_id": update_id, "callback_query": {"id": "q", "from": {"id": chat_id}, "message": message, "data": "1|m"}}


def test_the_chat_of_an_update():
    assert inbox.chat_of(text_update(1, 42)) == 42
    assert inbox.chat_of(pressed(2, -100)) == -100
    assert inbox.chat_of({"update_id": 3, "callback_query": {"id": "q", "from": {"id": 7}}}) == 7
    assert inbox.chat_of({"update_id": 4, "poll": {}}) == 0


async def test_an_update_delivered_twice_is_stored_and_handed_over_once(db):
    assert await inbox.store(db, [text_update(10, 1), text_update(11, 2)], NOW, ME) == [10, 11]
    assert await inbox.store(db, [text_update(11, 2), text_update(12, 1)], NOW, ME) == [12]  # 11 came again
    assert [row.update_id for row in await inbox.pending(db)] == [10, 11, 12]
    await inbox.mark_handled(db, 10, NOW)
    assert await inbox.store(db, [text_update(10, 1)], NOW, ME) == []  # handled already: not again
    assert [row.update_id for row in await inbox.pending(db)] == [11, 12]
    assert [row.update_id for row in await inbox.pending(db, after=11)] == [12]


async def test_a_handled_update_keeps_no_trace_of_what_was_written(db):
    await inbox.store(db, [text_update(20, 1, "una cosa riservata")], NOW, ME)
    await inbox.mark_handled(db, 20, NOW)
    async with db.read() as session:
        row = await session.get(InboxUpdate, 20)
    assert row.handled_at == NOW and row.payload == {}


async def test_handled_updates_are_purged_after_a_day_and_pending_ones_never(db):
    await inbox.store(db, [text_update(n, n % 3) for n in range(1, 8)], NOW, ME)
    for n in range(1, 6):
        await inbox.mark_handled(db, n, NOW)
    assert await inbox.purge_handled(db, NOW + timedelta(hours=23)) == 0
    assert await inbox.purge_handled(db, NOW + timedelta(days=1, minutes=1)) == 5
    async with db.read() as session:
        left = (await session.scalars(select(InboxUpdate.update_id).order_by(InboxUpdate.update_id))).all()
    assert left == [6, 7]


async def test_forgetting_a_person_leaves_no_row_with_their_id_once_their_updates_are_marked(db, tmp_path):
    """A handled row names nobody (payload emptied, chat 0), so forgetting leaves it to the purge; the Forget me
    update is still being handled while the person is forgotten: it loses the chat id and is still marked handled
    (then empty); other chats are untouched."""
    await inbox.store(db, [text_update(20, 42, "prima"), pressed(21, 42), text_update(22, 7)], NOW, ME)
    await inbox.mark_handled(db, 20, NOW)
    async with db.read() as session:
        assert (await session.get(InboxUpdate, 20)).chat_id == 0  # handled: nobody's any more
    await privacy.forget(db, 42, NOW, tmp_path)  # while update 21 is being handled
    await inbox.mark_handled(db, 21, NOW)
    async with db.read() as session:
        rows = {row.update_id: row for row in (await session.scalars(select(InboxUpdate))).all()}
    assert sorted(rows) == [20, 21, 22]
    assert all((rows[n].chat_id, rows[n].payload) == (0, {}) and rows[n].handled_at is not None for n in (20, 21))
    assert rows[22].chat_id == 7 and rows[22].handled_at is None
    assert await traces_of(db, 42) == []


async def test_leftovers_are_taken_by_their_own_instance_at_once_and_by_another_after_the_lease(db):
    await inbox.store(db, [text_update(30, 1), text_update(31, 2)], NOW, OTHER)
    await inbox.store(db, [text_update(32, 1)], NOW, ME)
    # Started again under its own name: its own leftovers at once, the other instance's (alive) not.
    assert [row.update_id for row in await inbox.claim_leftovers(db, ME, NOW + timedelta(seconds=5))] == [32]
    assert await inbox.claim_leftovers(db, ME, NOW + timedelta(seconds=30), others_only=True) == []
    await inbox.renew(db, OTHER, NOW + timedelta(seconds=30))  # alive: renewed
    assert await inbox.claim_leftovers(db, ME, NOW + timedelta(seconds=80), others_only=True) == []
    # It died: once its lease has run out, its updates are taken over, once.
    taken = await inbox.claim_leftovers(db, ME, NOW + inbox.LEASE + timedelta(seconds=31), others_only=True)
    assert [row.update_id for row in taken] == [30, 31]
    await inbox.renew(db, ME, NOW + inbox.LEASE + timedelta(seconds=31))
    assert await inbox.claim_leftovers(db, "host-c", NOW + inbox.LEASE + timedelta(seconds=32), others_only=True) == []


async def test_the_group_writer_stores_and_marks_many_updates_together_each_once(db):
    writer = inbox.InboxWriter(db)
    batches = [[text_update(40 + n, n)] for n in range(5)] + [[text_update(42, 2)]]  # 42 sent twice at once
    stored = await asyncio.gather(*(writer.store(batch, NOW, ME) for batch in batches))
    assert stored == [[40], [41], [42], [43], [44], []]
    await asyncio.gather(*(writer.mark_handled(n, NOW) for n in (40, 41, 42)))
    assert [row.update_id for row in await inbox.pending(db)] == [43, 44]
    assert await writer.store([text_update(40, 0)], NOW, ME) == []  # handled already


async def test_the_webhooks_body_is_stored_as_it_came(db):
    """The request's body goes in as it is, not serialised again from the parsed (and slimmed) update; it reads back
    as the update Telegram sent."""
    sent = pressed(70, 5)
    sent["callback_query"]["message"]["reply_markup"] = {"inline_keyboard": [[{"text": "Sì", "callback_data": "1|m"}]]}
    body = json.dumps(sent, ensure_ascii=False)
    slimmed = slim_pressed_message(json.loads(body))
    assert await inbox.InboxWriter(db).store([slimmed], NOW, ME, [body]) == [70]
    [row] = await inbox.pending(db)
    assert row.payload == sent


async def test_each_store_returns_only_once_its_update_is_committed(db):
    """What the webhook's 200 waits for: many requests at once, each sees its update committed (another connection
    reads it) the moment its store returns."""
    writer = inbox.InboxWriter(db)

    async def webhook_request(update_id: int) -> bool:
        await writer.store([text_update(update_id, update_id % 7)], NOW, ME)
        return update_id in {row.update_id for row in await inbox.pending(db)}

    assert await asyncio.gather(*(webhook_request(60 + n) for n in range(20))) == [True] * 20


async def test_stores_while_a_handler_holds_the_writers_turn_wait_and_are_committed_together(sqlite_url, monkeypatch):
    """SQLite: a store is written at once unless a transaction of the process is open; then the stores wait for
    it, go together in one transaction, and none returns before that transaction is committed."""
    db = Database(sqlite_url)
    writes = []
    real_write = inbox._write

    async def counted_write(*args):
        writes.append(args)
        return await real_write(*args)

    monkeypatch.setattr(inbox, "_write", counted_write)
    writer = inbox.InboxWriter(db)
    try:
        assert await writer.store([text_update(49, 9)], NOW, ME) == [49]  # the first opens the writer's connection
        writes.clear()
        holding, release = asyncio.Event(), asyncio.Event()

        async def handler_transaction() -> None:
            async with db.write():
                holding.set()
                await release.wait()  # an await inside a transaction: the writer's turn stays taken

        handler = asyncio.create_task(handler_transaction())
        await holding.wait()
        stores = [asyncio.create_task(writer.store([text_update(50 + n, n)], NOW, ME)) for n in range(5)]
        await asyncio.sleep(0.05)
        assert not any(store.done() for store in stores)
        assert [row.update_id for row in await inbox.pending(db)] == [49]  # nothing of theirs committed yet
        release.set()
        assert await asyncio.gather(*stores) == [[50], [51], [52], [53], [54]]
        await handler
        assert len(writes) == 1  # one transaction for the five
        assert [row.update_id for row in await inbox.pending(db)] == [49, 50, 51, 52, 53, 54]
        # The turn is free again: the next store is written at once, without the writer task.
        assert await writer.store([text_update(55, 5)], NOW, ME) == [55] and len(writes) == 1
    finally:
        await db.dispose()


async def test_marks_asked_for_together_are_written_in_one_transaction_and_ride_along_with_a_store(sqlite_url, monkeypatch):
    db = Database(sqlite_url)
    writer = inbox.InboxWriter(db)
    try:
        await writer.store([text_update(70 + n, n) for n in range(6)], NOW, ME)
        transactions = []
        real_write_now = db.sqlite_write_now

        def counted_write_now(work):
            transactions.append(work)
            return real_write_now(work)

        monkeypatch.setattr(db, "sqlite_write_now", counted_write_now)
        await asyncio.gather(*(writer.mark_handled(70 + n, NOW) for n in range(3)))
        assert len(transactions) == 1
        # A mark asked for, then a store before the mark's turn comes: both in the store's transaction.
        mark = asyncio.create_task(writer.mark_handled(73, NOW))
        await asyncio.sleep(0)  # the mark is queued
        assert await writer.store([text_update(76, 6)], NOW, ME) == [76]
        await mark
        assert len(transactions) == 2
        assert [row.update_id for row in await inbox.pending(db)] == [74, 75, 76]
    finally:
        await db.dispose()


async def test_a_store_waits_while_another_process_holds_the_write_lock(sqlite_url):
    """Another process (a second instance, `qcbot invite`) writing: the store does not fail, nor block the loop;
    it is written once the lock is free."""
    import sqlite3

    from sqlalchemy.engine import make_url

    db = Database(sqlite_url)
    writer = inbox.InboxWriter(db)
    other = sqlite3.connect(make_url(sqlite_url).database, isolation_level=None)
    try:
        await writer.store([text_update(80, 1)], NOW, ME)
        other.execute("BEGIN IMMEDIATE")
        store = asyncio.create_task(writer.store([text_update(81, 1)], NOW, ME))
        await asyncio.sleep(0.05)
        assert not store.done()  # the loop went on meanwhile
        other.execute("COMMIT")
        assert await store == [81]
    finally:
        other.close()
        await db.dispose()


async def test_on_postgresql_a_store_and_the_marks_meanwhile_are_one_statement_that_knows_other_instances_chats(db, monkeypatch):
    """Each statement on PostgreSQL is a round trip: the writer's store, the marks that ride along with it and the
    question "does another instance hold an older update of this chat?" are one statement (no BEGIN, no COMMIT).
    An update whose chat nobody else holds may skip asking before its turn (take_clear); SQLite: one instance."""
    other, mine = inbox.InboxWriter(db), inbox.InboxWriter(db)
    assert await other.store([text_update(80, 5)], NOW, OTHER) == [80]
    assert await mine.store([text_update(81, 6), text_update(82, 7)], NOW, ME) == [81, 82]
    statements: list[str] = []
    monkeypatch.setattr(db, "write_one", _counting(db.write_one, statements))
    mark = asyncio.create_task(mine.mark_handled(81, NOW))
    await asyncio.sleep(0)  # the mark is queued, and rides along with the store
    assert await mine.store([text_update(83, 5), text_update(84, 7)], NOW, ME) == [83, 84]
    await mark
    assert [row.update_id for row in await inbox.pending(db)] == [80, 82, 83, 84]
    async with db.read() as session:  # the mark that rode along forgot what was sent, and whose chat it was
        marked = await session.get(InboxUpdate, 81)
    assert (marked.payload, marked.chat_id, marked.handled_at) == ({}, 0, NOW)
    if db.is_sqlite:
        assert statements == [] and not mine.take_clear(84)
        return
    assert len(statements) == 1
    assert not mine.take_clear(83)  # chat 5: update 80 is another instance's, unhandled
    assert mine.take_clear(84) and not mine.take_clear(84)  # chat 7: only this instance's; told once


def _counting(write_one, calls: list):  # type: ignore[no-untyped-def]
    async def counted(work):  # type: ignore[no-untyped-def]
        calls.append(work)
        return await write_one(work)
    return counted
