"""Stories of tenants using their privacy rights, end to end against the strict emulator, in Italian and Arabic:
nothing but the Telegram id and the language before the notice is accepted, "My data" in three taps from /start
with a copy as two documents, "Forget me" in two taps after which no table holds the tenant's id or phone and
/start is a new tenant's; staff reading a ticket are recorded; the nightly purge runs once a night."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from bot import callbacks
from handlers import privacy as privacy_handlers
from storage.domain import audit, bookings, tickets
from storage.models import AuditRecord, Booking, InboxUpdate, ReportDraft, SlotCounter, User
from storage.domain.users import Roles
from tests.e2e.harness import Person, RunningBot
from tests.scan import traces_of

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 2, 10, 5, tzinfo=ROME)
ESTATE, SERVICE, SPACE = "omero-mompiani", "omero-digital-desk", "omero"
PHONE = "+39 347 1122334"
LABELS = {  # what the tenant reads, in her language
    "it": {"bookings": "📅 Prenotazioni", "reports": "🔧 Segnalazioni", "done": "abbiamo cancellato i tuoi dati",
           "confirm": "Cancellare i tuoi dati?", "welcome": "Ho capito", "phone": "Telefono", "space": "Spazio: "},
    "ar": {"bookings": "📅 الحجوزات", "reports": "🔧 البلاغات", "done": "حذفنا بياناتك", "confirm": "هل تريد حذف بياناتك؟",
           "welcome": "فهمت", "phone": "الهاتف", "space": "المركز: "},
}


@pytest.fixture(autouse=True)
def tuesday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


async def _user_row(bot: RunningBot, user_id: int) -> User | None:
    async with bot.runtime.db.read() as session:
        return await session.get(User, user_id)


async def _amal_has_used_the_bot(bot: RunningBot, amal: Person) -> None:
    """A booking with her phone next week and a leak report with a photo (their own stories are elsewhere)."""
    now = bot.clock.now()
    photo = bot.runtime.settings.media_dir / "2027" / "03" / "leak.jpg"
    photo.parent.mkdir(parents=True, exist_ok=True)
    photo.write_bytes(b"jpeg")
    content = bot.runtime.content
    async with bot.runtime.db.write() as session:
        start = datetime(2027, 3, 9, 10, 0, tzinfo=ROME)
        session.add(SlotCounter(service_id=SERVICE, slot_start=start, seats=3, taken=1))
        session.add(Booking(user_id=amal.user_id, chat_id=amal.user_id, service_id=SERVICE, space_id=SPACE, slot_start=start,
                            slot_end=start + timedelta(minutes=30), status="active", name=amal.name, phone=PHONE,
                            language=amal.language or "it", holds_quota=False, created_at=now))
        await bookings.save_phone(session, amal.user_id, PHONE, now)
        draft = await tickets.start_draft(session, amal.user_id, now)
        tickets.choose_category(draft, content, "water-leak", now)
        tickets.choose_estate(draft, content, ESTATE, now)
        if draft.step == "building":
            tickets.choose_building(draft, content, 0, now)
        tickets.choose_floor(draft, content, 2, now)
        tickets.choose_area(draft, content, "flat", now)
        tickets.set_flat(draft, content, "int. 7", now)
        while draft.step == "questions":
            tickets.answer_question(draft, content, tickets.pending_questions(draft, content)[0], "yes", now)
        tickets.set_description(draft, content, f"Perde il tubo, chiamatemi al {PHONE}", now)
        tickets.add_photo(draft, content, {"kind": "photo", "file_id": "leak-photo", "path": "2027/03/leak.jpg", "size": 4,
                                           "mime_type": "image/jpeg"}, now)
        tickets.photos_done(draft, content, now)
        await tickets.open_ticket(session, draft, content, Roles(), now)


@pytest.mark.parametrize("language", ["it", "ar"])
async def test_a_tenant_sees_downloads_and_erases_her_data(bot: RunningBot, language: str) -> None:
    words = LABELS[language]
    amal = bot.person("Amal", language)
    await amal.send("/start")
    row = await _user_row(bot, amal.user_id)
    assert (row.first_name, row.telegram_language, row.consent_at) == ("", language, None), "only the id and the language"
    await amal.send("ciao")  # before the notice nothing else answers, so nothing else is stored
    assert words["welcome"] in str(amal.screen.reply_markup)
    async with bot.runtime.db.read() as session:
        assert await session.scalar(select(func.count()).select_from(ReportDraft)) == 0
    await amal.tap_action(callbacks.CONSENT)
    assert (await _user_row(bot, amal.user_id)).first_name == "Amal"
    await _amal_has_used_the_bot(bot, amal)

    # My data: the third tap from /start (consent, Help, My data).
    await amal.tap_action(callbacks.HELP, 0)
    await amal.tap_action(callbacks.MY_DATA)
    assert words["bookings"] + ": " in amal.screen.text and words["reports"] in amal.screen.text

    await amal.tap_action(callbacks.MY_DATA_DOWNLOAD)
    documents = [m for m in amal.messages() if m.kind == "document"]
    assert len(documents) == 2
    files = {bot.emu.state.files[d.file_id].metadata["file_name"]: bot.emu.state.files[d.file_id].data for d in documents}
    copy = json.loads(files["my-data-20270302.json"])
    assert copy["telegram_id"] == amal.user_id and copy["data"]["bookings"][0]["phone"] == PHONE
    assert copy["data"]["reports"][0]["flat"] == "int. 7" and copy["data"]["reports"][0]["media"][0]["kind"] == "photo"
    readable = files["my-data-20270302.txt"].decode("utf-8")
    assert words["bookings"] in readable and f"{words['phone']}: {PHONE}" in readable and words["space"] in readable

    # Forget me: two taps (from My data, reached again by the button under the copy).
    await amal.tap_action(callbacks.MY_DATA)
    await amal.tap_action(callbacks.FORGET_ASK)
    assert words["confirm"] in amal.screen.text
    await amal.tap_action(callbacks.FORGET_CONFIRM)
    assert words["done"] in amal.screen.text

    assert await traces_of(bot.runtime.db, amal.user_id, PHONE) == []
    async with bot.runtime.db.read() as session:  # the Forget me update itself was marked handled, with no chat id
        forget_me = await session.get(InboxUpdate, bot.last_update["update_id"])
        assert (forget_me.chat_id, forget_me.payload) == (0, {}) and forget_me.handled_at is not None
    assert not (bot.runtime.settings.media_dir / "2027" / "03" / "leak.jpg").exists()
    async with bot.runtime.db.read() as session:
        kept = (await session.scalars(select(tickets.Ticket))).one()
        assert (kept.reporter_id, kept.description, kept.flat, kept.category_id) == (None, "", None, "water-leak")
        seat = await session.get(SlotCounter, (SERVICE, datetime(2027, 3, 9, 10, 0, tzinfo=ROME)))
        assert seat.taken == 0

    # Coming back, she is a new tenant: the welcome, and nothing but her id and language.
    await amal.send("/start")
    assert words["welcome"] in str(amal.screen.reply_markup)
    row = await _user_row(bot, amal.user_id)
    assert (row.first_name, row.consent_at) == ("", None)


async def test_staff_reading_a_ticket_is_recorded(bot: RunningBot) -> None:
    amal = await bot.tenant("Amal")
    await _amal_has_used_the_bot(bot, amal)
    rosa = await bot.tenant("Rosa")
    await bot.grant_role(rosa, "custodian", ESTATE)
    async with bot.runtime.db.read() as session:
        ticket = (await session.scalars(select(tickets.Ticket))).one()
    await rosa.send("/menu")
    await rosa.tap_action(callbacks.STAFF)
    await rosa.tap_action(callbacks.TICKETS_OPEN, 0)
    await rosa.tap_action(callbacks.TICKET_STAFF_VIEW, ticket.id)
    assert "int. 7" in rosa.screen.text
    found = await audit.records(bot.runtime.db, since=START - timedelta(days=1))
    assert [(r.actor_id, r.action, r.subject) for r in found] == [(rosa.user_id, "ticket_view", ticket.code)]


async def test_the_purge_runs_once_a_night(bot: RunningBot) -> None:
    amal = await bot.tenant("Amal")
    async with bot.runtime.db.write() as session:
        await tickets.start_draft(session, amal.user_id, bot.clock.now())
    bot.clock.set(datetime(2027, 3, 10, 2, 0, tzinfo=ROME))  # eight days on, before QC_PURGE_TIME (03:30)
    await privacy_handlers.nightly_purge(bot.runtime)
    async with bot.runtime.db.read() as session:
        assert await session.get(ReportDraft, amal.user_id) is not None
    bot.clock.set(datetime(2027, 3, 10, 3, 40, tzinfo=ROME))
    await privacy_handlers.nightly_purge(bot.runtime)
    await privacy_handlers.nightly_purge(bot.runtime)  # the next tick the same night does nothing
    async with bot.runtime.db.read() as session:
        assert await session.get(ReportDraft, amal.user_id) is None
        runs = (await session.scalars(select(AuditRecord.subject).where(AuditRecord.action == "purge"))).all()
    assert runs == ["nightly: started", "nightly: 1 rows"]


async def test_forget_purge_and_audit_from_the_command_line(bot: RunningBot, sqlite_url, content_dir, monkeypatch, capsys) -> None:  # type: ignore[no-untyped-def]
    """A tenant phones the manager: `qcbot forget --dry-run` shows what would go, `qcbot forget` does it."""
    import asyncio

    from bot.cli import main

    amal = await bot.tenant("Amal")
    await _amal_has_used_the_bot(bot, amal)
    monkeypatch.setenv("QC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("QC_CONTENT_DIR", str(content_dir))
    monkeypatch.setenv("QC_MEDIA_DIR", str(bot.runtime.settings.media_dir))

    await asyncio.to_thread(main, ["forget", "--telegram-id", str(amal.user_id), "--dry-run"])
    printed = capsys.readouterr().out
    assert "would remove" in printed and "bookings: 1" in printed and "dry run" in printed
    assert await traces_of(bot.runtime.db, amal.user_id)

    await asyncio.to_thread(main, ["forget", "--telegram-id", str(amal.user_id)])
    assert "removed" in capsys.readouterr().out
    assert await traces_of(bot.runtime.db, amal.user_id, PHONE) == []

    await asyncio.to_thread(main, ["purge", "--dry-run"])
    printed = capsys.readouterr().out
    assert "report_drafts: 0" in printed and "closed_tickets: 0" in printed

    await asyncio.to_thread(main, ["audit", "--days", "3650"])
    assert "forget" in capsys.readouterr().out


async def test_admins_read_the_audit_record_in_the_bot_and_others_cannot(bot: RunningBot) -> None:
    amal = await bot.tenant("Amal")
    await _amal_has_used_the_bot(bot, amal)
    async with bot.runtime.db.read() as session:
        ticket = (await session.scalars(select(tickets.Ticket))).one()
    await audit.record_now(bot.runtime.db, amal.user_id, "ticket_view", ticket.code, bot.clock.now())
    admin = await bot.tenant("Capo")
    await bot.grant_role(admin, "admin")
    await admin.send("/menu")
    await admin.tap_action(callbacks.STAFF)
    await admin.tap_action(callbacks.AUDIT_LIST, 0)
    assert "Amal" in admin.screen.text and ticket.code in admin.screen.text
    await amal.send("/menu")
    before = amal.screen.text
    await amal.press(amal.screen.message_id, callbacks.encode(callbacks.AUDIT_LIST, 0), force=True)
    assert amal.screen.text == before and ticket.code not in amal.screen.text
