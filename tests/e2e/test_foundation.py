"""Stories of tenants finding spaces and services, end to end against the strict emulator."""

from __future__ import annotations

import re

import aiohttp
import pytest

from bot import callbacks
from tests.e2e.harness import crawl, settings_for, start_bot

MENU_DATA = callbacks.encode(callbacks.MENU)
ARABIC = re.compile(r"[\u0600-\u06FF]")


async def test_giuseppe_starts_reads_the_privacy_notice_and_finds_a_service(bot):
    giuseppe = bot.person("Giuseppe", "it")
    await giuseppe.send("/start")
    assert "Privacy" in giuseppe.screen.text and "Giuseppe" in giuseppe.screen.text
    await giuseppe.tap("Ho capito")
    assert "Cosa vuoi fare?" in giuseppe.screen.text
    await giuseppe.tap("Spazi e servizi")
    assert "per quartiere" in giuseppe.screen.text
    first_space = giuseppe.screen.buttons()[0][0][0]
    await giuseppe.tap(first_space)
    space_screen = giuseppe.screen.text
    assert "Oggi" in space_screen and "📍" in space_screen
    service_label = giuseppe.screen.buttons()[0][0][0]
    await giuseppe.tap(service_label)
    assert service_label in giuseppe.screen.text
    await giuseppe.tap("Indietro")
    assert giuseppe.screen.text == space_screen
    await giuseppe.tap("Menu")
    assert "Cosa vuoi fare?" in giuseppe.screen.text


async def test_the_map_button_sends_a_venue_then_the_space_again(bot):
    rosa = await bot.newcomer("Rosa", "it", "Ho capito")
    await rosa.tap("Spazi e servizi")
    await rosa.tap(rosa.screen.buttons()[0][0][0])
    await rosa.tap("Mappa")
    kinds = [m.kind for m in rosa.messages()[-2:]]
    assert kinds == ["venue", "text"]
    assert "Mappa" in " ".join(rosa.screen.button_texts())


async def test_john_is_served_in_english_and_switches_to_arabic(bot):
    john = bot.person("John", "en-GB")
    await john.send("/start")
    assert "Privacy" in john.screen.text and "Welcome" in john.screen.text
    await john.tap("العربية")  # one tap on the first screen
    assert "Privacy" not in john.screen.text or ARABIC.search(john.screen.text)
    assert ARABIC.search(john.screen.text)


async def test_search_finds_services_in_any_language_and_tolerates_typos(bot):
    amal = await bot.newcomer("Amal", "it", "Ho capito")
    for query in ("riparazione", "riparazone", "computer", "doposcuola", "repair"):
        await amal.send(query)
        assert "Ecco cosa ho trovato" in amal.screen.text, query
        assert len(amal.screen.button_texts()) > 1, query
    await amal.send("xqzwv")
    assert "Non ho trovato nulla" in amal.screen.text


async def test_sharing_a_location_lists_the_nearest_spaces_with_distances(bot):
    li = await bot.newcomer("Li", "zh-CN", "✅")
    await li.share_location(45.4642, 9.1900)  # Piazza del Duomo
    labels = li.screen.button_texts()
    assert sum(bool(re.search(r"\d[.,]\d", label)) for label in labels) == 5  # the five nearest, with distances


async def test_unexpected_messages_get_a_kind_answer_and_the_menu(bot):
    tenant = await bot.newcomer("Maria", "it", "Ho capito")
    await tenant.send_sticker()
    assert MENU_DATA in str(tenant.screen.reply_markup)
    await tenant.send_voice(b"OggS fake voice")
    assert "vocale" in tenant.screen.text
    await tenant.send_photo(b"\x89PNG fake")
    assert "foto" in tenant.screen.text
    await tenant.send("/nonexistent")
    assert "Non conosco questo comando" in tenant.screen.text


async def test_forged_and_stale_buttons_get_a_polite_answer_and_the_current_screen(bot):
    tenant = await bot.newcomer("Ahmed", "it", "Ho capito")
    screen_id = tenant.screen.message_id
    for data in ("1|s|no-such-space", "0|m", "1|zz|1", "1|sv|ghost", "1|rr|1"):
        query_id = await tenant.press(screen_id, data, force=True)
        assert bot.emu.callback_answers[query_id].get("text") or MENU_DATA in str(tenant.screen.reply_markup)
    assert MENU_DATA in str(tenant.screen.reply_markup) or "Cosa vuoi fare?" in tenant.screen.text


async def test_a_group_chat_is_pointed_to_the_private_chat(bot):
    bot.emu.add_group(chat_id=-100777, title="Gestore")
    member = bot.person("Staff", "it")
    await bot.settle(bot.emu.send_text(member.user_id, "/start", chat_id=-100777))
    group_messages = [m for m in bot.emu.chat_messages(-100777) if m.from_bot]
    assert group_messages and "@qc_test_bot" in group_messages[-1].text


async def test_commands_menu_is_set_in_every_language(bot):
    languages = {language for (_scope, language) in bot.emu.commands}
    assert {"en", "ar", "zh"} <= languages


async def test_a_crash_in_a_handler_tells_the_user_and_shows_the_menu(bot, monkeypatch):
    from handlers import directory

    def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(directory, "render_spaces", broken)
    tenant = await bot.newcomer("Sara", "it", "Ho capito")
    await tenant.tap("Spazi e servizi")
    assert "qualcosa è andato storto" in tenant.screen.text
    assert MENU_DATA in str(tenant.screen.reply_markup)


@pytest.mark.parametrize("language", ["it", "en"])
async def test_every_screen_from_start_answers_and_leads_back_to_the_menu(bot, language):
    """Press every button reachable from /start (tenant view): each is answered, each screen has a way back."""
    tenant = await bot.newcomer("Crawler", language, "✅")

    def follow(data: str, screen) -> list[str]:  # type: ignore[no-untyped-def]
        texts = screen.button_texts()
        datas = [d for row in (screen.reply_markup or {}).get("inline_keyboard", []) for b in row if (d := b.get("callback_data"))]
        if screen.reply_markup and "keyboard" in screen.reply_markup:
            return []  # the location request: a reply keyboard with a Cancel button
        assert datas, f"dead end after {data!r}: {screen.text[:80]!r} {texts}"
        assert MENU_DATA in datas or any(callbacks.decode(d).action in (callbacks.SPACE, callbacks.HELP, callbacks.SPACES, callbacks.STAFF) for d in datas), data
        # Not the language (changes every label) nor forgetting the crawler (tests/e2e/test_privacy.py does that).
        return [d for d in datas if callbacks.decode(d).action not in (callbacks.SET_LANGUAGE, callbacks.FORGET_CONFIRM)]

    presses = await crawl(tenant, MENU_DATA, 250, follow)
    assert presses > 20


async def test_webhook_mode_receives_updates_and_refuses_a_wrong_secret(emulator, sqlite_url, tmp_path, clock, content_dir):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = settings_for(
        emulator, sqlite_url, tmp_path, content_dir,
        QC_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram", QC_WEBHOOK_SECRET="s3cret-" + "x" * 32, QC_LISTEN=f"127.0.0.1:{port}",
    )
    running = await start_bot(emulator, settings, clock, webhook=True)
    try:
        tenant = running.person("Webhook", "it")
        await tenant.send("/start")
        assert "Privacy" in tenant.screen.text
        async with aiohttp.ClientSession() as session:
            async with session.post(f"http://127.0.0.1:{port}/telegram", json={"update_id": 1}) as response:
                assert response.status == 403
            async with session.get(f"http://127.0.0.1:{port}/healthz") as response:
                assert response.status == 200
    finally:
        await running.service.stop()


async def test_a_reply_that_meets_telegrams_flood_limit_is_sent_again_after_retry_after(bot):
    """Screens and button answers go straight to the request backend (FrontDeskBot._do_post); a 429 on either is
    retried after retry_after, as PTB's rate limiter did."""
    anna = await bot.tenant("Anna")
    bot.emu.inject_fault("answerCallbackQuery", 429, retry_after=1)
    bot.emu.inject_fault("editMessageText", 429, retry_after=1)
    await anna.tap("Spazi e servizi")
    assert "per quartiere" in anna.screen.text
    injected = [(r.method, r.error_code) for r in bot.emu.refusals if r.injected]
    assert ("answerCallbackQuery", 429) in injected and ("editMessageText", 429) in injected
