"""The broadcast engine: who may address whom, quiet hours, fan-out in batches, leases, and the sender's answers
to 429 (pause everything), 403 (unreachable), 5xx (retry) — nobody served twice, nobody lost."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import event, func, insert, select
from telegram.error import Forbidden, NetworkError, RetryAfter

from bot.broadcast_sender import BroadcastSender
from storage.domain import broadcast
from storage.domain.broadcast import Refusal, Refused
from storage.models import Broadcast, BroadcastRecipient, TenantHome, User
from storage.domain.users import Roles

ROME = ZoneInfo("Europe/Rome")


@given(st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31)))
def test_quiet_hours_are_21_to_8_and_end_at_the_next_8(local):
    now = local.replace(tzinfo=ROME).astimezone(ZoneInfo("UTC"))
    until = broadcast.quiet_until(now, ROME)
    quiet = local.time() >= time(21) or local.time() < time(8)
    assert (until is not None) == quiet
    if until is not None:
        morning = until.astimezone(ROME)
        assert morning.time() == time(8) and timedelta(0) < until - now <= timedelta(hours=11)


@pytest.mark.parametrize("roles, audience, ref, expected", [
    (Roles(custodian_of=frozenset({"omero-mompiani"})), "building", "omero-mompiani/13/A", "custodian"),
    (Roles(custodian_of=frozenset({"omero-mompiani"})), "everyone", "", Refusal.NOT_ALLOWED),
    (Roles(custodian_of=frozenset({"omero-mompiani"})), "estate", "boccioni-largo", Refusal.NOT_ALLOWED),
    (Roles(committee_of=frozenset({"omero-salomone"})), "estate", "omero-salomone", "committee"),
    (Roles(committee_of=frozenset({"omero-salomone"})), "estate", "omero-mompiani", Refusal.NOT_ALLOWED),
    (Roles(operator_of=frozenset({"zoia"})), "space", "zoia", "operator"),
    (Roles(operator_of=frozenset({"zoia"})), "estate", "zoia-cagnino", Refusal.NOT_ALLOWED),
    (Roles(is_editor=True), "everyone", "", "editor"),
    (Roles(is_editor=True), "building", "omero-mompiani/13/Z", Refusal.NO_AUDIENCE),  # no staircase Z
    (Roles(is_editor=True), "", "", Refusal.NO_AUDIENCE),
    (Roles(), "estate", "omero-mompiani", Refusal.NOT_ALLOWED),
])
def test_who_may_address_whom(sample_content, roles, audience, ref, expected):
    if isinstance(expected, Refusal):
        with pytest.raises(Refused) as refusal:
            broadcast.check_audience(roles, audience, ref, sample_content)
        assert refusal.value.reason is expected
    else:
        assert broadcast.check_audience(roles, audience, ref, sample_content) == expected


async def _tenants(db, now, count: int, *, start: int = 1000, estate: str | None = None) -> list[int]:
    ids = list(range(start, start + count))
    async with db.write() as session:
        await session.execute(insert(User), [
            dict(id=user_id, first_name=f"T{user_id}", language=("ar" if user_id % 3 == 0 else "it"), consent_at=now,
                 created_at=now, last_seen_at=now, prompts_enabled=True) for user_id in ids
        ])
        if estate:
            await session.execute(insert(TenantHome), [
                dict(user_id=user_id, estate_id=estate, building="13", staircase="A" if user_id % 2 else "B", source="settings",
                     updated_at=now) for user_id in ids
            ])
    return ids


async def _queued(db, now, audience="everyone", ref="", urgent=True) -> int:
    async with db.write() as session:
        item = await broadcast.queue_bot_broadcast(session, kind="notice", audience=audience, ref=ref, now=now, tz=ROME, urgent=urgent)
        item.text = "Prova"
        return item.id


async def test_fan_out_goes_in_batches_and_reaches_only_the_audience(db, clock):
    now = clock.now()
    await _tenants(db, now, 2500, estate="omero-mompiani")
    await _tenants(db, now, 300, start=9000)  # elsewhere
    notice = await _queued(db, now, "building", "omero-mompiani/13/A")
    batches = []
    while True:
        created = await broadcast.fan_out_batch(db, notice, now, batch=400)
        if not created:
            break
        batches.append(created)
    assert all(size <= 400 for size in batches) and sum(batches) == 1250
    async with db.read() as session:
        rows = (await session.execute(select(BroadcastRecipient.user_id))).scalars().all()
        assert len(rows) == len(set(rows)) == 1250 and all(user_id % 2 for user_id in rows)
        assert (await session.get(Broadcast, notice)).fanout_done


async def test_a_leased_recipient_is_not_claimed_twice_and_comes_back_after_the_lease(db, clock):
    now = clock.now()
    await _tenants(db, now, 10)
    notice = await _queued(db, now)
    await broadcast.fan_out_batch(db, notice, now)
    first = await broadcast.claim(db, [notice], now, limit=6)
    second = await broadcast.claim(db, [notice], now, limit=6)
    assert len(first) == 6 and len(second) == 4 and not {r.id for r in first} & {r.id for r in second}
    for row in second:
        await broadcast.mark(db, row.id, "sent", now)
    later = clock.now() + broadcast.LEASE + timedelta(seconds=1)  # the first holder died
    again = await broadcast.claim(db, [notice], later, limit=20)
    assert {r.id for r in again} == {r.id for r in first}


async def test_a_claim_walks_the_pending_rows_in_order_without_sorting_them(db, clock):
    """Each claim takes a batch from the front; sorting every pending row first cost a scan of the whole broadcast
    (and ~2 MB of SQLite's sorter) every second of a 47,000-recipient notice."""
    now = clock.now()
    await _tenants(db, now, 50)
    notice = await _queued(db, now)
    await broadcast.fan_out_batch(db, notice, now)
    statements: list[tuple[str, object]] = []

    def keep(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if statement.startswith("SELECT broadcast_recipients.id \nFROM") and "LIMIT" in statement:
            statements.append((statement, parameters))

    engine = db.write_engine.sync_engine
    event.listen(engine, "before_cursor_execute", keep)
    try:
        claimed = await broadcast.claim(db, [notice], now, limit=10)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert [row.id for row in claimed] == sorted(row.id for row in claimed) and len(claimed) == 10
    [(statement, parameters)] = statements
    if not db.is_sqlite:
        return  # PostgreSQL's planner sorts a table this small whatever the indexes; it chooses by the table's size
    async with db.read() as session:
        connection = await session.connection()
        plan = " ".join(str(step[-1]) for step in
                        (await connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)).all())
    assert "ix_broadcast_recipients_due" in plan and "TEMP B-TREE" not in plan, plan


class FakeTelegram:
    """Answers like Telegram: a planned error for some chats, once; counts what each chat received."""

    def __init__(self, errors: dict[int, list[Exception]]) -> None:
        self.errors = errors
        self.received: Counter[int] = Counter()
        self.calls: list[tuple[float, int]] = []

    async def do_api_request(self, method, api_kwargs):  # type: ignore[no-untyped-def]
        chat = api_kwargs["chat_id"]
        self.calls.append((asyncio.get_running_loop().time(), chat))
        planned = self.errors.get(chat)
        if planned:
            raise planned.pop(0)
        self.received[chat] += 1
        return {"message_id": self.received[chat]}


async def _render(item, row):  # type: ignore[no-untyped-def]
    return "sendMessage", {"text": f"{item.text} ({row.language})"}


async def _drain(sender: BroadcastSender, db, clock, rounds: int = 400) -> None:  # type: ignore[no-untyped-def]
    for _ in range(rounds):
        await sender.step()
        await asyncio.sleep(0)
        async with db.read() as session:
            pending = await session.scalar(select(func.count()).select_from(BroadcastRecipient).where(BroadcastRecipient.status == "pending"))
            active = await session.scalar(select(func.count()).select_from(Broadcast).where(Broadcast.status.in_(broadcast.ACTIVE)))
        if not pending and not active:
            return
        clock.advance(timedelta(seconds=5))  # retries with backoff come due without waiting
    raise AssertionError("the broadcast did not finish")


async def test_the_sender_pauses_on_429_marks_403_retries_5xx_and_serves_everyone_once(db, clock):
    now = clock.now()
    ids = await _tenants(db, now, 60)
    errors = {ids[3]: [RetryAfter(1)], ids[10]: [Forbidden("blocked")], ids[20]: [NetworkError("502"), NetworkError("timeout")]}
    telegram = FakeTelegram(errors)
    notice = await _queued(db, now)
    sender = BroadcastSender(db, telegram, clock, _render, ROME, time_scale=20.0)
    await _drain(sender, db, clock)
    await asyncio.sleep(0.05)

    assert sender.pauses == 1
    assert set(telegram.received) == set(ids) - {ids[10]}
    assert max(telegram.received.values()) == 1, "nobody served twice"
    async with db.read() as session:
        statuses = Counter((await session.execute(select(BroadcastRecipient.status))).scalars().all())
        assert statuses == {"sent": 59, "unreachable": 1}
        assert (await session.get(User, ids[10])).blocked_at is not None
        finished = await session.get(Broadcast, notice)
        assert finished.status == "done" and finished.delivered == 59 and finished.unreachable == 1
    # 429: after it, nothing was sent for the pause (1 s / time scale 20 = 50 ms)
    pause_at = next(at for at, chat in telegram.calls if chat == ids[3])
    after = [at for at, _chat in telegram.calls if at > pause_at]
    assert after and after[0] - pause_at >= 0.045


async def test_pacing_never_exceeds_the_rate_in_any_second(db, clock):
    now = clock.now()
    await _tenants(db, now, 90)
    await _queued(db, now)
    telegram = FakeTelegram({})
    sender = BroadcastSender(db, telegram, clock, _render, ROME, time_scale=4.0)  # 30 in any quarter second here
    await _drain(sender, db, clock)
    starts = sorted(at for at, _chat in telegram.calls)
    window = 1 / 4.0  # one scaled second
    most = max(sum(1 for other in starts if start <= other < start + window) for start in starts)
    assert most <= 30


async def test_a_restart_continues_without_serving_anyone_twice(db, clock):
    now = clock.now()
    ids = await _tenants(db, now, 40)
    await _queued(db, now)
    telegram = FakeTelegram({})
    first = BroadcastSender(db, telegram, clock, _render, ROME, time_scale=20.0)
    await first.step()  # one batch claimed and sent, the rest still pending
    await asyncio.sleep(0.05)
    # A crash: leases of anything it still held run out; a new process takes over.
    clock.advance(broadcast.LEASE + timedelta(seconds=1))
    second = BroadcastSender(db, telegram, clock, _render, ROME, time_scale=20.0)
    await _drain(second, db, clock)
    await asyncio.sleep(0.05)
    assert set(telegram.received) == set(ids) and max(telegram.received.values()) == 1


async def test_quiet_hours_hold_a_non_urgent_broadcast(db, clock):
    clock.set(datetime(2026, 12, 7, 22, 30, tzinfo=ROME))
    await _tenants(db, clock.now(), 5)
    await _queued(db, clock.now(), urgent=False)
    telegram = FakeTelegram({})
    sender = BroadcastSender(db, telegram, clock, _render, ROME, time_scale=20.0)
    assert not await sender.step()
    assert not telegram.received
    clock.set(datetime(2026, 12, 8, 8, 0, 30, tzinfo=ROME))
    await _drain(sender, db, clock)
    await asyncio.sleep(0.05)
    assert len(telegram.received) == 5


async def test_stop_drops_what_is_left_and_only_the_author_or_an_editor_may(db, clock, sample_content):
    now = clock.now()
    await _tenants(db, now, 30)
    async with db.write() as session:
        session.add(User(id=77, first_name="M", created_at=now, last_seen_at=now, consent_at=now))
    async with db.write() as session:
        notice = await broadcast.new_notice(session, 77, "it", now)
        notice_id = notice.id
    async with db.write() as session:
        draft = await session.get(Broadcast, notice_id)
        draft.text, draft.audience = "Ciao", "everyone"
        await broadcast.confirm(session, notice_id, 77, Roles(is_editor=True), sample_content, now, ROME)
    await broadcast.fan_out_batch(db, notice_id, now)
    with pytest.raises(Refused):
        async with db.write() as session:
            await broadcast.stop(session, notice_id, 12345, Roles(), now)
    async with db.write() as session:
        await broadcast.stop(session, notice_id, 77, Roles(), now)
    async with db.read() as session:
        progress = await broadcast.progress(session, notice_id)
    assert progress.status == "stopped" and progress.left == 0 and progress.dropped == 31


async def test_a_prompt_is_filled_once_and_cancel_drops_the_draft(db, clock):
    now = clock.now()
    async with db.write() as session:
        session.add(User(id=77, first_name="M", created_at=now, last_seen_at=now, consent_at=now))
    async with db.write() as session:
        notice_id = (await broadcast.new_notice(session, 77, "it", now)).id
    with pytest.raises(Refused):  # an empty text is refused and the prompt still waits
        async with db.write() as session:
            await broadcast.take_written(session, 77, "   ", None, None)
    async with db.write() as session:
        filled = await broadcast.take_written(session, 77, "Niente acqua domani 9-12", None, None)
    assert filled is not None and filled.id == notice_id and filled.text == "Niente acqua domani 9-12"
    async with db.write() as session:  # a second message racing for the same prompt finds none
        assert await broadcast.take_written(session, 77, "di nuovo", None, None) is None
    async with db.write() as session:
        await broadcast.set_prompt(session, 77, notice_id, "translation:en", now)
    async with db.write() as session:
        assert await broadcast.drop_prompt(session, 77) is True
        assert await broadcast.drop_prompt(session, 77) is False
    async with db.read() as session:
        assert await session.get(Broadcast, notice_id) is None
