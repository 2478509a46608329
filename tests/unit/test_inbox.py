"""The inbox's storage rules: stored once, handed back oldest first, forgotten when handled, purged after a day."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

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
    """The Forget me update is still being handled while the person is forgotten: it loses the chat id and is
    still marked handled (then empty); the person's handled rows go at once; other chats are untouched."""
    await inbox.store(db, [text_update(20, 42, "prima"), pressed(21, 42), text_update(22, 7)], NOW, ME)
    await inbox.mark_handled(db, 20, NOW)
    await privacy.forget(db, 42, NOW, tmp_path)  # while update 21 is being handled
    await inbox.mark_handled(db, 21, NOW)
    async with db.read() as session:
        rows = {row.update_id: row for row in (await session.scalars(select(InboxUpdate))).all()}
    assert sorted(rows) == [21, 22]
    assert (rows[21].chat_id, rows[21].payload) == (0, {}) and rows[21].handled_at is not None
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
