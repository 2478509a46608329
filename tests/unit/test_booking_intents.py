"""A tenant's booking intents without Telegram: one call decides the slot, the phone rule, capacity and the limit,
and queues the reminders with the booking. A property test walks the combinations of phone rule, phone on file,
seats left and bookings already held."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import delete, func, select

from storage.domain import booking_intents, bookings
from storage.domain.booking_intents import AskPhone, AtLimit, Booked, Full, JustFilled, SlotGone, SlotRequest, ToConfirm
from storage.domain.bookings import Reason, Refused
from storage.models import Booking, BookingContact, BookingPrompt, OutboxMessage, SlotCounter
from storage.content import WeeklySlotRule
from tests.unit.test_bookings import MONDAY, ROME, TUESDAY, add_users, at, book, make_rules, make_service, make_space

TENANT = 1


def request(service, start, user_id=TENANT) -> SlotRequest:  # type: ignore[no-untyped-def]
    return SlotRequest(service, make_space(), start, user_id, user_id, f"Tenant {user_id}", "it")


def reminder(booking: Booking) -> dict:
    return {"text": f"promemoria {booking.code}"}


async def confirm(db, service, start, user_id=TENANT):  # type: ignore[no-untyped-def]
    return await booking_intents.confirm_booking(db, request(service, start, user_id), now=MONDAY, tz=ROME, reminder_params=reminder)


async def reminders_of(db, booking_id: int) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "booking_reminder", OutboxMessage.ref == str(booking_id)))
        return list(rows.all())


async def prompt_of(db, user_id=TENANT) -> BookingPrompt | None:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return await session.get(BookingPrompt, user_id)


async def save_phone(db, user_id=TENANT) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await bookings.save_phone(session, user_id, "3331234567", MONDAY)


async def test_a_confirmation_books_and_queues_its_reminders_in_the_same_call(db):
    service = make_service()
    await add_users(db, TENANT)
    outcome = await confirm(db, service, at(TUESDAY, 10))
    assert isinstance(outcome, Booked) and outcome.fresh
    rows = await reminders_of(db, outcome.booking.id)
    # reminders 24 h and 2 h before, each held until its time
    assert sorted(row.not_before for row in rows) == [at(TUESDAY, 10) - timedelta(hours=24), at(TUESDAY, 8)]
    assert {row.params["text"] for row in rows} == {f"promemoria {outcome.booking.code}"}
    again = await confirm(db, service, at(TUESDAY, 10))
    assert isinstance(again, Booked) and not again.fresh and again.booking.id == outcome.booking.id
    assert len(await reminders_of(db, outcome.booking.id)) == len(rows)  # a double tap queues nothing twice


async def test_without_a_phone_on_file_the_confirmation_asks_for_it_and_books_nothing(db):
    service = make_service(make_rules(phone_required=True))
    await add_users(db, TENANT)
    outcome = await confirm(db, service, at(TUESDAY, 10))
    assert outcome == AskPhone(at(TUESDAY, 10))
    prompt = await prompt_of(db)
    assert prompt.kind == "phone" and prompt.service_id == service.id and prompt.slot_start == at(TUESDAY, 10)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Booking)) == 0
    await save_phone(db)
    booked = await confirm(db, service, at(TUESDAY, 10))
    assert isinstance(booked, Booked) and booked.booking.phone == "3331234567"


async def test_a_full_slot_offers_the_next_times_and_the_limit_refuses(db):
    one_seat = make_service(make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(11), slot_minutes=30, seats=1)],
                                       max_active_per_tenant=1))
    await add_users(db, 1, 2)
    await book(db, one_seat, at(TUESDAY, 10), 2)
    full = await confirm(db, one_seat, at(TUESDAY, 10))
    assert isinstance(full, Full) and full.alternatives[0].slot.start == at(TUESDAY, 10, 30)
    assert isinstance(await confirm(db, one_seat, at(TUESDAY, 10, 30)), Booked)
    assert await confirm(db, one_seat, full.alternatives[-1].slot.start, 2) == AtLimit()  # tenant 2 holds one already


async def test_a_time_no_longer_offered_shows_the_day_or_every_day_when_the_day_is_empty(db):
    service = make_service()
    await add_users(db, TENANT)
    gone = await confirm(db, service, at(TUESDAY, 9))  # before opening hours
    assert isinstance(gone, SlotGone) and gone.day == TUESDAY and gone.free and gone.all_days == []
    late = await booking_intents.offer_slot(db, request(service, at(TUESDAY, 10)), now=at(TUESDAY, 11, 30), tz=ROME)
    assert isinstance(late, SlotGone) and late.free == [] and late.all_days


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(phone_required=st.booleans(), phone_on_file=st.booleans(), seats=st.integers(1, 3), taken_by_others=st.integers(0, 3),
       held=st.integers(0, 2), limit=st.integers(1, 2), ask_phone=st.booleans())
async def test_offer_and_confirm_agree_on_every_combination_of_phone_seats_and_limit(
    db, phone_required, phone_on_file, seats, taken_by_others, held, limit, ask_phone
):
    rules = make_rules(schedule=[WeeklySlotRule(days=(1,), start=time(10), end=time(12), slot_minutes=30, seats=seats)],
                       max_active_per_tenant=limit, phone_required=phone_required)
    service = make_service(rules)
    others = list(range(100, 100 + min(taken_by_others, seats)))
    await add_users(db, TENANT, *others)
    for other in others:
        await book(db, service, at(TUESDAY, 11), other)
    for index in range(min(held, limit)):
        await book(db, service, at(TUESDAY, 10, 30 * index), TENANT)
    async with db.write() as session:  # hypothesis reuses the database: the phone on file is this example's
        await session.execute(delete(BookingContact))
    if phone_on_file:
        await save_phone(db)
    start = at(TUESDAY, 11)
    full = len(others) >= seats
    at_limit = min(held, limit) >= limit
    asks = phone_required and not phone_on_file

    offered = await booking_intents.offer_slot(db, request(service, start), now=MONDAY, tz=ROME, ask_phone=ask_phone)
    if full:
        assert isinstance(offered, JustFilled)
    elif phone_required and (asks or ask_phone):
        assert offered == AskPhone(start) and (await prompt_of(db)).service_id == service.id
    else:
        assert isinstance(offered, ToConfirm) and offered.slot.left == seats - len(others)
        assert offered.phone == ("3331234567" if phone_required else None)

    confirmed = await confirm(db, service, start)
    if asks:  # the phone rule comes first: nothing is booked without the number
        assert isinstance(confirmed, JustFilled) if full else confirmed == AskPhone(start)
    elif full:
        assert isinstance(confirmed, Full)
    elif at_limit:
        assert confirmed == AtLimit()
    else:
        assert isinstance(confirmed, Booked) and confirmed.fresh and await reminders_of(db, confirmed.booking.id)
    taken = await db.read_now(lambda connection: bookings.seats_taken(connection, service.id, [start]).get(start, 0))
    assert taken == len(others) + (1 if isinstance(confirmed, Booked) else 0) <= seats


COURSE_DAYS = (TUESDAY, TUESDAY + timedelta(days=1), TUESDAY + timedelta(days=2))


def course_service():  # type: ignore[no-untyped-def]
    return make_service(make_rules(schedule=[WeeklySlotRule(days=(1, 2, 3), start=time(10), end=time(10, 30), slot_minutes=30, seats=1)],
                                   max_active_per_tenant=8))


async def join_course(db, service, user_id=TENANT):  # type: ignore[no-untyped-def]
    starts = [datetime.combine(day, time(10)) for day in COURSE_DAYS]  # local, as the programme gives them
    return await booking_intents.join_course(db, service, make_space(), starts, user_id=user_id, chat_id=user_id,
                                             name=f"Tenant {user_id}", language="it", now=MONDAY, tz=ROME,
                                             reminder_params=reminder)


async def test_a_course_is_joined_in_every_session_or_in_none_and_left_as_one_by_one(db):
    service = course_service()
    await add_users(db, TENANT, 2)
    await book(db, service, at(COURSE_DAYS[2], 10), 2)  # the last session's one seat is taken
    with pytest.raises(Refused) as refused:
        await join_course(db, service)
    assert refused.value.reason is Reason.FULL
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Booking).where(Booking.user_id == TENANT)) == 0
        assert await session.scalar(select(func.count()).select_from(OutboxMessage)) == 0, "no reminder of a booking rolled back"
    async with db.write() as session:  # the other tenant's seat is free again
        await session.execute(delete(Booking))
        await session.execute(SlotCounter.__table__.update().values(taken=0))

    joined = await join_course(db, service)
    assert [booking.slot_start for booking in joined] == [at(day, 10) for day in COURSE_DAYS]
    for booking in joined:
        assert {(row.params["text"], row.chat_id) for row in await reminders_of(db, booking.id)} == {(f"promemoria {booking.code}", TENANT)}
        assert len(await reminders_of(db, booking.id)) == 2
    with pytest.raises(Refused) as refused:
        await join_course(db, service)
    assert refused.value.reason is Reason.ALREADY_BOOKED

    # Leaving on Monday at 11: the Tuesday session is within the 24 h deadline and stays; the others go.
    async with db.write() as session:
        left = await bookings.leave_course(session, TENANT, service.id, MONDAY + timedelta(hours=3), service.booking)
    assert [cancellation.booking.slot_start for cancellation in left] == [at(day, 10) for day in COURSE_DAYS[1:]]
    assert all(c.booking.status == "cancelled" and c.booking.cancelled_by == TENANT and c.offer is None for c in left)
    async with db.read() as session:
        taken = dict((await session.execute(select(SlotCounter.slot_start, SlotCounter.taken))).all())
        assert await bookings.active_for_service(session, TENANT, service.id) != []
    assert taken == {at(COURSE_DAYS[0], 10): 1, at(COURSE_DAYS[1], 10): 0, at(COURSE_DAYS[2], 10): 0}
