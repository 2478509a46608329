"""The outbox: one row per state change, leases so two senders never take the same row, guards."""

from datetime import timedelta

from sqlalchemy import select

from storage.domain import outbox
from storage.models import OutboxMessage


async def _enqueue(db, clock, key, chat=1, **extra):
    async with db.write() as session:
        await outbox.enqueue(session, chat_id=chat, method="sendMessage", params={"text": key}, dedupe_key=key,
                             now=clock.now(), **extra)


async def test_same_state_change_is_enqueued_once(db, clock):
    await _enqueue(db, clock, "ticket:1:new")
    await _enqueue(db, clock, "ticket:1:new")
    async with db.read() as session:
        assert len((await session.scalars(select(OutboxMessage))).all()) == 1


async def test_a_claimed_row_is_not_claimed_again_until_its_lease_ends(db, clock):
    await _enqueue(db, clock, "a")
    first = await outbox.claim_due(db, clock.now())
    second = await outbox.claim_due(db, clock.now())
    assert [r.dedupe_key for r in first] == ["a"] and second == []
    clock.advance(timedelta(minutes=2))  # the first sender died holding it
    third = await outbox.claim_due(db, clock.now())
    assert [r.dedupe_key for r in third] == ["a"] and third[0].attempts == 2


async def test_future_rows_wait_and_guards_are_checked(db, clock):
    calls = []

    async def still_wanted(session, argument, now):
        calls.append(argument)
        return argument == "yes"

    outbox.register_guard("test_guard", still_wanted)
    await _enqueue(db, clock, "later", not_before=clock.now() + timedelta(hours=1))
    assert await outbox.claim_due(db, clock.now()) == []
    clock.advance(timedelta(hours=1, seconds=1))
    assert len(await outbox.claim_due(db, clock.now())) == 1
    assert await outbox.check_guard(db, "test_guard:yes", clock.now())
    assert not await outbox.check_guard(db, "test_guard:no", clock.now())
    assert not await outbox.check_guard(db, "unknown_guard:x", clock.now())
    assert calls == ["yes", "no"]
