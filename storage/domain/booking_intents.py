"""A tenant's booking intents, one domain call each: "show me this time" (`offer_slot`) and "confirm it"
(`confirm_booking`). Each owns the whole decision — the slot as it is now, the phone rule, capacity and the
tenant's limit, the reminders queued in the same transaction as the booking — and returns an outcome the handler
only renders (handlers/booking.py). The words of a reminder are the caller's (a pure render handed in), the rows,
their timing and guards are the domain's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.content import BookingRules, Service, Space
from storage.db import Database, core_in_session
from storage.domain import bookings, outbox
from storage.domain.bookings import BookingRow, FreeSlot, Reason, Refused
from storage.models import Booking

# The message params of a booking's reminder (handlers/outgoing/bookings.reminder_params bound to the words).
ReminderParams = Callable[[Booking], dict]


@dataclass(frozen=True)
class SlotRequest:
    """Who asks for which time of which service."""

    service: Service
    space: Space
    start: datetime
    user_id: int
    chat_id: int
    name: str
    language: str


# --- outcomes: what the tenant is shown


@dataclass(frozen=True)
class Booked:
    booking: Booking | BookingRow  # the one just made, or (read) the one the tenant already held
    fresh: bool  # False: the tenant already held this time (a double tap, or booked meanwhile)


@dataclass(frozen=True)
class ToConfirm:
    """The summary to confirm; `phone` is shown when the service asks for one."""

    slot: FreeSlot
    phone: str | None


@dataclass(frozen=True)
class AskPhone:
    """The service needs a phone number first; the question waits for the answer (a booking prompt is set)."""

    start: datetime


@dataclass(frozen=True)
class SlotGone:
    """The time cannot be booked any more: the day's times as they are now, or every day's when none is left."""

    day: date
    free: list[FreeSlot]
    all_days: list[FreeSlot]


@dataclass(frozen=True)
class JustFilled:
    """The last seat went while the tenant was looking; the day's times as they are now."""

    day: date
    free: list[FreeSlot]


@dataclass(frozen=True)
class Full:
    """The seat was taken at the confirmation; the next free times instead."""

    alternatives: list[FreeSlot]


@dataclass(frozen=True)
class AtLimit:
    """The tenant holds as many bookings of this service as allowed."""


SlotView = Booked | ToConfirm | AskPhone | SlotGone | JustFilled
Confirmation = Booked | Full | AtLimit | SlotView


# --- the intents


async def offer_slot(db: Database, request: SlotRequest, *, now: datetime, tz: ZoneInfo, ask_phone: bool = False) -> SlotView:
    """After a time is chosen: the summary to confirm, the phone question, or why not any more. `ask_phone`: the
    tenant asked to change the number (or joins a waitlist, so that accepting an offer later is one tap)."""
    def read(connection: Connection) -> SlotView:
        rules = request.service.booking
        phone = bookings.saved_phone(connection, request.user_id) if rules is not None and rules.phone_required else None
        return _slot_view(connection, request, phone, ask_phone=ask_phone, now=now, tz=tz)

    view = await db.read_now(read)
    if isinstance(view, AskPhone):
        async with db.write() as session:
            await _ask_phone(session, request, now)
    return view


async def confirm_booking(
    db: Database, request: SlotRequest, *, now: datetime, tz: ZoneInfo, reminder_params: ReminderParams
) -> Confirmation:
    """A tenant's confirmation tap. In one transaction: the phone rule, the seat and the limit (enforced by the
    database), the booking and its reminders. A refusal rolls all of it back; the outcome then says what to show."""
    rules = request.service.booking
    try:
        async with db.write() as session:
            phone = None
            if rules.phone_required:
                phone = await core_in_session(session, lambda connection: bookings.saved_phone(connection, request.user_id))
            if rules.phone_required and phone is None:
                view = await core_in_session(
                    session, lambda connection: _slot_view(connection, request, None, ask_phone=False, now=now, tz=tz))
                if isinstance(view, AskPhone):
                    await _ask_phone(session, request, now)
                return view
            def book(connection: Connection) -> Booking:
                booking = bookings.book_on(
                    connection, service=request.service, space=request.space, start=request.start,
                    user_id=request.user_id, chat_id=request.chat_id, name=request.name, phone=phone,
                    language=request.language, now=now, tz=tz,
                )
                reminders_on(connection, rules, booking, now, reminder_params)
                return booking

            return Booked(await core_in_session(session, book), fresh=True)
    except Refused as refusal:
        reason = refusal.reason
    if reason is Reason.LIMIT:
        return AtLimit()

    def read(connection: Connection) -> Confirmation:
        if reason is Reason.ALREADY_BOOKED:
            held = bookings.live_booking(connection, request.user_id, request.service.id, request.start)
            return Booked(held, fresh=False)
        if reason is Reason.FULL:
            return Full(bookings.next_free(connection, request.service, request.space, now, tz))
        # Not bookable now (past, too soon, out of the schedule): the slot as it is now. The phone, if the
        # service asks for one, is on file (checked above), so this view never asks for it.
        return _slot_view(connection, request, phone, ask_phone=False, now=now, tz=tz)

    return await db.read_now(read)


async def join_course(
    db: Database, service: Service, space: Space, starts: Iterable[datetime], *, user_id: int, chat_id: int, name: str,
    language: str, now: datetime, tz: ZoneInfo, reminder_params: ReminderParams,
) -> list[Booking]:
    """One sign-up, a seat in every session still to come (`starts`: local times), each with its reminders: all in
    one transaction on Database.write_now, or none (`Refused`, as bookings.book_on). Eight bookings through a
    session had held the event loop ~35 ms."""
    rules = service.booking

    def join(connection: Connection) -> list[Booking]:
        booked = []
        for local in starts:
            start = bookings.to_utc(local, tz)
            if start is None or start <= now:
                continue
            booking = bookings.book_on(connection, service=service, space=space, start=start, user_id=user_id,
                                       chat_id=chat_id, name=name, phone=None, language=language, now=now, tz=tz)
            reminders_on(connection, rules, booking, now, reminder_params)
            booked.append(booking)
        return booked

    return await db.write_now(join)


async def enqueue_reminders(
    session: AsyncSession, rules: BookingRules, booking: Booking, now: datetime, reminder_params: ReminderParams
) -> None:
    """reminders_on in the session's transaction."""
    await core_in_session(session, lambda connection: reminders_on(connection, rules, booking, now, reminder_params))


def reminders_on(
    connection: Connection, rules: BookingRules, booking: Booking, now: datetime, reminder_params: ReminderParams
) -> None:
    """One outbox row per reminder still ahead, each held until its time and dropped at delivery if the booking
    was cancelled or the next reminder has come (the guard)."""
    plan = bookings.reminder_plan(rules, booking.slot_start, now)
    params = reminder_params(booking) if plan else {}  # the same words for each: rendered once (~0.8 ms a render)
    outbox.enqueue_all_on(connection, [
        dict(chat_id=booking.chat_id, method="sendMessage", params=params,
             dedupe_key=f"booking-reminder:{booking.id}:{reminder.hours:g}", now=now, not_before=reminder.send_at,
             guard=bookings.reminder_guard(booking, reminder), kind="booking_reminder", ref=str(booking.id))
        for reminder in plan])


def _slot_view(
    connection: Connection, request: SlotRequest, phone: str | None, *, ask_phone: bool, now: datetime, tz: ZoneInfo
) -> SlotView:
    service, space, start = request.service, request.space, request.start
    existing = bookings.live_booking(connection, request.user_id, service.id, start)
    if existing is not None:
        return Booked(existing, fresh=False)
    day = start.astimezone(tz).date()
    free = bookings.free_slots(connection, service, space, now, tz, on=day)
    item = next((candidate for candidate in free if candidate.slot.start == start), None)
    if item is None:
        return SlotGone(day, free, [] if free else bookings.free_slots(connection, service, space, now, tz))
    if item.left == 0:
        return JustFilled(day, free)
    if service.booking.phone_required and (phone is None or ask_phone):
        return AskPhone(start)
    return ToConfirm(item, phone if service.booking.phone_required else None)


async def _ask_phone(session: AsyncSession, request: SlotRequest, now: datetime) -> None:
    await bookings.set_prompt(session, request.user_id, "phone", now, service_id=request.service.id, slot_start=request.start)
