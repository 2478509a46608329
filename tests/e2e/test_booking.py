"""Stories of tenants booking, cancelling, waiting in line and being reminded, and of the people running a space
reading their agenda — end to end against the strict emulator, with the clock moved instead of waiting.

The clock starts on Monday 1 March 2027 at 08:00 in Milan. The test space "prova" (added to a copy of the sample
content) has: a desk on Tuesdays and Thursdays 10-12 (30-minute slots, 2 seats, cancel up to 24 h before), an
interview on Wednesdays 15-16 that needs a phone number, and a single seat on Tuesdays 16-17.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import callbacks
from handlers.outgoing import bookings as outgoing_bookings
from storage.models import Booking
from tests.e2e.harness import copy_of_sample_content, start_bot

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 1, 8, 0, tzinfo=ROME)
DESK, PHONE_DESK, SINGLE = "prova-sportello", "prova-telefono", "prova-posto-unico"
TEST_SPACE = """
id: prova
name: {it: Spazio di prova, en: Test space}
neighbourhood: Aaa Prova
municipio: 1
address: via Prova 1
lat: 45.46
lon: 9.19
model: animation
operator: Cooperativa di prova
contacts:
  phone: "02 9999 0000"
hours:
  mon: ["09:00-18:00"]
  tue: ["09:00-18:00"]
  wed: ["09:00-18:00"]
  thu: ["09:00-18:00"]
services:
  - id: prova-sportello
    title: {it: Sportello di prova, en: Test desk}
    description: Aiuto su appuntamento.
    category: digital
    booking:
      schedule:
        - {days: [tue, thu], start: "10:00", end: "12:00", slot_minutes: 30, seats: 2}
      cancel_deadline_hours: 24
      max_active_per_tenant: 2
  - id: prova-telefono
    title: Colloquio con telefono
    description: Serve un numero di telefono.
    category: paperwork
    booking:
      schedule:
        - {days: [wed], start: "15:00", end: "16:00", slot_minutes: 60, seats: 1}
      phone_required: true
  - id: prova-posto-unico
    title: Posto unico
    description: Un solo posto per volta.
    category: digital
    booking:
      schedule:
        - {days: [tue], start: "16:00", end: "17:00", slot_minutes: 60, seats: 1}
      cancel_deadline_hours: 0
"""


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    folder = copy_of_sample_content(tmp_path)
    (folder / "spaces" / "prova.yaml").write_text(TEST_SPACE, encoding="utf-8")
    return folder


@pytest.fixture(autouse=True)
def monday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


def stamp(day: int, hour: int, minute: int = 0) -> str:
    return f"202703{day:02d}{hour:02d}{minute:02d}"


async def choose_slot(person, service_id: str, day: int, hour: int, minute: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Main menu → Prenota → space → service → day → time: up to the confirmation (or the phone question)."""
    await person.send("/menu")
    await person.tap_action(callbacks.BOOK)
    await person.tap_action(callbacks.BOOK_SPACE, "prova")
    await person.tap_action(callbacks.BOOK_DAYS, service_id, 0)
    await person.tap_action(callbacks.BOOK_TIMES, service_id, f"202703{day:02d}")
    await person.tap_action(callbacks.BOOK_SLOT, service_id, stamp(day, hour, minute))


async def book(person, service_id: str, day: int, hour: int, minute: int = 0) -> None:  # type: ignore[no-untyped-def]
    """Main menu → Prenota → space → service → day → time → Conferma."""
    await choose_slot(person, service_id, day, hour, minute)
    await person.tap_action(callbacks.BOOK_CONFIRM, service_id, stamp(day, hour, minute))


async def bookings_of(bot, person) -> list[Booking]:  # type: ignore[no-untyped-def]
    async with bot.runtime.db.read() as session:
        rows = await session.scalars(select(Booking).where(Booking.user_id == person.user_id).order_by(Booking.id))
        return list(rows.all())


async def deliver(bot, until) -> None:  # type: ignore[no-untyped-def]
    """Deliver the due alerts. The sender's own loop may be holding some of them right now, so wait (on the
    emulator's change events, not on time) until the expected result is there."""
    await bot.flush_outbox()
    await bot.emu.wait_for(until, timeout=5)


def texts(person, needle: str) -> list[str]:  # type: ignore[no-untyped-def]
    return [m.text for m in person.messages() if needle in (m.text or "")]


async def test_amal_books_from_the_service_screen_in_four_taps_and_sees_it(bot):
    amal = await bot.tenant("Amal")
    await amal.tap("Spazi e servizi")
    await amal.tap("Spazio di prova")
    await amal.tap("Sportello di prova")
    await amal.tap("📅 Prenota")  # 1
    assert "mar 2 mar · 8 posti liberi" in amal.screen.button_texts()
    await amal.tap_action(callbacks.BOOK_TIMES, DESK, "20270302")  # 2
    assert "10:30 · 2 posti liberi" in amal.screen.button_texts()
    await amal.tap_action(callbacks.BOOK_SLOT, DESK, stamp(2, 10))  # 3
    assert "Controlla e conferma" in amal.screen.text
    await amal.tap("Conferma")  # 4
    confirmed = amal.screen.text
    for expected in ("Prenotazione confermata", "PR-", "martedì 2 marzo 2027", "10:00", "via Prova 1", "Le mie prenotazioni"):
        assert expected in confirmed, expected
    await amal.tap("Le mie prenotazioni")
    assert any("Sportello di prova" in label for label in amal.screen.button_texts())
    assert [b.status for b in await bookings_of(bot, amal)] == ["active"]


async def test_rosa_cancels_inside_the_deadline_but_must_call_the_space_past_it(bot):
    rosa = await bot.tenant("Rosa")
    await book(rosa, DESK, 4, 10)  # Thursday: three days away
    await book(rosa, DESK, 2, 10)  # Tuesday: 26 hours away
    thursday, tuesday = await bookings_of(bot, rosa)
    await rosa.send("/menu")
    await rosa.tap_action(callbacks.BOOK)
    await rosa.tap("Le mie prenotazioni")
    await rosa.tap_action(callbacks.BOOKING, thursday.id)
    await rosa.tap("Annulla la prenotazione")
    assert "Vuoi davvero annullare" in rosa.screen.text
    await rosa.tap("Sì, annulla")
    assert "è annullata" in rosa.screen.text
    bot.clock.advance(timedelta(hours=3))  # Tuesday's appointment is now 23 hours away
    await rosa.tap_action(callbacks.MY_BOOKINGS)
    await rosa.tap_action(callbacks.BOOKING, tuesday.id)
    assert "chiama lo spazio al 02 9999 0000" in rosa.screen.text
    assert not any("Annulla la prenotazione" in label for label in rosa.screen.button_texts())
    query = await rosa.press(rosa.screen.message_id, callbacks.encode(callbacks.BOOKING_CANCEL, tuesday.id), force=True)
    assert "troppo tardi" in bot.emu.callback_answers[query]["text"]
    assert [b.status for b in await bookings_of(bot, rosa)] == ["cancelled", "active"]


async def test_reminders_arrive_once_each_and_never_for_a_cancelled_booking(bot):
    giulia = await bot.tenant("Giulia")
    await book(giulia, DESK, 2, 10)  # reminders at Monday 10:00 (24 h) and Tuesday 08:00 (2 h)
    piero = await bot.tenant("Piero")
    await book(piero, DESK, 4, 10)
    await bot.flush_outbox()
    assert texts(giulia, "Promemoria") == []
    bot.clock.advance(timedelta(hours=2, minutes=1))
    await deliver(bot, lambda: texts(giulia, "Promemoria"))
    await bot.flush_outbox()
    assert len(texts(giulia, "Promemoria")) == 1
    assert "Annulla la prenotazione" in " ".join(giulia.screen.button_texts())
    (piero_booking,) = await bookings_of(bot, piero)
    await piero.tap_action(callbacks.MY_BOOKINGS)
    await piero.tap_action(callbacks.BOOKING, piero_booking.id)
    await piero.tap("Annulla la prenotazione")
    await piero.tap("Sì, annulla")
    bot.clock.set(datetime(2027, 3, 2, 8, 1, tzinfo=ROME))
    await deliver(bot, lambda: len(texts(giulia, "Promemoria")) == 2)
    bot.clock.set(datetime(2027, 3, 4, 9, 0, tzinfo=ROME))  # both of Piero's reminder times have passed
    await bot.flush_outbox()
    assert len(texts(giulia, "Promemoria")) == 2 and texts(piero, "Promemoria") == []


async def test_a_reminder_survives_a_restart_of_the_bot(bot):
    nadia = await bot.tenant("Nadia")
    await book(nadia, DESK, 2, 10)
    settings = bot.service.settings
    await bot.service.stop()
    restarted = await start_bot(bot.emu, settings, bot.clock)
    try:
        bot.clock.advance(timedelta(hours=2, minutes=1))
        await deliver(restarted, lambda: texts(nadia, "Promemoria"))
        await restarted.flush_outbox()
        assert len(texts(nadia, "Promemoria")) == 1
    finally:
        await restarted.service.stop()


async def test_a_freed_seat_goes_to_the_first_in_line_and_then_to_the_next_when_the_offer_expires(bot):
    anna = await bot.tenant("Anna")
    await book(anna, SINGLE, 2, 16)
    line = []
    for name in ("Bruno", "Carla"):
        person = await bot.tenant(name)
        await person.send("/menu")
        await person.tap_action(callbacks.BOOK)
        await person.tap_action(callbacks.BOOK_SPACE, "prova")
        await person.tap_action(callbacks.BOOK_DAYS, SINGLE, 0)
        await person.tap("Giorni pieni")
        await person.tap_action(callbacks.BOOK_TIMES, SINGLE, "20270302")
        await person.tap("lista d'attesa")
        line.append(person)
    bruno, carla = line
    assert "1° in fila" in bruno.screen.text and "2° in fila" in carla.screen.text

    (anna_booking,) = await bookings_of(bot, anna)
    await anna.tap_action(callbacks.MY_BOOKINGS)
    await anna.tap_action(callbacks.BOOKING, anna_booking.id)
    await anna.tap("Annulla la prenotazione")
    await anna.tap("Sì, annulla")
    await deliver(bot, lambda: "Si è liberato un posto" in bruno.screen.text)
    assert "Si è liberato un posto" in bruno.screen.text and "Sì, prenota" in bruno.screen.button_texts()[0]
    assert "Si è liberato un posto" not in carla.screen.text
    offer_message, accept = bruno.find_button("Sì, prenota")

    bot.clock.advance(timedelta(hours=2, minutes=1))  # Bruno did not answer in time
    await outgoing_bookings.expire_waitlist_offers(bot.runtime)
    await deliver(bot, lambda: "scaduto" in bruno.screen.text and "Si è liberato" in carla.screen.text)
    assert "scaduto" in bruno.screen.text and not any("Sì, prenota" in t for t in bruno.screen.button_texts())
    assert "Si è liberato un posto" in carla.screen.text
    await carla.tap("Sì, prenota")
    assert "Prenotazione confermata" in carla.screen.text
    query = await bruno.press(offer_message.message_id, accept, force=True)  # the old button, tapped late
    assert "scaduto" in bot.emu.callback_answers[query]["text"]
    assert [b.status for b in await bookings_of(bot, carla)] == ["active"] and await bookings_of(bot, bruno) == []


async def test_the_operator_reads_the_agenda_marks_a_no_show_and_cancels_with_a_reason(bot):
    giulia = await bot.tenant("Giulia")
    await book(giulia, DESK, 2, 10)
    omar = await bot.tenant("Omar", "en")
    await book(omar, DESK, 2, 11)
    lucia = await bot.tenant("Lucia")
    await choose_slot(lucia, PHONE_DESK, 3, 15)
    await lucia.send("333 123 4567")
    await lucia.tap_action(callbacks.BOOK_CONFIRM, PHONE_DESK, stamp(3, 15))
    assert "Prenotazione confermata" in lucia.screen.text

    operator = await bot.tenant("Operatrice")
    await bot.grant_role(operator, "operator", "prova")
    await operator.send("/menu")
    await operator.tap_action(callbacks.STAFF)
    assert "📋 Agenda delle prenotazioni" in operator.screen.button_texts()
    await giulia.send("/agenda")
    assert "per chi gestisce gli spazi" in giulia.screen.text

    await operator.send("/agenda")
    assert "Agenda di oggi" in operator.screen.text and "Nessuna prenotazione" in operator.screen.text
    await operator.tap("Domani")
    assert "Giulia" in operator.screen.text and "Omar" in operator.screen.text
    (giulia_booking,) = await bookings_of(bot, giulia)
    await operator.tap_action(callbacks.AGENDA_BOOKING, giulia_booking.id)
    assert not any("Non venuto" in label for label in operator.screen.button_texts())  # not started yet

    (omar_booking,) = await bookings_of(bot, omar)
    await operator.tap_action(callbacks.AGENDA, 1, 0)
    await operator.tap_action(callbacks.AGENDA_BOOKING, omar_booking.id)
    await operator.tap("Annulla con un motivo")
    await operator.tap_action(callbacks.AGENDA_CANCEL_REASON, omar_booking.id, "closed")
    assert "Ho avvisato Omar" in operator.screen.text
    await deliver(bot, lambda: "cancelled by the space" in omar.screen.text)  # Omar reads English
    assert "The space will be closed." in omar.screen.text

    bot.clock.set(datetime(2027, 3, 2, 10, 5, tzinfo=ROME))  # Tuesday, Giulia's appointment has begun
    await operator.send("/agenda")
    assert "Giulia" in operator.screen.text
    await operator.tap_action(callbacks.AGENDA_BOOKING, giulia_booking.id)
    await operator.tap("Non venuto")
    assert "non venuto/a" in operator.screen.text
    await operator.tap("Agenda")
    await operator.tap("Domani")
    assert "Lucia" in operator.screen.text and "3331234567" in operator.screen.text  # this service asks for a phone
    (lucia_booking,) = await bookings_of(bot, lucia)
    await operator.tap_action(callbacks.AGENDA_BOOKING, lucia_booking.id)
    await operator.tap("Annulla con un motivo")
    await operator.tap("Scrivi un altro motivo")
    await operator.send("La sala è allagata")
    await deliver(bot, lambda: "La sala è allagata" in lucia.screen.text)
    assert "La sala è allagata" in lucia.screen.text
    statuses = {b.user_id: b.status for person in (giulia, omar, lucia) for b in await bookings_of(bot, person)}
    assert statuses == {giulia.user_id: "no_show", omar.user_id: "cancelled", lucia.user_id: "cancelled"}

    query = await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.AGENDA_MARK, giulia_booking.id, "attended"), force=True)
    assert "non è tra quelle che segui" in bot.emu.callback_answers[query]["text"]


async def test_stale_buttons_explain_and_show_the_current_choices_and_double_taps_book_once(bot):
    marco, sara = await bot.tenant("Marco"), await bot.tenant("Sara")
    for person in (marco, sara):
        await choose_slot(person, SINGLE, 2, 16)
    confirm = callbacks.encode(callbacks.BOOK_CONFIRM, SINGLE, stamp(2, 16))
    await sara.tap_action(callbacks.BOOK_CONFIRM, SINGLE, stamp(2, 16))
    await sara.press(sara.screen.message_id, confirm, force=True)  # a double tap
    assert len(await bookings_of(bot, sara)) == 1 and "PR-" in sara.screen.text

    query = await marco.press(marco.screen.message_id, confirm)  # slot now full
    assert "appena preso" in bot.emu.callback_answers[query]["text"]
    assert "appena stato preso" in marco.screen.text
    labels = marco.screen.button_texts()
    assert any("9 mar" in label for label in labels) and any("lista d'attesa" in label for label in labels)

    desk_time = callbacks.encode(callbacks.BOOK_SLOT, DESK, stamp(2, 10))
    bot.clock.set(datetime(2027, 3, 2, 11, 0, tzinfo=ROME))  # that slot is in the past now
    query = await marco.press(marco.screen.message_id, desk_time, force=True)
    assert "non si può più prenotare" in bot.emu.callback_answers[query]["text"]
    assert any(callbacks.decode(data).action in (callbacks.BOOK_SLOT, callbacks.BOOK_TIMES)
               for row in marco.screen.buttons() for _text, data in row if data)

    query = await marco.press(marco.screen.message_id, callbacks.encode(callbacks.BOOK_DAYS, "servizio-sparito", 0), force=True)
    assert "non si prenota più" in bot.emu.callback_answers[query]["text"]
    assert "In quale spazio" in marco.screen.text

    (sara_booking,) = await bookings_of(bot, sara)
    bot.clock.set(START)
    await sara.tap_action(callbacks.MY_BOOKINGS)
    await sara.tap_action(callbacks.BOOKING, sara_booking.id)
    await sara.tap("Annulla la prenotazione")
    cancel_message = sara.screen.message_id
    await sara.tap("Sì, annulla")
    query = await sara.press(cancel_message, callbacks.encode(callbacks.BOOKING_CANCEL, sara_booking.id), force=True)
    assert "già annullata" in bot.emu.callback_answers[query]["text"]


async def test_li_switches_language_in_the_middle_of_booking_and_loses_nothing(bot):
    li = await bot.tenant("Li", "it")
    await choose_slot(li, PHONE_DESK, 3, 15)
    await li.send("/language")
    await li.tap_action(callbacks.SET_LANGUAGE, "en")
    await li.send("333 123 4567")  # the question was asked in Italian; the answer is still expected
    assert "March" in li.screen.text and "3331234567" in li.screen.text
    await li.tap_action(callbacks.BOOK_CONFIRM, PHONE_DESK, stamp(3, 15))
    assert "PR-" in li.screen.text and "March" in li.screen.text
    (booking,) = await bookings_of(bot, li)
    assert booking.language == "en" and booking.phone == "3331234567"
