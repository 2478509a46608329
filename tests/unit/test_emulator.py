"""The Bot API emulator, exercised through python-telegram-bot itself and through raw HTTP."""

from __future__ import annotations

import asyncio
from datetime import timedelta
import base64
import io
import json
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web
from PIL import Image
from telegram import (
    BotCommand,
    BotCommandScopeChat,
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    MenuButtonCommands,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, RetryAfter, TimedOut

from bot.emulator import BotApiEmulator

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")

USER = 1001
OTHER_USER = 1002
GROUP = -100123
NOT_MODIFIED = (
    "Message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_user(USER, "Amal", "ar")
    emulator.add_user(OTHER_USER, "Giuseppe", "it")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    client = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)
    async with client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def keyboard(*buttons: tuple[str, str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup([[InlineKeyboardButton(text, callback_data=data)] for text, data in buttons])


def png_bytes(width: int = 40, height: int = 30) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, "PNG")
    return buffer.getvalue()


async def started_chat(emu: BotApiEmulator, bot: telegram.Bot, user_id: int = USER) -> None:
    """The user writes /start and the bot consumes the update, as a running bot would."""
    emu.send_text(user_id, "/start")
    updates = await bot.get_updates()
    await bot.get_updates(offset=updates[-1].update_id + 1)


async def until(condition: Any) -> None:
    """Yield to the event loop until condition() holds (bounded, for states that emit no event)."""
    for _ in range(1000):
        if condition():
            return
        await asyncio.sleep(0.005)
    raise AssertionError("condition never became true")


# Identity, routing and request formats ----------------------------------------------------------


async def test_get_me_describes_the_bot(bot: telegram.Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.first_name, me.is_bot) == (123456, "qc_test_bot", "Quartieri Connessi", True)


async def test_wrong_token_is_unauthorized(emu: BotApiEmulator, http: aiohttp.ClientSession) -> None:
    with pytest.raises(InvalidToken):
        async with telegram.Bot("123456:WRONG", base_url=emu.base_url):
            pass  # initialising calls getMe
    async with http.get(f"{emu.base_url}123456:WRONG/getMe") as response:
        assert response.status == 401
        assert await response.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}


async def test_unknown_method_is_not_found_and_names_are_case_insensitive(
    emu: BotApiEmulator, http: aiohttp.ClientSession
) -> None:
    async with http.post(f"{emu.base_url}{emu.token}/sendTelepathy", json={}) as response:
        assert response.status == 404
        assert await response.json() == {"ok": False, "error_code": 404, "description": "Not Found"}
    async with http.get(f"{emu.base_url}{emu.token}/GETME") as response:
        assert (await response.json())["result"]["username"] == "qc_test_bot"


@pytest.mark.parametrize("encoding", ["json", "form", "multipart", "query"])
async def test_all_request_encodings_are_accepted(
    emu: BotApiEmulator, bot: telegram.Bot, http: aiohttp.ClientSession, encoding: str
) -> None:
    await started_chat(emu, bot)
    params = {"chat_id": str(USER), "text": "<b>Orari</b>", "parse_mode": "HTML",
              "reply_markup": json.dumps({"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]})}
    url = f"{emu.base_url}{emu.token}/sendMessage"
    if encoding == "json":
        request = http.post(url, json={**params, "chat_id": USER, "reply_markup": json.loads(params["reply_markup"])})
    elif encoding == "form":
        request = http.post(url, data=params)
    elif encoding == "multipart":
        form = aiohttp.FormData()
        for name, value in params.items():
            form.add_field(name, value)
        form.add_field("unused_file", b"x", filename="x.bin")
        request = http.post(url, data=form)
    else:
        request = http.get(url, params=params)
    async with request as response:
        body = await response.json()
    assert body["ok"] is True, body
    assert body["result"]["text"] == "Orari"
    assert body["result"]["entities"] == [{"type": "bold", "offset": 0, "length": 5}]
    assert body["result"]["reply_markup"] == {"inline_keyboard": [[{"text": "Ok", "callback_data": "ok"}]]}


# Who the bot may write to -----------------------------------------------------------------------


async def test_bot_cannot_initiate_conversation_or_write_to_unknown_chats(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    with pytest.raises(Forbidden, match="(?i)bot can't initiate conversation with a user"):
        await bot.send_message(USER, "Ciao")
    with pytest.raises(BadRequest, match="(?i)Chat not found"):
        await bot.send_message(4242, "Ciao")
    assert [(r.method, r.error_code) for r in emu.refusals] == [("sendMessage", 403), ("sendMessage", 400)]


async def test_blocked_user_refuses_messages_and_the_bot_is_told(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.block(USER)
    with pytest.raises(Forbidden, match="(?i)bot was blocked by the user"):
        await bot.send_message(USER, "Promemoria")
    (update,) = await bot.get_updates()
    assert update.my_chat_member.new_chat_member.status == "kicked"
    emu.unblock(USER)
    assert (await bot.send_message(USER, "Bentornata")).text == "Bentornata"
    with pytest.raises(RuntimeError, match="blocked the bot"):
        emu.block(USER)
        emu.send_text(USER, "ciao")


async def test_groups_receive_bot_messages_and_user_messages(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    emu.add_group(GROUP, "Custodi")
    sent = await bot.send_message(GROUP, "Nuova segnalazione")
    assert sent.chat.type == "supergroup" and sent.chat.title == "Custodi"
    emu.send_text(USER, "/stato@qc_test_bot", chat_id=GROUP)
    (update,) = await bot.get_updates()
    assert update.message.chat.id == GROUP and update.message.from_user.id == USER
    assert update.message.entities[0].type == "bot_command" and update.message.entities[0].length == 18
    with pytest.raises(LookupError, match="add_group"):
        emu.send_text(USER, "hi", chat_id=-555)


# Text validation --------------------------------------------------------------------------------


async def test_text_limits_count_utf16_units_after_parsing_and_stripping(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    await started_chat(emu, bot)
    for empty in ("", "   \n ", "<b> </b>"):
        with pytest.raises(BadRequest, match="(?i)Message text is empty"):
            await bot.send_message(USER, empty, parse_mode="HTML")
    longest = "<b>" + "😀" * 2048 + "</b>"  # 4096 UTF-16 units once the tags are gone
    assert len((await bot.send_message(USER, longest, parse_mode="HTML")).text) == 2048
    with pytest.raises(BadRequest, match="(?i)Message is too long"):
        await bot.send_message(USER, "😀" * 2048 + "x")
    assert (await bot.send_message(USER, "  " + "a" * 4096 + "\n")).text == "a" * 4096
    assert (await bot.send_message(USER, "&lt;" * 4096, parse_mode="HTML")).text == "<" * 4096
    with pytest.raises(BadRequest, match="(?i)text is too long"):  # the source itself is over 32 KiB
        await bot.send_message(USER, "<b></b>" * 4700 + "x", parse_mode="HTML")


async def test_html_errors_use_telegrams_description(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    with pytest.raises(BadRequest) as raised:
        await bot.send_message(USER, "Ciao <foo>", parse_mode="HTML")
    assert emu.refusals[-1].description == (
        'Bad Request: can\'t parse entities: Unsupported start tag "foo" at byte offset 5'
    )
    assert "unsupported start tag \"foo\"" in raised.value.message
    with pytest.raises(BadRequest, match="(?i)unsupported parse_mode"):
        await bot.send_message(USER, "*bold*", parse_mode="MarkdownV2")
    message = await bot.send_message(USER, "Segnala <guasto>")  # no parse mode: tags are plain text
    assert message.text == "Segnala <guasto>"


async def test_message_records_plain_text_and_html_as_sent(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    await bot.send_message(USER, "<b>Portineria</b> di via Padova", parse_mode="HTML")
    message = await emu.next_bot_message(USER)
    assert (message.text, message.html, message.kind) == (
        "Portineria di via Padova", "<b>Portineria</b> di via Padova", "text"
    )


# Reply markup -----------------------------------------------------------------------------------


async def test_inline_keyboards_are_validated(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    with pytest.raises(BadRequest, match="(?i)Button_data_invalid"):
        await bot.send_message(USER, "x", reply_markup=keyboard(("Troppo", "é" * 33)))
    assert emu.refusals[-1].description == "Bad Request: BUTTON_DATA_INVALID"
    with pytest.raises(BadRequest, match="(?i)Text buttons are unallowed"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("solo testo")]]))
    with pytest.raises(BadRequest, match="(?i)Button_url_invalid"):
        await bot.send_message(USER, "x", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("a", url="ftp:x")]]))
    sent = await bot.send_message(
        USER, "Scegli", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("Sì", callback_data="y" * 64), InlineKeyboardButton("Mappa", url="https://osm.org")]]
        )
    )
    message = emu.last_bot_message(USER)
    assert message is not None and message.message_id == sent.message_id
    assert message.buttons() == [[("Sì", "y" * 64), ("Mappa", "https://osm.org")]]
    assert message.button_texts() == ["Sì", "Mappa"]


async def test_reply_keyboards_belong_to_the_chat(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    markup = ReplyKeyboardMarkup(
        [[KeyboardButton("📍 Invia posizione", request_location=True)], ["Annulla"]],
        resize_keyboard=True, one_time_keyboard=True, is_persistent=False,
    )
    sent = await bot.send_message(USER, "Dove sei?", reply_markup=markup)
    assert sent.reply_markup is None  # Telegram echoes only inline keyboards
    assert emu.last_bot_message(USER).button_texts() == ["📍 Invia posizione", "Annulla"]
    assert emu.reply_keyboard(USER)["one_time_keyboard"] is True
    emu.send_location(USER, 45.48, 9.22)
    assert emu.reply_keyboard(USER) is None  # one-time keyboards hide after use
    await bot.send_message(USER, "Menu", reply_markup=ReplyKeyboardMarkup([["A"]]))
    await bot.send_message(USER, "Fatto", reply_markup=ReplyKeyboardRemove())
    assert emu.reply_keyboard(USER) is None
    await bot.send_message(USER, "Descrivi il guasto", reply_markup=ForceReply(input_field_placeholder="..."))
    with pytest.raises(BadRequest, match="(?i)Keyboard button text must be non-empty"):
        await bot.send_message(USER, "x", reply_markup=ReplyKeyboardMarkup([[""]]))


async def test_reply_to_a_missing_message_is_refused(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    with pytest.raises(BadRequest, match="(?i)Message to be replied not found"):
        await bot.send_message(USER, "x", reply_to_message_id=999)
    reply = await bot.send_message(USER, "Ricevuto", reply_to_message_id=1)
    assert reply.reply_to_message.text == "/start"


# Edits and deletions ----------------------------------------------------------------------------


async def test_edits_follow_telegrams_rules(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    await started_chat(emu, bot, OTHER_USER)
    sent = await bot.send_message(USER, "<b>Prenota</b>", parse_mode="HTML", reply_markup=keyboard(("Lun", "d:1")))
    with pytest.raises(BadRequest) as raised:
        await bot.edit_message_text("<b>Prenota</b>", USER, sent.message_id, parse_mode="HTML",
                                    reply_markup=keyboard(("Lun", "d:1")))
    assert raised.value.message == NOT_MODIFIED
    with pytest.raises(BadRequest, match="(?i)Message to edit not found"):
        await bot.edit_message_text("x", USER, 999)
    with pytest.raises(BadRequest, match="(?i)Message to edit not found"):
        await bot.edit_message_text("x", OTHER_USER, sent.message_id + 5)
    with pytest.raises(BadRequest, match="(?i)Message can't be edited"):
        await bot.edit_message_text("x", USER, 1)  # the user's /start
    with pytest.raises(BadRequest, match="(?i)Message_too_long"):
        await bot.edit_message_text("x" * 4097, USER, sent.message_id)
    with pytest.raises(BadRequest, match="(?i)There is no caption in the message to edit"):
        await bot.edit_message_caption(USER, sent.message_id, caption="c")

    edited = await bot.edit_message_text("<b>Prenota</b>", USER, sent.message_id, parse_mode="HTML")
    assert edited.reply_markup is None  # omitting reply_markup removes the inline keyboard
    message = emu.chat_messages(USER)[-1]
    assert message.edited and message.reply_markup is None and message.text == "Prenota"
    with pytest.raises(BadRequest) as raised:
        await bot.edit_message_reply_markup(USER, sent.message_id)
    assert raised.value.message == NOT_MODIFIED
    await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=keyboard(("Mar", "d:2")))
    assert emu.chat_messages(USER)[-1].buttons() == [[("Mar", "d:2")]]
    with pytest.raises(BadRequest, match="(?i)Inline keyboard expected"):
        await bot.edit_message_reply_markup(USER, sent.message_id, reply_markup=ReplyKeyboardMarkup([["A"]]))


async def test_captions_are_parsed_limited_and_editable(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    with pytest.raises(BadRequest, match="(?i)Message caption is too long"):
        await bot.send_photo(USER, png_bytes(), caption="c" * 1025)
    photo = await bot.send_photo(USER, png_bytes(), caption="<i>" + "c" * 1024 + "</i>", parse_mode="HTML")
    assert len(photo.caption) == 1024
    with pytest.raises(BadRequest, match="(?i)There is no text in the message to edit"):
        await bot.edit_message_text("t", USER, photo.message_id)
    edited = await bot.edit_message_caption(USER, photo.message_id, caption="<b>Nuova</b>", parse_mode="HTML")
    assert edited.caption == "Nuova" and edited.caption_entities[0].type == "bold"


async def test_deleted_messages_stay_in_history_flagged(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    sent = await bot.send_message(USER, "Temporaneo")
    assert await bot.delete_message(USER, sent.message_id) is True
    with pytest.raises(BadRequest, match="(?i)Message to delete not found"):
        await bot.delete_message(USER, sent.message_id)
    assert emu.chat_messages(USER)[-1].deleted
    assert emu.last_bot_message(USER) is None


# Callback queries -------------------------------------------------------------------------------


async def test_button_presses_produce_callback_queries_answerable_once(
    emu: BotApiEmulator, bot: telegram.Bot
) -> None:
    await started_chat(emu, bot)
    sent = await bot.send_message(USER, "Confermi?", reply_markup=keyboard(("Sì", "ok:1"), ("No", "ko:1")))
    with pytest.raises(LookupError, match="no button with callback_data 'forged'"):
        emu.press_button(USER, sent.message_id, "forged")
    query_id = emu.press_button(USER, sent.message_id, "ok:1")
    (update,) = await bot.get_updates()
    query = update.callback_query
    assert (query.id, query.data, query.message.message_id, query.from_user.id) == (
        query_id, "ok:1", sent.message_id, USER
    )
    assert query.message.reply_markup.inline_keyboard[0][0].callback_data == "ok:1"
    assert emu.unanswered_callback_queries == {query_id}
    with pytest.raises(BadRequest, match="(?i)Message_too_long"):
        await query.answer("x" * 201)
    assert await query.answer("Prenotato", show_alert=True) is True
    assert emu.callback_answers[query_id] == {"text": "Prenotato", "show_alert": True, "url": None, "cache_time": 0}
    with pytest.raises(BadRequest, match="(?i)Query is too old"):
        await query.answer()
    forged = emu.press_button(USER, sent.message_id, "forged", force=True)
    assert emu.unanswered_callback_queries == {forged}


# Long polling -----------------------------------------------------------------------------------


async def test_long_poll_waits_for_updates_and_offsets_confirm_them(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await until(lambda: emu.state.update_queue.has_waiting_poll)
    first = emu.send_text(USER, "ciao")
    (update,) = await poll
    assert update.update_id == first["update_id"] and update.message.text == "ciao"
    second = emu.send_text(USER, "ancora")
    assert [u.update_id for u in await bot.get_updates()] == [first["update_id"], second["update_id"]]
    assert [u.update_id for u in await bot.get_updates(offset=second["update_id"])] == [second["update_id"]]
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()
    for text in ("a", "b", "c"):
        emu.send_text(USER, text)
    assert [u.message.text for u in await bot.get_updates(offset=-2)] == ["b", "c"]
    assert [u.message.text for u in await bot.get_updates(limit=1)] == ["b"]


async def test_a_newer_get_updates_ends_the_waiting_one_with_conflict(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await until(lambda: emu.state.update_queue.has_waiting_poll)
    async with telegram.Bot(emu.token, base_url=emu.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates request"):
        await first


async def test_allowed_updates_filter_later_updates(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    emu.send_text(USER, "ignorato")
    assert await bot.get_updates() == ()
    await bot.get_updates(allowed_updates=[])
    emu.send_text(USER, "ricevuto")
    assert [u.message.text for u in await bot.get_updates()] == ["ricevuto"]


# Webhook ----------------------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny bot-side webhook server that records deliveries and can fail the first ones."""

    def __init__(self, failures: int = 0) -> None:
        self.failures = failures
        self.received: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            return web.Response(status=500)
        self.secrets.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        self.received.append(await request.json())
        return web.Response()

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_webhook_delivers_in_order_with_secret_and_retries(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    queued_before = emu.send_text(USER, "prima del webhook")
    async with WebhookReceiver(failures=2) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret_token")
        with pytest.raises(Conflict, match="(?i)can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        sent = [emu.send_text(USER, f"messaggio {n}") for n in range(5)]
        sent.append(emu.send_text(OTHER_USER, "altro utente"))
        await until(lambda: len(receiver.received) == 7)
        assert [u["update_id"] for u in receiver.received if u["message"]["chat"]["id"] == USER] == [
            queued_before["update_id"], *(u["update_id"] for u in sent[:5])
        ]
        assert set(receiver.secrets) == {"s3cret_token"}
        assert all(Update.de_json(update, bot).message for update in receiver.received)
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert await bot.delete_webhook()
    emu.send_text(USER, "di nuovo in coda")
    assert [u.message.text for u in await bot.get_updates()] == ["di nuovo in coda"]


async def test_undelivered_webhook_updates_return_to_the_queue(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    async with WebhookReceiver(failures=10**6) as receiver:
        await bot.set_webhook(receiver.url)
        emu.send_text(USER, "non consegnato")
        await until(lambda: receiver.failures < 10**6)
        await bot.delete_webhook()
    assert [u.message.text for u in await bot.get_updates()] == ["non consegnato"]


async def test_webhook_must_be_loopback(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)loopback"):
        await bot.set_webhook("https://example.org/hook")


# Faults -----------------------------------------------------------------------------------------


async def test_injected_faults(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.inject_fault("sendMessage", 429, retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "x")
        assert caught.value.retry_after in (7, timedelta(seconds=7))  # int, or timedelta once PTB_TIMEDELTA is on
    assert emu.refusals[-1].injected and emu.refusals[-1].description == "Too Many Requests: retry after 7"
    assert (await bot.send_message(USER, "passa")).text == "passa"
    emu.inject_fault(None, 502)
    with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
        await bot.get_me()
    emu.inject_fault("sendmessage", drop_connection=True)
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "perso")
    assert emu.last_bot_message(USER).text == "passa"  # a dropped call does nothing
    with pytest.raises(ValueError, match="not one of"):
        emu.inject_fault("sendMessage", 418)


async def test_delayed_answer_times_out_but_the_message_was_sent(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.inject_fault("sendMessage", delay=0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "in ritardo", read_timeout=0.05)
    assert emu.last_bot_message(USER).text == "in ritardo"


async def test_fault_rate_is_reproducible(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    async def outcomes() -> list[str]:
        emu.fault_rate("getMe", rate=0.5, statuses=(429, 500), seed=7)
        results = []
        for _ in range(20):
            try:
                await bot.get_me()
                results.append("ok")
            except RetryAfter:
                results.append("429")
            except NetworkError:
                results.append("500")
        return results

    first, second = await outcomes(), await outcomes()
    assert first == second and {"ok", "429", "500"} == set(first)
    emu.fault_rate(rate=0)
    assert await bot.get_me()


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
