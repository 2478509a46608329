"""Booking: slots from the editors' rules, seats enforced by the database, cancellations, the waitlist, reminder
plans and the staff agenda. Plain async code over a session (the caller owns the transaction and writes the
outbox rows that report a change in the same one); no Telegram here.

Slots are defined in local time (Europe/Rome, or the configured zone) and stored in UTC. Capacity lives in
`slot_counters`: one row per (service, slot start), taken with a conditional UPDATE, so 200 people confirming
the last seat at once produce exactly one winner on SQLite and on PostgreSQL alike. The per-tenant limit works
the same way with `booking_quotas`. Lock order, to stay free of deadlocks on PostgreSQL: the tenant's booking
rows, then their quota row, then the slot counter.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from enum import StrEnum
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, Row, bindparam, delete, func, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import hours, refusals
from storage.content import BookingRules, Content, Service, Space
from storage.db import Database, core_in_session
from storage.models import Booking, BookingContact, BookingPrompt, BookingQuota, SlotCounter, WaitlistEntry
from storage.domain.users import Roles

Place = TypeVar("Place", Booking, WaitlistEntry)
# What the screens read of a booking or a waitlist entry: a Row with every column of its table, by name (the
# column types' conversions applied), from the prebuilt reads below. Read-only: no `code` (booking_code(row.id)),
# nothing to change or refresh; the writes load ORM objects.
BookingRow = Row[Any]
WaitlistRow = Row[Any]

# How long the first tenant in line has to confirm a seat that freed up before it passes to the next one.
OFFER_HOLD = timedelta(hours=2)
# An unanswered question (phone number, cancellation reason) stops waiting for its answer after this long.
PROMPT_LIFETIME = timedelta(minutes=30)
STAMP_FORMAT = "%Y%m%d%H%M"
DAY_FORMAT = "%Y%m%d"
PHONE_PATTERN = re.compile(r"^\+?\d{6,15}$")

# Called with (session, booking, now) when staff mark a booking attended, inside that transaction: the feedback
# feature appends its prompt here.
FeedbackHook = Callable[[AsyncSession, Booking, datetime], Awaitable[None]]
FEEDBACK_HOOKS: list[FeedbackHook] = []
# Called with (connection, booking, now) right after a tenant's booking is made, inside that transaction: the guides
# attach the step a tenant was stuck at to a help desk booking (storage/domain/guides.py).
BookedHook = Callable[[Connection, Booking, datetime], None]
BOOKED_HOOKS: list[BookedHook] = []


class Reason(StrEnum):
    FULL = "full"  # no seat left in the slot
    LIMIT = "limit"  # the tenant has as many active bookings for this service as allowed
    ALREADY_BOOKED = "already_booked"  # the tenant already holds this slot (a double tap)
    UNAVAILABLE = "unavailable"  # not a bookable slot now: past, too soon, too far, not in the schedule
    NOT_FOUND = "not_found"  # no such booking or waitlist entry for this person
    CANCELLED = "cancelled"  # the booking was already cancelled
    DEADLINE = "deadline"  # too late to cancel by yourself: call the space
    STARTED = "started"  # the slot has begun
    NOT_STARTED = "not_started"  # too early to mark attendance
    NOT_FULL = "not_full"  # no need for the waitlist: there are seats
    ON_WAITLIST = "on_waitlist"  # already in line for this slot
    OFFER_GONE = "offer_gone"  # the waitlist offer expired or was already answered


class Refused(refusals.Refused):
    """The change was not made; the transaction it was raised in must roll back (leaving `async with` does)."""

    def __init__(self, reason: Reason, booking: Booking | BookingRow | None = None) -> None:
        super().__init__(reason, reason.value)
        self.booking = booking


@dataclass(frozen=True)
class Slot:
    start: datetime  # aware UTC
    end: datetime
    seats: int


@dataclass(frozen=True)
class FreeSlot:
    slot: Slot
    left: int


@dataclass(frozen=True)
class Cancellation:
    booking: Booking
    offer: WaitlistEntry | None  # the tenant first in line, now offered the freed seat


@dataclass(frozen=True)
class OfferExpiry:
    expired: WaitlistEntry
    next_offer: WaitlistEntry | None


@dataclass(frozen=True)
class Reminder:
    hours: float
    send_at: datetime
    until: datetime  # not sent from this moment on: the next reminder, or the slot itself, has come


# The screens' reads, built once and run as Core on a Connection: through Database.read_now when a screen only
# reads (building ORM statements and a session per press cost several times the indexed reads: 1.3 ms vs 0.44 ms
# for my bookings; docs/performance.md, writes under load, third pass), through `storage.db.core_in_session` inside a write.
_bookings, _counters, _waitlist = Booking.__table__, SlotCounter.__table__, WaitlistEntry.__table__
_OPEN = ("waiting", "offered")
_SEATS_TAKEN = select(_counters.c.slot_start, _counters.c.taken).where(
    _counters.c.service_id == bindparam("service_id"),
    _counters.c.slot_start.between(bindparam("first"), bindparam("last")))
_LIVE_BOOKING = select(_bookings).where(
    _bookings.c.user_id == bindparam("user_id"), _bookings.c.service_id == bindparam("service_id"),
    _bookings.c.slot_start == bindparam("slot_start"), _bookings.c.status != "cancelled")
_UPCOMING = (select(_bookings).where(_bookings.c.user_id == bindparam("user_id"), _bookings.c.status == "active",
                                     _bookings.c.slot_end > bindparam("now"))
             .order_by(_bookings.c.slot_start, _bookings.c.id))
_WAITING = (select(_waitlist).where(_waitlist.c.user_id == bindparam("user_id"), _waitlist.c.status.in_(_OPEN),
                                    _waitlist.c.slot_start > bindparam("now"))
            .order_by(_waitlist.c.slot_start, _waitlist.c.id))
_OWN_BOOKING = select(_bookings).where(_bookings.c.id == bindparam("id"), _bookings.c.user_id == bindparam("user_id"))
_OWN_ENTRY = select(_waitlist).where(_waitlist.c.id == bindparam("id"), _waitlist.c.user_id == bindparam("user_id"))
_AHEAD_IN_LINE = select(func.count()).select_from(_waitlist).where(
    _waitlist.c.service_id == bindparam("service_id"), _waitlist.c.slot_start == bindparam("slot_start"),
    _waitlist.c.status.in_(_OPEN), _waitlist.c.id < bindparam("id"))
_SAVED_PHONE = select(BookingContact.__table__.c.phone).where(BookingContact.__table__.c.user_id == bindparam("user_id"))


# --- slots: pure functions of the rules, the space and a clock


def to_utc(local: datetime, tz: ZoneInfo) -> datetime | None:
    """A wall-clock time in `tz` as UTC; None for a time that does not exist (the hour skipped in spring)."""
    aware = local.replace(tzinfo=tz)
    utc = aware.astimezone(timezone.utc)
    return utc if utc.astimezone(tz).replace(tzinfo=None) == local else None


def stamp_of(start: datetime, tz: ZoneInfo) -> str:
    """The slot's local start as it travels in buttons (YYYYMMDDHHMM)."""
    return start.astimezone(tz).strftime(STAMP_FORMAT)


def start_of(stamp: str, tz: ZoneInfo) -> datetime | None:
    try:
        return to_utc(datetime.strptime(stamp, STAMP_FORMAT), tz)
    except ValueError:
        return None


def day_code(day: date) -> str:
    return day.strftime(DAY_FORMAT)


def day_of(code: str) -> date | None:
    try:
        return datetime.strptime(code, DAY_FORMAT).date()
    except ValueError:
        return None


def is_closed(rules: BookingRules, space: Space, day: date) -> bool:
    return any(closure.covers(day) for closure in (*rules.closures, *space.closures))


def slots_on(rules: BookingRules, space: Space, day: date, tz: ZoneInfo) -> list[Slot]:
    """Every slot of the day by the rules, ignoring the clock. Closures of the service and of the space remove the
    whole day; a public holiday removes the weekly schedule but not an extra date an editor set on purpose."""
    if is_closed(rules, space, day):
        return []
    spans: list[tuple[time, time, int, int]] = [
        (extra.start, extra.end, extra.slot_minutes, extra.seats) for extra in rules.extra_dates if extra.date == day
    ]
    if not hours.is_public_holiday(day):
        spans += [(rule.start, rule.end, rule.slot_minutes, rule.seats) for rule in rules.schedule if day.weekday() in rule.days]
    by_start: dict[datetime, Slot] = {}
    for start, end, minutes, seats in spans:
        length = timedelta(minutes=minutes)
        at, stop = datetime.combine(day, start), datetime.combine(day, end)
        while at + length <= stop:
            utc = to_utc(at, tz)
            if utc is not None:
                by_start.setdefault(utc, Slot(utc, utc + length, seats))  # overlapping rules: the first one wins
            at += length
    return sorted(by_start.values(), key=lambda slot: slot.start)


def booking_window(rules: BookingRules, now: datetime, tz: ZoneInfo) -> tuple[datetime, date]:
    """The earliest start one may book now, and the last local day."""
    return now + timedelta(hours=rules.min_notice_hours), now.astimezone(tz).date() + timedelta(days=rules.max_days_ahead)


def bookable_slots(rules: BookingRules, space: Space, now: datetime, tz: ZoneInfo, *, on: date | None = None) -> list[Slot]:
    earliest, last_day = booking_window(rules, now, tz)
    first_day = earliest.astimezone(tz).date()
    if on is not None:
        days: Iterable[date] = [on] if first_day <= on <= last_day else []
    else:
        days = (first_day + timedelta(days=offset) for offset in range((last_day - first_day).days + 1))
    return [slot for day in days for slot in slots_on(rules, space, day, tz) if slot.start >= earliest]


def find_slot(rules: BookingRules, space: Space, start: datetime, now: datetime, tz: ZoneInfo) -> Slot | None:
    """The bookable slot starting at `start`, if the rules offer it now."""
    day = start.astimezone(tz).date()
    return next((slot for slot in bookable_slots(rules, space, now, tz, on=day) if slot.start == start), None)


def in_schedule(rules: BookingRules | None, space: Space | None, start: datetime, tz: ZoneInfo) -> bool:
    """Whether a booked slot still exists in the current rules (staff see a warning when it does not)."""
    if rules is None or space is None:
        return False
    return any(slot.start == start for slot in slots_on(rules, space, start.astimezone(tz).date(), tz))


def reminder_plan(rules: BookingRules, slot_start: datetime, now: datetime) -> list[Reminder]:
    """One reminder per configured lead time still ahead; each stops being worth sending when the next is due."""
    leads = sorted(set(rules.reminders_hours), reverse=True)
    plan = []
    for index, lead in enumerate(leads):
        send_at = slot_start - timedelta(hours=lead)
        until = slot_start - timedelta(hours=leads[index + 1]) if index + 1 < len(leads) else slot_start
        if send_at > now:
            plan.append(Reminder(lead, send_at, until))
    return plan


def can_cancel_by_self(rules: BookingRules | None, slot_start: datetime, now: datetime) -> bool:
    deadline_hours = rules.cancel_deadline_hours if rules is not None else 0
    return now <= slot_start - timedelta(hours=deadline_hours)


def normalise_phone(text: str) -> str | None:
    """'333 123 4567', '+39 (02) 1234-567' → digits with an optional leading +; None when it is not a phone."""
    compact = re.sub(r"[\s().\-/]", "", text.strip())
    return compact if PHONE_PATTERN.match(compact) else None


# --- seats and quotas: enforced by the database


# Built once, as the screens' reads are (a booking built ten statements per tap); run on the write's connection by
# `_claim_places`, in the lock order above. Parameters are not named after the columns the statements write: Core
# would take those as values to write.
_quotas = BookingQuota.__table__
_RELEASE_STARTED = update(_bookings).where(
    _bookings.c.user_id == bindparam("user"), _bookings.c.service_id == bindparam("service"),
    _bookings.c.holds_quota.is_(True), _bookings.c.slot_start <= bindparam("now")).values(holds_quota=False)
_RELEASE_QUOTA = update(_quotas).where(
    _quotas.c.user_id == bindparam("user"), _quotas.c.service_id == bindparam("service"),
    _quotas.c.active >= bindparam("count")).values(active=_quotas.c.active - bindparam("count"))
# A booking made, a booking cancelled and its seat passed on, as Core on the write's connection (a course's
# sign-up is eight bookings, leaving it eight cancellations: ~35 and ~30 ms of CPU as ORM statements in a session).
# The objects handed back are built from the rows (`_booking_of`): the same attributes, `code` included.
_INSERT_BOOKING = insert(_bookings).returning(*_bookings.c)
_BOOKING = select(_bookings).where(_bookings.c.id == bindparam("booking"))
_ACTIVE_OF_SERVICE = (select(_bookings).where(_bookings.c.user_id == bindparam("user"), _bookings.c.service_id == bindparam("service"),
                                             _bookings.c.status == "active").order_by(_bookings.c.slot_start))
_CANCEL = update(_bookings).where(_bookings.c.id == bindparam("booking"), _bookings.c.status == "active").values(
    status="cancelled", cancelled_at=bindparam("at", type_=_bookings.c.cancelled_at.type),
    cancelled_by=bindparam("by", type_=_bookings.c.cancelled_by.type),
    cancel_reason=bindparam("reason", type_=_bookings.c.cancel_reason.type))
_DROP_QUOTA = update(_bookings).where(_bookings.c.id == bindparam("booking"), _bookings.c.holds_quota.is_(True)).values(
    holds_quota=False)
_FIRST_WAITING = (select(_waitlist).where(_waitlist.c.service_id == bindparam("service"), _waitlist.c.slot_start == bindparam("start"),
                                          _waitlist.c.status == "waiting").order_by(_waitlist.c.id).limit(1))
_OFFER = update(_waitlist).where(_waitlist.c.id == bindparam("entry"), _waitlist.c.status == "waiting").values(
    status="offered", offered_at=bindparam("at", type_=_waitlist.c.offered_at.type),
    offer_expires_at=bindparam("until", type_=_waitlist.c.offer_expires_at.type))
_ENTRY = select(_waitlist).where(_waitlist.c.id == bindparam("entry"))
_RELEASE_SEAT = update(_counters).where(
    _counters.c.service_id == bindparam("service"), _counters.c.slot_start == bindparam("start"), _counters.c.taken > 0,
).values(taken=_counters.c.taken - 1)
_CLOSE_WAITING = update(_waitlist).where(
    _waitlist.c.user_id == bindparam("user"), _waitlist.c.service_id == bindparam("service"),
    _waitlist.c.slot_start == bindparam("start"), _waitlist.c.status == "waiting",
).values(status="booked", closed_at=bindparam("now", type_=_waitlist.c.closed_at.type))


def _take_one(table: Any, keys: list[str], taken: str, below: Any, **values: Any) -> dict[str, Any]:
    """One statement that adds one to the row's `taken` column while it is below `below`, making the row if it is
    missing (starting at one taken: seats and limits are at least 1, the content's schema says so); its row count
    is 1 if it took one. One statement rather than "make the row, then take": on PostgreSQL each statement is a
    round trip, a turn of the busy loop. The dialects' INSERT … ON CONFLICT are different classes: one per name."""
    column = table.c[taken]
    return {name: dialect.insert(table).values(**values, **{taken: 1}).on_conflict_do_update(
        index_elements=keys, set_={taken: column + 1, **{key: value for key, value in values.items() if key not in keys}},
        where=column < below)
        for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}


# The schedule's current seat count travels with the seat taken, so an editor raising it takes effect at once.
_TAKE_SEAT = _take_one(
    _counters, ["service_id", "slot_start"], "taken", bindparam("seat_count", type_=_counters.c.seats.type),
    service_id=bindparam("service", type_=_counters.c.service_id.type),
    slot_start=bindparam("start", type_=_counters.c.slot_start.type),
    seats=bindparam("seat_count", type_=_counters.c.seats.type))
_TAKE_QUOTA = _take_one(
    _quotas, ["user_id", "service_id"], "active", bindparam("limit", type_=_quotas.c.active.type),
    user_id=bindparam("user", type_=_quotas.c.user_id.type),
    service_id=bindparam("service", type_=_quotas.c.service_id.type))


def _take_seat(connection: Connection, service_id: str, slot: Slot) -> bool:
    params = {"service": service_id, "start": slot.start, "seat_count": slot.seats}
    return connection.execute(_TAKE_SEAT[connection.dialect.name], params).rowcount == 1


def _release_seat(connection: Connection, service_id: str, slot_start: datetime) -> None:
    connection.execute(_RELEASE_SEAT, {"service": service_id, "start": slot_start})


def _take_quota(connection: Connection, user_id: int, service_id: str, limit: int, now: datetime) -> bool:
    _release_started_quota(connection, user_id, service_id, now)
    params = {"user": user_id, "service": service_id, "limit": limit}
    return connection.execute(_TAKE_QUOTA[connection.dialect.name], params).rowcount == 1


def _release_quota(connection: Connection, user_id: int, service_id: str, count: int = 1) -> None:
    connection.execute(_RELEASE_QUOTA, {"user": user_id, "service": service_id, "count": count})


def _release_started_quota(connection: Connection, user_id: int, service_id: str, now: datetime) -> None:
    """Bookings whose slot has begun stop counting against the limit; settled lazily, at the tenant's next try."""
    released = connection.execute(_RELEASE_STARTED, {"user": user_id, "service": service_id, "now": now})
    if released.rowcount:
        _release_quota(connection, user_id, service_id, released.rowcount)


def _claim_places(connection: Connection, user_id: int, service_id: str, slot: Slot, limit: int, now: datetime) -> None:
    """The tenant's quota, then the slot's seat, unless they hold this slot already (ALREADY_BOOKED), it is full
    (FULL) or they are at their limit (LIMIT)."""
    existing = live_booking(connection, user_id, service_id, slot.start)
    if existing is not None:
        raise Refused(Reason.ALREADY_BOOKED, existing)
    # A quick refusal, without taking any lock, once the slot is visibly full; the conditional UPDATE in
    # _take_seat is what enforces capacity.
    if seats_taken(connection, service_id, [slot.start]).get(slot.start, 0) >= slot.seats:
        raise Refused(Reason.FULL)
    if not _take_quota(connection, user_id, service_id, limit, now):
        raise Refused(Reason.LIMIT)
    if not _take_seat(connection, service_id, slot):
        raise Refused(Reason.FULL)


def _drop_quota_of(connection: Connection, booking: Booking) -> None:
    """The booking stops counting against the limit, once (a conditional UPDATE, safe under concurrency)."""
    if connection.execute(_DROP_QUOTA, {"booking": booking.id}).rowcount:
        _release_quota(connection, booking.user_id, booking.service_id)


def seats_taken(connection: Connection, service_id: str, starts: Iterable[datetime]) -> dict[datetime, int]:
    starts = list(starts)
    if not starts:
        return {}
    rows = connection.execute(_SEATS_TAKEN, {"service_id": service_id, "first": min(starts), "last": max(starts)})
    return {start: taken for start, taken in rows.all()}


def free_slots(
    connection: Connection, service: Service, space: Space, now: datetime, tz: ZoneInfo, *, on: date | None = None
) -> list[FreeSlot]:
    """Bookable slots with the seats left in each (0 for full ones, which the waitlist serves)."""
    if service.booking is None:
        return []
    slots = bookable_slots(service.booking, space, now, tz, on=on)
    taken = seats_taken(connection, service.id, (slot.start for slot in slots))
    return [FreeSlot(slot, max(0, slot.seats - taken.get(slot.start, 0))) for slot in slots]


async def free_slots_now(
    db: Database, service: Service, space: Space, now: datetime, tz: ZoneInfo, *, on: date | None = None
) -> list[FreeSlot]:
    """free_slots in a read of its own (the days' and the times' screens)."""
    return await db.read_now(lambda connection: free_slots(connection, service, space, now, tz, on=on))


def next_free(
    connection: Connection, service: Service, space: Space, now: datetime, tz: ZoneInfo, limit: int = 3
) -> list[FreeSlot]:
    """The first `limit` slots with a seat, looking one day at a time (usually the first day or two suffice)."""
    if service.booking is None:
        return []
    earliest, last_day = booking_window(service.booking, now, tz)
    day, found = earliest.astimezone(tz).date(), []
    while day <= last_day and len(found) < limit:
        found += [free for free in free_slots(connection, service, space, now, tz, on=day) if free.left > 0]
        day += timedelta(days=1)
    return found[:limit]


def seats_by_day(free: Iterable[FreeSlot], tz: ZoneInfo) -> dict[date, int]:
    """Seats left per local day, in day order (days whose slots are all full count 0)."""
    days: dict[date, int] = {}
    for item in free:
        day = item.slot.start.astimezone(tz).date()
        days[day] = days.get(day, 0) + item.left
    return days


# --- bookings


def live_booking(connection: Connection, user_id: int, service_id: str, slot_start: datetime) -> BookingRow | None:
    return connection.execute(
        _LIVE_BOOKING, {"user_id": user_id, "service_id": service_id, "slot_start": slot_start}).first()


def book_on(
    connection: Connection, *, service: Service, space: Space, start: datetime, user_id: int, chat_id: int, name: str,
    phone: str | None, language: str, now: datetime, tz: ZoneInfo,
) -> Booking:
    """Take a seat for the tenant, or raise `Refused` (FULL, LIMIT, ALREADY_BOOKED, UNAVAILABLE)."""
    rules = service.booking
    slot = find_slot(rules, space, start, now, tz) if rules is not None else None
    if rules is None or slot is None:
        raise Refused(Reason.UNAVAILABLE)
    _claim_places(connection, user_id, service.id, slot, rules.max_active_per_tenant, now)
    booking = _insert_booking(
        connection, user_id=user_id, chat_id=chat_id, service_id=service.id, space_id=space.id, slot_start=slot.start,
        slot_end=slot.end, name=name, phone=phone, language=language, now=now,
    )
    # Booked the normal way: a place in line for the same slot is no longer needed.
    connection.execute(_CLOSE_WAITING, {"user": user_id, "service": service.id, "start": slot.start, "now": now})
    for hook in BOOKED_HOOKS:
        hook(connection, booking, now)
    return booking


def _booked_or_taken(
    connection: Connection, user_id: int, service_id: str, start: datetime
) -> tuple[BookingRow | None, int]:
    """The tenant's live booking of the slot, else (None, the seats taken in it)."""
    existing = live_booking(connection, user_id, service_id, start)
    return existing, 0 if existing is not None else seats_taken(connection, service_id, [start]).get(start, 0)


def _insert_booking(
    connection: Connection, *, user_id: int, chat_id: int, service_id: str, space_id: str, slot_start: datetime,
    slot_end: datetime, name: str, phone: str | None, language: str, now: datetime,
) -> Booking:
    values = dict(
        user_id=user_id, chat_id=chat_id, service_id=service_id, space_id=space_id, slot_start=slot_start,
        slot_end=slot_end, status="active", name=name[:128], phone=phone, language=language, holds_quota=True,
        created_at=now,
    )
    try:
        return _booking_of(connection.execute(_INSERT_BOOKING, values).one())
    except IntegrityError:
        # Another tap of the same person won the race for this slot (uq_bookings_one_per_tenant_slot).
        raise Refused(Reason.ALREADY_BOOKED) from None


def _booking_of(row: Row) -> Booking:
    """A booking read as Core, as the object the callers know (in no session)."""
    return Booking(**row._mapping)


async def _add_once(session: AsyncSession, row: Place, taken: Reason) -> Place:
    """Add the row; a unique key another transaction already holds (the same person's concurrent tap) is refused
    with `taken`."""
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:
        raise Refused(taken) from None
    return row


async def my_bookings(db: Database, user_id: int, now: datetime) -> tuple[list[BookingRow], list[WaitlistRow]]:
    """The tenant's active bookings not yet over and their open places in line for slots ahead, soonest first."""
    def read(connection: Connection) -> tuple[list[BookingRow], list[WaitlistRow]]:
        params = {"user_id": user_id, "now": now}
        return list(connection.execute(_UPCOMING, params).all()), list(connection.execute(_WAITING, params).all())

    return await db.read_now(read)


async def own_booking(db: Database, booking_id: int, user_id: int) -> BookingRow | None:
    """The booking, if it is this tenant's."""
    params = {"id": booking_id, "user_id": user_id}
    return await db.read_now(lambda connection: connection.execute(_OWN_BOOKING, params).first())


async def active_for_service(session: AsyncSession, user_id: int, service_id: str) -> list[Booking]:
    """A person's active bookings of one service, soonest first (a course's sessions: one sign-up holds them all)."""
    rows = await session.scalars(
        select(Booking).where(Booking.user_id == user_id, Booking.service_id == service_id, Booking.status == "active")
        .order_by(Booking.slot_start)
    )
    return list(rows.all())


async def cancel_by_tenant(
    session: AsyncSession, booking_id: int, user_id: int, now: datetime, rules: BookingRules | None
) -> Cancellation:
    """Raises `Refused` NOT_FOUND, CANCELLED, STARTED, or DEADLINE (then the tenant must call the space)."""
    def cancel(connection: Connection) -> Cancellation:
        row = connection.execute(_BOOKING, {"booking": booking_id}).first()
        return _cancel_by_tenant(connection, None if row is None else _booking_of(row), user_id, now, rules)

    return await core_in_session(session, cancel)


def _cancel_by_tenant(
    connection: Connection, booking: Booking | None, user_id: int, now: datetime, rules: BookingRules | None
) -> Cancellation:
    if booking is None or booking.user_id != user_id:
        raise Refused(Reason.NOT_FOUND)
    if booking.status != "active":
        raise Refused(Reason.CANCELLED, booking)
    if booking.slot_start <= now:
        raise Refused(Reason.STARTED, booking)
    if not can_cancel_by_self(rules, booking.slot_start, now):
        raise Refused(Reason.DEADLINE, booking)
    return _cancel(connection, booking, by=user_id, reason=None, now=now)


async def leave_course(
    session: AsyncSession, user_id: int, service_id: str, now: datetime, rules: BookingRules | None
) -> list[Cancellation]:
    """A course's sign-up undone: each of the tenant's sessions still to come cancelled as they would one by one;
    one they may not cancel any more (past its deadline) stays booked."""
    def leave(connection: Connection) -> list[Cancellation]:
        done = []
        for row in connection.execute(_ACTIVE_OF_SERVICE, {"user": user_id, "service": service_id}).all():
            if row.slot_start <= now:
                continue
            try:
                done.append(_cancel_by_tenant(connection, _booking_of(row), user_id, now, rules))
            except Refused:
                continue
        return done

    return await core_in_session(session, leave)


async def cancel_by_staff(session: AsyncSession, booking_id: int, staff_id: int, reason: str, now: datetime) -> Cancellation:
    """Any active booking, also one whose slot vanished from a changed schedule. Raises NOT_FOUND or CANCELLED."""
    def cancel(connection: Connection) -> Cancellation:
        row = connection.execute(_BOOKING, {"booking": booking_id}).first()
        if row is None:
            raise Refused(Reason.NOT_FOUND)
        booking = _booking_of(row)
        if booking.status != "active":
            raise Refused(Reason.CANCELLED, booking)
        return _cancel(connection, booking, by=staff_id, reason=reason, now=now)

    return await core_in_session(session, cancel)


def _cancel(connection: Connection, booking: Booking, *, by: int, reason: str | None, now: datetime) -> Cancellation:
    changed = connection.execute(_CANCEL, {"booking": booking.id, "at": now, "by": by, "reason": reason})
    if changed.rowcount != 1:  # a concurrent cancellation got there first
        raise Refused(Reason.CANCELLED, booking)
    _drop_quota_of(connection, booking)
    booking = _booking_of(connection.execute(_BOOKING, {"booking": booking.id}).one())
    offer = _pass_seat(connection, booking.service_id, booking.slot_start, now)
    return Cancellation(booking, offer)


async def mark(session: AsyncSession, booking_id: int, staff_id: int, attended: bool, now: datetime) -> Booking:
    """Attended or no-show, once the slot has begun; staff may correct a mark. Raises NOT_FOUND, CANCELLED,
    NOT_STARTED. The feedback hooks run the first time a booking becomes attended."""
    booking = await session.get(Booking, booking_id)
    if booking is None:
        raise Refused(Reason.NOT_FOUND)
    if booking.status == "cancelled":
        raise Refused(Reason.CANCELLED, booking)
    if booking.slot_start > now:
        raise Refused(Reason.NOT_STARTED, booking)
    status = "attended" if attended else "no_show"
    changed = await session.execute(
        update(Booking).where(Booking.id == booking.id, Booking.status.in_(("active", "attended", "no_show")),
                              Booking.status != status)
        .values(status=status, marked_at=now, marked_by=staff_id)
        .execution_options(synchronize_session=False)
    )
    await core_in_session(session, lambda connection: _drop_quota_of(connection, booking))
    await session.refresh(booking)
    if changed.rowcount == 1 and attended:
        for hook in FEEDBACK_HOOKS:
            await hook(session, booking, now)
    return booking


# --- the waitlist


def _pass_seat(connection: Connection, service_id: str, slot_start: datetime, now: datetime) -> WaitlistEntry | None:
    """A seat came free: hold it for the first tenant in line, or give it back to everyone."""
    if slot_start > now:
        while True:
            entry = connection.execute(_FIRST_WAITING, {"service": service_id, "start": slot_start}).first()
            if entry is None:
                break
            offered = connection.execute(_OFFER, {"entry": entry.id, "at": now, "until": min(now + OFFER_HOLD, slot_start)})
            if offered.rowcount == 1:
                return WaitlistEntry(**connection.execute(_ENTRY, {"entry": entry.id}).one()._mapping)
            # Another transaction offered this entry meanwhile: look again, the next in line gets this seat.
    _release_seat(connection, service_id, slot_start)
    return None


async def join_waitlist(
    session: AsyncSession, *, service: Service, space: Space, start: datetime, user_id: int, chat_id: int, name: str,
    language: str, now: datetime, tz: ZoneInfo,
) -> WaitlistEntry:
    """Raises UNAVAILABLE, ALREADY_BOOKED, NOT_FULL (book instead) or ON_WAITLIST."""
    rules = service.booking
    slot = find_slot(rules, space, start, now, tz) if rules is not None else None
    if slot is None:
        raise Refused(Reason.UNAVAILABLE)
    existing, taken = await core_in_session(
        session, lambda connection: _booked_or_taken(connection, user_id, service.id, slot.start))
    if existing is not None:
        raise Refused(Reason.ALREADY_BOOKED, existing)
    if taken < slot.seats:
        raise Refused(Reason.NOT_FULL)
    if await _open_entry(session, user_id, service.id, slot.start) is not None:
        raise Refused(Reason.ON_WAITLIST)
    entry = WaitlistEntry(
        user_id=user_id, chat_id=chat_id, service_id=service.id, space_id=space.id, slot_start=slot.start,
        slot_end=slot.end, name=name[:128], language=language, status="waiting", created_at=now,
    )
    return await _add_once(session, entry, Reason.ON_WAITLIST)


async def _open_entry(session: AsyncSession, user_id: int, service_id: str, slot_start: datetime) -> WaitlistEntry | None:
    return await session.scalar(
        select(WaitlistEntry).where(WaitlistEntry.user_id == user_id, WaitlistEntry.service_id == service_id,
                                    WaitlistEntry.slot_start == slot_start,
                                    WaitlistEntry.status.in_(("waiting", "offered")))
    )


async def waitlist_entry(session: AsyncSession, entry_id: int, user_id: int) -> WaitlistEntry | None:
    entry = await session.get(WaitlistEntry, entry_id)
    return entry if entry is not None and entry.user_id == user_id else None


async def place_in_line(session: AsyncSession, entry: WaitlistEntry) -> int:
    return await core_in_session(session, lambda connection: _place_in_line(connection, entry))


def _place_in_line(connection: Connection, entry: WaitlistEntry | WaitlistRow) -> int:
    ahead = connection.execute(
        _AHEAD_IN_LINE, {"service_id": entry.service_id, "slot_start": entry.slot_start, "id": entry.id}).scalar()
    return (ahead or 0) + 1


async def own_entry_and_place(db: Database, entry_id: int, user_id: int) -> tuple[WaitlistRow | None, int]:
    """The tenant's waitlist entry (None if it is not theirs) and its place in line (0 without an entry)."""
    def read(connection: Connection) -> tuple[WaitlistRow | None, int]:
        entry = connection.execute(_OWN_ENTRY, {"id": entry_id, "user_id": user_id}).first()
        return entry, _place_in_line(connection, entry) if entry is not None else 0

    return await db.read_now(read)


async def own_entry_and_phone(db: Database, entry_id: int, user_id: int) -> tuple[WaitlistRow | None, str | None]:
    """The tenant's waitlist entry (None if it is not theirs) and the phone they left, before accepting an offer."""
    def read(connection: Connection) -> tuple[WaitlistRow | None, str | None]:
        entry = connection.execute(_OWN_ENTRY, {"id": entry_id, "user_id": user_id}).first()
        return entry, saved_phone(connection, user_id)

    return await db.read_now(read)


async def leave_waitlist(session: AsyncSession, entry_id: int, user_id: int, now: datetime) -> WaitlistEntry | None:
    """Leave the line (or decline an offer). Returns the next tenant offered the seat this one was holding.
    Raises NOT_FOUND, or OFFER_GONE when the entry is no longer open."""
    entry = await waitlist_entry(session, entry_id, user_id)
    if entry is None:
        raise Refused(Reason.NOT_FOUND)
    if entry.status not in ("waiting", "offered"):
        raise Refused(Reason.OFFER_GONE)
    was_offered = entry.status == "offered"
    left = await session.execute(
        update(WaitlistEntry).where(WaitlistEntry.id == entry.id, WaitlistEntry.status == entry.status)
        .values(status="left", closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if left.rowcount != 1:
        raise Refused(Reason.OFFER_GONE)
    await session.refresh(entry)
    if not was_offered:
        return None
    return await core_in_session(session, lambda connection: _pass_seat(connection, entry.service_id, entry.slot_start, now))


async def accept_offer(
    session: AsyncSession, entry_id: int, user_id: int, *, service: Service | None, phone: str | None, now: datetime
) -> Booking:
    """Turn the held seat into a booking. Raises NOT_FOUND, OFFER_GONE, UNAVAILABLE (service removed),
    ALREADY_BOOKED or LIMIT; on LIMIT the offer stays open until it expires."""
    entry = await waitlist_entry(session, entry_id, user_id)
    if entry is None:
        raise Refused(Reason.NOT_FOUND)
    if entry.status != "offered" or entry.offer_expires_at is None or entry.offer_expires_at <= now:
        raise Refused(Reason.OFFER_GONE)
    if service is None or service.booking is None:
        raise Refused(Reason.UNAVAILABLE)
    existing = await core_in_session(
        session, lambda connection: live_booking(connection, user_id, entry.service_id, entry.slot_start))
    if existing is not None:
        raise Refused(Reason.ALREADY_BOOKED, existing)
    limit = service.booking.max_active_per_tenant
    if not await core_in_session(session, lambda connection: _take_quota(connection, user_id, entry.service_id, limit, now)):
        raise Refused(Reason.LIMIT)
    claimed = await session.execute(
        update(WaitlistEntry)
        .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == "offered", WaitlistEntry.offer_expires_at > now)
        .values(status="booked", closed_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:
        raise Refused(Reason.OFFER_GONE)
    # No seat to take: it has been held in the counter since the offer was made.
    return await core_in_session(session, lambda connection: _insert_booking(
        connection, user_id=user_id, chat_id=entry.chat_id, service_id=entry.service_id, space_id=entry.space_id,
        slot_start=entry.slot_start, slot_end=entry.slot_end, name=entry.name, phone=phone, language=entry.language,
        now=now,
    ))


async def expire_offers(session: AsyncSession, now: datetime, limit: int = 100) -> list[OfferExpiry]:
    """Offers not confirmed in time pass to the next tenant in line (or the seat goes back to everyone)."""
    due = await session.scalars(
        select(WaitlistEntry).where(WaitlistEntry.status == "offered", WaitlistEntry.offer_expires_at <= now)
        .order_by(WaitlistEntry.offer_expires_at, WaitlistEntry.id).limit(limit)
    )
    expiries = []
    for entry in list(due.all()):
        expired = await session.execute(
            update(WaitlistEntry).where(WaitlistEntry.id == entry.id, WaitlistEntry.status == "offered")
            .values(status="expired", closed_at=now)
            .execution_options(synchronize_session=False)
        )
        if expired.rowcount != 1:
            continue
        await session.refresh(entry)
        expiries.append(OfferExpiry(entry, await core_in_session(
            session, lambda connection: _pass_seat(connection, entry.service_id, entry.slot_start, now))))
    return expiries


# --- staff


def staff_space_ids(roles: Roles, content: Content) -> set[str]:
    """The spaces whose agenda a person sees: those they operate, those serving the estates they look after, or
    every space for admins."""
    if roles.is_admin:
        return set(content.spaces)
    spaces = set(roles.operator_of)
    spaces.update(estate.space_id for estate in content.estates.values() if estate.id in roles.custodian_of)
    return spaces


async def agenda(session: AsyncSession, space_ids: Iterable[str], start: datetime, end: datetime) -> list[Booking]:
    """Bookings (not cancelled) starting in [start, end) in these spaces, by time."""
    rows = await session.scalars(
        select(Booking)
        .where(Booking.space_id.in_(list(space_ids)), Booking.slot_start >= start, Booking.slot_start < end,
               Booking.status != "cancelled")
        .order_by(Booking.slot_start, Booking.space_id, Booking.service_id, Booking.id)
    )
    return list(rows.all())


# --- questions waiting for a typed answer


async def set_prompt(
    session: AsyncSession, user_id: int, kind: str, now: datetime, *, service_id: str | None = None,
    slot_start: datetime | None = None, booking_id: int | None = None,
) -> None:
    await session.execute(delete(BookingPrompt).where(BookingPrompt.user_id == user_id))
    session.add(BookingPrompt(user_id=user_id, kind=kind, service_id=service_id, slot_start=slot_start,
                              booking_id=booking_id, created_at=now))
    await session.flush()


async def pending_prompt(session: AsyncSession, user_id: int, kind: str, now: datetime) -> BookingPrompt | None:
    prompt = await session.get(BookingPrompt, user_id)
    if prompt is None or prompt.kind != kind or prompt.created_at < now - PROMPT_LIFETIME:
        return None
    return prompt


async def clear_prompt(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(delete(BookingPrompt).where(BookingPrompt.user_id == user_id))
    return result.rowcount > 0


def saved_phone(connection: Connection, user_id: int) -> str | None:
    return connection.execute(_SAVED_PHONE, {"user_id": user_id}).scalar()


async def phone_on_file(db: Database, user_id: int) -> str | None:
    """saved_phone in a read of its own."""
    return await db.read_now(lambda connection: saved_phone(connection, user_id))


async def save_phone(session: AsyncSession, user_id: int, phone: str, now: datetime) -> None:
    contact = await session.get(BookingContact, user_id)
    if contact is None:
        session.add(BookingContact(user_id=user_id, phone=phone, updated_at=now))
    else:
        contact.phone, contact.updated_at = phone, now
    await session.flush()


# --- outbox guards: checked just before a reminder or an offer is delivered


def reminder_guard(booking: Booking, reminder: Reminder) -> str:
    return f"booking_reminder:{booking.id}:{int(reminder.until.timestamp())}"


async def _reminder_still_due(session: AsyncSession, argument: str, now: datetime) -> bool:
    booking_id, _, until = argument.partition(":")
    status = await session.scalar(select(Booking.status).where(Booking.id == int(booking_id)))
    return status == "active" and now < datetime.fromtimestamp(int(until), timezone.utc)


def offer_guard(entry: WaitlistEntry) -> str:
    return f"waitlist_offer:{entry.id}"


async def _offer_still_open(session: AsyncSession, argument: str, now: datetime) -> bool:
    entry = await session.get(WaitlistEntry, int(argument))
    return entry is not None and entry.status == "offered" and entry.offer_expires_at is not None and entry.offer_expires_at > now


# Checked just before an outbox row leaves (storage.domain.outbox.GUARDS); bot/app.py registers them.
OUTBOX_GUARDS = {"booking_reminder": _reminder_still_due, "waitlist_offer": _offer_still_open}
