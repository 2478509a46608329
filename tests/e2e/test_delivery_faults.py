"""Telegram answering 502 now and then, answers that come too late, a crash in the outbox's send window, a button
pressed before a restart: nothing lost, nothing doubled without saying so, and no apology for what went well."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest

from storage.domain import outbox
from tests.e2e.harness import RunningBot, serving, start_bot
from tests.e2e.test_outbox_delivery import alert_codes, file_tickets
from tests.e2e.test_reports import (  # noqa: F401 (bot_env and manager_group are fixtures of these stories too)
    alert_of,
    bot_env,
    make_custodian,
    manager_group,
    report_water_leak,
)

APOLOGY = "qualcosa è andato storto"


@pytest.fixture
async def bot(emulator, database_url, tmp_path, clock, content_dir, bot_env) -> AsyncIterator[RunningBot]:  # type: ignore[no-untyped-def]
    """As tests/e2e/conftest.py's, on SQLite and on PostgreSQL."""
    async with serving(emulator, database_url, tmp_path, content_dir, clock, bot_env) as running:
        yield running


class Killed(Exception):
    """Where a test kills the process."""

REPEAT = "Inviato di nuovo dopo un'interruzione"


async def walk(bot: RunningBot, name: str) -> list[str]:
    """A tenant files a report and looks around: the texts of every message the bot left in the chat."""
    tenant = await bot.tenant(name)
    await report_water_leak(tenant)
    await tenant.tap("Menu")
    await tenant.tap("Spazi e servizi")
    for word in ("computer", "pacchi", "SPID", "lavoro", "caf", "bollette"):
        await tenant.send(word)
    return tenant.texts()


async def test_502s_on_edits_and_late_answers_to_sends_cost_no_apology_and_no_duplicate_screen(bot, caplog):
    calm = await walk(bot, "Calma")
    for request in bot.service.application.bot._request:
        request._read_timeout = 0.5  # a late answer is a time-out quickly (Telegram's would be 5 s)
    bot.emu.fault_rate("editMessageText", rate=0.2, statuses=(502,), seed=3)
    bot.emu.fault_rate("answerCallbackQuery", rate=0.2, statuses=(502,), seed=4)
    bot.emu.fault_rate("sendMessage", rate=0.2, delay=1.0, seed=5)
    caplog.set_level("INFO", logger="bot")
    stormy = await walk(bot, "Tempesta")
    bot.emu.clear_faults()
    assert "editMessageText failed; trying again" in caplog.text  # 502s were met, and retried
    assert "no answer in time to a screen" in caplog.text  # late answers too
    assert not [text for text in stormy if APOLOGY in text]
    assert [text.replace("Tempesta", "Calma") for text in stormy] == calm  # the same screens, none twice


async def test_a_crash_between_telegram_accepting_an_alert_and_the_mark_gives_one_marked_repeat(bot, monkeypatch):
    rosa = await make_custodian(bot, "Rosa")
    reporter = await bot.tenant("Amal")
    await bot.runtime.outbox.stop()  # the test delivers
    [code] = await file_tickets(bot, [reporter])
    finish = outbox.finish

    async def crash_after_telegram_accepted(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise Killed  # the process dies before the row is marked sent

    monkeypatch.setattr(outbox, "finish", crash_after_telegram_accepted)
    try:
        await bot.flush_outbox()
    except Killed:
        pass
    monkeypatch.setattr(outbox, "finish", finish)
    assert alert_codes(bot, rosa.user_id)[code] == 1
    await bot.flush_outbox()
    assert alert_codes(bot, rosa.user_id)[code] == 1  # still leased to the dead sender
    bot.clock.advance(timedelta(minutes=2))
    await bot.flush_outbox()
    await bot.flush_outbox()
    copies = [m for m in bot.emu.chat_messages(rosa.user_id) if m.from_bot and code in (m.text or "")]
    assert len(copies) == 2 and REPEAT not in copies[0].text and copies[1].text.startswith("🔁 " + REPEAT)

    # A button on the first copy acts on the ticket, and that copy then shows where the ticket stands.
    first = copies[0]
    [take] = [data for row in first.buttons() for label, data in row if "Prendo in carico" in label]
    query_id = await rosa.press(first.message_id, take)
    assert "presa in carico" in bot.emu.callback_answers[query_id]["text"]
    first = next(m for m in bot.emu.chat_messages(rosa.user_id) if m.message_id == first.message_id)
    assert "Stato: 👀 Presa in carico" in first.text
    await bot.flush_outbox()  # the other copy, the one the outbox knows, follows the ticket as always
    second = next(m for m in bot.emu.chat_messages(rosa.user_id) if m.message_id == copies[1].message_id)
    assert "Presa in carico" in second.text
    # Pressed again on the other copy before the outbox has redrawn it... (here it already has: its buttons moved on)
    [start] = [data for row in second.buttons() for label, data in row if "Lavori in corso" in label]
    await rosa.press(second.message_id, start)
    # ...and a stale button on the first copy is refused and that copy redrawn with the current state.
    query_id = await rosa.press(first.message_id, take, force=True)
    assert "cambiata nel frattempo" in bot.emu.callback_answers[query_id]["text"]
    first = next(m for m in bot.emu.chat_messages(rosa.user_id) if m.message_id == first.message_id)
    assert "Lavori in corso" in first.text


async def test_a_button_pressed_before_a_restart_is_too_old_to_answer_but_its_screen_is_shown(bot):
    amal = await bot.tenant("Amal")
    menu = amal.screen
    [spaces] = [data for row in menu.buttons() for label, data in row if "Spazi e servizi" in label]
    settings = bot.service.settings
    await bot.service.stop()
    query_id = bot.emu.press_button(amal.user_id, menu.message_id, spaces)
    bot.emu.state.open_callback_queries.pop(query_id)  # the bot was down too long: Telegram forgot the query
    restarted = await start_bot(bot.emu, settings, bot.clock)
    try:
        await restarted.settle(bot.emu.last_update)
        assert "Quartiere" in amal.screen.text or amal.screen.edited
        assert query_id not in bot.emu.callback_answers
        assert not [text for text in amal.texts() if APOLOGY in text]
        bot.emu.refusals.clear()  # that refusal was the point of the story
    finally:
        await restarted.service.stop()
        bot.service.application = None


async def test_an_alert_whose_answer_came_late_goes_again_marked_in_the_readers_language(bot):
    olena = await make_custodian(bot, "Olena", language="uk")
    reporter = await bot.tenant("Amal")
    await bot.runtime.outbox.stop()
    for request in bot.service.application.bot._request:
        request._read_timeout = 0.3
    [code] = await file_tickets(bot, [reporter])
    bot.emu.inject_fault("sendMessage", delay=1.0)  # delivered, but Telegram's answer comes too late
    await bot.flush_outbox()
    assert len([m for m in bot.emu.chat_messages(olena.user_id) if m.from_bot and code in (m.text or "")]) == 1
    bot.clock.advance(timedelta(minutes=15))  # past the backoff
    await bot.deliver()
    copies = [m.text for m in bot.emu.chat_messages(olena.user_id) if m.from_bot and code in (m.text or "")]
    assert len(copies) == 2 and copies[1].startswith("🔁 Надіслано ще раз після перерви")
    await bot.deliver()
    assert len([m for m in bot.emu.chat_messages(olena.user_id) if m.from_bot and code in (m.text or "")]) == 2
