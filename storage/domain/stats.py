"""Figures for the people who run the spaces and the estates, scoped by role, for a period. No Telegram here.

Every figure remembers the size of the group it was computed from; a group of 1 to 4 (MIN_GROUP - 1) people or
items is shown as "too few to show" rather than a number that could point at someone (three ratings of a
service, two no-shows out of three bookings). Counting and durations are done in SQL, over indexes of the period
columns (a month holds ~100k bookings at scale, too many to load); medians and small-group checks in Python, so
they are the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import statistics
from collections import Counter, OrderedDict, defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, Float, and_, case, cast, distinct, extract, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from storage.content import Content
from storage.db import Database, dialect_insert
from storage.models import Booking, CommitteeDigest, Feedback, RoleGrant, Ticket, TicketEvent
from storage.models.base import UtcDateTime
from storage.domain.users import Roles

MIN_GROUP = 5
SUMMARY_FRESH_FOR = timedelta(minutes=3)  # a view counts afresh past this (the warming job was late)
REFRESH_AFTER = timedelta(seconds=60)  # the warming job recounts summaries older than this
KEEP_WARM_FOR = timedelta(hours=24)  # ... if someone read them this recently
SUMMARIES_KEPT = 32
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
    if roles.can_edit_content:
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
    computed_at: datetime  # the figures are those of the database at this moment
    spaces: list[SpaceActivity] = field(default_factory=list)
    estates: list[EstateTickets] = field(default_factory=list)
    ratings: list[RatingLine] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    extras: dict[str, object] = field(default_factory=dict)  # by SUMMARY_EXTRAS name, e.g. "guides"


def _ordered(ids: frozenset[str], order: Iterable[str]) -> list[str]:
    return [item for item in order if item in ids]


def _booked_between(start: datetime, end: datetime) -> ColumnElement[bool]:
    return and_(Booking.slot_start >= start, Booking.slot_start < end, Booking.status != "cancelled")


async def _bookings_per_service(session: AsyncSession, space_ids: Iterable[str], service_ids: Iterable[str] | None,
                                start: datetime, end: datetime) -> list[tuple[str, str, int]]:
    """(space, service, bookings). Naming the services lets SQLite read ix_bookings_space_service_slot in GROUP BY
    order instead of sorting every booking of the period."""
    query = select(Booking.space_id, Booking.service_id, func.count()).where(Booking.space_id.in_(space_ids),
                                                                            _booked_between(start, end))
    if service_ids is not None:
        query = query.where(Booking.service_id.in_(service_ids))
    rows = await session.execute(query.group_by(Booking.space_id, Booking.service_id))
    return [(space_id, service_id, n) for space_id, service_id, n in rows.all()]


async def space_activity(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo) -> list[SpaceActivity]:
    start, end = period.bounds(tz)
    per_space = await session.execute(
        select(Booking.space_id, func.count(), func.sum(case((Booking.status == "attended", 1), else_=0)),
               func.sum(case((Booking.status == "no_show", 1), else_=0)))
        .where(Booking.space_id.in_(scope.space_ids), _booked_between(start, end))
        .group_by(Booking.space_id)
    )
    bookings: dict[str, int] = defaultdict(int)
    attended: dict[str, int] = defaultdict(int)
    no_shows: dict[str, int] = defaultdict(int)
    for space_id, n, n_attended, n_no_show in per_space.all():
        bookings[space_id], attended[space_id], no_shows[space_id] = n, n_attended, n_no_show
    known_services = [service.id for service in content.services.values() if service.space_id in scope.space_ids]
    services: dict[str, Counter[str]] = defaultdict(Counter)
    for space_id, service_id, n in await _bookings_per_service(session, scope.space_ids, known_services, start, end):
        services[space_id][service_id] += n
    # Bookings of services since removed from the content (or moved): count those spaces again, every service.
    strays = {space_id for space_id, n in bookings.items() if sum(services[space_id].values()) != n}
    if strays:
        for space_id in strays:
            services[space_id].clear()
        for space_id, service_id, n in await _bookings_per_service(session, strays, None, start, end):
            services[space_id][service_id] += n
    result = []
    for space_id in _ordered(scope.space_ids, content.spaces):
        busiest = [(service, n) for service, n in services[space_id].most_common() if n >= MIN_GROUP][:BUSIEST_SHOWN]
        result.append(SpaceActivity(space_id, count(bookings[space_id]), count(attended[space_id]),
                                    ratio(no_shows[space_id], attended[space_id] + no_shows[space_id]), busiest))
    return result


def _hours_between(session: AsyncSession, later: ColumnElement, earlier: ColumnElement) -> ColumnElement[float]:
    """later - earlier in hours, computed by the database; NULL when either is NULL. SQLite's julianday() keeps
    milliseconds but its difference carries float noise, hence the rounding (3 h must read 3, not 2.9999999)."""
    if session.bind.dialect.name == "postgresql":
        seconds = cast(extract("epoch", later - earlier), Float)
    else:
        seconds = func.round((func.julianday(later) - func.julianday(earlier)) * 86400.0, 3)
    return seconds / 3600.0


async def estate_tickets(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo,
                         now: datetime) -> list[EstateTickets]:
    start, end = period.bounds(tz)
    opened_in_period = and_(Ticket.estate_id.in_(scope.estate_ids), Ticket.created_at >= start, Ticket.created_at < end)
    # Still unacknowledged tickets count as late once their time has passed by now.
    hours_waited = _hours_between(session, func.coalesce(Ticket.acknowledged_at, literal(now, UtcDateTime())), Ticket.created_at)
    # Grouped by the late flag too, so it is computed once per ticket and a few hundred groups come back.
    late_flag = case((hours_waited > Ticket.ack_hours, 1), else_=0).label("late")
    counted = await session.execute(
        select(Ticket.estate_id, Ticket.category_id, late_flag, func.count(), func.min(Ticket.id), func.max(Ticket.id))
        .where(opened_in_period)
        .group_by(Ticket.estate_id, Ticket.category_id, late_flag)
    )
    categories: dict[str, Counter[str]] = defaultdict(Counter)
    late: Counter[str] = Counter()
    first_ids, last_ids = [], []
    for estate_id, category_id, is_late, n, first_in_group, last_in_group in counted.all():
        categories[estate_id][category_id] += n
        late[estate_id] += n * is_late
        first_ids.append(first_in_group)
        last_ids.append(last_in_group)
    # Tickets resolved at least once, and those of them reopened (a ticket resolved twice has two such events, hence
    # DISTINCT). The events are also bounded by the lowest and highest id of the period's tickets: redundant with
    # the join, but it makes them one range of ix_ticket_events_ticket_kind instead of a probe per ticket or a
    # scan of every event ever written.
    first_id, last_id = min(first_ids, default=0), max(last_ids, default=0)
    resolved_event, reopened_event = aliased(TicketEvent), aliased(TicketEvent)
    fixed = await session.execute(
        select(Ticket.estate_id, func.count(distinct(Ticket.id)), func.count(distinct(reopened_event.ticket_id)))
        .join(resolved_event, and_(resolved_event.ticket_id == Ticket.id, resolved_event.kind == "resolved",
                                   resolved_event.ticket_id.between(first_id, last_id)))
        .outerjoin(reopened_event, and_(reopened_event.ticket_id == Ticket.id, reopened_event.kind == "reopened",
                                        reopened_event.ticket_id.between(first_id, last_id)))
        .where(opened_in_period)
        .group_by(Ticket.estate_id)
    )
    ever_resolved: dict[str, int] = defaultdict(int)
    reopened: dict[str, int] = defaultdict(int)
    for estate_id, n_resolved, n_reopened in fixed.all():
        ever_resolved[estate_id], reopened[estate_id] = n_resolved, n_reopened
    # Medians need every duration: only those are read, as numbers (ix_tickets_estate_created covers them).
    durations = await session.execute(
        select(Ticket.estate_id, _hours_between(session, Ticket.acknowledged_at, Ticket.created_at),
               _hours_between(session, Ticket.resolved_at, Ticket.created_at))
        .where(opened_in_period, or_(Ticket.acknowledged_at.is_not(None), Ticket.resolved_at.is_not(None)))
    )
    to_acknowledge: dict[str, list[float]] = defaultdict(list)
    to_resolve: dict[str, list[float]] = defaultdict(list)
    for estate_id, hours_to_acknowledge, hours_to_resolve in durations.all():
        if hours_to_acknowledge is not None:
            to_acknowledge[estate_id].append(hours_to_acknowledge)
        if hours_to_resolve is not None:
            to_resolve[estate_id].append(hours_to_resolve)
    rated = await session.execute(
        select(Ticket.estate_id, Ticket.stars)
        .where(Ticket.estate_id.in_(scope.estate_ids), Ticket.stars.is_not(None), Ticket.rated_at >= start, Ticket.rated_at < end)
    )
    stars_of: dict[str, list[float]] = defaultdict(list)
    for estate_id, stars in rated.all():
        stars_of[estate_id].append(float(stars))

    result = []
    for estate_id in _ordered(scope.estate_ids, content.estates):
        opened = sum(categories[estate_id].values())
        result.append(EstateTickets(
            estate_id, count(opened), [(category, count(n)) for category, n in categories[estate_id].most_common()],
            median(to_acknowledge[estate_id]), median(to_resolve[estate_id]), _share(late[estate_id], opened),
            ratio(reopened[estate_id], ever_resolved[estate_id]), average(stars_of[estate_id]),
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


# Figures other features add to the summary (storage/domain/guides.py: per guide), counted and kept warm with the rest:
# name -> async (session, scope, period, content, tz, now) -> figures, found in Summary.extras[name].
SUMMARY_EXTRAS: dict[str, Callable[..., Awaitable[object]]] = {}


async def summary(session: AsyncSession, scope: Scope, period: Period, content: Content, tz: ZoneInfo,
                  now: datetime) -> Summary:
    return Summary(
        period, scope, now,
        spaces=await space_activity(session, scope, period, content, tz),
        estates=await estate_tickets(session, scope, period, content, tz, now),
        ratings=await ratings(session, scope, period, content),
        comments=await latest_comments(session, scope, period),
        extras={name: await count_extra(session, scope, period, content, tz, now) for name, count_extra in SUMMARY_EXTRAS.items()},
    )


def _younger_than(computed_at: datetime, limit: timedelta, now: datetime) -> bool:
    return timedelta(0) <= now - computed_at < limit


def _still_asked(period: Period, today: date) -> bool:
    """Whether a screen can still ask for this period: the rolling ones (a week, 30 days, this month so far) end
    today, so once they end earlier only whole months are asked again."""
    return period.end >= today or period == Period.month(period.start.year, period.start.month)


async def _counted(db: Database, scope: Scope, period: Period, content: Content, tz: ZoneInfo, now: datetime) -> Summary:
    # Tens of milliseconds at scale: on SQLite a long read runs off the event loop.
    async with db.read(long=True) as session:
        return await summary(session, scope, period, content, tz, now)


@dataclass
class _Cached:
    content: Content
    summary: Summary
    last_read: datetime | None  # None: counted ahead by refresh(), nobody has read it yet


class SummaryCache:
    """Summaries by scope and period, kept warm in the background, so that the statistics screen does not count a
    month of the city while the reader waits: ~50k bookings and ~7k tickets at scale, 60–180 ms.

    refresh(), run every minute by a job, counts again whatever was read in the last KEEP_WARM_FOR and is older
    than REFRESH_AFTER, and always the whole city for this month (the admins' first view after a start). A view
    takes the cached figures while younger than SUMMARY_FRESH_FOR, else counts afresh. Process memory is only a
    cache; the database stays the truth, and the screen says when its figures were computed. A reload of the
    content starts afresh (names and scopes may have changed). At most SUMMARIES_KEPT entries, the least recently
    read out."""

    def __init__(self, fresh_for: timedelta = SUMMARY_FRESH_FOR, kept: int = SUMMARIES_KEPT,
                 refresh_after: timedelta = REFRESH_AFTER, keep_warm_for: timedelta = KEEP_WARM_FOR) -> None:
        self._fresh_for = fresh_for
        self._kept = kept
        self._refresh_after = refresh_after
        self._keep_warm_for = keep_warm_for
        # Least recently read (or counted ahead) first: the first out when there are too many.
        self._entries: OrderedDict[tuple[Scope, Period], _Cached] = OrderedDict()

    async def summary(self, db: Database, scope: Scope, period: Period, content: Content, tz: ZoneInfo,
                      now: datetime) -> Summary:
        key = (scope, period)
        found = self._entries.get(key)
        if found is not None and found.content is content and _younger_than(found.summary.computed_at, self._fresh_for, now):
            found.last_read = now
            self._entries.move_to_end(key)
            return found.summary
        computed = await _counted(db, scope, period, content, tz, now)
        self._entries.pop(key, None)
        self._entries[key] = _Cached(content, computed, last_read=now)
        self._make_room()
        return computed

    async def refresh(self, db: Database, content: Content, tz: ZoneInfo, now: datetime) -> int:
        """Count again the summaries due (see the class); returns how many were counted."""
        today = now.astimezone(tz).date()
        whole_city = (Scope(frozenset(content.spaces), frozenset(content.estates), everything=True),
                      Period.this_month(today))
        for key, cached in list(self._entries.items()):
            read_lately = cached.last_read is not None and now - cached.last_read < self._keep_warm_for
            if cached.content is not content or not (key == whole_city or (read_lately and _still_asked(key[1], today))):
                del self._entries[key]
        due = [key for key, cached in self._entries.items()
               if not _younger_than(cached.summary.computed_at, self._refresh_after, now)]
        if whole_city not in self._entries:
            due.append(whole_city)
        for key in due:
            computed = await _counted(db, *key, content, tz, now)
            # Views ran while this was counting: one may have counted the entry itself, or made room by dropping it.
            cached = self._entries.get(key)
            if cached is None and key == whole_city:
                self._entries[key] = _Cached(content, computed, last_read=None)
                self._make_room()
            elif cached is not None and cached.content is content and cached.summary.computed_at <= computed.computed_at:
                cached.summary = computed
        return len(due)

    def _make_room(self) -> None:
        while len(self._entries) > self._kept:
            self._entries.popitem(last=False)


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
    # One COUNT per local week, its bounds computed here (weeks with a DST change are 167 or 169 hours long);
    # each is a range of an index, and a dozen weeks hold too many bookings to load.
    counts = []
    for monday in mondays:
        start, end = Period(monday, monday + timedelta(days=6)).bounds(tz)
        counts.append(select(func.count()).where(Booking.space_id.in_(scope.space_ids), _booked_between(start, end))
                      .scalar_subquery())
        counts.append(select(func.count()).where(Ticket.estate_id.in_(scope.estate_ids), Ticket.created_at >= start,
                                                 Ticket.created_at < end).scalar_subquery())
    values = (await session.execute(select(*counts))).one()
    return [WeekPoint(monday, count(values[2 * index]), count(values[2 * index + 1])) for index, monday in enumerate(mondays)]


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
    insert = dialect_insert(session)
    result = await session.execute(
        insert(CommitteeDigest).values(user_id=user_id, month=month, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "month"])
    )
    return result.rowcount == 1
