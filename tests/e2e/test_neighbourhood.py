"""Neighbourhood life, end to end (issue 15's done-when list): what's on in two taps, a course sign-up with its
.ics, reminder and cancellation; an urgent notice to one staircase only, with the language note; a committee
notice that waits for an editor; a new job offer reaching a follower once; quiet hours; refusals that send
nothing."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from sqlalchemy import func, select

from bot import callbacks
from storage.domain import broadcast, neighbourhood
from storage.models import Booking, Broadcast, Follow

pytestmark = pytest.mark.edits_content  # a test changes a content file while the bot runs

ROME = ZoneInfo("Europe/Rome")
MONDAY_MORNING = datetime(2026, 12, 7, 9, 0, tzinfo=ROME)  # the sample programme's first week
NEW_JOB = """- id: zoia-magazziniere
  title: {it: Magazziniere part-time, en: Part-time warehouse worker}
  description: {it: Magazzino del mercato solidale., en: The solidarity market's warehouse.}
  closes: 2027-02-28
  offered_by: Emporio Solidale Zoia
"""


@pytest.fixture(autouse=True)
def monday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(MONDAY_MORNING)


async def drain_broadcasts(bot) -> None:  # type: ignore[no-untyped-def]
    """Run the broadcast sender until nothing it may send now is left (the background loop may run too)."""
    rt = bot.runtime
    for _ in range(200):
        await rt.broadcasts.step()
        active = await broadcast.active_broadcasts(rt.db, rt.clock.now(), rt.settings.timezone)
        if not active:
            await asyncio.sleep(0.05)  # the last deliveries in flight
            return
        await asyncio.sleep(0.01)
    raise AssertionError("broadcasts did not finish")


def notices_of(person) -> list[str]:  # type: ignore[no-untyped-def]
    return [text for text in person.texts() if "Avviso" in text or "إشعار" in text or "📢" in text or "🚨" in text]


async def live_bookings(bot, person, service_id: str) -> list[Booking]:  # type: ignore[no-untyped-def]
    async with bot.runtime.db.read() as session:
        rows = await session.scalars(select(Booking).where(Booking.user_id == person.user_id, Booking.service_id == service_id,
                                                           Booking.status == "active"))
        return list(rows.all())


async def test_a_tenant_finds_the_week_in_two_taps_signs_up_for_a_course_gets_the_ics_is_reminded_and_cancels(bot, clock):
    amal = await bot.tenant("Amal")
    await amal.tap_action(callbacks.WHATS_ON)  # tap 1: this week
    assert "Tè e chiacchiere" in amal.screen.text or "Ginnastica dolce" in amal.screen.text
    await amal.tap_action(callbacks.WHATS_ON_KIND, "activities")  # tap 2: by kind
    assert "Attività" in amal.screen.text

    await amal.tap_action(callbacks.WHATS_ON_KIND, "courses")
    await amal.tap_action(callbacks.WHATS_ON_ITEM, "omero-italiano-a1")
    assert "8 incontri" in amal.screen.text
    await amal.tap_action(callbacks.COURSE_JOIN, "omero-italiano-a1")
    booked = await live_bookings(bot, amal, "omero-italiano-a1")
    assert len(booked) == 8, "one sign-up holds a seat in every session"
    assert "Sei iscritto/a" in amal.screen.text

    await amal.tap_action(callbacks.WHATS_ON_ICS, "omero-italiano-a1")
    document = next(m for m in reversed(amal.messages()) if m.kind == "document")
    calendar = Calendar.from_ical(bot.emu.uploaded_files[document.file_id])
    events = calendar.walk("VEVENT")
    assert len(events) == 8
    assert events[0].decoded("dtstart") == datetime(2027, 1, 12, 18, 0, tzinfo=ROME)

    first = min(b.slot_start for b in booked)
    clock.set(first - timedelta(hours=23))
    await bot.deliver()
    assert any("Promemoria" in text for text in amal.texts())

    await amal.send("/menu")
    await amal.tap_action(callbacks.WHATS_ON)
    await amal.tap_action(callbacks.WHATS_ON_KIND, "courses")
    await amal.tap_action(callbacks.WHATS_ON_ITEM, "omero-italiano-a1")
    await amal.tap_action(callbacks.COURSE_LEAVE, "omero-italiano-a1")
    assert await live_bookings(bot, amal, "omero-italiano-a1") == []
    assert "Iscrizione annullata" in amal.screen.text


async def test_an_activity_with_seats_is_booked_through_the_booking_engine(bot):
    rosa = await bot.tenant("Rosa")
    await rosa.tap_action(callbacks.WHATS_ON)
    await rosa.tap_action(callbacks.WHATS_ON_KIND, "activities")
    await rosa.tap_action(callbacks.WHATS_ON_ITEM, "omero-compiti")
    await rosa.tap_action(callbacks.BOOK_SLOT, "omero-compiti", "202612071630")
    await rosa.tap_action(callbacks.BOOK_CONFIRM, "omero-compiti", "202612071630")
    assert len(await live_bookings(bot, rosa, "omero-compiti")) == 1


async def set_home(bot, person, estate: str, building: str, staircase: str) -> None:  # type: ignore[no-untyped-def]
    async with bot.runtime.db.write() as session:
        await neighbourhood.set_home(session, person.user_id, estate, building, staircase, bot.clock.now())


async def compose(person, text: str) -> int:  # type: ignore[no-untyped-def]
    await person.send("/avviso")
    await person.send(text)
    async with person.bot.runtime.db.read() as session:
        return await session.scalar(select(func.max(Broadcast.id)).where(Broadcast.author_id == person.user_id))


async def send_to_estate(person, text: str, estate_id: str) -> int:  # type: ignore[no-untyped-def]
    """Write a notice and send it to a whole estate: estate, preview, confirm."""
    notice_id = await compose(person, text)
    await person.tap_action(callbacks.NOTICE_ESTATE, notice_id, estate_id)
    await person.tap_action(callbacks.NOTICE_PREVIEW, notice_id)
    await person.tap_action(callbacks.NOTICE_CONFIRM, notice_id)
    return notice_id


async def test_a_custodian_sends_an_urgent_notice_to_one_staircase_and_only_they_get_it_with_the_language_note(bot):
    giulia = await bot.tenant("Giulia")
    await giulia.tap_action(callbacks.WHATS_ON)  # she tells where she lives in the bot itself
    await giulia.tap_action(callbacks.HOME, 0)
    await giulia.tap_action(callbacks.HOME_ESTATE, "omero-mompiani")
    await giulia.tap_action(callbacks.HOME_BUILDING, "omero-mompiani", 0)  # Civico 13, scala A
    amal = await bot.tenant("Amal", "ar")
    await set_home(bot, amal, "omero-mompiani", "13", "A")
    bruno = await bot.tenant("Bruno")
    await set_home(bot, bruno, "omero-mompiani", "13", "B")
    chen = await bot.tenant("Chen", "zh")
    await set_home(bot, chen, "boccioni-largo", "6", "A")

    marco = await bot.tenant("Marco")
    await bot.grant_role(marco, "custodian", "omero-mompiani")
    notice_id = await compose(marco, "Domani niente acqua dalle 9 alle 12 nella scala A.")
    assert "A chi lo mandiamo?" in marco.screen.text
    assert callbacks.encode(callbacks.NOTICE_EVERYONE, notice_id) not in str(marco.screen.reply_markup), "custodians don't address everyone"
    # A forged "everyone" is refused and changes nothing.
    await marco.press(marco.screen.message_id, callbacks.encode(callbacks.NOTICE_EVERYONE, notice_id), force=True)
    async with bot.runtime.db.read() as session:
        assert (await session.get(Broadcast, notice_id)).audience == ""
    await marco.tap_action(callbacks.NOTICE_ESTATE, notice_id, "omero-mompiani")
    await marco.tap_action(callbacks.NOTICE_BUILDING, notice_id, 0)
    assert "Lo riceveranno 2 persone" in marco.screen.text
    await marco.tap_action(callbacks.NOTICE_URGENT, notice_id)
    await marco.tap_action(callbacks.NOTICE_CONFIRM, notice_id)
    await drain_broadcasts(bot)

    assert any("niente acqua" in text for text in notices_of(giulia))
    arabic = [text for text in amal.texts() if "niente acqua" in text]
    assert len(arabic) == 1 and "🚨" in arabic[0] and "\n(" in arabic[0], "the Arabic reader gets a note in Arabic"
    assert "Avviso scritto" not in arabic[0]
    assert not any("niente acqua" in text for text in bruno.texts() + chen.texts())

    await marco.tap_action(callbacks.NOTICE_PROGRESS, notice_id)
    assert "Consegnati: 2" in marco.screen.text and "Finito" in marco.screen.text

    # A forged "stop" from someone else is refused.
    await bruno.press(bruno.screen.message_id, callbacks.encode(callbacks.NOTICE_STOP, notice_id), force=True)
    async with bot.runtime.db.read() as session:
        assert (await session.get(Broadcast, notice_id)).stopped_by is None


async def test_a_committee_notice_waits_for_an_editor(bot):
    tenant = await bot.tenant("Lucia")
    await set_home(bot, tenant, "omero-salomone", "32", "C")
    anna = await bot.tenant("Anna")
    await bot.grant_role(anna, "committee", "omero-salomone")
    editor = await bot.tenant("Elena")
    await bot.grant_role(editor, "editor")

    notice_id = await compose(anna, "Assemblea del comitato giovedì alle 18 in cortile.")
    # A committee member may not address another estate, even with a forged button.
    await anna.press(anna.screen.message_id, callbacks.encode(callbacks.NOTICE_ESTATE, notice_id, "boccioni-largo"), force=True)
    await anna.tap_action(callbacks.NOTICE_ESTATE, notice_id, "omero-salomone")
    await anna.tap_action(callbacks.NOTICE_PREVIEW, notice_id)
    await anna.tap_action(callbacks.NOTICE_CONFIRM, notice_id)
    assert "editor" in anna.screen.text
    await bot.deliver()
    await drain_broadcasts(bot)
    assert not any("Assemblea" in text for text in tenant.texts()), "nothing goes out before an editor approves"

    assert any("approvazione" in text for text in editor.texts())
    await editor.tap_action(callbacks.NOTICE_APPROVE, notice_id)
    await drain_broadcasts(bot)
    assert len([text for text in tenant.texts() if "Assemblea" in text]) == 1
    await bot.deliver()
    assert any("approvato" in text for text in anna.texts())


async def test_bad_notices_are_refused_and_nothing_is_sent(bot):
    marco = await bot.tenant("Marco")
    await bot.grant_role(marco, "custodian", "omero-mompiani")
    await marco.send("/avviso")
    await marco.send_photo(b"\x89PNG fake")  # a photo without a caption: no text
    assert "vuoto" in marco.screen.text
    async with bot.runtime.db.read() as session:
        notice_id = await session.scalar(select(func.max(Broadcast.id)).where(Broadcast.author_id == marco.user_id))
    await marco.press(marco.screen.message_id, callbacks.encode(callbacks.NOTICE_CONFIRM, notice_id), force=True)
    async with bot.runtime.db.read() as session:
        assert (await session.get(Broadcast, notice_id)).status == "draft"
    tenant = await bot.tenant("Tina")
    notice_of_marco = await compose(marco, "Prova")
    await tenant.press(tenant.screen.message_id, callbacks.encode(callbacks.NOTICE_CONFIRM, notice_of_marco), force=True)
    async with bot.runtime.db.read() as session:
        assert (await session.get(Broadcast, notice_of_marco)).status == "draft", "someone else's draft cannot be sent"


async def test_quiet_hours_hold_a_notice_until_morning_unless_urgent(bot, clock):
    clock.set(datetime(2026, 12, 7, 22, 0, tzinfo=ROME))
    amal = await bot.tenant("Amal")
    await set_home(bot, amal, "omero-mompiani", "15", "B")
    marco = await bot.tenant("Marco")
    await bot.grant_role(marco, "custodian", "omero-mompiani")
    await send_to_estate(marco, "Pulizia straordinaria delle cantine sabato.", "omero-mompiani")
    assert "08:00" in marco.screen.text or "8:00" in marco.screen.text
    await drain_broadcasts(bot)
    assert not any("cantine" in text for text in amal.texts()), "not at 22:00"

    clock.set(datetime(2026, 12, 8, 8, 1, tzinfo=ROME))
    await drain_broadcasts(bot)
    assert len([text for text in amal.texts() if "cantine" in text]) == 1


async def test_a_follower_gets_a_new_job_offer_once_and_stops_it_in_one_tap(bot, content_dir):
    rt = bot.runtime
    from handlers.outgoing import notices

    await notices.announce_new_items(rt)  # the first run: the sample programme is not news
    sara = await bot.tenant("Sara")
    await sara.tap_action(callbacks.WHATS_ON)
    await sara.tap_action(callbacks.WHATS_ON_KIND, "jobs")
    await sara.tap_action(callbacks.FOLLOW, "kind", "jobs")
    other = await bot.tenant("Olga")

    path = content_dir / "whats_on" / "zoia.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("jobs:\n", "jobs:\n" + NEW_JOB, 1), encoding="utf-8")
    assert rt.content_store.reload() == []
    for _ in range(2):  # a second run (or another instance) announces nothing again
        await notices.announce_new_items(rt)
        await drain_broadcasts(bot)
    news = [m for m in sara.messages() if "Magazziniere" in (m.text or "")]
    assert len(news) == 1
    assert not any("Magazziniere" in text for text in other.texts())

    unfollow = callbacks.encode(callbacks.UNFOLLOW, "kind", "jobs")
    await sara.press(news[0].message_id, unfollow)
    async with rt.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(Follow).where(Follow.user_id == sara.user_id)) == 0


async def test_i_am_interested_sends_name_and_chosen_phone_to_the_operator_only(bot):
    operator = await bot.tenant("Paolo")
    await bot.grant_role(operator, "operator", "zoia")
    sara = await bot.tenant("Sara")
    await sara.tap_action(callbacks.WHATS_ON)
    await sara.tap_action(callbacks.WHATS_ON_KIND, "jobs")
    await sara.tap_action(callbacks.WHATS_ON_ITEM, "zoia-pulizie-cortili")
    await sara.tap_action(callbacks.JOB_INTEREST, "zoia-pulizie-cortili")
    await sara.tap_action(callbacks.JOB_INTEREST_SEND, "zoia-pulizie-cortili", "name")
    await bot.deliver()
    told = [text for text in operator.texts() if "Sara" in text and "pulizie" in text.lower()]
    assert len(told) == 1
    await sara.press(sara.screen.message_id, callbacks.encode(callbacks.JOB_INTEREST_SEND, "zoia-pulizie-cortili", "name"), force=True)
    await bot.deliver()
    assert len([text for text in operator.texts() if "Sara" in text]) == 1, "said once, told once"


async def test_forged_buttons_are_answered_and_change_nothing(bot):
    tenant = await bot.tenant("Furbo")
    anna = await bot.tenant("Anna")
    await bot.grant_role(anna, "committee", "omero-salomone")
    notice_id = await send_to_estate(anna, "Riunione", "omero-salomone")
    message_id = tenant.screen.message_id
    for action, args in [
        (callbacks.NOTICE_APPROVE, (notice_id,)),  # not an editor
        (callbacks.NOTICE_STOP, (notice_id,)),  # not the author
        (callbacks.NOTICE_BUILDING, (notice_id, 0)),  # not their draft
        (callbacks.COURSE_JOIN, ("zoia-pulizie-cortili",)),  # a job is not a course
        (callbacks.COURSE_LEAVE, ("nessuno",)),
        (callbacks.HOME_BUILDING, ("omero-mompiani", 99)),
        (callbacks.FOLLOW, ("space", "nowhere")),
        (callbacks.JOB_INTEREST_SEND, ("omero-te", "phone")),  # not a job
        (callbacks.WHATS_ON_ICS, ("zoia-pulizie-cortili",)),
    ]:
        await tenant.press(message_id, callbacks.encode(action, *args), force=True)
    async with bot.runtime.db.read() as session:
        assert (await session.get(Broadcast, notice_id)).status == "moderation"
        assert await session.scalar(select(func.count()).select_from(Booking).where(Booking.user_id == tenant.user_id)) == 0
        assert await session.scalar(select(func.count()).select_from(Follow).where(Follow.user_id == tenant.user_id)) == 0
        assert await neighbourhood.home_of(session, tenant.user_id) is None
