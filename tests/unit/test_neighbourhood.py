"""Where tenants live, follows, announcing new items once, the Monday digest, interest in job offers."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from bot.config import Retention
from storage.domain import neighbourhood, privacy
from storage.models import Broadcast, JobInterest, TenantHome, User

ROME = ZoneInfo("Europe/Rome")


async def _user(db, user_id: int, now) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        session.add(User(id=user_id, first_name="T", created_at=now, last_seen_at=now, consent_at=now))


async def test_a_report_tells_where_a_tenant_lives_unless_they_said_it_themselves(db, clock):
    now = clock.now()
    await _user(db, 1, now)
    async with db.write() as session:
        await neighbourhood.remember_from_report(session, 1, "omero-mompiani", "13", "A", now)
    async with db.write() as session:
        await neighbourhood.set_home(session, 1, "omero-salomone", "32", "B", now)
        await neighbourhood.remember_from_report(session, 1, "omero-mompiani", "15", "C", now)
    async with db.read() as session:
        home = await session.get(TenantHome, 1)
    assert (home.estate_id, home.building, home.staircase, home.source) == ("omero-salomone", "32", "B", "settings")


async def test_new_items_are_announced_once_and_only_when_still_open(db, clock, sample_content):
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=ROME))
    now = clock.now()
    async with db.write() as session:
        first = await neighbourhood.announce_new_items(session, sample_content.programme, now, ROME)
    async with db.write() as session:
        again = await neighbourhood.announce_new_items(session, sample_content.programme, now, ROME)
    assert len(first) == len(sample_content.programme.items) and again == []
    async with db.read() as session:
        refs = set((await session.scalars(select(Broadcast.audience_ref).where(Broadcast.kind == "item"))).all())
    assert "space:zoia,kind:jobs" in refs


async def test_on_the_first_start_the_whole_programme_counts_as_announced_and_nothing_is_queued(db, clock, sample_content):
    clock.set(datetime(2026, 12, 7, 10, 0, tzinfo=ROME))
    now = clock.now()
    async with db.write() as session:
        assert not await neighbourhood.anything_announced(session)
        await neighbourhood.mark_all_announced(session, sample_content.programme, now)
        await neighbourhood.mark_all_announced(session, sample_content.programme, now)  # a second instance: no-op
    async with db.write() as session:
        assert await neighbourhood.anything_announced(session)
        assert await neighbourhood.announce_new_items(session, sample_content.programme, now, ROME) == []
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Broadcast)) == 0


def test_the_digest_is_due_on_monday_morning_only():
    assert neighbourhood.digest_due(datetime(2026, 12, 7, 8, 30, tzinfo=ROME), ROME) == date(2026, 12, 7)
    assert neighbourhood.digest_due(datetime(2026, 12, 7, 7, 59, tzinfo=ROME), ROME) is None
    assert neighbourhood.digest_due(datetime(2026, 12, 7, 18, 0, tzinfo=ROME), ROME) is None
    assert neighbourhood.digest_due(datetime(2026, 12, 8, 9, 0, tzinfo=ROME), ROME) is None


async def test_one_digest_per_monday(db, clock):
    now = clock.now()
    async with db.write() as session:
        assert await neighbourhood.queue_digest(session, date(2026, 12, 7), now, ROME) is not None
        assert await neighbourhood.queue_digest(session, date(2026, 12, 7), now, ROME) is None


async def test_interest_in_a_job_is_registered_once_and_not_after_it_closes(db, clock, sample_content):
    now = clock.now()
    await _user(db, 2, now)
    job = sample_content.programme.items["zoia-pulizie-cortili"]
    async with db.write() as session:
        assert await neighbourhood.register_interest(session, 2, job, "Sara", None, date(2027, 1, 10), now)
        assert not await neighbourhood.register_interest(session, 2, job, "Sara", None, date(2027, 1, 10), now)
    async with db.write() as session:
        assert not await neighbourhood.register_interest(session, 2, sample_content.programme.items["visconti-aiuto-cuoco"],
                                                         "Sara", None, date(2027, 2, 1), now)
    # Retention (the nightly purge's rule): QC_RETAIN_JOB_INTERESTS_DAYS after it was sent, whatever the offer says.
    retention = Retention()
    assert (await privacy.purge(db, retention, now + timedelta(days=retention.job_interests_days - 1), Path("/nonexistent")))[
        "job_interests"] == 0
    assert (await privacy.purge(db, retention, now + timedelta(days=retention.job_interests_days + 1), Path("/nonexistent")))[
        "job_interests"] == 1
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(JobInterest)) == 0
