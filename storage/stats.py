"""Figures for the people who run the spaces and the estates, scoped by role, for a period. No Telegram here.

Every figure remembers the size of the group it was computed from; a group of 1 to 4 (MIN_GROUP - 1) people or
items is shown as "too few to show" rather than a number that could point at someone (three ratings of a
service, two no-shows out of three bookings). The filtering is done in SQL, the arithmetic in Python (medians
and small-group checks are the same on SQLite and PostgreSQL that way).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from storage.content import Content
from storage.models import Booking, CommitteeDigest, Feedback, RoleGrant, Ticket, TicketEvent
from storage.users import Roles

MIN_GROUP = 5
BUSIEST_SHOWN = 3
COMMENTS_SHOWN = 5
TREND_WEEKS = 12


@dataclass(frozen=True)
class Figure:
    """A number and the size of the group behind it; `value` is None when there is nothing to show."""

    size: int
    value: float | None

    @property
    def too_few(self) -> bool:
        return 0 < self.size < MIN_GROUP


def count(n: int) -> Figure:
    return Figure(n, float(n) if n == 0 or n >= MIN_GROUP else None)


def ratio(part: int, whole: int) -> Figure:
    return Figure(whole, part / whole if whole >= MIN_GROUP else None)


def _share(part: int, whole: int) -> Figure:
    """A count within a group (late tickets among those opened): hidden when the group is small, even at 0."""
    return Figure(whole, float(part) if whole >= MIN_GROUP or whole == 0 else None)


def average(values: list[float]) -> Figure:
    return Figure(len(values), statistics.fmean(values) if len(values) >= MIN_GROUP else None)


def median(values: list[float]) -> Figure:
    return Figure(len(values), statistics.median(values) if len(values) >= MIN_GROUP else None)


# --------------------------------------------------------------------------------------------
# Periods and scopes


@dataclass(frozen=True)
class Period:
    """Local days, both ends included."""

    start: date
    end: date

    def bounds(self, tz: ZoneInfo) -> tuple[datetime, datetime]:
        """[start, end) in aware datetimes: midnight of the first day to midnight after the last."""
        return (datetime.combine(self.start, time(0), tz), datetime.combine(self.end + timedelta(days=1), time(0), tz))

    @classmethod
    def last_days(cls, today: date, days: int) -> Period:
        return cls(today - timedelta(days=days - 1), today)

    @classmethod
    def month(cls, year: int, month: int) -> Period:
        first = date(year, month, 1)
        following = date(year + (month == 12), month % 12 + 1, 1)
        return cls(first, following - timedelta(days=1))

    @classmethod
    def this_month(cls, today: date) -> Period:
        return cls(date(today.year, today.month, 1), today)


def month_code(day: date) -> int:
    """202703 for March 2027: how a month travels in callback data."""
    return day.year * 100 + day.month


def period_of_month_code(code: int) -> Period | None:
    year, month = divmod(code, 100)
    if not (2000 <= year <= 2100 and 1 <= month <= 12):
        return None
    return Period.month(year, month)


def previous_month(today: date) -> Period:
    last_of_previous = date(today.year, today.month, 1) - timedelta(days=1)
    return Period.month(last_of_previous.year, last_of_previous.month)


@dataclass(frozen=True)
class Scope:
    """What a person may see: spaces (bookings, ratings) and estates (tickets)."""

    space_ids: frozenset[str]
    estate_ids: frozenset[str]
    everything: bool = False


def scope_of_estates(estate_ids: Iterable[str], content: Content) -> Scope:
    estates = frozenset(e for e in estate_ids if e in content.estates)
    return Scope(frozenset(content.estates[e].space_id for e in estates), estates)


def scope_for(roles: Roles, content: Content) -> Scope | None:
    """Editors and admins see every space and estate; custodians and committee members their estates and the
    spaces that serve them; everyone else nothing (None)."""
    if roles.is_admin or roles.is_editor:
        return Scope(frozenset(content.spaces), frozenset(content.estates), everything=True)
    estates = roles.custodian_of | roles.committee_of
    return scope_of_estates(estates, content) if estates else None


# --------------------------------------------------------------------------------------------
# The summary


@dataclass(frozen=True)
class SpaceActivity:
    space_id: str
    bookings: Figure  # not cancelled, by slot time
    attended: Figure
    no_show_rate: Figure  # no-shows among the bookings marked
    busiest: list[tuple[str, int]]  # (service id, bookings), only services with a group big enough


@dataclass(frozen=True)
class EstateTickets:
    estate_id: str
    opened: Figure
    by_category: list[tuple[str, Figure]]  # most frequent first
    hours_to_acknowledge: Figure  # median
    hours_to_resolve: Figure  # median
    past_acknowledgement_time: Figure
    reopen_rate: Figure  # reopened among those resolved at least once
    fix_stars: Figure  # average of the reporters' stars


@dataclass(frozen=True)
class RatingLine:
    space_id: str
    service_id: str  # "" for the space as a whole
    stars: Figure


@dataclass(frozen=True)
class Comment:
    kind: str  # rating, suggestion, complaint
    space_id: str
    service_id: str
    text: str


@dataclass
class Summary:
    period: Period
    scope: Scope
    spaces: list[SpaceActivity] = field(default_factory=list)
    estates: list[EstateTickets] = field(default_factory=list)
    ratings: list[RatingLine] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)


def _ordered(ids: frozenset[str], order: Iterable[str]) -> list[str]:
    return [item for item in order if item in ids]


async def space_activity(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo) -> list[SpaceActivity]:
    start, end = period.bounds(tz)
    rows = await session.execute(
        select(Booking.space_id, Booking.service_id, Booking.status)
        .where(Booking.space_id.in_(scope.space_ids), Booking.slot_start >= start, Booking.slot_start < end,
               Booking.status != "cancelled")
    )
    statuses: dict[str, Counter[str]] = defaultdict(Counter)
    services: dict[str, Counter[str]] = defaultdict(Counter)
    for space_id, service_id, status in rows.all():
        statuses[space_id][status] += 1
        services[space_id][service_id] += 1
    result = []
    for space_id in _ordered(scope.space_ids, content.spaces):
        by_status = statuses[space_id]
        marked = by_status["attended"] + by_status["no_show"]
        busiest = [(service, n) for service, n in services[space_id].most_common() if n >= MIN_GROUP][:BUSIEST_SHOWN]
        result.append(SpaceActivity(space_id, count(sum(by_status.values())), count(by_status["attended"]),
                                    ratio(by_status["no_show"], marked), busiest))
    return result


def _hours(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 3600


async def estate_tickets(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo,
                         now: datetime) -> list[EstateTickets]:
    start, end = period.bounds(tz)
    opened = list((await session.scalars(
        select(Ticket).where(Ticket.estate_id.in_(scope.estate_ids), Ticket.created_at >= start, Ticket.created_at < end)
    )).all())
    history = await session.execute(
        select(TicketEvent.ticket_id, TicketEvent.kind)
        .where(TicketEvent.ticket_id.in_([t.id for t in opened]), TicketEvent.kind.in_(("resolved", "reopened")))
    )
    kinds_of: dict[int, set[str]] = defaultdict(set)
    for ticket_id, kind in history.all():
        kinds_of[ticket_id].add(kind)
    rated = await session.execute(
        select(Ticket.estate_id, Ticket.stars)
        .where(Ticket.estate_id.in_(scope.estate_ids), Ticket.stars.is_not(None), Ticket.rated_at >= start, Ticket.rated_at < end)
    )
    stars_of: dict[str, list[float]] = defaultdict(list)
    for estate_id, stars in rated.all():
        stars_of[estate_id].append(float(stars))
    by_estate: dict[str, list[Ticket]] = defaultdict(list)
    for ticket in opened:
        by_estate[ticket.estate_id].append(ticket)

    result = []
    for estate_id in _ordered(scope.estate_ids, content.estates):
        items = by_estate[estate_id]
        categories = Counter(t.category_id for t in items)
        acknowledged = [_hours(t.acknowledged_at, t.created_at) for t in items if t.acknowledged_at is not None]
        resolved = [_hours(t.resolved_at, t.created_at) for t in items if t.resolved_at is not None]
        late = sum(1 for t in items if _hours(t.acknowledged_at or now, t.created_at) > t.ack_hours)
        ever_resolved = [t for t in items if "resolved" in kinds_of[t.id]]
        reopened = sum(1 for t in ever_resolved if "reopened" in kinds_of[t.id])
        result.append(EstateTickets(
            estate_id, count(len(items)), [(category, count(n)) for category, n in categories.most_common()],
            median(acknowledged), median(resolved), _share(late, len(items)), ratio(reopened, len(ever_resolved)),
            average(stars_of[estate_id]),
        ))
    return result


async def ratings(session: AsyncSession, scope: Scope, period: Period, content: Content) -> list[RatingLine]:
    rows = await session.execute(
        select(Feedback.space_id, Feedback.service_id, Feedback.stars)
        .where(Feedback.kind == "rating", Feedback.space_id.in_(scope.space_ids),
               Feedback.day >= period.start, Feedback.day <= period.end)
    )
    stars_of: dict[tuple[str, str], list[float]] = defaultdict(list)
    for space_id, service_id, stars in rows.all():
        stars_of[(space_id, service_id)].append(float(stars))
    order = {space_id: index for index, space_id in enumerate(content.spaces)}
    service_order = {service_id: index for index, service_id in enumerate(content.services)}
    keys = sorted(stars_of, key=lambda key: (order.get(key[0], len(order)), key[1] != "", service_order.get(key[1], 0)))
    return [RatingLine(space_id, service_id, average(stars_of[(space_id, service_id)])) for space_id, service_id in keys]


async def space_ratings(session: AsyncSession, scope: Scope, period: Period, content: Content) -> list[tuple[str, Figure]]:
    """Every rating of a space and of its services together, per space (the chart's bars)."""
    rows = await session.execute(
        select(Feedback.space_id, Feedback.stars)
        .where(Feedback.kind == "rating", Feedback.space_id.in_(scope.space_ids),
               Feedback.day >= period.start, Feedback.day <= period.end)
    )
    stars_of: dict[str, list[float]] = defaultdict(list)
    for space_id, stars in rows.all():
        stars_of[space_id].append(float(stars))
    return [(space_id, average(stars_of[space_id])) for space_id in _ordered(scope.space_ids, content.spaces)]


async def latest_comments(session: AsyncSession, scope: Scope, period: Period, limit: int = COMMENTS_SHOWN) -> list[Comment]:
    """The newest comments, suggestions and complaints: their words only, never who wrote them."""
    rows = await session.execute(
        select(Feedback.kind, Feedback.space_id, Feedback.service_id, Feedback.comment)
        .where(Feedback.space_id.in_(scope.space_ids), Feedback.comment.is_not(None),
               Feedback.day >= period.start, Feedback.day <= period.end)
        .order_by(Feedback.day.desc(), Feedback.id)
        .limit(limit)
    )
    return [Comment(kind, space_id, service_id, text) for kind, space_id, service_id, text in rows.all()]


async def summary(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo,
                  now: datetime) -> Summary:
    return Summary(
        period, scope,
        spaces=await space_activity(session, scope, period, content, tz),
        estates=await estate_tickets(session, scope, period, content, tz, now),
        ratings=await ratings(session, scope, period, content),
        comments=await latest_comments(session, scope, period),
    )


# --------------------------------------------------------------------------------------------
# The weekly trend (for the chart)


@dataclass(frozen=True)
class WeekPoint:
    start: date  # Monday
    bookings: Figure
    tickets: Figure


def week_start(day: date) -> date:
    return day - timedelta(days=day.weekday())


async def weekly_trend(session: AsyncSession, scope: Scope, end_day: date, tz: ZoneInfo, weeks: int = TREND_WEEKS) -> list[WeekPoint]:
    """Bookings (by slot) and tickets opened, per week, for the `weeks` weeks up to the one holding `end_day`."""
    mondays = [week_start(end_day) - timedelta(weeks=back) for back in range(weeks - 1, -1, -1)]
    start, end = Period(mondays[0], mondays[-1] + timedelta(days=6)).bounds(tz)
    booking_times = await session.scalars(
        select(Booking.slot_start).where(Booking.space_id.in_(scope.space_ids), Booking.status != "cancelled",
                                         Booking.slot_start >= start, Booking.slot_start < end)
    )
    ticket_times = await session.scalars(
        select(Ticket.created_at).where(Ticket.estate_id.in_(scope.estate_ids), Ticket.created_at >= start, Ticket.created_at < end)
    )
    booked = Counter(week_start(moment.astimezone(tz).date()) for moment in booking_times.all())
    filed = Counter(week_start(moment.astimezone(tz).date()) for moment in ticket_times.all())
    return [WeekPoint(monday, count(booked[monday]), count(filed[monday])) for monday in mondays]


# --------------------------------------------------------------------------------------------
# Committees' monthly digest


async def committee_members(session: AsyncSession) -> dict[int, frozenset[str]]:
    """Every committee member and the estates they represent."""
    rows = await session.execute(select(RoleGrant.user_id, RoleGrant.scope).where(RoleGrant.role == "committee"))
    estates: dict[int, set[str]] = defaultdict(set)
    for user_id, scope in rows.all():
        estates[user_id].add(scope)
    return {user_id: frozenset(scopes) for user_id, scopes in estates.items()}


async def digests_done(session: AsyncSession, month: str) -> set[int]:
    return set((await session.scalars(select(CommitteeDigest.user_id).where(CommitteeDigest.month == month))).all())


async def claim_digest(session: AsyncSession, user_id: int, month: str, now: datetime) -> bool:
    """True the first time for this member and month (across restarts and instances), False after."""
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    result = await session.execute(
        insert(CommitteeDigest).values(user_id=user_id, month=month, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "month"])
    )
    return result.rowcount == 1
