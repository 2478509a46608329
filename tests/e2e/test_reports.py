"""Stories of tenants reporting problems and custodians acting on them, end to end against the strict emulator."""

from __future__ import annotations

import asyncio
import logging
import re
from datetime import datetime, timedelta

import pytest
from sqlalchemy import select

from bot import callbacks, cli
from handlers.outgoing import tickets as outgoing_tickets
from storage.domain import tickets
from storage.domain import ticket_lists, users
from storage.models import Ticket
from tests.e2e.harness import Person, RunningBot, start_bot

ESTATE = "omero-mompiani"  # buildings 13 (A, B), 15 (A, B, C), 21 (A)
OTHER_ESTATE = "zoia-cagnino"
MANAGER_CHAT = -100555
ADMIN_ID = 9001
API_KEY = "open311-test-key-" + "0" * 32  # QC_OPEN311_API_KEY needs 32+ characters
CODE = re.compile(r"QC-\d{4}-\d{6}")


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_MANAGER_CHAT_ID": str(MANAGER_CHAT), "QC_ADMIN_IDS": str(ADMIN_ID), "QC_OPEN311_API_KEY": API_KEY}


@pytest.fixture(autouse=True)
def manager_group(emulator) -> None:  # type: ignore[no-untyped-def]
    emulator.add_group(MANAGER_CHAT, "MM Casa — segnalazioni")


async def make_custodian(bot: RunningBot, name: str, estate: str = ESTATE, language: str = "it") -> Person:
    person = await bot.tenant(name, language)
    await bot.grant_role(person, "custodian", estate)
    await person.send("/menu")  # the menu now shows the staff tools
    return person


def alert_of(bot: RunningBot, chat_id: int, code: str):  # type: ignore[no-untyped-def]
    found = [m for m in bot.emu.chat_messages(chat_id) if m.from_bot and m.kind == "text" and code in (m.text or "") and "Segnalazione" in m.text]
    assert found, f"no alert for {code} in chat {chat_id}: {bot.texts(chat_id)[-3:]}"
    return found[0]


async def tap_in(person: Person, message, label: str) -> str:  # type: ignore[no-untyped-def]
    for row in message.buttons():
        for text, data in row:
            if label in text:
                return await person.press(message.message_id, data)
    raise AssertionError(f"no {label!r} among {message.button_texts()}")


async def report_water_leak(person: Person, *, building: str = "Civico 15 · scala B", description: str | None = "Scende acqua dal soffitto del bagno",
                            send: bool = True, common: bool = False) -> None:
    """`common`: in the stairwell (a problem neighbours may join) rather than in the tenant's flat."""
    await person.tap("Segnala un problema")
    await person.tap("Perdita d'acqua")
    assert "rubinetto generale" in person.screen.text  # the category's advice comes first
    if "Di nuovo a" in person.screen.text:
        await person.tap("Sì:")
    else:
        await person.tap("Quartiere Omero")
    await person.tap(building)
    await person.tap("3")
    if common:
        await person.tap("Nelle parti comuni")
    else:
        await person.tap("Nel mio appartamento")
        await person.send("int. 12")
    for answer in ("Sì", "No", "Non so"):
        assert "Domanda" in person.screen.text
        await person.tap(answer)
    if description is None:
        return
    await person.send(description)
    await person.tap("Avanti senza foto")
    assert "Controlla la segnalazione" in person.screen.text
    if send:
        await person.tap("Invia la segnalazione")


async def rosa_and_amals_leak(bot: RunningBot) -> tuple[Person, Person, str]:
    """Rosa, custodian of the estate, and Amal, who has just sent a water leak in her flat; the ticket's code."""
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal)
    return rosa, amal, CODE.search(amal.screen.text).group()


async def ticket_by_code(bot: RunningBot, code: str) -> Ticket:
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(Ticket).where(Ticket.code == code))


# --------------------------------------------------------------------------------------------
# The tenant's flow


async def test_amal_reports_a_leak_with_a_voice_note_and_photos_and_the_custodian_gets_everything(bot, tmp_path):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description=None)
    assert "Descrivi il problema" in amal.screen.text
    await amal.send_voice(b"OggS voice note of the leak")
    assert "Messaggio vocale ricevuto" in amal.screen.text and "foto" in amal.screen.text
    await amal.send_photo(b"\xff\xd8 first photo")
    assert "Foto 1 di 3" in amal.screen.text
    await amal.send_photo(b"\xff\xd8 second photo")
    await amal.tap("Avanti")
    review = amal.screen.text
    assert "Quartiere Omero" in review and "scala B" in review and "piano 3" in review and "int. 12" in review
    assert "2 foto" in review and "vocale" in review and "Sì" in review
    await amal.tap("Invia la segnalazione")
    code = CODE.search(amal.screen.text).group()
    assert "Cosa succede ora" in amal.screen.text

    await bot.deliver()
    kinds = [m.kind for m in bot.emu.chat_messages(rosa.user_id) if m.from_bot][-4:]
    assert kinds == ["photo", "photo", "voice", "text"]
    alert = alert_of(bot, rosa.user_id, code)
    assert "Perdita d'acqua" in alert.text and "Amal" in alert.text and "vocale" in alert.text
    assert {"Prendo in carico", "Risolto", "nota"} <= {word for text in alert.button_texts() for word in ("Prendo in carico", "Risolto", "nota") if word in text}
    # Urgent: the manager chat gets it too.
    assert code in alert_of(bot, MANAGER_CHAT, code).text
    stored = sorted(p for p in (tmp_path / "media").rglob("*") if p.is_file())
    assert len(stored) == 3 and {p.suffix for p in stored} == {".jpg", ".oga"}
    assert b"second photo" in b"".join(p.read_bytes() for p in stored)

    # Next time the estate is remembered.
    await amal.tap_through("Menu", "Segnala un problema", "Ascensore")
    assert "Di nuovo a Quartiere Omero" in amal.screen.text


async def test_an_emergency_shows_112_and_the_24h_number_before_offering_a_report(bot):
    li = await bot.tenant("Li")
    await li.tap("Segnala un problema")
    await li.tap("Odore di gas")
    text = li.screen.text
    assert "112" in text and "800 123 999" in text and "Esci subito di casa" in text
    assert "fai la segnalazione" in " ".join(li.screen.button_texts())
    await li.tap("fai la segnalazione")
    assert "Dove?" in li.screen.text


async def test_a_photo_over_the_size_limit_gets_a_clear_message(bot_env, emulator, sqlite_url, tmp_path, clock, content_dir):
    from tests.e2e.harness import settings_for

    running = await start_bot(emulator, settings_for(emulator, sqlite_url, tmp_path, content_dir, **bot_env, QC_MEDIA_MAX_MB="1"), clock)
    try:
        amal = await running.tenant("Amal")
        await report_water_leak(amal, description="Perde", send=False)
        await amal.tap("✏️ Foto")
        await amal.send_photo(b"\xff\xd8" + b"x" * (1024 * 1024 + 10))
        assert "troppo grande" in amal.screen.text and "1 MB" in amal.screen.text
    finally:
        await running.service.stop()


async def test_a_restart_in_the_middle_of_a_report_loses_nothing(bot):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description=None)
    assert "Descrivi il problema" in amal.screen.text
    settings = bot.service.settings
    await bot.service.stop()

    restarted = await start_bot(bot.emu, settings, bot.clock)
    try:
        amal_again = Person(restarted, amal.user_id, amal.name, amal.language)
        await amal_again.send("Perde il tubo sotto il lavandino")
        assert "foto" in amal_again.screen.text
        await amal_again.tap("Avanti senza foto")
        assert "int. 12" in amal_again.screen.text
        await amal_again.tap("Invia la segnalazione")
        code = CODE.search(amal_again.screen.text).group()
        await restarted.deliver()
        assert "Perde il tubo" in alert_of(restarted, rosa.user_id, code).text
    finally:
        await restarted.service.stop()


async def test_cancel_drops_the_draft(bot):
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description=None)
    await amal.send("/cancel")
    assert "annullato" in amal.screen.text
    async with bot.runtime.db.read() as session:
        assert await tickets.get_draft(session, amal.user_id) is None
    await amal.send("riparazioni")  # text goes back to search
    assert "Ecco cosa ho trovato" in amal.screen.text or "Non ho trovato" in amal.screen.text


async def test_the_review_changes_one_part_and_comes_back(bot):
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, send=False)
    await amal.tap_through("✏️ Luogo", "Quartiere Omero", "Civico 21 · scala A", "Piano terra", "parti comuni")
    assert "Controlla la segnalazione" in amal.screen.text
    assert "Civico 21" in amal.screen.text and "piano terra" in amal.screen.text and "parti comuni" in amal.screen.text


async def test_a_search_hit_of_a_problem_starts_the_report_with_it(bot):
    amal = await bot.tenant("Amal")
    await amal.send("ascensore")
    await amal.tap("🔧")
    assert "Dove?" in amal.screen.text


# --------------------------------------------------------------------------------------------
# Duplicates and "me too"


async def test_a_neighbour_with_the_same_leak_is_offered_the_open_ticket_and_says_me_too(bot):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, common=True, description="Scende acqua dalle scale, sono Amal dell'int. 12, 347 1234567")
    code = CODE.search(amal.screen.text).group()
    giuseppe = await bot.tenant("Giuseppe")
    await report_water_leak(giuseppe, description="Anche da me scende acqua", common=True)
    assert "Forse qualcuno l'ha già segnalato" in giuseppe.screen.text and code in giuseppe.screen.text
    # Only what anyone in the courtyard could see: never the neighbour's words, flat or phone.
    assert "Perdita d'acqua" in giuseppe.screen.text and "scala B" in giuseppe.screen.text
    for private in ("Amal", "int. 12", "347", "dalle scale", "piano"):
        assert private not in giuseppe.screen.text, private
    await giuseppe.tap("succede anche a me")
    assert "Fatto" in giuseppe.screen.text
    await bot.deliver()
    assert "2 inquilini interessati" in alert_of(bot, rosa.user_id, code).text
    await giuseppe.tap("Le mie segnalazioni")
    assert code in " ".join(giuseppe.screen.button_texts())
    await giuseppe.tap(code)  # the public view: the problem, where, its state and dates
    assert code in giuseppe.screen.text and "scala B" in giuseppe.screen.text
    for private in ("Amal", "int. 12", "347", "dalle scale", "Storia"):
        assert private not in giuseppe.screen.text, private
    assert not any("Aggiungi un messaggio" in text for text in giuseppe.screen.button_texts())

    # A different building is a different problem: no suggestion.
    li = await bot.tenant("Li")
    await report_water_leak(li, building="Civico 21 · scala A")
    assert "Segnalazione inviata" in li.screen.text


async def test_not_one_of_them_sends_a_new_ticket(bot):
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, common=True)
    giuseppe = await bot.tenant("Giuseppe")
    await report_water_leak(giuseppe, common=True)
    await giuseppe.tap("No, è un altro problema")
    assert "Segnalazione inviata" in giuseppe.screen.text
    assert CODE.search(giuseppe.screen.text).group() != CODE.search(amal.messages()[-1].text).group()


# --------------------------------------------------------------------------------------------
# Custodians act; tenants are told, in their own language


async def test_custodian_buttons_update_every_alert_and_tell_the_tenants(bot):
    rosa = await make_custodian(bot, "Rosa")
    marco = await make_custodian(bot, "Marco")
    amal = await bot.tenant("Amal")
    john = await bot.tenant("John")
    await report_water_leak(amal, common=True)
    code = CODE.search(amal.screen.text).group()
    await report_water_leak(john, common=True)
    await john.tap("succede anche a me")
    await john.send("/language")
    await john.tap("English")
    await bot.deliver()

    answer_id = await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Prendo in carico")
    assert "Fatto" in bot.emu.callback_answers[answer_id]["text"]
    await bot.deliver()
    for chat in (rosa.user_id, marco.user_id, MANAGER_CHAT):
        alert = alert_of(bot, chat, code)
        assert "Presa in carico" in alert.text and alert.edited
        assert not any("Prendo in carico" in text for text in alert.button_texts())
    assert "presa in carico" in amal.screen.text and code in amal.screen.text
    assert "Water leak" in john.screen.text  # his notice is written for him, in English

    await tap_in(marco, alert_of(bot, marco.user_id, code), "Aggiungi una nota")
    assert "Scrivi la nota" in marco.screen.text
    await marco.send("Arriva l'idraulico giovedì mattina")
    assert "Fatto" in marco.screen.text
    await bot.deliver()
    assert "idraulico giovedì" in amal.screen.text and "idraulico giovedì" in alert_of(bot, rosa.user_id, code).text
    assert not any("idraulico" in text for text in john.texts())  # a note is written to the reporter only

    await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Risolto")
    await bot.deliver()
    assert "risolto" in amal.screen.text
    await amal.tap("No, il problema c'è ancora")
    assert "Riaperta" in amal.screen.text
    await bot.deliver()
    assert any("c'è ancora" in text for text in bot.texts(rosa.user_id)[-2:])
    assert "Riaperta" in alert_of(bot, rosa.user_id, code).text
    assert "riaperta" in john.screen.text or "reopened" in john.screen.text.lower()

    await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Risolto")
    await bot.deliver()
    await amal.tap("Sì, è risolto")
    assert "Chiusa" in amal.screen.text and "stelle" in amal.screen.text
    await amal.tap("4 ⭐")
    assert "⭐⭐⭐⭐" in amal.screen.text
    assert (await ticket_by_code(bot, code)).stars == 4
    await bot.deliver()
    assert not alert_of(bot, rosa.user_id, code).button_texts()  # closed: no more buttons


async def test_not_for_us_asks_a_reason_and_the_tenant_receives_it(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await bot.deliver()
    await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Non è di nostra competenza")
    assert "Perché" in rosa.screen.text
    await rosa.tap("Altro motivo")
    await rosa.send("Il tubo è del condominio accanto: chiamate l'amministratore")
    await bot.deliver()
    assert "Non di competenza" in alert_of(bot, rosa.user_id, code).text
    assert "condominio accanto" in amal.screen.text and code in amal.screen.text


async def test_the_tenant_adds_a_comment_and_a_photo_later(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await amal.tap("Le mie segnalazioni")
    await amal.tap(code)
    assert "Storia" in amal.screen.text and "Nuova" in amal.screen.text
    await amal.tap("Aggiungi un messaggio")
    await amal.send_photo(b"\xff\xd8 the stain got bigger", caption="La macchia è più grande")
    assert "Grazie" in amal.screen.text
    await bot.deliver()
    last = bot.emu.chat_messages(rosa.user_id)[-2:]
    assert [m.kind for m in last] == ["photo", "text"] and "macchia è più grande" in last[-1].text


async def test_a_custodians_own_list_of_open_tickets_with_the_same_buttons(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await bot.deliver()
    await rosa.send("/menu")
    await rosa.tap("Strumenti per lo staff")
    await rosa.tap("Segnalazioni aperte")
    await rosa.tap(code)
    assert "Storia" in rosa.screen.text and "Amal" in rosa.screen.text
    await rosa.tap("Lavori in corso")
    assert "Lavori in corso" in rosa.screen.text and (await ticket_by_code(bot, code)).status == "in_progress"
    await bot.deliver()
    assert "Sono iniziati i lavori" in amal.screen.text


async def test_the_custodian_files_a_report_for_a_tenant_who_phoned(bot):
    rosa = await make_custodian(bot, "Rosa")
    await rosa.tap("Strumenti per lo staff")
    await rosa.tap("Segnala per conto di un inquilino")
    await rosa.send("Maria Rossi")
    await rosa.send("02 1234567")
    await rosa.tap("Pulizia")
    labels = rosa.screen.button_texts()
    assert any("Quartiere Omero" in label for label in labels) and not any("Quarto Cagnino" in label for label in labels)
    await rosa.tap_through("Quartiere Omero", "Civico 13 · scala A", "Piano terra", "parti comuni")
    while "Domanda" in rosa.screen.text:
        await rosa.tap("Sì")
    await rosa.send("Androne sporco da una settimana")
    await rosa.tap("Avanti senza foto")
    assert "Maria Rossi" in rosa.screen.text
    await rosa.tap("Invia la segnalazione")
    assert "per conto di Maria Rossi" in rosa.screen.text
    code = CODE.search(rosa.screen.text).group()
    ticket = await ticket_by_code(bot, code)
    assert ticket.reporter_id is None and ticket.filed_by == rosa.user_id
    await bot.deliver()
    assert "Maria Rossi" in alert_of(bot, rosa.user_id, code).text


# --------------------------------------------------------------------------------------------
# Time passing: escalation, digest


async def test_a_ticket_nobody_takes_in_charge_escalates_to_the_manager_then_daily(bot):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await amal.tap_through("Segnala un problema", "Pulizia", "Quartiere Omero", "Non so", "Piano terra", "parti comuni")
    while "Domanda" in amal.screen.text:
        await amal.tap("No")
    await amal.send("Scale sporche")
    await amal.tap("Avanti senza foto")
    await amal.tap("Invia la segnalazione")
    code = CODE.search(amal.screen.text).group()
    await bot.deliver()
    assert not any(code in text for text in bot.texts(MANAGER_CHAT))  # normal urgency: custodians only

    ticket = await ticket_by_code(bot, code)
    bot.clock.advance(timedelta(hours=ticket.ack_hours, minutes=1))
    await outgoing_tickets.escalate_overdue(bot.runtime)
    await outgoing_tickets.escalate_overdue(bot.runtime)  # a second tick, or a second instance: nothing more
    await bot.deliver()
    escalations = [text for text in bot.texts(MANAGER_CHAT) if code in text and "Nessuno ha preso in carico" in text]
    assert len(escalations) == 1
    bot.clock.advance(timedelta(days=1))
    await outgoing_tickets.escalate_overdue(bot.runtime)
    await bot.deliver()
    assert "Promemoria giornaliero numero 2" in bot.texts(MANAGER_CHAT)[-1]

    await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Prendo in carico")
    await bot.deliver()  # always before moving the clock: a jump would end the leases of messages in flight
    bot.clock.advance(timedelta(days=2))
    await outgoing_tickets.escalate_overdue(bot.runtime)
    await bot.deliver()
    assert len([text for text in bot.texts(MANAGER_CHAT) if "Nessuno ha preso in carico" in text]) == 2


async def two_leaks_reported(bot: RunningBot) -> list[str]:
    """Two tenants report leaks in two buildings (two tickets, no duplicate suggestion); their codes."""
    codes = []
    for name, building in (("Amal", "Civico 15 · scala B"), ("John", "Civico 13 · scala A")):
        person = await bot.tenant(name)
        await report_water_leak(person, building=building)
        codes.append(CODE.search(person.screen.text).group())
    await bot.deliver()
    return codes


async def test_a_backlog_of_overdue_tickets_is_escalated_in_short_transactions_each_once(bot, monkeypatch):
    monkeypatch.setattr(outgoing_tickets, "JOB_BATCH", 1)
    codes = await two_leaks_reported(bot)
    ticket = await ticket_by_code(bot, codes[0])
    bot.clock.advance(timedelta(hours=ticket.ack_hours, minutes=1))
    await outgoing_tickets.escalate_overdue(bot.runtime)  # one tick: two transactions of one ticket each
    await outgoing_tickets.escalate_overdue(bot.runtime)
    await bot.deliver()
    escalated = [code for text in bot.texts(MANAGER_CHAT) for code in codes if code in text and "Nessuno ha preso in carico" in text]
    assert sorted(escalated) == sorted(codes)


async def test_resolved_tickets_nobody_reopens_close_after_two_weeks_a_batch_at_a_time(bot, monkeypatch):
    monkeypatch.setattr(outgoing_tickets, "JOB_BATCH", 1)
    rosa = await make_custodian(bot, "Rosa")
    codes = await two_leaks_reported(bot)
    for code in codes:
        await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Risolto")
    await bot.deliver()
    bot.clock.advance(timedelta(days=15))
    await outgoing_tickets.close_resolved(bot.runtime)  # one tick: two transactions of one ticket each
    await bot.deliver()
    for code in codes:
        assert (await ticket_by_code(bot, code)).status == "closed"
        assert not alert_of(bot, rosa.user_id, code).button_texts()


async def test_each_custodian_gets_one_digest_a_day_after_the_set_time(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await bot.deliver()
    local = bot.clock.now().astimezone(bot.runtime.settings.timezone)
    bot.clock.set(datetime.combine(local.date() + timedelta(days=1), bot.runtime.settings.digest_time, local.tzinfo) - timedelta(minutes=1))
    await outgoing_tickets.send_digests(bot.runtime)
    await bot.deliver()
    assert not any("Buongiorno" in text for text in bot.texts(rosa.user_id))
    bot.clock.advance(timedelta(minutes=2))
    for _ in range(3):
        await outgoing_tickets.send_digests(bot.runtime)
    await bot.deliver()
    digests = [text for text in bot.texts(rosa.user_id) if "Buongiorno" in text]
    assert len(digests) == 1 and code in digests[0]


# --------------------------------------------------------------------------------------------
# Invites and forged buttons


async def test_invites_valid_expired_and_reused(bot):
    admin = bot.person("Admin", "it", user_id=ADMIN_ID)
    await admin.send("/start")
    await admin.tap_through("✅", "Strumenti per lo staff", "Invita una persona", "Custode", "Quartiere Omero")
    code = re.search(r"inv_([\w-]+)", admin.screen.text).group(1)

    rosa = bot.person("Rosa", "it")
    await rosa.send(f"/start inv_{code}")
    assert "Ora hai il ruolo" in rosa.screen.text and "Quartiere Omero" in rosa.screen.text
    intruder = bot.person("Intruso", "it")
    await intruder.send(f"/start inv_{code}")
    assert "già stato usato" in intruder.screen.text

    async with bot.runtime.db.write() as session:
        old = await users.create_invite(session, "custodian", ESTATE, bot.clock.now(), ADMIN_ID)
    bot.clock.advance(users.INVITE_LIFETIME + timedelta(minutes=1))
    await intruder.send(f"/start inv_{old.code}")
    assert "scaduto" in intruder.screen.text
    async with bot.runtime.db.read() as session:
        assert not (await users.load_roles(session, intruder.user_id, frozenset())).is_staff
        assert (await users.load_roles(session, rosa.user_id, frozenset())).custodian_of == {ESTATE}


async def test_qcbot_invite_prints_a_link_that_grants_the_role(bot, monkeypatch, capsys):
    settings = bot.runtime.settings
    monkeypatch.setenv("QC_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("QC_CONTENT_DIR", str(settings.content_dir))
    monkeypatch.setenv("QC_DATA_DIR", str(settings.data_dir))
    monkeypatch.delenv("QC_TELEGRAM_TOKEN", raising=False)
    await asyncio.to_thread(cli.main, ["invite", "--role", "custodian", "--estate", ESTATE, "--bot-username", "qc_test_bot"])
    printed = capsys.readouterr().out
    assert "https://t.me/qc_test_bot?start=inv_" in printed
    code = re.search(r"code: ([\w-]+)", printed).group(1)
    rosa = bot.person("Rosa", "it")
    await rosa.send(f"/start inv_{code}")
    assert "Ora hai il ruolo" in rosa.screen.text


async def test_forged_custodian_buttons_are_refused_politely_and_change_nothing(bot, caplog):
    marco = await make_custodian(bot, "Marco", OTHER_ESTATE)
    amal = await bot.tenant("Amal")
    await report_water_leak(amal)
    code = CODE.search(amal.screen.text).group()
    ticket = await ticket_by_code(bot, code)
    caplog.set_level(logging.WARNING, logger="storage.domain.tickets")
    for person in (amal, marco):
        for action in (callbacks.TICKET_ACK, callbacks.TICKET_RESOLVE, callbacks.TICKET_START):
            data = callbacks.encode(action, ticket.id)
            answer_id = await person.press(person.screen.message_id, data, force=True)
            assert "Non puoi farlo" in bot.emu.callback_answers[answer_id]["text"]
        await person.press(person.screen.message_id, callbacks.encode(callbacks.TICKET_REJECT_REASON, ticket.id, "private"), force=True)
        await person.press(person.screen.message_id, callbacks.encode(callbacks.TICKET_STAFF_VIEW, ticket.id), force=True)
    async with bot.runtime.db.read() as session:
        after = await session.get(Ticket, ticket.id)
        events = await ticket_lists.events_of(session, ticket.id)
    assert after.status == "new" and [e.kind for e in events] == ["opened"]
    assert any("may not" in record.getMessage() for record in caplog.records)


async def test_switching_language_in_the_middle_of_a_report_keeps_the_draft(bot):
    amal = await bot.tenant("Amal")
    await amal.tap_through("Segnala un problema", "Perdita d'acqua", "Quartiere Omero", "Civico 15 · scala B")
    assert "piano" in amal.screen.text.lower()
    await amal.send("/language")
    await amal.tap("العربية")
    await amal.send("/menu")
    await amal.press(amal.screen.message_id, callbacks.encode(callbacks.REPORT))
    arabic_floor_question = amal.screen.text
    assert re.search(r"[\u0600-\u06FF]", arabic_floor_question)  # the same step, now in Arabic
    await amal.tap("3")
    async with bot.runtime.db.read() as session:
        draft = await tickets.get_draft(session, amal.user_id)
    assert (draft.category_id, draft.estate_id, draft.floor) == ("water-leak", ESTATE, 3)
