"""The Bot API emulator's messages, exercised through python-telegram-bot itself and through raw HTTP: identity,
routing and request formats, who the bot may write to, text validation, reply markup, edits, deletions and
callback queries."""

from __future__ import annotations

import json

import aiohttp
import pytest
import telegram
from telegram import (
    ForceReply,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
)
from telegram.error import BadRequest, Forbidden, InvalidToken

from bot.emulator import BotApiEmulator
from tests.unit.emulator.support import GROUP, NOT_MODIFIED, OTHER_USER, USER, keyboard, png_bytes, started_chat

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


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


