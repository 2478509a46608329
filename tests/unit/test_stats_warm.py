"""Keeping the statistics warm: refresh() counts again what was read lately and the whole city's this month, so a
view answers from memory; what nobody reads for a day, or can no longer ask, is dropped; a content reload starts
afresh; the job runs refresh() soon after a start, then every minute."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import pytest

from bot import app, jobs
from bot.clock import Clock
from storage.domain import stats
from storage.content import Content, load_content
from storage.domain.feedback import new_id
from storage.models import Feedback
from storage.domain.stats import KEEP_WARM_FOR, REFRESH_AFTER, SUMMARY_FRESH_FOR, Period, Scope, SummaryCache
from storage.domain.users import Roles
from tests.conftest import SAMPLE_CONTENT

ROME = ZoneInfo("Europe/Rome")
NOW = datetime(2027, 4, 2, 12, 0, tzinfo=ROME)
APRIL_SO_FAR = Period.this_month(NOW.date())
MARCH = Period.month(2027, 3)


@pytest.fixture
def counted(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Scope, Period]]:
    """The (scope, period) of every summary counted from the database, in order."""
    calls: list[tuple[Scope, Period]] = []
    count_from_database = stats.summary

    async def counting(session, scope, period, *rest):  # type: ignore[no-untyped-def]
        calls.append((scope, period))
        return await count_from_database(session, scope, period, *rest)

    monkeypatch.setattr(stats, "summary", counting)
    return calls


@pytest.fixture
def at_noon(clock: Clock) -> Clock:
    clock.set(NOW)
    return clock


def whole_city(content: Content) -> Scope:
    return stats.scope_for(Roles(is_admin=True), content)


def committee(content: Content) -> Scope:
    return stats.scope_for(Roles(committee_of=frozenset({"zoia-cagnino"})), content)


async def add_rating(db, stars: int) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="", user_id=None, stars=stars,
                             comment=None, day=date(2027, 4, 1)))


async def test_the_whole_city_this_month_is_counted_before_anyone_reads_it(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    assert await cache.refresh(db, sample_content, ROME, at_noon.now()) == 1
    assert counted == [(whole_city(sample_content), APRIL_SO_FAR)]


async def test_a_view_after_refresh_reads_nothing_from_the_database(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    counted.clear()
    at_noon.advance(timedelta(seconds=30))
    shown = await cache.summary(db, whole_city(sample_content), APRIL_SO_FAR, sample_content, ROME, at_noon.now())
    assert counted == [] and shown.computed_at < at_noon.now()  # the screen says when the figures were counted


async def test_refresh_counts_again_only_what_is_stale(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    at_noon.advance(REFRESH_AFTER / 2)
    counted.clear()
    assert await cache.refresh(db, sample_content, ROME, at_noon.now()) == 1  # the committee's month is fresh
    assert counted == [(whole_city(sample_content), APRIL_SO_FAR)]

    at_noon.advance(REFRESH_AFTER / 2 + timedelta(seconds=1))
    counted.clear()
    assert await cache.refresh(db, sample_content, ROME, at_noon.now()) == 1  # the city's was counted just now
    assert counted == [(committee(sample_content), MARCH)]


async def test_a_view_counts_afresh_when_the_job_is_late(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    await add_rating(db, 4)
    at_noon.advance(SUMMARY_FRESH_FOR - timedelta(seconds=1))
    assert not (await cache.summary(db, whole_city(sample_content), APRIL_SO_FAR, sample_content, ROME, at_noon.now())).ratings

    at_noon.advance(timedelta(seconds=2))
    counted.clear()
    shown = await cache.summary(db, whole_city(sample_content), APRIL_SO_FAR, sample_content, ROME, at_noon.now())
    assert counted == [(whole_city(sample_content), APRIL_SO_FAR)] and len(shown.ratings) == 1


async def test_what_nobody_read_for_a_day_is_dropped(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    at_noon.advance(KEEP_WARM_FOR - timedelta(minutes=1))
    counted.clear()
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    assert (committee(sample_content), MARCH) in counted  # read 23 h 59 min ago: still kept warm

    at_noon.advance(timedelta(minutes=2))
    counted.clear()
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    assert (committee(sample_content), MARCH) not in counted
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    assert counted[-1] == (committee(sample_content), MARCH)  # dropped, so counted on view


async def test_a_read_keeps_a_summary_warm_for_another_day(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    at_noon.advance(KEEP_WARM_FOR / 2)
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    at_noon.advance(KEEP_WARM_FOR / 2 + timedelta(minutes=1))
    counted.clear()
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    assert (committee(sample_content), MARCH) in counted


async def test_periods_no_screen_can_ask_any_more_are_dropped(db, sample_content, counted, at_noon):
    """A week up to yesterday is never asked again (the screens offer the week up to today); March is."""
    cache = SummaryCache()
    week = Period.last_days(NOW.date(), 7)
    await cache.summary(db, committee(sample_content), week, sample_content, ROME, at_noon.now())
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    at_noon.advance(timedelta(hours=13))  # 01:00 the next day
    counted.clear()
    assert await cache.refresh(db, sample_content, ROME, at_noon.now()) == 2
    assert counted == [(committee(sample_content), MARCH), (whole_city(sample_content), Period.this_month(date(2027, 4, 3)))]


async def test_a_content_reload_starts_afresh(db, sample_content, counted, at_noon):
    cache = SummaryCache()
    await cache.summary(db, committee(sample_content), MARCH, sample_content, ROME, at_noon.now())
    await cache.refresh(db, sample_content, ROME, at_noon.now())
    reloaded = load_content(SAMPLE_CONTENT)  # a new Content, even if nothing that matters changed
    counted.clear()
    assert await cache.refresh(db, reloaded, ROME, at_noon.now()) == 1  # the whole city again; the rest dropped
    assert counted == [(whole_city(reloaded), APRIL_SO_FAR)]
    await cache.summary(db, whole_city(reloaded), APRIL_SO_FAR, reloaded, ROME, at_noon.now())
    assert len(counted) == 1
    await cache.summary(db, committee(reloaded), MARCH, reloaded, ROME, at_noon.now())
    assert counted[-1] == (committee(reloaded), MARCH)


async def test_the_job_warms_the_runtime_cache(db, sample_content, counted, at_noon):
    rt = SimpleNamespace(summaries=SummaryCache(), db=db, content=sample_content, clock=at_noon,
                         settings=SimpleNamespace(timezone=ROME))
    await jobs.warm_statistics(rt)  # type: ignore[arg-type]
    await rt.summaries.summary(db, whole_city(sample_content), APRIL_SO_FAR, sample_content, ROME, at_noon.now())
    assert counted == [(whole_city(sample_content), APRIL_SO_FAR)]


def test_the_job_first_runs_soon_after_a_start_then_every_minute():
    scheduled: dict[str, tuple[float, float]] = {}

    def run_repeating(callback, *, interval: float, first: float, name: str) -> None:  # type: ignore[no-untyped-def]
        scheduled[name] = (first, interval)

    application = SimpleNamespace(bot_data={"runtime": None}, job_queue=SimpleNamespace(run_repeating=run_repeating))
    jobs.schedule_all(application, app.PERIODIC_JOBS)  # type: ignore[arg-type]
    assert scheduled["statistics-warm"] == (jobs.STATISTICS_FIRST_WARM_AFTER, 60.0)
    assert scheduled["content-watcher"] == (5.0, 5.0)  # the others wait one interval, as before
