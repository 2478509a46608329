"""The summary cache: a second look within SUMMARY_FRESH_FOR is not counted again, a later one is, a content reload
starts afresh, each scope and period has its own entry, and the entries stay few. Keeping it warm in the background:
test_stats_warm.py."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from storage.domain import stats
from storage.content import load_content
from storage.domain.feedback import new_id
from storage.models import Feedback
from storage.domain.stats import SUMMARY_FRESH_FOR, Period, SummaryCache
from storage.domain.users import Roles
from tests.conftest import SAMPLE_CONTENT

ROME = ZoneInfo("Europe/Rome")
MARCH = Period.month(2027, 3)
NOW = datetime(2027, 4, 2, 12, 0, tzinfo=ROME)


async def add_rating(db, stars: int) -> None:
    async with db.write() as session:
        session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="", user_id=None, stars=stars,
                             comment=None, day=date(2027, 3, 10)))


def omero_ratings(summary: stats.Summary) -> int:
    return next(line.stars.size for line in summary.ratings if (line.space_id, line.service_id) == ("omero", ""))


async def test_figures_are_remembered_for_a_while_then_counted_again(db, sample_content):
    scope = stats.scope_for(Roles(is_admin=True), sample_content)
    cache = SummaryCache()
    await add_rating(db, 4)
    first = await cache.summary(db, scope, MARCH, sample_content, ROME, NOW)
    assert omero_ratings(first) == 1 and first.computed_at == NOW

    await add_rating(db, 5)
    just_before = NOW + SUMMARY_FRESH_FOR - timedelta(seconds=1)
    assert await cache.summary(db, scope, MARCH, sample_content, ROME, just_before) is first  # says when it was computed

    later = await cache.summary(db, scope, MARCH, sample_content, ROME, NOW + SUMMARY_FRESH_FOR)
    assert omero_ratings(later) == 2 and later.computed_at == NOW + SUMMARY_FRESH_FOR


async def test_each_scope_period_and_content_has_its_own_figures(db, sample_content):
    everything = stats.scope_for(Roles(is_admin=True), sample_content)
    committee = stats.scope_for(Roles(committee_of=frozenset({"zoia-cagnino"})), sample_content)
    cache = SummaryCache()
    whole = await cache.summary(db, everything, MARCH, sample_content, ROME, NOW)
    assert (await cache.summary(db, committee, MARCH, sample_content, ROME, NOW)).scope == committee
    assert (await cache.summary(db, everything, Period.month(2027, 2), sample_content, ROME, NOW)).period.start.month == 2

    reloaded = load_content(SAMPLE_CONTENT)  # a reload: a new Content, even if nothing that matters changed
    assert await cache.summary(db, everything, MARCH, reloaded, ROME, NOW) is not whole


async def test_the_oldest_entries_make_room(db, sample_content):
    scope = stats.scope_for(Roles(is_admin=True), sample_content)
    cache = SummaryCache(kept=2)
    january = await cache.summary(db, scope, Period.month(2027, 1), sample_content, ROME, NOW)
    await cache.summary(db, scope, Period.month(2027, 2), sample_content, ROME, NOW)
    await cache.summary(db, scope, MARCH, sample_content, ROME, NOW)
    assert await cache.summary(db, scope, Period.month(2027, 1), sample_content, ROME, NOW) is not january
