"""Stories of tenants giving their opinion and of the people who read the figures, end to end against the strict
emulator, with the clock moved instead of waiting: stars the morning after an appointment and after a fix, a
changed mind, anonymous complaints that leave no trace of their author, at most one question a day, and the
statistics, chart, CSV files and monthly digest each role may see.

The clock starts on Tuesday 2 March 2027 at 10:05 in Milan, just after a 10:00 appointment at the Omero desk.
"""

from __future__ import annotations

import csv
import io
import logging
import struct
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot import callbacks
from handlers.outgoing import tickets as outgoing_tickets
from handlers import feedback as feedback_handlers
from handlers import stats as stats_handlers
from storage.domain import tickets, users
from storage.domain.feedback import new_id
from storage.models import Base, Booking, Feedback, FeedbackDraft, OutboxMessage, Ticket
from storage.domain.users import Roles
from tests.e2e.harness import Person, RunningBot

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 2, 10, 5, tzinfo=ROME)
ESTATE, OTHER_ESTATE = "omero-mompiani", "zoia-cagnino"
DESK, PAPERWORK = "omero-digital-desk", "omero-paperwork"
ADMIN_ID = 9999


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_ADMIN_IDS": str(ADMIN_ID)}


@pytest.fixture(autouse=True)
def tuesday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


@pytest.fixture(autouse=True)
def admin_chat(emulator) -> None:  # type: ignore[no-untyped-def]
    """Urgent tickets also go to the admins when there is no manager chat: the admin has a chat with the bot."""
    emulator.add_user(user_id=ADMIN_ID, first_name="Admin", language_code="it")


async def ask_questions(bot: RunningBot) -> None:
    """What the periodic job does every minute: turn the due questions into messages, then deliver them."""
    await feedback_handlers.send_prompts(bot.runtime)
    await bot.deliver()


async def staff(bot: RunningBot, name: str, role: str, scope: str = "", language: str = "it") -> Person:
    person = await bot.tenant(name, language)
    await bot.grant_role(person, role, scope)
    return person


async def booking_for(bot: RunningBot, person: Person, service_id: str = DESK, start: datetime | None = None,
                      status: str = "active") -> int:
    """A booking made earlier (the booking flow has its own stories) for a slot that has begun."""
    start = start or datetime(2027, 3, 2, 10, 0, tzinfo=ROME)
    async with bot.runtime.db.write() as session:
        booking = Booking(user_id=person.user_id, chat_id=person.user_id, service_id=service_id, space_id="omero",
                          slot_start=start, slot_end=start + timedelta(minutes=30), status=status, name=person.name,
                          language=person.language or "it", holds_quota=False, created_at=start - timedelta(days=2))
        session.add(booking)
        await session.flush()
        return booking.id


async def mark_attended(operator: Person, booking_id: int) -> None:
    await operator.send("/agenda")
    await operator.tap_action(callbacks.AGENDA_BOOKING, booking_id)
    await operator.tap("Presente")


async def questions_sent(bot: RunningBot, person: Person) -> int:
    """Questions delivered to this person (the messages themselves change once answered)."""
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(func.count(OutboxMessage.id)).where(
            OutboxMessage.chat_id == person.user_id, OutboxMessage.kind == "feedback_prompt", OutboxMessage.status == "sent"))


# --------------------------------------------------------------------------------------------
# Ratings after a booking and after a fix


async def test_the_morning_after_an_appointment_amal_gives_stars_a_comment_and_then_changes_her_mind(bot):
    amal = await bot.tenant("Amal")
    operator = await staff(bot, "Operatrice", "operator", "omero")
    booking_id = await booking_for(bot, amal)
    await mark_attended(operator, booking_id)
    await ask_questions(bot)
    assert not any("Com'è andata" in text for text in amal.texts())  # not today: tomorrow morning

    bot.clock.set(datetime(2027, 3, 3, 10, 1, tzinfo=ROME))
    await ask_questions(bot)
    question = amal.screen
    assert "Com'è andata?" in question.text and "Sportello digitale" in question.text
    assert question.button_texts()[:5] == ["⭐⭐⭐⭐⭐ Molto bene", "⭐⭐⭐⭐ Bene", "⭐⭐⭐ Così così", "⭐⭐ Male", "⭐ Molto male"]
    await amal.tap("⭐⭐⭐⭐ Bene")
    assert "Hai dato ⭐⭐⭐⭐" in amal.screen.text
    await amal.tap("Aggiungi un commento")
    await amal.send("Gentilissimi, ma la stanza era fredda")
    assert "Abbiamo aggiunto il tuo commento" in amal.screen.text
    await amal.tap("⭐⭐⭐⭐⭐ Molto bene")  # a changed mind, from the thanks screen

    async with bot.runtime.db.read() as session:
        rows = (await session.scalars(select(Feedback))).all()
    assert [(r.booking_id, r.user_id, r.stars, r.comment) for r in rows] == [
        (booking_id, amal.user_id, 5, "Gentilissimi, ma la stanza era fredda")]
    before = len(amal.messages())
    await ask_questions(bot)
    assert len(amal.messages()) == before  # asked once


async def open_ticket_for(bot: RunningBot, person: Person) -> Ticket:
    content, now = bot.runtime.content, bot.clock.now()
    async with bot.runtime.db.write() as session:
        draft = await tickets.start_draft(session, person.user_id, now)
        tickets.choose_category(draft, content, "lift", now)
        tickets.choose_estate(draft, content, ESTATE, now)
        while draft.step != "review":
            if draft.step == "building":
                tickets.choose_building(draft, content, -1, now)
            elif draft.step == "floor":
                tickets.choose_floor(draft, content, None, now)
            elif draft.step == "area":
                tickets.choose_area(draft, content, "common", now)
            elif draft.step == "questions":
                tickets.answer_question(draft, content, tickets.pending_questions(draft, content)[0], "yes", now)
            elif draft.step == "description":
                tickets.set_description(draft, content, "L'ascensore è fermo al piano terra", now)
            elif draft.step == "photos":
                tickets.photos_done(draft, content, now)
        ticket = await tickets.open_ticket(session, draft, content, Roles(), now)
        await outgoing_tickets.announce_new_ticket(session, bot.runtime, ticket)
    await bot.deliver()
    return ticket


async def test_after_a_fix_amal_confirms_then_rates_the_next_day_and_a_changed_mind_updates_the_stars(bot):
    amal = await bot.tenant("Amal")
    rosa = await staff(bot, "Rosa", "custodian", ESTATE)
    ticket = await open_ticket_for(bot, amal)
    alert = next(m for m in rosa.messages() if ticket.code in (m.text or ""))
    await rosa.press(alert.message_id, alert.callback_data_for(next(t for t in alert.button_texts() if "Risolto" in t)))
    await bot.deliver()
    assert "È davvero risolto?" in amal.screen.text  # the reports flow asks "has it been fixed?" right away
    await amal.tap("Sì, è risolto")
    assert "stelle" in amal.screen.text  # stars offered at once; Amal leaves them for later

    bot.clock.set(datetime(2027, 3, 3, 10, 1, tzinfo=ROME))
    await ask_questions(bot)
    assert "Com'è andato l'intervento?" in amal.screen.text and ticket.code in amal.screen.text
    await amal.tap("⭐⭐ Male")
    assert "⭐⭐" in amal.screen.text
    await amal.tap("5 ⭐")  # the stars still shown on the confirmation: a changed mind
    async with bot.runtime.db.read() as session:
        rated = await session.get(Ticket, ticket.id)
        assert await session.scalar(select(func.count(Feedback.id))) == 0  # a fix's stars live on the ticket
    assert rated.stars == 5
    await ask_questions(bot)
    assert await questions_sent(bot, amal) == 1


# --------------------------------------------------------------------------------------------
# Anonymous opinions


async def all_rows(bot: RunningBot) -> dict[str, list[dict]]:
    async with bot.runtime.db.read() as session:
        return {table.name: [dict(row._mapping) for row in (await session.execute(select(table))).all()]
                for table in Base.metadata.sorted_tables}


async def test_an_anonymous_complaint_and_rating_leave_nothing_that_links_them_to_amal(bot, caplog):
    caplog.set_level(logging.DEBUG)
    amal = await bot.tenant("Amal")
    complaint, comment = "Il riscaldamento della sala è rotto da settimane", "Pochi posti a sedere"
    await amal.send("/menu")
    await amal.tap_through("La tua opinione", "Fai un reclamo", "Officina Zoia", "Rendi anonimo")
    assert "Anonimo" in amal.screen.text
    await amal.send(complaint)
    assert complaint in amal.screen.text
    await amal.tap("Invia")
    assert "anonimo" in amal.screen.text

    await amal.tap_through(
        "La tua opinione", "Dai un voto", "Portineria sociale Omero", "Lo spazio in generale", "⭐⭐⭐ Così così",
        "Rendi anonimo",
    )
    await amal.send(comment)
    await amal.tap("Invia")
    await bot.deliver()

    rows = await all_rows(bot)
    saved = rows["feedback"]
    assert sorted((r["kind"], r["comment"]) for r in saved) == [("complaint", complaint), ("rating", comment)]
    assert all(r["user_id"] is None and r["booking_id"] is None and isinstance(r["day"], date)
               and not isinstance(r["day"], datetime) for r in saved)
    assert rows["feedback_drafts"] == [] and rows["feedback_prompts"] == []
    identifying = {str(amal.user_id), "Amal"}
    for row in saved:  # nothing in the opinion points at Amal...
        assert not identifying & {str(value) for value in row.values()}
    secrets = {complaint, comment} | {r["id"] for r in saved}
    for table, table_rows in rows.items():  # ...and nothing anywhere else mentions the opinion
        if table == "feedback":
            continue
        for row in table_rows:
            assert not any(secret in str(value) for value in row.values() for secret in secrets), table
    # At the level the service logs (INFO), nothing anywhere; our own modules not even at DEBUG. (Third-party
    # DEBUG output such as PTB's update dumps is off in service: `qcbot run` logs at INFO.)
    ours = ("bot.", "handlers.", "storage.")
    logged = [record.getMessage() for record in caplog.records
              if record.levelno >= logging.INFO or (record.name.startswith(ours) and not record.name.startswith("bot.emulator"))]
    assert not any(secret in line for line in logged for secret in secrets)


async def test_cancel_drops_an_unsent_opinion(bot):
    amal = await bot.tenant("Amal")
    await amal.send("/menu")
    await amal.tap_through("La tua opinione", "Manda un suggerimento", "Spazio Monti")
    await amal.send("/cancel")
    assert "ho annullato" in amal.screen.text
    await amal.send("Più corsi di ginnastica")  # now a search, not a suggestion
    async with bot.runtime.db.read() as session:
        assert await session.scalar(select(func.count(Feedback.id))) == 0
        assert await session.get(FeedbackDraft, amal.user_id) is None


# --------------------------------------------------------------------------------------------
# Prompt limits


async def test_at_most_one_question_a_day_and_none_once_turned_off(bot):
    amal = await bot.tenant("Amal")
    operator = await staff(bot, "Operatrice", "operator", "omero")
    first = await booking_for(bot, amal, DESK)
    second = await booking_for(bot, amal, PAPERWORK, start=datetime(2027, 3, 2, 9, 0, tzinfo=ROME))
    for booking_id in (first, second):
        await mark_attended(operator, booking_id)

    async def questions() -> int:
        return await questions_sent(bot, amal)

    bot.clock.set(datetime(2027, 3, 3, 10, 1, tzinfo=ROME))
    await ask_questions(bot)
    await ask_questions(bot)
    assert await questions() == 1
    bot.clock.set(datetime(2027, 3, 4, 10, 1, tzinfo=ROME))
    await ask_questions(bot)
    assert await questions() == 2

    await amal.tap("Non farmi più domande")
    assert "non ti faremo più domande" in bot.emu.callback_answers[list(bot.emu.callback_answers)[-1]]["text"]
    third = await booking_for(bot, amal, DESK, start=datetime(2027, 3, 4, 10, 0, tzinfo=ROME))
    await mark_attended(operator, third)
    bot.clock.set(datetime(2027, 3, 5, 10, 1, tzinfo=ROME))
    await ask_questions(bot)
    assert await questions() == 2
    async with bot.runtime.db.read() as session:
        assert (await session.get(users.User, amal.user_id)).prompts_enabled is False

    await amal.send("/menu")
    await amal.tap("La tua opinione")
    await amal.tap("Fammi di nuovo domande")
    async with bot.runtime.db.read() as session:
        assert (await session.get(users.User, amal.user_id)).prompts_enabled is True


# --------------------------------------------------------------------------------------------
# Statistics for each role


async def seed_figures(bot: RunningBot) -> None:
    """March 2027: Omero has 6 attended bookings and 2 no-shows, Zoia 3 bookings; Omero has 5 ratings of the space
    and 3 of the parcels service; 6 lift tickets in Omero and 1 in Zoia's estate; a complaint about Zoia."""
    tenants = [bot.person(f"Inquilino {n}") for n in range(8)]
    async with bot.runtime.db.write() as session:
        for person in tenants:
            await users.touch_user(session, person.user_id, person.name, "it", bot.clock.now())
        plan = [("omero", DESK, "attended")] * 6 + [("omero", DESK, "no_show")] * 2 + [("zoia", "zoia-coworking", "attended")] * 3
        for index, (space, service, status) in enumerate(plan):
            start = datetime(2027, 3, 8 + index, 10, tzinfo=ROME)
            person = tenants[index % len(tenants)]
            session.add(Booking(user_id=person.user_id, chat_id=person.user_id, service_id=service, space_id=space,
                                slot_start=start, slot_end=start + timedelta(minutes=30), status=status, name=person.name,
                                language="it", holds_quota=False, created_at=start - timedelta(days=1)))
        for index, (estate, category) in enumerate([(ESTATE, "lift")] * 6 + [(OTHER_ESTATE, "pests")]):
            created = datetime(2027, 3, 3 + index, 9, tzinfo=ROME)
            session.add(Ticket(code=f"QC-2027-{index + 100:06d}", status="acknowledged", category_id=category,
                               urgency="normal", ack_hours=48, estate_id=estate, reporter_id=tenants[index].user_id,
                               created_at=created, updated_at=created, acknowledged_at=created + timedelta(hours=index + 1),
                               affected=1, escalations=0))
        for stars in (5, 4, 4, 4, 4):
            session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="", user_id=None, stars=stars,
                                 comment=None, day=date(2027, 3, 10)))
        for stars in (1, 2, 2):
            session.add(Feedback(id=new_id(), kind="rating", space_id="omero", service_id="omero-parcels", user_id=None,
                                 stars=stars, comment=None, day=date(2027, 3, 11)))
        session.add(Feedback(id=new_id(), kind="complaint", space_id="zoia", service_id="", user_id=None, stars=None,
                             comment="Troppo rumore la sera", day=date(2027, 3, 20)))


async def open_march(person: Person) -> str:
    await person.send("/stats")
    await person.tap_action(callbacks.STATS_MONTHS)
    await person.tap_action(callbacks.STATS_SHOW, "custom", 202703)
    return "\n".join(person.texts()[-2:])


async def editor_in_march(bot: RunningBot) -> Person:
    """Elena, an editor, looking at the figures of March (seeded)."""
    await seed_figures(bot)
    editor = await staff(bot, "Elena", "editor")
    await open_march(editor)
    return editor


async def test_stats_for_each_role_show_only_their_scope_and_hide_small_groups(bot):
    await seed_figures(bot)
    editor = await staff(bot, "Elena", "editor")
    john = await staff(bot, "John", "admin", language="en")
    rosa = await staff(bot, "Rosa", "custodian", OTHER_ESTATE)
    giorgio = await staff(bot, "Giorgio", "committee", ESTATE)
    amal = await bot.tenant("Amal")

    everything = await open_march(editor)
    for expected in ("Portineria sociale Omero", "Officina Zoia", "Quartiere Omero", "Case di via Quarto Cagnino",
                     "4,2 ⭐ (5 voti)", "Troppo rumore la sera"):
        assert expected in everything, expected
    assert "Prenotazioni: 8 · presenti: 6 · assenze: 25%" in everything
    assert "Sportello digitale (8)" in everything
    assert "Ritiro pacchi (Portineria sociale Omero): troppo pochi per mostrarli" in everything  # 3 ratings
    assert "Prenotazioni: troppo pochi per mostrarli" in everything  # Zoia's 3 bookings
    assert "Presa in carico (mediana): 3,5 ore" in everything
    in_english = await open_march(john)  # numbers formatted for the reader's language
    assert "4.2" in in_english and "3.5" in in_english and "4,2" not in in_english

    zoia = await open_march(rosa)
    assert "Officina Zoia" in zoia and "Case di via Quarto Cagnino" in zoia and "Troppo rumore la sera" in zoia
    assert "Omero" not in zoia and "Aperte: troppo pochi per mostrarli" in zoia
    assert not any("CSV" in label for label in rosa.screen.button_texts())  # exports are for editors and admins

    omero = await open_march(giorgio)
    assert "Portineria sociale Omero" in omero and "Quartiere Omero" in omero and "4,2 ⭐" in omero
    assert "Zoia" not in omero and "Troppo rumore" not in omero
    lucia = await staff(bot, "Lucia", "committee", OTHER_ESTATE)  # a committee is tenants: figures, no free text
    zoia_committee = await open_march(lucia)
    assert "Officina Zoia" in zoia_committee and "Troppo rumore" not in zoia_committee
    assert "Ultimi commenti" not in zoia_committee
    await giorgio.send("/menu")
    await giorgio.tap("Strumenti per lo staff")
    assert "📊 Statistiche" in giorgio.screen.button_texts()

    await amal.send("/stats")
    assert "per chi gestisce gli spazi" in amal.screen.text
    forged = await amal.press(amal.screen.message_id, callbacks.encode(callbacks.STATS_SHOW, "custom", 202703), force=True)
    assert forged and "Omero" not in amal.screen.text
    query = await rosa.press(rosa.screen.message_id, callbacks.encode(callbacks.STATS_EXPORT, "bookings", "custom", 202703), force=True)
    assert "redazione" in bot.emu.callback_answers[query]["text"]
    assert not [m for m in rosa.messages() if m.kind == "document"]


def png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


async def test_the_chart_is_a_real_png_sized_for_a_phone(bot):
    editor = await editor_in_march(bot)
    await editor.tap("Grafico")
    photo = await bot.emu.wait_for(lambda: next((m for m in editor.messages() if m.kind == "photo"), None))
    data = bot.emu.state.files[photo.file_id].data
    width, height = png_size(data)
    assert 600 <= width <= 1280 and height > width  # portrait, for a phone
    assert 10_000 < len(data) < 300_000
    assert "Prenotazioni e segnalazioni" in photo.caption and len(photo.caption) <= 1024


async def test_an_editor_downloads_a_csv_that_excel_reads(bot):
    editor = await editor_in_march(bot)
    await editor.tap("Prenotazioni (CSV)")
    document = await bot.emu.wait_for(lambda: next((m for m in editor.messages() if m.kind == "document"), None))
    stored = bot.emu.state.files[document.file_id]
    assert stored.metadata["file_name"] == "bookings_20270301-20270331.csv"
    assert stored.data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(stored.data.decode("utf-8-sig"), newline=""), delimiter=";"))
    assert rows[0][:4] == ["Codice", "Spazio", "Servizio", "Data"] and len(rows) == 12
    assert rows[1][3] == "08/03/2027" and not any("Inquilino" in cell for row in rows for cell in row)
    assert "11 righe" in document.caption


async def test_committees_get_one_digest_a_month(bot):
    await seed_figures(bot)
    giorgio = await staff(bot, "Giorgio", "committee", ESTATE)
    bot.clock.set(datetime(2027, 4, 1, 7, 0, tzinfo=ROME))  # before QC_DIGEST_TIME (08:00)
    await stats_handlers.send_committee_digests(bot.runtime)
    await bot.deliver()
    assert not any("Il mese di" in text for text in giorgio.texts())
    bot.clock.set(datetime(2027, 4, 1, 8, 30, tzinfo=ROME))
    for _ in range(2):  # a second run (or a restart) sends nothing more
        await stats_handlers.send_committee_digests(bot.runtime)
        await bot.deliver()
    digests = [text for text in giorgio.texts() if "Il mese di" in text]
    assert len(digests) == 1 and "marzo 2027" in digests[0] and "Quartiere Omero" in digests[0]
    assert "Zoia" not in digests[0]
    await giorgio.tap("Apri le statistiche")
    assert "Portineria sociale Omero" in giorgio.screen.text


async def test_rating_a_service_from_its_screen_twice_keeps_one_vote(bot):
    amal = await bot.tenant("Amal")
    for stars in ("⭐⭐ Male", "⭐⭐⭐⭐ Bene"):
        await amal.send("/menu")
        await amal.tap_through("Spazi e servizi", "Portineria sociale Omero", "Sportello digitale", "Dai un voto")
        assert "Quante stelle" in amal.screen.text and "Sportello digitale" in amal.screen.text
        await amal.tap(stars)
        await amal.tap("Invia")
        assert "Il tuo voto è salvato" in amal.screen.text
    async with bot.runtime.db.read() as session:
        rows = (await session.scalars(select(Feedback))).all()
    assert [(r.service_id, r.user_id, r.stars) for r in rows] == [("omero-digital-desk", amal.user_id, 4)]
