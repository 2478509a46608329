"""Trust, told as stories against the strict emulator: a forged "me too", a tenant filing too much or twice, a
dropped draft's photos, a note typed too late, a report before the privacy notice, invites redeemed, and one tenant
flooding the bot while another books."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from bot import callbacks
from storage.models import OutboxMessage, ReportDraft, RoleGrant, Ticket, TicketSubscriber
from tests.e2e.harness import Person, RunningBot
from tests.e2e.test_reports import ADMIN_ID, CODE, MANAGER_CHAT, OTHER_ESTATE, alert_of, make_custodian, report_water_leak, rosa_and_amals_leak, tap_in


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_MANAGER_CHAT_ID": str(MANAGER_CHAT), "QC_ADMIN_IDS": str(ADMIN_ID), "QC_DAILY_TICKETS": "2"}


@pytest.fixture(autouse=True)
def manager_group(emulator) -> None:  # type: ignore[no-untyped-def]
    emulator.add_group(MANAGER_CHAT, "MM Casa — segnalazioni")


async def count(bot: RunningBot, model, *where) -> int:  # type: ignore[no-untyped-def]
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(func.count()).select_from(model).where(*where)) or 0


async def ticket_id_of(bot: RunningBot, code: str) -> int:
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(Ticket.id).where(Ticket.code == code))


async def forge(person: Person, action: callbacks.Action, *args: object) -> str:
    """Press a button the bot never showed this person (on their latest message); the answer's text."""
    query = await person.press(person.screen.message_id, callbacks.encode(action, *args), force=True)
    return person.emu.callback_answers[query].get("text") or ""


async def test_a_forged_me_too_joins_nothing_and_reveals_nothing(bot):
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description="Perde il tubo, sono Amal, chiamatemi al 347 1234567")
    code = CODE.search(amal.screen.text).group()
    ticket_id = await ticket_id_of(bot, code)
    await bot.deliver()
    outbox_before = await count(bot, OutboxMessage)

    li = await bot.tenant("Li")  # of another estate, with no draft at all
    answer = await forge(li, callbacks.REPORT_ME_TOO, ticket_id)
    # Then with a draft of his own, for which the server offered nothing.
    await li.tap("Segnala un problema")
    await li.tap("Perdita d'acqua")
    answer += await forge(li, callbacks.REPORT_ME_TOO, ticket_id)
    answer += await forge(li, callbacks.REPORT_VIEW, ticket_id)
    answer += await forge(li, callbacks.REPORT_COMMENT, ticket_id)
    assert await count(bot, TicketSubscriber) == 0
    assert (await count(bot, OutboxMessage)) == outbox_before
    seen = answer + " ".join(li.texts())
    for private in ("Amal", "347", "int. 12", "Perde il tubo", code):
        assert private not in seen, private


async def test_a_tenant_files_two_reports_a_day_then_gets_a_clear_message_and_nobody_is_alerted(bot):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description="Perde il tubo del bagno")
    await amal.send("/menu")
    await report_water_leak(amal, description="Perde anche il tubo della cucina")
    await bot.deliver()
    alerts = len(rosa.texts())
    await amal.send("/menu")
    await report_water_leak(amal, description="E ora il lavandino")
    assert "massimo per un giorno" in amal.screen.text and "112" in amal.screen.text
    assert await count(bot, Ticket) == 2 and await count(bot, ReportDraft) == 1  # the draft stays for tomorrow
    await bot.deliver()
    assert len(rosa.texts()) == alerts
    bot.clock.advance(timedelta(days=1))
    await amal.send("/menu")
    await amal.tap_through("Segnala un problema", "Continua", "Invia la segnalazione")
    assert "Segnalazione inviata" in amal.screen.text


async def test_the_same_report_sent_twice_within_an_hour_merges_into_the_first(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await bot.deliver()
    alerts = len(rosa.texts())
    await amal.send("/menu")
    await report_water_leak(amal)  # an impatient second try
    assert "Avevi già inviato" in amal.screen.text and code in amal.screen.text
    await bot.deliver()
    assert await count(bot, Ticket) == 1 and len(rosa.texts()) == alerts and await count(bot, ReportDraft) == 0


async def test_the_photos_of_a_dropped_draft_leave_the_disk(bot, tmp_path):
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, send=False, description=None)
    await amal.send("Perde")
    for n in range(3):
        await amal.send_photo(b"\xff\xd8 photo %d" % n)
    media = tmp_path / "media"
    assert len([p for p in media.rglob("*") if p.is_file()]) == 3
    await amal.tap("✏️ Foto")  # photos asked afresh: the three replaced ones go
    assert [p for p in media.rglob("*") if p.is_file()] == []
    await amal.send_photo(b"\xff\xd8 another photo")
    assert len([p for p in media.rglob("*") if p.is_file()]) == 1
    await amal.tap("Annulla la segnalazione")
    assert [p for p in media.rglob("*") if p.is_file()] == []


async def test_a_note_typed_after_the_prompt_expired_is_not_sent_to_anyone(bot):
    rosa, amal, code = await rosa_and_amals_leak(bot)
    await bot.deliver()
    await tap_in(rosa, alert_of(bot, rosa.user_id, code), "Aggiungi una nota")
    outbox_before = await count(bot, OutboxMessage)
    bot.clock.advance(timedelta(days=2))
    await rosa.send("ciao a tutti, ci vediamo giovedì")
    assert await count(bot, OutboxMessage) == outbox_before
    assert (await count(bot, Ticket, Ticket.last_note.is_not(None))) == 0
    assert not any("ciao a tutti" in text for text in amal.texts())


async def test_a_tenant_who_never_accepted_the_notice_gets_it_before_any_report(bot):
    omar = bot.person("Omar")
    await omar.send("/start")
    for action, args in ((callbacks.REPORT, ()), (callbacks.REPORT_NEW, ()), (callbacks.REPORT_CATEGORY, ("water-leak",)),
                         (callbacks.REPORT_SEND, ())):
        await forge(omar, action, *args)
        assert "Ho capito, continua" in " ".join(omar.screen.button_texts()), action
    assert await count(bot, ReportDraft) == 0 and await count(bot, Ticket) == 0


async def test_editors_cannot_make_custodians_nobody_redeems_their_own_invite_and_admins_hear_of_each(bot):
    admin = bot.person("Admin", user_id=ADMIN_ID)
    await admin.send("/start")
    elena = await bot.tenant("Elena")
    await bot.grant_role(elena, "editor")
    await elena.send("/invite")
    labels = " ".join(elena.screen.button_texts())
    assert "Comitato inquilini" in labels and "Custode" not in labels and "Operatore" not in labels
    await forge(elena, callbacks.INVITE_SCOPE, "custodian", "omero-mompiani")
    assert "t.me/" not in elena.screen.text  # no link was made
    await elena.tap("Comitato inquilini")
    await elena.tap("Quartiere Omero")
    code = elena.screen.text.split("inv_")[1].split()[0]
    await elena.send(f"/start inv_{code}")
    assert "l'hai creato tu" in elena.screen.text
    assert await count(bot, RoleGrant, RoleGrant.user_id == elena.user_id, RoleGrant.role == "committee") == 0
    giorgio = await bot.tenant("Giorgio")
    await giorgio.send(f"/start inv_{code}")
    assert "Benvenuto" in giorgio.screen.text
    await bot.deliver()
    told = [text for text in admin.texts() if "ha usato un invito" in text]
    assert len(told) == 1 and "Giorgio" in told[0] and "Comitato" in told[0] and str(elena.user_id) in told[0]


@pytest.mark.parametrize("bot_env", [{"QC_BURST_UPDATES": "20", "QC_BURST_SECONDS": "10", "QC_BURST_SILENCE": "60"}])
async def test_a_flood_gets_one_slow_down_then_silence_while_another_tenant_books_as_usual(bot):
    flooder = await bot.tenant("Flavio")
    amal = await bot.tenant("Amal")
    sent_before = len(flooder.texts())
    injected = [bot.emu.send_text(flooder.user_id, f"spam {n}") for n in range(1000)]
    # Amal books while the flood is being handled; each of her steps still gets its answer promptly.
    await amal.send("/menu")
    await amal.tap_action(callbacks.BOOK)
    for prefix in (callbacks.BOOK_SPACE, callbacks.BOOK_DAYS, callbacks.BOOK_TIMES, callbacks.BOOK_SLOT, callbacks.BOOK_CONFIRM):
        data = next(data for row in amal.screen.buttons() for _text, data in row if data and data.startswith(prefix.prefix + "|"))
        started = asyncio.get_running_loop().time()
        await amal.press(amal.screen.message_id, data)
        assert asyncio.get_running_loop().time() - started < 5  # loose: a real slowdown would be the flood's length
    assert "Prenotazione confermata" in amal.screen.text
    await bot.settle(injected[-1], timeout=60)
    replies = flooder.texts()[sent_before:]
    assert sum("Stai mandando molti messaggi" in text for text in replies) == 1
    assert len(replies) <= 21  # the first 20 were answered as usual, then one "slow down", then silence
    bot.clock.advance(timedelta(seconds=61))
    await flooder.send("/menu")
    assert "Stai mandando" not in flooder.screen.text and len(flooder.texts()) > sent_before + len(replies)

    rosa = await bot.tenant("Rosa")  # staff are exempt: a custodian working through a backlog taps fast
    await bot.grant_role(rosa, "custodian", "omero-mompiani")
    for _ in range(30):
        await rosa.send("/menu")
    assert not any("Stai mandando" in text for text in rosa.texts())
