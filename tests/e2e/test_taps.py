"""How many taps a returning tenant needs from /start for each main task: find a space's hours, book, report a
problem, give feedback (issue 17: at most five, in every language; measured here in it, en, ar and zh).

A tap is a button pressed; what the tenant types (the report's description) is counted apart. The tenant is
"returning": a week ago they booked the Omero digital desk and reported a broken door from Civico 15, staircase B,
third floor, flat int. 12. Buttons are pressed by their data, so the same story runs in every language; the
labels of the shortcuts are checked in the tenant's language.

Before issue 17 the same tasks took: hours 2 taps, booking 6, report 8 taps and 2 typed messages (flat number
and description), a rating 6.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from babel.dates import format_skeleton
from sqlalchemy import func, select

from bot import callbacks
from bot.i18n import BABEL_LOCALE, translator
from storage.models import Booking, Feedback, Ticket
from tests.e2e.harness import Person, RunningBot

ROME = ZoneInfo("Europe/Rome")
MONDAY = datetime(2027, 3, 1, 8, 0, tzinfo=ROME)
DESK = "omero-digital-desk"  # Tuesdays 10-12, half-hour slots, one seat
MAX_TAPS = 5
CIVICO_15_B = 3  # index of (Civico 15, staircase B) among the estate's building choices


class Counted:
    """A person whose taps are counted from the moment they send /start."""

    def __init__(self, person: Person) -> None:
        self.person, self.taps, self.typed = person, 0, 0

    async def start(self) -> None:
        self.taps = self.typed = 0
        await self.person.send("/start")

    async def tap(self, action: callbacks.Action, *args: object) -> None:
        await self.person.tap_action(action, *args)
        self.taps += 1

    async def tap_first_row(self) -> None:
        """The first button of the latest screen, whatever its data (the soonest free time changes with the clock)."""
        message = self.person.screen
        await self.person.press(message.message_id, message.buttons()[0][0][1])
        self.taps += 1

    async def type(self, text: str) -> None:
        await self.person.send(text)
        self.typed += 1


async def returning_tenant(bot: RunningBot, clock, language: str) -> Counted:  # type: ignore[no-untyped-def]
    """Someone who booked and reported a week ago, the long way, as a first-time user would; now back, having just
    sent /start: taps are counted from there."""
    clock.set(MONDAY)
    person = await bot.tenant("Amal", language)
    await person.tap_action(callbacks.BOOK)
    await person.tap_action(callbacks.BOOK_SPACE, "omero")
    await person.tap_action(callbacks.BOOK_DAYS, DESK, 0)
    await person.tap_action(callbacks.BOOK_TIMES, DESK, "20270302")
    await person.tap_action(callbacks.BOOK_SLOT, DESK, "202703021000")
    await person.tap_action(callbacks.BOOK_CONFIRM, DESK, "202703021000")
    await person.send("/menu")
    await person.tap_action(callbacks.REPORT)
    await person.tap_action(callbacks.REPORT_CATEGORY, "doors-intercom")
    await person.tap_action(callbacks.REPORT_ESTATE, "omero-mompiani")
    await person.tap_action(callbacks.REPORT_BUILDING, CIVICO_15_B)
    await person.tap_action(callbacks.REPORT_FLOOR, 3)
    await person.tap_action(callbacks.REPORT_AREA, "flat")
    await person.send("int. 12")
    await person.send("Il portone non si chiude")
    await person.tap_action(callbacks.REPORT_PHOTOS_DONE)
    await person.tap_action(callbacks.REPORT_SEND)
    clock.set(MONDAY + timedelta(days=7))
    returning = Counted(person)
    await returning.start()
    return returning


async def count(bot: RunningBot, model, person: Person) -> int:  # type: ignore[no-untyped-def]
    column = model.reporter_id if model is Ticket else model.user_id
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(column == person.user_id))


LANGUAGES = pytest.mark.parametrize("language", ["it", "en", "ar", "zh"])


@LANGUAGES
async def test_a_returning_tenant_finds_their_space_s_hours_in_one_tap(bot, clock, language):
    amal = await returning_tenant(bot, clock, language)
    first_row = amal.person.screen.buttons()[0]
    assert first_row[0][1] == callbacks.encode(callbacks.SPACE, "omero")  # "Your space: Omero" tops the main menu
    await amal.tap(callbacks.SPACE, "omero")
    today = translator(language)._("🕘 Oggi: {hours}", hours="").split("\u2068")[0].strip()
    assert today in amal.person.screen.text
    assert amal.taps == 1 <= MAX_TAPS


@LANGUAGES
async def test_a_returning_tenant_books_again_in_four_taps(bot, clock, language):
    amal = await returning_tenant(bot, clock, language)
    await amal.tap(callbacks.BOOK)
    await amal.tap(callbacks.BOOK_DAYS, DESK, 0)  # "Again: digital desk" above the list of spaces
    first_free = amal.person.screen.buttons()[0][0][0]
    assert format_skeleton("MMMEd", date(2027, 3, 9), locale=BABEL_LOCALE.get(language, language)) in first_free
    await amal.tap_first_row()  # "First free: Tue, Mar 9, 10:00" in each language's own date form
    await amal.tap(callbacks.BOOK_CONFIRM, DESK, "202703091000")
    assert await count(bot, Booking, amal.person) == 2
    assert amal.taps == 4 <= MAX_TAPS


@LANGUAGES
async def test_a_returning_tenant_reports_from_the_same_place_in_five_taps(bot, clock, language):
    amal = await returning_tenant(bot, clock, language)
    await amal.tap(callbacks.REPORT)
    await amal.tap(callbacks.REPORT_CATEGORY, "windows")
    await amal.tap(callbacks.REPORT_SAME_PLACE)  # Quartiere Omero · Civico 15 B · 3rd floor · flat int. 12
    await amal.type("La tapparella della cucina è bloccata")
    await amal.tap(callbacks.REPORT_PHOTOS_DONE)
    assert "int. 12" in amal.person.screen.text  # the review shows the whole place taken from last time
    await amal.tap(callbacks.REPORT_SEND)
    async with bot.runtime.db.read() as session:
        ticket = await session.scalar(select(Ticket).where(Ticket.category_id == "windows"))
    assert (ticket.estate_id, ticket.building_id, ticket.staircase, ticket.floor, ticket.area, ticket.flat) == (
        "omero-mompiani", "15", "B", 3, "flat", "int. 12")
    assert (amal.taps, amal.typed) == (5, 1)


@LANGUAGES
async def test_a_returning_tenant_rates_their_space_in_five_taps(bot, clock, language):
    amal = await returning_tenant(bot, clock, language)
    await amal.tap(callbacks.FEEDBACK)
    await amal.tap(callbacks.FEEDBACK_SPACE, "rating", "omero")  # "Rate <your space>" on top
    await amal.tap(callbacks.FEEDBACK_RATE_SPACE, "omero")
    await amal.tap(callbacks.FEEDBACK_STARS, 5)
    await amal.tap(callbacks.FEEDBACK_SEND)
    assert await count(bot, Feedback, amal.person) == 1
    assert amal.taps == 5 <= MAX_TAPS
