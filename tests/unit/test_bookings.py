"""Booking domain: slot generation (with property tests), seats and limits enforced by the database under
contention, cancellation, the waitlist, reminder plans and guards, the staff agenda. On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.domain import booking_intents, bookings, users
from storage.domain.booking_intents import AtLimit, Booked, Full, SlotRequest
from storage.domain.bookings import Reason, Refused
from storage.content import BookingRules, Closure, ExtraDate, LocalText, Service, Space, WeeklySlotRule
from storage.models import Booking, BookingQuota, SlotCounter

ROME = ZoneInfo("Europe/Rome")
MONDAY = datetime(2027, 3, 1, 8, 0, tzinfo=ROME).astimezone(timezone.utc)  # Monday 1 March 2027, 08:00 in Milan
TUESDAY = date(2027, 3, 2)
_service_numbers = itertools.count(1)


def make_space(**changes) -> Space:  # type: ignore[no-untyped-def]
    space = Space(
        id="prova", name=LocalText("Spazio prova"), neighbourhood="Test", municipio=1, address="via Prova 1",
        lat=45.46, lon=9.19, model="animation", hours={day: [] for day in range(7)}, closures=[], phone="02 123456",
        email=None, website=None, operator="Coop", description=None, file="content/spaces/prova.yaml",
    )
    return replace(space, **changes)


def make_rules(**changes) -> BookingRules:  # type: ignore[no-untyped-def]
    rules = BookingRules(
        schedule=[WeeklySlotRule(days=(0, 1, 2, 3, 4), start=time(10), end=time(12), slot_minutes=30, seats=5)],
        extra_dates=[], closures=[], min_notice_hours=2, max_days_ahead=14, cancel_deadline_hours=24,
        max_active_per_tenant=2, phone_required=False, reminders_hours=(24, 2),
    )
    return replace(rules, **changes)


def make_service(rules: BookingRules | None = None, service_id: str | None = None) -> Service:
    return Service(
        id=service_id or f"sportello-{next(_service_numbers)}", space_id="prova", title=LocalText("Sportello"),
        description=LocalText("Aiuto"), category="digital", audience=None, cost=None, when=None, keywords={},
        booking=rules or make_rules(),
    )


def at(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ROME).astimezone(timezone.utc)


async def add_users(db, *user_ids: int) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id in user_ids:
            await users.touch_user(session, user_id, f"Tenant {user_id}", "it", MONDAY)


async def book(db, service: Service, start: datetime, user_id: int, now: datetime = MONDAY) -> Booking:  # type: ignore[no-untyped-def]
    return await db.write_now(lambda connection: bookings.book_on(
        connection, service=service, space=make_space(), start=start, user_id=user_id, chat_id=user_id,
        name=f"Tenant {user_id}", phone=None, language="it", now=now, tz=ROME,
    ))


async def tuesday_booking(db) -> tuple[Service, Booking]:  # type: ignore[no-untyped-def]
    """Tenant 1's booking of Tuesday 10:00 at a service of its own."""
    service = make_service()
    await add_users(db, 1)
    return service, await book(db, service, at(TUESDAY, 10), 1)


@dataclass(frozen=True)
class Tap:
    """A confirmation tap's outcome as these capacity tests read it."""

    booking: Booking | None
    refused: Reason | None = None
    alternatives: list[bookings.FreeSlot] = field(default_factory=list)


async def confirm(db, service: Service, start: datetime, user_id: int, now: datetime = MONDAY) -> Tap:  # type: ignore[no-untyped-def]
    request = SlotRequest(service, make_space(), start, user_id, user_id, f"Tenant {user_id}", "it")
    match await booking_intents.confirm_booking(db, request, now=now, tz=ROME, reminder_params=lambda booking: {"text": "⏰"}):
        case Booked(booking, fresh):
            return Tap(booking, None if fresh else Reason.ALREADY_BOOKED)
        case Full(alternatives):
            return Tap(None, Reason.FULL, alternatives)
        case AtLimit():
            return Tap(None, Reason.LIMIT)
    return Tap(None, Reason.UNAVAILABLE)


async def taken(db, service: Service, start: datetime) -> int:  # type: ignore[no-untyped-def]
    return await db.read_now(lambda connection: bookings.seats_taken(connection, service.id, [start]).get(start, 0))


async def live_count(db, service: Service) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return await session.scalar(
            select(func.count()).select_from(Booking).where(Booking.service_id == service.id, Booking.status == "active")
        )


# --- slots (pure)


def test_weekly_schedule_makes_slots_in_local_time_stored_in_utc():
    slots = bookings.slots_on(make_rules(), make_space(), TUESDAY, ROME)
    assert [slot.start.astimezone(ROME).strftime("%H:%M") for slot in slots] == ["10:00", "10:30", "11:00", "11:30"]
    assert slots[0].start == datetime(2027, 3, 2, 9, 0, tzinfo=timezone.utc)  # CET is UTC+1 in March
    assert all(slot.seats == 5 and slot.end - slot.start == timedelta(minutes=30) for slot in slots)
    assert bookings.slots_on(make_rules(), make_space(), date(2027, 3, 6), ROME) == []  # Saturday


def test_closures_and_holidays_remove_days_but_an_extra_date_on_a_holiday_stays():
    closed = Closure(TUESDAY, TUESDAY)
    assert bookings.slots_on(make_rules(closures=[closed]), make_space(), TUESDAY, ROME) == []
    assert bookings.slots_on(make_rules(), make_space(closures=[closed]), TUESDAY, ROME) == []
    easter_monday = date(2027, 3, 29)
    assert bookings.slots_on(make_rules(), make_space(), easter_monday, ROME) == []
    extra = ExtraDate(easter_monday, time(15), time(16), 60, 3)
    slots = bookings.slots_on(make_rules(extra_dates=[extra]), make_space(), easter_monday, ROME)
    assert [(slot.start.astimezone(ROME).hour, slot.seats) for slot in slots] == [(15, 3)]


def test_the_hour_skipped_by_daylight_saving_has_no_slots():
    night = make_rules(schedule=[WeeklySlotRule(days=(6,), start=time(1), end=time(4), slot_minutes=60, seats=1)])
    slots = bookings.slots_on(night, make_space(), date(2026, 3, 29), ROME)  # clocks jump from 02:00 to 03:00
    assert [slot.start.astimezone(ROME).hour for slot in slots] == [1, 3]


def test_minimum_notice_and_days_ahead_bound_what_can_be_booked():
    rules = make_rules(min_notice_hours=26, max_days_ahead=2)
    slots = bookings.bookable_slots(rules, make_space(), MONDAY, ROME)
    local = [slot.start.astimezone(ROME) for slot in slots]
    assert min(local) == datetime(2027, 3, 2, 10, 0, tzinfo=ROME)  # Monday 08:00 + 26 h = Tuesday 10:00
    assert max(local).date() == date(2027, 3, 3)


def test_stamps_travel_in_local_time_and_come_back():
    start = at(TUESDAY, 10, 30)
    assert bookings.stamp_of(start, ROME) == "202703021030"
    assert bookings.start_of("202703021030", ROME) == start
    assert bookings.start_of("202713021030", ROME) is None


def test_reminders_are_planned_only_ahead_and_each_gives_way_to_the_next():
    start = at(TUESDAY, 10)
    plan = bookings.reminder_plan(make_rules(), start, MONDAY)
    assert [(r.hours, r.send_at, r.until) for r in plan] == [
        (24, start - timedelta(hours=24), start - timedelta(hours=2)), (2, start - timedelta(hours=2), start),
    ]
    late = bookings.reminder_plan(make_rules(), start, start - timedelta(hours=3))
    assert [r.hours for r in late] == [2]


@pytest.mark.parametrize("typed, expected", [("333 123 4567", "3331234567"), ("+39 (02) 1234-567", "+39021234567"), ("ciao", None), ("12", None)])
def test_phone_numbers_are_compacted(typed, expected):
    assert bookings.normalise_phone(typed) == expected


@given(
    start_minutes=st.integers(min_value=6 * 60, max_value=20 * 60),
    slot_minutes=st.sampled_from([15, 20, 30, 45, 60, 90, 120]),
    count=st.integers(min_value=1, max_value=8),
    seats=st.integers(min_value=1, max_value=30),
    day=st.dates(min_value=date(2026, 1, 1), max_value=date(2030, 12, 31)),
)
def test_generated_slots_fill_the_rule_exactly(start_minutes, slot_minutes, count, seats, day):
    end_minutes = min(start_minutes + slot_minutes * count, 23 * 60 + 59)
    start, end = time(start_minutes // 60, start_minutes % 60), time(end_minutes // 60, end_minutes % 60)
    rules = make_rules(schedule=[WeeklySlotRule(days=tuple(range(7)), start=start, end=end, slot_minutes=slot_minutes, seats=seats)])
    slots = bookings.slots_on(rules, make_space(), day, ROME)
    if bookings.hours.is_public_holiday(day):
        assert slots == []
        return
    expected = (end_minutes - start_minutes) // slot_minutes
    assert len(slots) == expected
    for index, slot in enumerate(slots):
        local = slot.start.astimezone(ROME)
        assert local.date() == day and local.replace(tzinfo=None) == datetime.combine(day, start) + index * timedelta(minutes=slot_minutes)
        assert slot.end - slot.start == timedelta(minutes=slot_minutes) and slot.seats == seats
        assert bookings.start_of(bookings.stamp_of(slot.start, ROME), ROME) == slot.start


# --- booking on the database


async def test_booking_takes_a_seat_and_a_full_slot_refuses_with_the_next_free_times(db):
    service = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(11), slot_minutes=30, seats=1)]))
    await add_users(db, 1, 2)
    start = at(TUESDAY, 10)
    booking = await book(db, service, start, 1)
    assert booking.code == f"PR-{booking.id:06d}" and booking.slot_end == start + timedelta(minutes=30)
    assert await taken(db, service, start) == 1
    outcome = await confirm(db, service, start, 2)
    assert outcome.booking is None and outcome.refused is Reason.FULL
    assert outcome.alternatives and outcome.alternatives[0].slot.start == at(TUESDAY, 10, 30)
    assert await taken(db, service, start) == 1 and await live_count(db, service) == 1


async def test_a_double_tap_returns_the_same_booking(db):
    service = make_service()
    await add_users(db, 1)
    start = at(TUESDAY, 10)
    first = await confirm(db, service, start, 1)
    second = await confirm(db, service, start, 1)
    assert first.refused is None and second.refused is Reason.ALREADY_BOOKED
    assert second.booking.id == first.booking.id
    assert await taken(db, service, start) == 1


async def test_slots_outside_the_rules_are_refused(db):
    service = make_service()
    await add_users(db, 1)
    for start in (at(TUESDAY, 10, 15), at(date(2027, 3, 6), 10), MONDAY + timedelta(hours=1), at(date(2027, 4, 30), 10)):
        with pytest.raises(Refused) as refused:
            await book(db, service, start, 1)
        assert refused.value.reason is Reason.UNAVAILABLE


async def test_the_per_tenant_limit_counts_only_bookings_still_ahead(db):
    service = make_service(make_rules(max_active_per_tenant=2))
    await add_users(db, 1)
    await book(db, service, at(TUESDAY, 10), 1)
    await book(db, service, at(TUESDAY, 11), 1)
    with pytest.raises(Refused) as refused:
        await book(db, service, at(date(2027, 3, 3), 10), 1)
    assert refused.value.reason is Reason.LIMIT
    after_first = at(TUESDAY, 10, 5)  # the first appointment has begun: it no longer counts
    await book(db, service, at(date(2027, 3, 3), 10), 1, now=after_first)


async def test_cancelling_inside_the_deadline_frees_the_seat_and_past_it_is_refused(db):
    service = make_service(make_rules(cancel_deadline_hours=30))  # Tuesday 10:00 is 26 hours away
    await add_users(db, 1)
    early, late = await book(db, service, at(date(2027, 3, 4), 10), 1), await book(db, service, at(TUESDAY, 10), 1)
    async with db.write() as session:
        cancellation = await bookings.cancel_by_tenant(session, early.id, 1, MONDAY, service.booking)
    assert cancellation.booking.status == "cancelled" and cancellation.offer is None
    assert await taken(db, service, early.slot_start) == 0
    for booking_id, reason in ((late.id, Reason.DEADLINE), (early.id, Reason.CANCELLED)):
        with pytest.raises(Refused) as refused:
            async with db.write() as session:
                await bookings.cancel_by_tenant(session, booking_id, 1, MONDAY, service.booking)
        assert refused.value.reason is reason
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await bookings.cancel_by_tenant(session, late.id, 2, MONDAY, service.booking)
    assert refused.value.reason is Reason.NOT_FOUND
    # Cancelling freed the quota too: the tenant can book two more.
    await book(db, service, at(date(2027, 3, 5), 10), 1)


async def test_a_freed_seat_is_held_for_the_first_in_line_then_passes_on_when_the_offer_expires(db):
    service = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(11), slot_minutes=60, seats=1)]))
    await add_users(db, 1, 2, 3, 4)
    start = at(TUESDAY, 10)
    first = await book(db, service, start, 1)
    entries = []
    for user_id in (2, 3):
        async with db.write() as session:
            entries.append(await bookings.join_waitlist(
                session, service=service, space=make_space(), start=start, user_id=user_id, chat_id=user_id,
                name="T", language="it", now=MONDAY, tz=ROME,
            ))
    async with db.read() as session:
        assert [await bookings.place_in_line(session, entry) for entry in entries] == [1, 2]
    async with db.write() as session:
        cancellation = await bookings.cancel_by_tenant(session, first.id, 1, MONDAY, replace(service.booking, cancel_deadline_hours=0))
    assert cancellation.offer.id == entries[0].id and cancellation.offer.status == "offered"
    assert await taken(db, service, start) == 1  # held for the offer: nobody else can take it
    assert (await confirm(db, service, start, 4)).refused is Reason.FULL
    async with db.read() as session:
        assert await bookings._offer_still_open(session, str(entries[0].id), MONDAY)

    later = MONDAY + bookings.OFFER_HOLD + timedelta(seconds=1)
    async with db.write() as session:
        expiries = await bookings.expire_offers(session, later)
    assert [(e.expired.id, e.next_offer.id) for e in expiries] == [(entries[0].id, entries[1].id)]
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await bookings.accept_offer(session, entries[0].id, 2, service=service, phone=None, now=later)
    assert refused.value.reason is Reason.OFFER_GONE
    async with db.write() as session:
        booking = await bookings.accept_offer(session, entries[1].id, 3, service=service, phone=None, now=later)
    assert booking.user_id == 3 and booking.status == "active"
    assert await taken(db, service, start) == 1 and await live_count(db, service) == 1


async def test_leaving_the_line_with_an_offer_passes_it_on_or_gives_the_seat_back(db):
    service = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(11), slot_minutes=60, seats=1)],
                                      cancel_deadline_hours=0))
    await add_users(db, 1, 2)
    start = at(TUESDAY, 10)
    first = await book(db, service, start, 1)
    async with db.write() as session:
        with pytest.raises(Refused) as refused:
            await bookings.join_waitlist(session, service=service, space=make_space(), start=start, user_id=1, chat_id=1,
                                         name="T", language="it", now=MONDAY, tz=ROME)
        assert refused.value.reason is Reason.ALREADY_BOOKED
    async with db.write() as session:
        entry = await bookings.join_waitlist(session, service=service, space=make_space(), start=start, user_id=2,
                                             chat_id=2, name="T", language="it", now=MONDAY, tz=ROME)
    async with db.write() as session:
        await bookings.cancel_by_tenant(session, first.id, 1, MONDAY, service.booking)
    async with db.write() as session:
        assert await bookings.leave_waitlist(session, entry.id, 2, MONDAY) is None
    assert await taken(db, service, start) == 0
    async with db.write() as session:
        with pytest.raises(Refused) as refused:
            await bookings.join_waitlist(session, service=service, space=make_space(), start=start, user_id=2,
                                         chat_id=2, name="T", language="it", now=MONDAY, tz=ROME)
        assert refused.value.reason is Reason.NOT_FULL


async def test_staff_cancel_and_marks_and_the_feedback_hook_runs_once(db, monkeypatch):
    service = make_service()
    await add_users(db, 1, 2)
    booking = await book(db, service, at(TUESDAY, 10), 1)
    other = await book(db, service, at(TUESDAY, 10), 2)
    seen = []

    async def feedback(session, attended, now):  # type: ignore[no-untyped-def]
        seen.append(attended.id)

    monkeypatch.setattr(bookings, "FEEDBACK_HOOKS", [feedback])
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await bookings.mark(session, booking.id, 99, True, MONDAY)
    assert refused.value.reason is Reason.NOT_STARTED
    during = at(TUESDAY, 10, 10)
    for attended in (True, True, False, True):
        async with db.write() as session:
            marked = await bookings.mark(session, booking.id, 99, attended, during)
    assert marked.status == "attended" and seen == [booking.id, booking.id]  # corrected to no-show and back
    async with db.write() as session:
        cancellation = await bookings.cancel_by_staff(session, other.id, 99, "Lo spazio resta chiuso.", MONDAY)
    assert cancellation.booking.cancel_reason == "Lo spazio resta chiuso." and cancellation.booking.cancelled_by == 99
    with pytest.raises(Refused):
        async with db.write() as session:
            await bookings.cancel_by_staff(session, other.id, 99, "again", MONDAY)


async def test_a_slot_dropped_from_the_schedule_keeps_its_booking_until_staff_cancel_it(db):
    service, booking = await tuesday_booking(db)
    changed = replace(service, booking=make_rules(schedule=[WeeklySlotRule(days=(3,), start=time(15), end=time(16), slot_minutes=60, seats=2)]))
    assert not bookings.in_schedule(changed.booking, make_space(), booking.slot_start, ROME)
    assert [b.id for b in (await bookings.my_bookings(db, 1, MONDAY))[0]] == [booking.id]
    async with db.read() as session:
        listed = await bookings.agenda(session, {"prova"}, at(TUESDAY, 0), at(date(2027, 3, 3), 0))
    assert [b.id for b in listed] == [booking.id]
    async with db.write() as session:
        await bookings.cancel_by_staff(session, booking.id, 99, "L'orario del servizio è cambiato.", MONDAY)


async def test_reminder_guard_holds_only_for_an_active_booking_before_its_time(db):
    service, booking = await tuesday_booking(db)
    reminder = bookings.reminder_plan(service.booking, booking.slot_start, MONDAY)[0]
    argument = bookings.reminder_guard(booking, reminder).partition(":")[2]
    async with db.read() as session:
        assert await bookings._reminder_still_due(session, argument, reminder.send_at)
        assert not await bookings._reminder_still_due(session, argument, reminder.until)
    async with db.write() as session:
        await bookings.cancel_by_staff(session, booking.id, 99, "x", MONDAY)
    async with db.read() as session:
        assert not await bookings._reminder_still_due(session, argument, reminder.send_at)


def test_staff_see_the_spaces_they_operate_or_serve(sample_content):
    estate = next(iter(sample_content.estates.values()))
    assert bookings.staff_space_ids(users.Roles(operator_of=frozenset({"x"})), sample_content) == {"x"}
    assert bookings.staff_space_ids(users.Roles(custodian_of=frozenset({estate.id})), sample_content) == {estate.space_id}
    assert bookings.staff_space_ids(users.Roles(is_admin=True), sample_content) == set(sample_content.spaces)
    assert bookings.staff_space_ids(users.Roles(), sample_content) == set()


# --- under contention


async def test_two_hundred_concurrent_confirmations_for_five_seats_make_exactly_five_bookings(db):
    service = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(12), slot_minutes=30, seats=5)]))
    tenants = range(1000, 1200)
    await add_users(db, *tenants)
    start = at(TUESDAY, 10)
    outcomes = await asyncio.gather(*(confirm(db, service, start, tenant) for tenant in tenants))
    won = [outcome for outcome in outcomes if outcome.refused is None]
    lost = [outcome for outcome in outcomes if outcome.refused is not None]
    assert len(won) == 5 and len({outcome.booking.user_id for outcome in won}) == 5
    assert all(outcome.refused is Reason.FULL for outcome in lost)
    assert all(outcome.alternatives and outcome.alternatives[0].slot.start == at(TUESDAY, 10, 30) for outcome in lost)
    assert await taken(db, service, start) == 5 and await live_count(db, service) == 5
    async with db.read() as session:
        counter = await session.get(SlotCounter, (service.id, start))
    assert counter.seats == 5


async def test_concurrent_taps_of_one_tenant_respect_the_limit_and_never_double_book(db):
    service = make_service(make_rules(max_active_per_tenant=2))
    await add_users(db, 7)
    starts = [slot.start for slot in bookings.bookable_slots(service.booking, make_space(), MONDAY, ROME)[:10]]
    outcomes = await asyncio.gather(*(confirm(db, service, start, 7) for start in starts * 2))
    assert sum(outcome.refused is None for outcome in outcomes) == 2
    assert {outcome.refused for outcome in outcomes} <= {None, Reason.LIMIT, Reason.ALREADY_BOOKED}
    assert await live_count(db, service) == 2

    same_slot = make_service(make_rules(max_active_per_tenant=5))
    outcomes = await asyncio.gather(*(confirm(db, same_slot, starts[0], 7) for _ in range(20)))
    assert sum(outcome.refused is None for outcome in outcomes) == 1
    assert {outcome.booking.id for outcome in outcomes if outcome.booking} == {next(o.booking.id for o in outcomes if o.refused is None)}
    assert await taken(db, same_slot, starts[0]) == 1


async def test_a_seat_and_a_place_in_the_limit_are_each_taken_in_one_statement_while_any_is_left(db):
    """The last line of capacity and of the limit, past the quick checks: one INSERT … ON CONFLICT DO UPDATE whose
    row count says whether it took one, on each database (the row made by the first take)."""
    start = at(TUESDAY, 10)

    def take_seats(seats: int, times: int):  # type: ignore[no-untyped-def]
        return lambda connection: [bookings._take_seat(connection, "svc", bookings.Slot(start, start, seats)) for _ in range(times)]

    def take_places(limit: int, times: int):  # type: ignore[no-untyped-def]
        return lambda connection: [bookings._take_quota(connection, 7, "svc", limit, MONDAY) for _ in range(times)]

    assert await db.write_now(take_seats(2, 3)) == [True, True, False]
    assert await db.write_now(take_seats(3, 2)) == [True, False]  # an editor's new seat count applies at once
    async with db.read() as session:
        counter = await session.get(SlotCounter, ("svc", start))
    assert (counter.seats, counter.taken) == (3, 3)
    await add_users(db, 7)
    assert await db.write_now(take_places(2, 3)) == [True, True, False]
    assert await db.write_now(take_places(3, 1)) == [True]
    async with db.read() as session:
        assert (await session.get(BookingQuota, (7, "svc"))).active == 3


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seats=st.integers(min_value=1, max_value=4),
       steps=st.lists(st.tuples(st.sampled_from(["book", "cancel"]), st.integers(min_value=1, max_value=6)), max_size=14))
async def test_seats_taken_always_equal_live_bookings_and_never_exceed_the_seats(db, seats, steps):
    service = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(11), slot_minutes=60, seats=seats)],
                                      cancel_deadline_hours=0))
    await add_users(db, *range(1, 7))
    start = at(TUESDAY, 10)
    held: dict[int, int] = {}
    for action, tenant in steps:
        if action == "book":
            outcome = await confirm(db, service, start, tenant)
            if outcome.refused is None:
                held[tenant] = outcome.booking.id
            else:
                assert outcome.refused is (Reason.ALREADY_BOOKED if tenant in held else Reason.FULL)
        elif tenant in held:
            async with db.write() as session:
                await bookings.cancel_by_tenant(session, held.pop(tenant), tenant, MONDAY, service.booking)
        assert await taken(db, service, start) == len(held) == await live_count(db, service) <= seats
