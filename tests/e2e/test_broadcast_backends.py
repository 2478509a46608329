"""The broadcast story on SQLite and on PostgreSQL (issue 15): a custodian's urgent notice to one staircase, its
progress, a crash of the bot in the middle and a new process that finishes it (nothing lost, nobody twice), and a
second notice the author stops half way (nobody gets it after the stop)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert, select

from bot import callbacks
from storage.domain import broadcast
from storage.models import Broadcast, BroadcastRecipient, TenantHome, User
from tests.conftest import SAMPLE_CONTENT, fresh_database_url
from tests.e2e.harness import RunningBot, settings_for, start_bot

ROME = ZoneInfo("Europe/Rome")
STAIRCASE_A = 30  # tenants of Civico 13, scala A (omero-mompiani): the notice's audience
STAIRCASE_B = 5  # their neighbours of scala B: never reached
FIRST = 7_000_000
RATE = "10"  # messages a second: slow enough to stop and crash in the middle


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def backend_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in fresh_database_url(request.param, request, tmp_path):
        yield url


async def _neighbours(bot: RunningBot) -> tuple[list[int], list[int]]:
    """Consenting tenants who started the bot long ago, each with their staircase."""
    now = bot.clock.now()
    a = list(range(FIRST, FIRST + STAIRCASE_A))
    b = list(range(FIRST + STAIRCASE_A, FIRST + STAIRCASE_A + STAIRCASE_B))
    async with bot.runtime.db.write() as session:
        await session.execute(insert(User), [dict(id=user_id, first_name=f"T{user_id}", language="it", consent_at=now,
                                                  created_at=now, last_seen_at=now, prompts_enabled=True) for user_id in a + b])
        await session.execute(insert(TenantHome), [dict(user_id=user_id, estate_id="omero-mompiani", building="13",
                                                        staircase="A" if user_id in a else "B", source="settings",
                                                        updated_at=now) for user_id in a + b])
    for user_id in a + b:
        bot.emu.add_user(user_id=user_id, first_name=f"T{user_id}").started = True
    return a, b


def _received(bot: RunningBot, chats: list[int], words: str) -> Counter[int]:
    return Counter({chat: sum(1 for text in bot.texts(chat) if words in text) for chat in chats})


async def _until(condition, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def _sent(bot: RunningBot, notice_id: int) -> int:
    async with bot.runtime.db.read() as session:
        statuses = (await session.scalars(select(BroadcastRecipient.status).where(BroadcastRecipient.broadcast_id == notice_id))).all()
    return sum(1 for status in statuses if status == "sent")


async def _urgent_notice_to_staircase_a(marco, text: str) -> int:  # type: ignore[no-untyped-def]
    await marco.send("/avviso")
    await marco.send(text)
    async with marco.bot.runtime.db.read() as session:
        notice_id = await session.scalar(select(Broadcast.id).where(Broadcast.author_id == marco.user_id).order_by(Broadcast.id.desc()))
    await marco.tap_action(callbacks.NOTICE_ESTATE, notice_id, "omero-mompiani")
    await marco.tap_action(callbacks.NOTICE_BUILDING, notice_id, 0)  # Civico 13, scala A
    assert f"Lo riceveranno {STAIRCASE_A} persone" in marco.screen.text
    await marco.tap_action(callbacks.NOTICE_URGENT, notice_id)
    await marco.tap_action(callbacks.NOTICE_CONFIRM, notice_id)
    return notice_id


async def _crash(bot: RunningBot) -> None:
    """As a SIGKILL would leave it: the sender's loop and its calls in flight end where they are, no row is given
    back (their leases run out); then the rest of the process goes."""
    sender = bot.runtime.broadcasts
    doomed = [sender._task, *sender._in_flight]
    for task in doomed:
        task.cancel()
    await asyncio.gather(*doomed, return_exceptions=True)
    sender._task = None
    sender._in_flight.clear()
    await bot.service.stop()


async def test_a_staircase_notice_survives_a_crash_and_a_stopped_one_stops_on_both_databases(emulator, backend_url, tmp_path, clock):
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=ROME))
    settings = settings_for(emulator, backend_url, tmp_path, SAMPLE_CONTENT, QC_BROADCAST_RATE=RATE)
    first = await start_bot(emulator, settings, clock)
    a, b = await _neighbours(first)
    marco = await first.tenant("Marco")
    await first.grant_role(marco, "custodian", "omero-mompiani")

    water = await _urgent_notice_to_staircase_a(marco, "Domani niente acqua dalle 9 alle 12 nella scala A.")
    await _until(lambda: _ready(first, water, 8))
    await marco.tap_action(callbacks.NOTICE_PROGRESS, water)
    assert "Consegnati:" in marco.screen.text and "Finito" not in marco.screen.text

    await _crash(first)
    clock.advance(broadcast.LEASE + timedelta(seconds=1))  # the dead process's leases run out
    second = await start_bot(emulator, settings, clock)
    try:
        await _until(lambda: _finished(second, water))
        got = _received(second, a + b, "niente acqua")
        assert all(got[chat] >= 1 for chat in a), "nothing lost"
        assert sum(1 for chat in a if got[chat] > 1) <= 1, "nobody twice but the one message in flight at the crash"
        assert not any(got[chat] for chat in b), "only staircase A"
        marco.bot = second
        await marco.send("/menu")
        await marco.press(marco.screen.message_id, callbacks.encode(callbacks.NOTICE_PROGRESS, water), force=True)
        assert f"Consegnati: {STAIRCASE_A}" in marco.screen.text and "Finito" in marco.screen.text

        # A second notice, stopped by its author half way: what was not sent by then never is.
        lift = await _urgent_notice_to_staircase_a(marco, "Ascensore fermo per manutenzione.")
        await _until(lambda: _ready(second, lift, 5))
        await marco.press(marco.screen.message_id, callbacks.encode(callbacks.NOTICE_STOP, lift), force=True)
        await _until(lambda: _finished(second, lift))
        stopped_at = sum(_received(second, a, "Ascensore fermo").values())
        await asyncio.sleep(1.5)  # only the calls already on their way at the stop may still arrive
        got = _received(second, a, "Ascensore fermo")
        assert sum(got.values()) <= stopped_at + 8 < STAIRCASE_A and max(got.values()) == 1  # 8: the sender's calls in flight
        assert await _sent(second, lift) == sum(got.values()), "the progress counts what arrived"
    finally:
        await second.service.stop()
    refusals = [r for r in emulator.refusals if not r.injected and r.error_code != 403]
    assert not refusals, f"the bot sent calls Telegram refuses: {refusals[:3]}"


async def _ready(bot: RunningBot, notice_id: int, at_least: int) -> bool:
    return await _sent(bot, notice_id) >= at_least


async def _finished(bot: RunningBot, notice_id: int) -> bool:
    async with bot.runtime.db.read() as session:
        return (await session.get(Broadcast, notice_id)).status in ("done", "stopped")
