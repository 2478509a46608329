"""Per-user limits: the daily caps counted in the database (SQLite and PostgreSQL), the in-memory burst window,
and their settings."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from bot.config import ConfigError, load_settings
from bot import limits as burst
from bot.limits import BurstLimiter
from storage.domain import limits
from storage.domain.limits import DailyCaps, LimitReached

CAPS = DailyCaps(ticket=2, comment=3, photo=3, me_too=1)
EVENING = datetime(2027, 3, 1, 22, 30, tzinfo=timezone.utc)  # 23:30 in Milan


async def test_a_cap_counts_per_person_kind_and_local_day(db):
    async with db.write() as session:
        for _ in range(2):
            await limits.take(session, CAPS, 1, "ticket", EVENING)
        await limits.take(session, CAPS, 2, "ticket", EVENING)  # another tenant
        await limits.take(session, CAPS, 1, "comment", EVENING)  # another kind
    with pytest.raises(LimitReached) as refused:
        async with db.write() as session:
            await limits.take(session, CAPS, 1, "ticket", EVENING)
    assert (refused.value.kind, refused.value.cap) == ("ticket", 2)
    async with db.write() as session:  # 00:30 in Milan: a new day
        await limits.take(session, CAPS, 1, "ticket", EVENING + timedelta(hours=1))
    with pytest.raises(LimitReached):
        async with db.write() as session:
            await limits.take(session, CAPS, 1, "photo", EVENING, amount=4)


async def test_concurrent_takes_never_pass_the_cap(db):
    async def take() -> bool:
        try:
            async with db.write() as session:
                await limits.take(session, CAPS, 7, "comment", EVENING)
            return True
        except LimitReached:
            return False

    results = await asyncio.gather(*(take() for _ in range(10)))
    assert sum(results) == 3


def test_a_burst_warns_once_then_stays_silent_for_the_silence():
    limiter = BurstLimiter(max_updates=20, window_seconds=10, silence_seconds=60)
    start = EVENING
    verdicts = [limiter.hit(1, start + timedelta(milliseconds=10 * n)) for n in range(100)]
    assert verdicts[:20] == ["pass"] * 20 and verdicts[20] == "warn" and set(verdicts[21:]) == {"silent"}
    assert limiter.hit(2, start) == "pass"  # other people are unaffected
    assert limiter.hit(1, start + timedelta(seconds=59)) == "silent"
    assert limiter.hit(1, start + timedelta(seconds=61)) == "pass"
    slow = [limiter.hit(3, start + timedelta(seconds=n)) for n in range(100)]  # one a second: never a burst
    assert set(slow) == {"pass"}


def test_limits_come_from_the_environment_with_one_line_errors(tmp_path):
    settings = load_settings({"QC_DATA_DIR": str(tmp_path), "QC_DAILY_TICKETS": "3", "QC_BURST_UPDATES": "30"})
    assert (settings.daily_tickets, settings.burst_updates, settings.burst_silence_seconds) == (3, 30, 60)
    assert limits.caps_of(settings).ticket == 3
    with pytest.raises(ConfigError) as caught:
        load_settings({"QC_DATA_DIR": str(tmp_path), "QC_DAILY_PHOTOS": "lots", "QC_BURST_SECONDS": "0"})
    assert [p.split(":")[0] for p in caught.value.problems] == ["QC_DAILY_PHOTOS", "QC_BURST_SECONDS"]


def test_idle_people_are_forgotten_so_memory_stays_flat(monkeypatch):
    monkeypatch.setattr(burst, "FORGET_AFTER", 100)
    limiter = BurstLimiter(max_updates=20, window_seconds=10, silence_seconds=60)
    for user_id in range(1000):
        limiter.hit(user_id, EVENING + timedelta(seconds=user_id))
    assert len(limiter._recent) <= 100 + 20
