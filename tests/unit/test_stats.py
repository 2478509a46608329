"""Figures for staff and committees, on SQLite and PostgreSQL: scopes by role, bookings and attendance per space,
tickets per estate (medians, late acknowledgements, reopenings), ratings and comments, weekly trends, the
committees' digest claim; and properties of small-group suppression and medians."""

from __future__ import annotations

import statistics
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.domain import stats, users
from storage.domain.feedback import new_id
from storage.models import Booking, Feedback, Ticket, TicketEvent
from storage.domain.stats import MIN_GROUP, Period, Scope
from storage.domain.users import Roles

ROME = ZoneInfo("Europe/Rome")
MARCH = Period.month(2027, 3)
NOW = datetime(2027, 4, 2, 12, 0, tzinfo=ROME)
TENANT = 1001


# --------------------------------------------------------------------------------------------
# Properties


@given(st.integers(min_value=0, max_value=10_000))
def test_a_count_is_shown_when_zero_or_at_least_five(n):
    figure = stats.count(n)
    assert figure.size == n
    assert (figure.value is None) == (0 < n < MIN_GROUP) == figure.too_few
    if figure.value is not None:
        assert figure.value == n


@given(st.lists(st.floats(min_value=0, max_value=10_000, allow_nan=False), max_size=40))
def test_a_median_is_the_middle_value_or_hidden_for_small_groups(values):
    figure = stats.median(values)
    assert figure.size == len(values)
    if len(values) < MIN_GROUP:
        assert figure.value is None
    else:
        assert figure.value == statistics.median(values)
        ordered = sorted(values)
        assert ordered[(len(values) - 1) // 2] <= figure.value <= ordered[len(values) // 2]


@given(st.lists(st.integers(min_value=1, max_value=5), max_size=30))
def test_an_average_of_stars_stays_within_the_stars_or_is_hidden(stars):
    figure = stats.average([float(s) for s in stars])
    if len(stars) < MIN_GROUP:
        assert figure.value is None and figure.too_few == bool(stars)
    else:
        assert min(stars) <= figure.value <= max(stars)


@given(st.integers(min_value=0, max_value=500), st.integers(min_value=0, max_value=500))
def test_a_rate_needs_a_big_enough_denominator(part, extra):
    whole = part + extra
    figure = stats.ratio(part, whole)
    assert figure.size == whole
    assert (figure.value is None) == (whole < MIN_GROUP)
    if figure.value is not None:
        assert 0 <= figure.value <= 1


@given(st.dates(min_value=date(2000, 2, 1), max_value=date(2100, 12, 31)))
def test_periods_cover_whole_local_days(today):
    month = stats.previous_month(today)
    assert month.start.day == 1 and month.end + timedelta(days=1) == date(today.year, today.month, 1)
    assert stats.period_of_month_code(stats.month_code(month.start)) == month
    week = Period.last_days(today, 7)
    start, end = week.bounds(ROME)
    assert (end.date() - start.date()).days == 7 and start.hour == end.hour == 0


def test_month_codes_out_of_range_are_refused():
    assert stats.period_of_month_code(202713) is None and stats.period_of_month_code(12) is None


def test_scopes_by_role(sample_content):
    assert stats.scope_for(Roles(), sample_content) is None
    assert stats.scope_for(Roles(operator_of=frozenset({"omero"})), sample_content) is None
    everything = stats.scope_for(Roles(is_editor=True), sample_content)
    assert everything.everything and everything.space_ids == frozenset(sample_content.spaces)
    committee = stats.scope_for(Roles(committee_of=frozenset({"zoia-cagnino"})), sample_content)
    assert committee == Scope(frozenset({"zoia"}), frozenset({"zoia-cagnino"}))


# --------------------------------------------------------------------------------------------
# The summary, on both databases


def at(day: int, hour: int = 10) -> datetime:
    return datetime(2027, 3, day, hour, 0, tzinfo=ROME)


async def seed(db) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await users.touch_user(session, TENANT, "Amal", "it", at(1))
        plan = [("omero", "omero-digital-desk", "attended")] * 4 + [("omero", "omero-paperwork", "attended")] * 2
        plan += [("omero", "omero-digital-desk", "no_show")] * 2 + [("omero", "omero-paperwork", "cancelled")]
        plan += [("zoia", "zoia-coworking", "attended")] * 3
        for index, (space, service, status) in enumerate(plan):
            start = at(3 + index % 20)
            session.add(Booking(user_id=TENANT, chat_id=TENANT, service_id=service, space_id=space, slot_start=start,
                                slot_end=start + timedelta(minutes=30), status=status, name="Amal", language="it",
                                holds_quota=False, created_at=at(1)))
        session.add(Booking(user_id=TENANT, chat_id=TENANT, service_id="omero-paperwork", space_id="omero",
                            slot_start=datetime(2027, 4, 1, 10, tzinfo=ROME), slot_end=datetime(2027, 4, 1, 11, tzinfo=ROME),
                            status="attended", name="Amal", language="it", holds_quota=False, created_at=at(1)))
        # Six lift tickets in Omero: acknowledged after 1..6 hours (ack time 4 h), two resolved, one of them reopened.
        for index in range(6):
            created = at(2 + index)
            ticket = Ticket(code=f"QC-2027-{index:06d}", status="acknowledged", category_id="lift", urgency="urgent",
                            ack_hours=4, estate_id="omero-mompiani", reporter_id=TENANT, created_at=created,
                            updated_at=created, acknowledged_at=created + timedelta(hours=index + 1), affected=1, escalations=0)
            if index < 2:
                ticket.status, ticket.resolved_at = "resolved", created + timedelta(days=index + 1)
            session.add(ticket)
            await session.flush()
            if index < 2:
                session.add(TicketEvent(ticket_id=ticket.id, at=created, actor_id=None, kind="resolved", status="resolved"))
            if index == 0:
                session.add(TicketEvent(ticket_id=ticket.id, at=created, actor_id=None, kind="reopened", status="reopened"))
        session.add(Ticket(code="QC-2027-000099", status="new", category_id="pests", urgency="normal", ack_hours=48,
                           estate_id="zoia-cagnino", reporter_id=TENANT, created_at=at(30), updated_at=at(30), affected=1,
                           escalations=0))
        for stars in (5, 4, 4, 3, 5):
            session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="", user_id=None, stars=stars,
                                 comment=None, day=date(2027, 3, 10)))
        for stars in (1, 2, 2):
            session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="omero-parcels", user_id=None,
                                 stars=stars, comment="Pacchi persi", day=date(2027, 3, 12)))
        session.add(Feedback(id=new_id(), kind="complaint", space_id="zoia", service_id="", user_id=TENANT, stars=None,
                             comment="Troppo rumore", day=date(2027, 3, 20)))


async def test_the_summary_for_everything(db, sample_content):
    await seed(db)
    scope = stats.scope_for(Roles(is_admin=True), sample_content)
    async with db.read() as session:
        summary = await stats.summary(session, scope, MARCH, sample_content, ROME, NOW)
    omero = next(s for s in summary.spaces if s.space_id == "omero")
    assert (omero.bookings.value, omero.attended.value, omero.no_show_rate.value) == (8, 6, 0.25)
    assert omero.busiest == [("omero-digital-desk", 6)]  # paperwork has 2: too few to name
    zoia = next(s for s in summary.spaces if s.space_id == "zoia")
    assert zoia.bookings.too_few and zoia.bookings.value is None and zoia.no_show_rate.too_few

    estate = next(e for e in summary.estates if e.estate_id == "omero-mompiani")
    assert estate.opened.value == 6 and estate.by_category == [("lift", stats.count(6))]
    assert estate.hours_to_acknowledge.value == 3.5
    assert estate.hours_to_resolve.too_few  # two resolved
    assert estate.past_acknowledgement_time == stats.Figure(6, 2.0)  # 5 and 6 hours against 4
    assert estate.reopen_rate.too_few
    pests = next(e for e in summary.estates if e.estate_id == "zoia-cagnino")
    assert pests.opened.too_few and pests.past_acknowledgement_time == stats.Figure(1, None)  # even 0 or 1 of 1 is hidden

    ratings = {(line.space_id, line.service_id): line.stars for line in summary.ratings}
    assert ratings[("omero", "")].value == pytest.approx(4.2) and ratings[("omero", "")].size == 5
    assert ratings[("omero", "omero-parcels")].too_few and ratings[("omero", "omero-parcels")].value is None
    assert [c.text for c in summary.comments] == ["Troppo rumore", "Pacchi persi", "Pacchi persi", "Pacchi persi"]


async def test_a_committee_sees_only_its_estates_and_their_space(db, sample_content):
    await seed(db)
    scope = stats.scope_for(Roles(committee_of=frozenset({"zoia-cagnino"})), sample_content)
    async with db.read() as session:
        summary = await stats.summary(session, scope, MARCH, sample_content, ROME, NOW)
        by_space = await stats.space_ratings(session, scope, MARCH, sample_content)
    assert [s.space_id for s in summary.spaces] == ["zoia"]
    assert [e.estate_id for e in summary.estates] == ["zoia-cagnino"]
    assert summary.ratings == [] and [c.text for c in summary.comments] == ["Troppo rumore"]
    assert by_space == [("zoia", stats.average([]))]


async def test_the_weekly_trend_counts_by_local_week(db, sample_content):
    await seed(db)
    scope = stats.scope_for(Roles(is_admin=True), sample_content)
    async with db.read() as session:
        weeks = await stats.weekly_trend(session, scope, date(2027, 4, 2), ROME, weeks=6)
        by_space = dict(await stats.space_ratings(session, scope, MARCH, sample_content))
    assert [w.start for w in weeks] == [date(2027, 2, 22) + timedelta(weeks=n) for n in range(6)]
    assert sum(w.bookings.size for w in weeks) == 12 and sum(w.tickets.size for w in weeks) == 7
    assert all(w.bookings.value is None for w in weeks if 0 < w.bookings.size < MIN_GROUP)
    assert by_space["omero"].size == 8 and by_space["omero"].value == pytest.approx(26 / 8)


async def test_a_committee_digest_is_claimed_once_per_member_and_month(db):
    async with db.write() as session:
        await users.touch_user(session, TENANT, "Amal", "it", NOW)
        await users.grant_role(session, TENANT, "committee", "zoia-cagnino", NOW, None)
        assert await stats.committee_members(session) == {TENANT: frozenset({"zoia-cagnino"})}
        assert await stats.claim_digest(session, TENANT, "2027-03", NOW)
        assert not await stats.claim_digest(session, TENANT, "2027-03", NOW)
        assert await stats.digests_done(session, "2027-03") == {TENANT}
