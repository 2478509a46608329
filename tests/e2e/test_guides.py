"""Stories of tenants following the guides to digital services, end to end against the strict emulator: Amal, in
Arabic, pays a bill with pagoPA, gets stuck at step 3 and books the help desk with the step attached, which the
operator reads in the agenda; Giulia continues a guide after the bot restarted; a question answered by the
operator in the bot; a stale step button after an editor removed steps; the funnel and the CSV in /stats.

The clock starts on Monday 1 March 2027 at 08:00 in Milan; Omero's digital help desk opens on Tuesdays 10-12.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import callbacks
from storage.models import Booking, GuideRun, GuideStuck
from tests.e2e.harness import start_bot

pytestmark = pytest.mark.edits_content  # a test changes a content file while the bot runs

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 1, 8, 0, tzinfo=ROME)
DESK = "omero-digital-desk"


@pytest.fixture(autouse=True)
def monday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


async def open_guide(person, guide_id: str) -> None:  # type: ignore[no-untyped-def]
    """Help → Help with online services → the guide → Start."""
    await person.send("/help")
    await person.tap_action(callbacks.GUIDES)
    await person.tap_action(callbacks.GUIDE, guide_id)
    await person.tap_action(callbacks.GUIDE_START, guide_id)


async def test_amal_in_arabic_gets_stuck_at_step_3_of_pagopa_and_the_operator_sees_it_in_the_agenda(bot):
    amal = await bot.tenant("Amal", "ar")
    await amal.send("/help")
    await amal.tap_action(callbacks.GUIDES)
    assert any("دفع فاتورة عبر pagoPA" in label for label in amal.screen.button_texts())
    await amal.tap_action(callbacks.GUIDE, "pagopa")
    assert "10" in amal.screen.text and "إشعار الدفع" in amal.screen.text  # how long, what you need
    await amal.tap_action(callbacks.GUIDE_START, "pagopa")
    step_one = amal.screen
    assert step_one.kind == "photo" and "Codice avviso" in step_one.caption  # the notice's picture, the text as its caption
    await amal.tap_action(callbacks.GUIDE_NEXT, "pagopa", 1)
    assert "checkout.pagopa.it" in amal.screen.text
    assert any(button.get("url") == "https://checkout.pagopa.it" for row in amal.screen.inline_keyboard for button in row)
    await amal.tap_action(callbacks.GUIDE_NEXT, "pagopa", 2)
    assert amal.screen.kind == "photo" and "Paga un avviso" in amal.screen.caption

    await amal.tap_action(callbacks.GUIDE_STUCK, "pagopa", 3)
    assert "رمز خاطئ" in amal.screen.text  # what can go wrong at this step, in Arabic
    await amal.tap_action(callbacks.GUIDE_DESK, "pagopa", 3)
    await amal.tap_action(callbacks.GUIDE_DESK_SERVICE, DESK)  # the bot does not know her estate: she picks Omero
    assert "3" in amal.screen.text and "pagoPA" in amal.screen.text  # the note: the step travels with the booking
    await amal.tap_action(callbacks.BOOK_TIMES, DESK, "20270302")
    await amal.tap_action(callbacks.BOOK_SLOT, DESK, "202703021000")
    await amal.tap_action(callbacks.BOOK_CONFIRM, DESK, "202703021000")

    async with bot.runtime.db.read() as session:
        booking = await session.scalar(select(Booking).where(Booking.user_id == amal.user_id))
        stuck = await session.scalar(select(GuideStuck).where(GuideStuck.user_id == amal.user_id))
    assert booking is not None and booking.service_id == DESK
    assert (stuck.guide_id, stuck.step, stuck.booking_id) == ("pagopa", 3, booking.id)

    paola = await bot.tenant("Paola")
    await bot.grant_role(paola, "operator", "omero")
    await paola.send("/agenda")
    await paola.tap_action(callbacks.AGENDA, 1, 0)
    assert "Amal" in paola.screen.text
    assert "Bloccato/a al passo 3 di 5 di «Pagare una bolletta con pagoPA»" in paola.screen.text
    await paola.tap_action(callbacks.AGENDA_BOOKING, booking.id)
    assert "passo 3 di 5" in paola.screen.text


async def test_giulia_continues_a_guide_where_she_stopped_after_the_bot_restarted(bot):
    giulia = await bot.tenant("Giulia")
    await open_guide(giulia, "spid-cie")
    await giulia.tap_action(callbacks.GUIDE_NEXT, "spid-cie", 1)
    await giulia.tap_action(callbacks.GUIDE_NEXT, "spid-cie", 2)
    assert "passo 3 di 5" in giulia.screen.text

    settings = bot.service.settings
    await bot.service.stop()
    restarted = await start_bot(bot.emu, settings, bot.clock)
    try:
        giulia.bot = restarted
        await giulia.send("/help")
        await giulia.tap_action(callbacks.GUIDES)
        assert any("Continua" in label and "passo 3 di 5" in label for label in giulia.screen.button_texts()), giulia.screen.button_texts()
        await giulia.tap_action(callbacks.GUIDE_RESUME, "spid-cie")
        assert "passo 3 di 5" in giulia.screen.text and "gestore SPID" in giulia.screen.text
        await giulia.send("/help")
        await giulia.tap_action(callbacks.GUIDES)
        await giulia.tap_action(callbacks.GUIDE, "spid-cie")
        assert "Ti eri fermato/a al passo 3 di 5" in giulia.screen.text
    finally:
        await restarted.service.stop()
        bot.service = restarted.service  # the fixture stops it again: harmless


async def test_a_question_at_a_step_is_answered_by_the_operator_in_the_bot(bot):
    wang = await bot.tenant("Wang", "zh")
    paola = await bot.tenant("Paola")
    await bot.grant_role(paola, "operator", "omero")
    await open_guide(wang, "mm-casa-portal")
    await wang.tap_action(callbacks.GUIDE_NEXT, "mm-casa-portal", 1)
    await wang.tap_action(callbacks.GUIDE_STUCK, "mm-casa-portal", 2)
    await wang.tap_action(callbacks.GUIDE_ASK, "mm-casa-portal", 2)
    await wang.tap_action(callbacks.GUIDE_ASK_SPACE, "omero")
    await wang.send("我没有租户编号，怎么办？")
    await bot.deliver()
    alert = paola.screen
    assert "Wang" in alert.text and "中文" in alert.text and "passo 2 di 4" in alert.text and "我没有租户编号" in alert.text
    reply = alert.inline_keyboard[0][0]["callback_data"]

    await paola.tap("Rispondi")
    assert "Scrivi la risposta" in paola.screen.text
    await paola.send("Vieni martedì allo sportello con il bollettino dell'affitto: lo troviamo insieme.")
    assert "Fatto" in paola.screen.text
    await bot.deliver()
    answer = wang.screen
    assert "Omero" in answer.text and "Vieni martedì allo sportello" in answer.text
    assert "mm-casa-portal" not in answer.text  # the guide by its title, in Chinese
    assert "在 MM Casa 网站上找到你的文件" in answer.text
    assert any("✅" in message.text for message in paola.messages() if message.text and "Wang" in message.text)

    await paola.press(alert.message_id, reply, force=True)  # the alert's old button, once answered
    assert "già risposto" in bot.emu.callback_answers[list(bot.emu.callback_answers)[-1]].get("text", "")


async def test_a_stale_step_button_after_an_editor_removed_steps_gets_the_first_step(bot, content_dir):
    marco = await bot.tenant("Marco")
    await open_guide(marco, "pagopa")
    for step in range(1, 5):
        await marco.tap_action(callbacks.GUIDE_NEXT, "pagopa", step)
    assert "passo 5 di 5" in marco.screen.text
    old_step = marco.screen

    guide_file = content_dir / "guides" / "pagopa.yaml"
    text = guide_file.read_text(encoding="utf-8")
    guide_file.write_text(text[: text.index("  - text:\n      it: Controlla importo")], encoding="utf-8")  # steps 4-5 gone
    assert bot.runtime.content_store.reload() == []

    await marco.press(old_step.message_id, callbacks.encode(callbacks.GUIDE_NEXT, "pagopa", 5))
    answers = bot.emu.callback_answers
    assert "primo passo" in answers[list(answers)[-1]].get("text", "")
    assert "passo 1 di 3" in marco.screen.caption


async def test_the_funnel_per_guide_and_its_csv_in_stats(bot):
    tenants = [await bot.tenant(f"Inquilino {number}") for number in range(7)]
    for number, tenant in enumerate(tenants):
        await open_guide(tenant, "pagopa")
        for step in range(1, 1 + min(number, 5)):  # 0, 1, 2, 3, 4, 5, 5 steps done
            await tenant.tap_action(callbacks.GUIDE_NEXT, "pagopa", step)
    for tenant in tenants[5:]:
        await tenant.tap_action(callbacks.GUIDE_WORKED, await run_of(bot, tenant), "yes")
    admin = await bot.tenant("Admin")
    await bot.grant_role(admin, "admin")
    await admin.send("/stats")
    await admin.tap_action(callbacks.STATS_SHOW, "week", 0)
    shown = "\n".join(message.text or "" for message in admin.messages()[-3:])
    assert "Guide ai servizi online" in shown
    assert "Iniziate: 7 · finite: troppo pochi per mostrarli" in shown  # 2 finished: a group under five
    assert "1: 7 → 2: 6 → 3: 5 → 4: troppo pochi per mostrarli" in shown

    await admin.tap_action(callbacks.STATS_EXPORT, "guides", "week", 0)
    document = await bot.emu.wait_for(lambda: next((m for m in admin.messages() if m.kind == "document"), None))
    stored = bot.emu.state.files[document.file_id]
    assert stored.metadata["file_name"].startswith("guides_")
    data = stored.data.decode("utf-8-sig")
    assert data.splitlines()[0].startswith("Guida;Passi;Lingua;Iniziata il")
    assert len(data.splitlines()) == 8


async def run_of(bot, person) -> int:  # type: ignore[no-untyped-def]
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(GuideRun.id).where(GuideRun.user_id == person.user_id))


@pytest.mark.parametrize("language", ["it", "en", "ar", "es", "zh", "tl", "si", "ro", "uk", "sq"])
async def test_every_sample_guide_opens_in_the_tenants_language(bot, language):
    person = await bot.tenant("Persona", language)
    content = bot.runtime.content
    for guide in content.guides.values():
        await person.send("/help")
        await person.tap_action(callbacks.GUIDES)
        await person.tap_action(callbacks.GUIDE, guide.id)
        assert guide.title.get(language) in person.screen.text
        assert not guide.title.is_fallback(language) and not guide.needs.is_fallback(language)


async def test_typing_bolletta_finds_the_pagopa_guide(bot):
    lucia = await bot.tenant("Lucia")
    await lucia.send("bolletta")
    await lucia.tap_action(callbacks.GUIDE, "pagopa")
    assert "Pagare una bolletta con pagoPA" in lucia.screen.text and "Circa 10 minuti · 5 passi" in lucia.screen.text


async def test_it_did_not_work_so_the_desk_of_her_own_space_is_offered_at_once(bot):
    from sqlalchemy import update

    from storage.models import User

    olena = await bot.tenant("Olena", "uk")
    async with bot.runtime.db.write() as session:  # she reported a fault once: the bot knows her estate
        await session.execute(update(User).where(User.id == olena.user_id).values(last_estate_id="omero-mompiani"))
    bot.runtime.forget_user(olena.user_id)
    await open_guide(olena, "maintenance-request")
    for step in range(1, 5):
        await olena.tap_action(callbacks.GUIDE_NEXT, "maintenance-request", step)
    run_id = await run_of(bot, olena)
    await olena.tap_action(callbacks.GUIDE_WORKED, run_id, "no")
    await olena.tap_action(callbacks.GUIDE_DESK, "maintenance-request", 4)
    assert any(data == callbacks.encode(callbacks.BOOK_TIMES, DESK, "20270302") for row in olena.screen.buttons() for _, data in row)
    async with bot.runtime.db.read() as session:
        run = await session.get(GuideRun, run_id)
        stuck = await session.scalar(select(GuideStuck).where(GuideStuck.user_id == olena.user_id))
    assert run.worked == "no" and (stuck.run_id, stuck.step, stuck.service_id) == (run_id, 4, DESK)
