"""The Bot API emulator's files, media, commands and chat actions, the updates it makes (real Telegram updates),
the helpers tests wait with, and the control API the sandbox drives it through."""

from __future__ import annotations

import asyncio
import base64
import io
import json

import aiohttp
import pytest
import telegram
from aiohttp import web
from telegram import BotCommand, BotCommandScopeChat, MenuButtonCommands, Update
from telegram.error import BadRequest

from bot.emulator import BotApiEmulator
from tests.unit.emulator.support import GROUP, USER, keyboard, png_bytes, started_chat, until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


# Files, media, locations ------------------------------------------------------------------------


async def test_uploaded_photos_can_be_resent_and_downloaded(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    data = png_bytes(40, 30)
    sent = await bot.send_photo(USER, data)
    size = sent.photo[-1]
    assert (size.width, size.height, size.file_size) == (40, 30, len(data))
    again = await bot.send_photo(USER, size.file_id)
    assert again.photo[-1].file_id == size.file_id
    file = await bot.get_file(size.file_id)
    assert file.file_path.endswith(".jpg") and bytes(await file.download_as_bytearray()) == data
    assert emu.chat_messages(USER)[-1].file_id == size.file_id
    with pytest.raises(BadRequest, match="(?i)Image_process_failed"):
        await bot.send_photo(USER, b"not an image")
    with pytest.raises(BadRequest, match="(?i)Wrong file identifier"):
        await bot.send_photo(USER, "nonexistent-file-id")
    with pytest.raises(BadRequest, match="(?i)Type of file mismatch"):
        await bot.send_voice(USER, size.file_id)
    with pytest.raises(BadRequest, match="(?i)never downloads URLs"):
        await bot.send_photo(USER, "https://example.org/a.jpg")
    with pytest.raises(BadRequest, match="(?i)Invalid file_id"):
        await bot.get_file("missing")


async def test_files_sent_by_users_are_downloadable(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    emu.send_photo(USER, png_bytes(), caption="perdita d'acqua")
    emu.send_voice(USER, b"OggS voice", duration=4)
    emu.send_document(USER, b"%PDF-1.4", "verbale.pdf", "application/pdf")
    updates = await bot.get_updates()
    photo, voice, document = (update.message for update in updates)
    assert photo.caption == "perdita d'acqua" and photo.photo[-1].width == 40
    assert voice.voice.file_size == len(b"OggS voice") and document.document.file_name == "verbale.pdf"
    assert emu.chat_messages(USER)[1].content["voice"]["duration"] == 4
    downloaded = await (await bot.get_file(voice.voice.file_id)).download_as_bytearray()
    assert bytes(downloaded) == b"OggS voice" == emu.uploaded_files[voice.voice.file_id]


async def test_documents_audio_voice_locations_and_venues(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    document = await bot.send_document(USER, io.BytesIO(b"orari"), filename="orari.txt", caption="Orari")
    assert document.document.file_name == "orari.txt" and document.caption == "Orari"
    audio = await bot.send_audio(USER, b"ID3audio", filename="avviso.mp3", duration=9, title="Avviso")
    assert audio.audio.title == "Avviso" and emu.chat_messages(USER)[-1].content["audio"]["duration"] == 9
    await bot.send_voice(USER, b"OggS", duration=2)
    assert emu.chat_messages(USER)[-1].content["voice"] == {
        "file_id": "emu-voice-3", "file_unique_id": "emu-unique-3", "file_size": 4, "mime_type": "audio/ogg", "duration": 2
    }
    location = await bot.send_location(USER, 45.4642, 9.19)
    assert location.location.latitude == pytest.approx(45.4642)
    venue = await bot.send_venue(USER, 45.4642, 9.19, "Portineria Molise", "Via Molise 3, Milano")
    message = emu.chat_messages(USER)[-1]
    assert venue.venue.title == "Portineria Molise" and message.kind == "venue"
    assert message.venue["address"] == "Via Molise 3, Milano" and message.location["longitude"] == 9.19
    with pytest.raises(BadRequest, match="(?i)latitude"):
        await bot.send_location(USER, 91, 9)


# Commands, chat actions, menu button ------------------------------------------------------------


async def test_commands_are_stored_per_scope_and_language(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await bot.set_my_commands([BotCommand("start", "Inizia"), BotCommand("aiuto", "Aiuto")])
    await bot.set_my_commands([BotCommand("start", "ابدأ")], language_code="ar")
    emu.add_group(GROUP, "Custodi")
    await bot.set_my_commands([BotCommand("turni", "Turni")], scope=BotCommandScopeChat(GROUP))
    assert [c.command for c in await bot.get_my_commands()] == ["start", "aiuto"]
    assert [c.description for c in await bot.get_my_commands(language_code="ar")] == ["ابدأ"]
    assert emu.commands[("chat:-100123", "")] == [{"command": "turni", "description": "Turni"}]
    assert emu.visible_commands(USER, "ar")[0]["description"] == "ابدأ"
    assert emu.visible_commands(USER, "uk")[0]["description"] == "Inizia"
    assert emu.visible_commands(GROUP)[0]["command"] == "turni"
    with pytest.raises(BadRequest, match="(?i)Bot_command_invalid"):
        await bot.set_my_commands([BotCommand("Start-Now", "x")])
    assert await bot.delete_my_commands(language_code="ar")
    assert await bot.get_my_commands(language_code="ar") == ()


async def test_chat_actions_and_menu_button(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    events = emu.subscribe()
    assert await bot.send_chat_action(USER, "typing")
    assert (await events.get())["action"] == "typing"
    with pytest.raises(BadRequest, match="(?i)Wrong parameter action"):
        await bot.send_chat_action(USER, "dancing")
    assert await bot.set_chat_menu_button(USER, MenuButtonCommands())
    assert (await bot.get_chat_menu_button(USER)).type == "commands"
    assert await bot.close() and await bot.log_out()


# Updates are real Telegram updates --------------------------------------------------------------


async def test_every_injected_update_is_accepted_by_ptb(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    sent = await bot.send_message(USER, "Menu", reply_markup=keyboard(("Servizi", "menu:servizi")))
    injected = [
        emu.send_text(USER, "Buongiorno 👋"),
        emu.send_location(USER, 45.5, 9.2),
        emu.send_photo(USER, png_bytes()),
        emu.send_voice(USER, b"OggS"),
        emu.send_document(USER, b"x", "a.txt"),
        emu.send_sticker(USER),
        emu.send_contact(USER, "+39 02 1234"),
    ]
    emu.press_button(USER, sent.message_id, "menu:servizi")
    emu.block(USER)
    updates = await bot.get_updates()
    assert [u.update_id for u in updates[: len(injected)]] == [u["update_id"] for u in injected]
    assert [u.effective_message.effective_attachment is not None for u in updates[1:7]] == [True] * 6
    assert updates[7].callback_query.data == "menu:servizi"
    assert updates[8].my_chat_member.new_chat_member.status == "kicked"
    assert updates[0].message.from_user.language_code == "ar"


# Test helpers: waiting, histories, events, logs -------------------------------------------------


async def test_next_bot_message_reads_each_message_once(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    later = asyncio.create_task(emu.next_bot_message(USER))
    await bot.send_message(USER, "uno")
    await bot.send_message(USER, "due")
    assert (await later).text == "uno"
    assert (await emu.next_bot_message(USER)).text == "due"
    with pytest.raises(TimeoutError, match="no new bot message in chat 1001") as raised:
        await emu.next_bot_message(USER, timeout=0.05)
    assert "'due'" in str(raised.value)
    assert (await emu.next_bot_message(USER, after=0)).text == "uno"


async def test_wait_for_returns_the_predicate_value(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    waiting = asyncio.create_task(emu.wait_for(lambda: emu.last_bot_message(USER)))
    await bot.send_message(USER, "eccomi")
    assert (await waiting).text == "eccomi"


async def test_history_and_logs_are_capped() -> None:
    emulator = BotApiEmulator(history_limit=3, log_limit=10)
    await emulator.start()
    try:
        emulator.add_user(USER, "Amal")
        for n in range(5):
            emulator.send_text(USER, f"m{n}")
        assert [m.text for m in emulator.chat_messages(USER)] == ["m2", "m3", "m4"]
        async with telegram.Bot(emulator.token, base_url=emulator.base_url) as client:
            for _ in range(25):
                await client.get_me()
        assert 0 < len(emulator.calls) <= 10 and emulator.calls[-1][0] == "getMe"
    finally:
        await emulator.stop()


async def test_event_stream_reports_messages_edits_deletes_answers_and_refusals(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    await started_chat(emu, bot)
    events = emu.subscribe()
    sent = await bot.send_message(USER, "uno", reply_markup=keyboard(("a", "a")))
    await bot.edit_message_text("due", USER, sent.message_id)
    await bot.delete_message(USER, sent.message_id)
    with pytest.raises(BadRequest):
        await bot.send_message(USER, "")
    received = [events.get_nowait() for _ in range(events.qsize())]
    assert [e["type"] for e in received] == ["message", "edit", "delete", "refusal"]
    assert received[1]["message"]["text"] == "due" and received[1]["chat_id"] == USER
    assert received[3]["chat_id"] == USER and received[3]["refusal"]["method"] == "sendMessage"
    emu.unsubscribe(events)


# Control API for the sandbox --------------------------------------------------------------------


async def test_control_api_drives_users_and_reads_chats(
    emu: BotApiEmulator, bot: telegram.Bot, http: aiohttp.ClientSession
) -> None:
    base = f"http://127.0.0.1:{emu.port}/_emu"
    async with http.post(f"{base}/users", json={"user_id": 2001, "first_name": "Li", "language_code": "zh"}) as r:
        assert (await r.json())["result"]["language_code"] == "zh"
    async with http.post(f"{base}/send", json={"user_id": 2001, "type": "text", "text": "/start"}) as r:
        assert (await r.json())["result"]["message"]["text"] == "/start"
    photo = base64.b64encode(png_bytes()).decode()
    async with http.post(f"{base}/send", json={"user_id": 2001, "type": "photo", "data": photo}) as r:
        assert r.status == 200
    async with http.post(f"{base}/send", json={"user_id": 2001, "type": "telepathy"}) as r:
        assert r.status == 400 and "unknown type" in (await r.json())["error"]
    async with http.post(f"{base}/send", json={"user_id": 9, "type": "text", "text": "x"}) as r:
        assert r.status == 400 and "add_user" in (await r.json())["error"]
    sent = await bot.send_message(2001, "Scegli", reply_markup=keyboard(("Sì", "yes")))
    async with http.post(
        f"{base}/send", json={"user_id": 2001, "type": "button", "message_id": sent.message_id, "callback_data": "yes"}
    ) as r:
        query_id = (await r.json())["result"]["callback_query_id"]
    assert query_id in emu.unanswered_callback_queries
    async with http.get(f"{base}/chats/2001") as r:
        chat = (await r.json())["result"]
    assert [m["kind"] for m in chat["messages"]] == ["text", "photo", "text"]
    with pytest.raises(BadRequest):
        await bot.send_message(2001, "<x>", parse_mode="HTML")
    async with http.get(f"{base}/refusals") as r:
        assert (await r.json())["result"][-1]["description"].startswith("Bad Request: can't parse entities")
    await bot.set_my_commands([BotCommand("start", "开始")], language_code="zh")
    async with http.get(f"{base}/commands", params={"language_code": "zh"}) as r:
        assert (await r.json())["result"] == [{"command": "start", "description": "开始"}]
    file_id = chat["messages"][1]["content"]["photo"][-1]["file_id"]
    async with http.get(f"{base}/files/{file_id}") as r:
        assert await r.read() == png_bytes()


async def test_control_event_stream_is_server_sent_events(
    emu: BotApiEmulator, bot: telegram.Bot, http: aiohttp.ClientSession
) -> None:
    await started_chat(emu, bot)
    async with http.get(f"http://127.0.0.1:{emu.port}/_emu/events") as stream:
        assert stream.headers["Content-Type"] == "text/event-stream"
        await until(lambda: emu.state.subscriber_count == 1)
        await bot.send_message(USER, "in diretta")
        line = await stream.content.readline()
        event = json.loads(line.decode().removeprefix("data: "))
    assert event["type"] == "message" and event["message"]["text"] == "in diretta"


async def test_routes_mount_on_an_existing_app(http: aiohttp.ClientSession) -> None:
    emulator = BotApiEmulator(bot_username="sandbox_bot")
    app = web.Application()
    emulator.add_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    try:
        emulator.set_origin("127.0.0.1", runner.addresses[0][1])
        async with telegram.Bot(emulator.token, base_url=emulator.base_url) as client:
            assert (await client.get_me()).username == "sandbox_bot"
    finally:
        await emulator.stop()
        await runner.cleanup()


async def test_malformed_requests_are_refused_and_recorded(emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    url = f"{emu.base_url}{emu.token}/sendMessage"
    async with http.post(url, data=b"{not json", headers={"Content-Type": "application/json"}) as response:
        assert response.status == 400
    async with http.post(url, data={"chat_id": "abc", "text": "x"}) as response:
        assert (await response.json())["description"] == "Bad Request: chat not found"
    async with http.post(url, data={"text": "x"}) as response:
        assert (await response.json())["description"] == "Bad Request: chat_id is empty"
    async with http.post(f"{emu.base_url}999:nope/getMe") as response:
        assert response.status == 401
    assert [(r.method, r.error_code) for r in emu.refusals] == [
        ("sendMessage", 400), ("sendMessage", 400), ("sendMessage", 400), ("getMe", 401)
    ]


async def test_a_ptb_application_polls_and_answers_through_the_emulator(emu: BotApiEmulator) -> None:
    from telegram.ext import ApplicationBuilder, CallbackQueryHandler, CommandHandler, ContextTypes

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.message.reply_html("<b>Benvenuta</b>", reply_markup=keyboard(("Servizi", "menu:servizi")))

    async def pressed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        await update.callback_query.answer()
        await update.callback_query.edit_message_text("Servizi della portineria")

    application = (
        ApplicationBuilder().token(emu.token).base_url(emu.base_url).base_file_url(emu.base_file_url).build()
    )
    application.add_handler(CommandHandler("start", start))
    application.add_handler(CallbackQueryHandler(pressed))
    async with application:
        await application.updater.start_polling(poll_interval=0, timeout=1)
        await application.start()
        emu.send_text(USER, "/start")
        welcome = await emu.next_bot_message(USER)
        assert (welcome.text, welcome.html) == ("Benvenuta", "<b>Benvenuta</b>")
        query_id = emu.press_button(USER, welcome.message_id, welcome.callback_data_for("Servizi"))
        await emu.wait_for(lambda: welcome.edited)
        assert welcome.text == "Servizi della portineria" and query_id in emu.callback_answers
        await application.updater.stop()
        await application.stop()
    assert not emu.refusals
