"""Screens and the Bot API limits they must respect, in one place."""

from __future__ import annotations

import html
import logging
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime, timezone
from types import MappingProxyType
from typing import NamedTuple

from telegram import (Bot, CallbackQuery, Chat, InlineKeyboardButton, InlineKeyboardMarkup, KeyboardButton, Message,
                      ReplyKeyboardMarkup, Update, User)
from telegram._utils.argumentparsing import de_json_optional
from telegram._utils.datetime import extract_tzinfo_from_defaults, from_timestamp
from telegram.error import BadRequest, TimedOut
from telegram.warnings import PTBUserWarning

from bot import callbacks
from bot.callbacks import Action
from bot.i18n import Translator

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
# Editors' long texts are clipped before they are escaped, so a screen always fits one message.
MAX_FIELD = 1500
# show() makes raw Bot API calls (see there); PTB's hint to use the typed method instead does not apply.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
# Every screen is HTML and never shows a link preview (the same as the bot's Defaults in bot/app.py).
SCREEN_PARAMS = {"parse_mode": "HTML", "link_preview_options": {"is_disabled": True}}


class Button(NamedTuple):
    """An inline keyboard button: a plain tuple. PTB's InlineKeyboardButton is a frozen TelegramObject whose
    construction, and serialisation back to a dict for every reply, cost ~10 % of a reply's CPU; `keyboard`
    still gives PTB's objects to the few places that call PTB's typed methods."""

    text: str
    callback_data: str | None = None
    url: str | None = None

    def to_dict(self) -> dict:
        """The Bot API's InlineKeyboardButton."""
        if self.callback_data is not None:
            return {"text": self.text, "callback_data": self.callback_data}
        return {"text": self.text, "url": self.url}


@dataclass
class Screen:
    text: str  # HTML
    rows: list[list[Button]] = field(default_factory=list)

    @property
    def keyboard(self) -> InlineKeyboardMarkup | None:
        """The buttons as PTB objects, for PTB's typed methods (send_message, send_photo...)."""
        if not self.rows:
            return None
        return InlineKeyboardMarkup(
            [[InlineKeyboardButton(b.text, callback_data=b.callback_data, url=b.url) for b in row] for row in self.rows]
        )


def button(text: str, action: Action, *args: object) -> Button:
    return Button(text, callbacks.encode(action, *args))


def url_button(text: str, url: str) -> Button:
    return Button(text, url=url)


def menu_row(tr: Translator) -> list[Button]:
    return [button(tr._("🏠 Menu principale"), callbacks.MENU)]


def back_row(tr: Translator, action: Action, *args: object) -> list[Button]:
    return [button(tr._("⬅️ Indietro"), action, *args), button(tr._("🏠 Menu"), callbacks.MENU)]


def pager_row(tr: Translator, action: Action, page: int, pages: int, *prefix_args: object) -> list[Button]:
    row = []
    if page > 0:
        row.append(button(tr._("◀️ Precedenti"), action, *prefix_args, page - 1))
    if page < pages - 1:
        row.append(button(tr._("Successivi ▶️"), action, *prefix_args, page + 1))
    return row


def clip(text: str, limit: int = MAX_FIELD) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


TAG = re.compile(r"<[^>]+>")


def plain_text(text_html: str) -> str:
    """The text Telegram shows for our HTML: tags dropped, entities decoded, outer white space stripped."""
    return html.unescape(TAG.sub("", text_html)).strip()


def keyboard_dict(rows: list[list[Button]]) -> dict:
    """The Bot API's reply_markup for an inline keyboard."""
    return {"inline_keyboard": [[button.to_dict() for button in row] for row in rows]}


# Where slim_pressed_message puts what it keeps unparsed; PTB leaves unknown fields in `api_kwargs` as they came.
UNPARSED = "qc_unparsed"


def slim_pressed_message(update: dict) -> dict:
    """Before PTB parses an update: the keyboard and formatting of the message a button belongs to are set aside
    as plain JSON. PTB would build a frozen object for every button and entity of it (~8 % of a press's CPU, more
    than the handler), and only show()'s "nothing changed" check reads them, as JSON is enough."""
    query = update.get("callback_query") if isinstance(update, dict) else None
    message = query.get("message") if isinstance(query, dict) else None
    if isinstance(message, dict):
        unparsed = {key: message.pop(key) for key in ("reply_markup", "entities") if key in message}
        if unparsed:
            message[UNPARSED] = unparsed
    return update


# A press under one of the bot's own text screens, as slim_pressed_message leaves it: these keys only.
_PLAIN_PRESS, _PRESS_NEEDS = frozenset({"id", "from", "message", "chat_instance", "data"}), {"id", "from", "chat_instance"}
_PLAIN_PRESSED_MESSAGE = frozenset({"message_id", "from", "chat", "date", "edit_date", "text", UNPARSED})
_PRESSED_MESSAGE_NEEDS = {"message_id", "chat", "date"}


def _blank_message_attributes() -> tuple[tuple[str, object], ...]:
    """Each of a Message's ~120 attributes (PTB's objects are slotted) with the value PTB's constructor gives a
    message that has none of them: immutable values (None, empty tuples, PTB's sentinels), safe to share."""
    blank = Message(message_id=0, date=datetime.fromtimestamp(0, timezone.utc), chat=Chat(0, Chat.PRIVATE))
    slots = dict.fromkeys(slot for cls in Message.__mro__[:-1] for slot in getattr(cls, "__slots__", ()))
    return tuple((slot, getattr(blank, slot)) for slot in slots)


_BLANK_MESSAGE = _blank_message_attributes()
_set_attribute = object.__setattr__


def _pressed_message(bot: Bot | None, **fields: object) -> Message:
    """Message(**fields) with its bot set, frozen as PTB leaves it: its constructor passes each of ~120 attributes
    through TelegramObject.__setattr__ (60-85 µs a press); set here directly (~20 µs). tests/unit/test_ui.py holds
    every attribute to what PTB builds."""
    pressed = Message.__new__(Message)
    for slot, value in _BLANK_MESSAGE:
        _set_attribute(pressed, slot, value)
    for name, value in fields.items():
        _set_attribute(pressed, name, value)
    _set_attribute(pressed, "_id_attrs", (fields["message_id"], fields["chat"]))
    _set_attribute(pressed, "_bot", bot)
    return pressed


def parse_update(update: dict, bot: Bot | None) -> Update:
    """PTB's Update.de_json, built directly for the commonest update (a press under a text screen of the bot's,
    slimmed): Message.de_json looks up and parses every one of its ~100 possible fields and fails once on the
    field set aside (PTB retries it as api_kwargs), ~40 % of parsing a press, which was ~11 % of handling one.
    Anything else goes to PTB; tests/unit/test_ui.py compares the two."""
    query = update.get("callback_query")
    message = query.get("message") if isinstance(query, dict) else None
    if (len(update) != 2 or not isinstance(message, dict) or not _PRESS_NEEDS <= query.keys() <= _PLAIN_PRESS
            or not _PRESSED_MESSAGE_NEEDS <= message.keys() <= _PLAIN_PRESSED_MESSAGE or not message["date"]):
        return Update.de_json(update, bot)
    tzinfo = extract_tzinfo_from_defaults(bot)
    unparsed = message.get(UNPARSED)
    pressed = _pressed_message(
        bot, message_id=message["message_id"], date=from_timestamp(message["date"], tzinfo=tzinfo),
        chat=Chat.de_json(message["chat"], bot), from_user=de_json_optional(message.get("from"), User, bot),
        edit_date=from_timestamp(message.get("edit_date"), tzinfo=tzinfo), text=message.get("text"),
        api_kwargs=MappingProxyType({UNPARSED: unparsed} if unparsed is not None else {}),
    )
    press = CallbackQuery(id=query["id"], from_user=User.de_json(query["from"], bot), chat_instance=query["chat_instance"],
                          message=pressed, data=query.get("data"))
    press.set_bot(bot)
    parsed = Update(update_id=update["update_id"], callback_query=press)
    parsed.set_bot(bot)
    return parsed


def _shown_keyboard(message: Message) -> list[list[dict]]:
    unparsed = message.api_kwargs.get(UNPARSED)
    if unparsed is not None:
        return unparsed.get("reply_markup", {}).get("inline_keyboard", [])
    # An update that did not come through slim_pressed_message (tests building PTB objects).
    return message.reply_markup.to_dict()["inline_keyboard"] if message.reply_markup is not None else []


def _same_content(message: Message, screen: Screen) -> bool:
    # Compare what the person sees; PTB's text_html escapes differently from us, so HTML strings can differ.
    if message.text != plain_text(screen.text):
        return False
    shown = _shown_keyboard(message)
    if len(shown) != len(screen.rows):
        return False
    return all(
        len(shown_row) == len(row) and all(b == mine.to_dict() for b, mine in zip(shown_row, row))
        for shown_row, row in zip(shown, screen.rows)
    )


def _screen_params(screen: Screen) -> dict:
    params = {"text": screen.text, **SCREEN_PARAMS}
    if screen.rows:
        params["reply_markup"] = keyboard_dict(screen.rows)
    return params


async def show(update: Update, screen: Screen) -> None:
    """Edit the message a button belongs to, or send a new one; never an edit that changes nothing.

    Raw Bot API calls: PTB's typed methods would build a Message from every answer Telegram sends back, which
    nobody reads here, and serialise the keyboard through TelegramObject.to_dict; together those were a large
    share of a reply's CPU."""
    query = update.callback_query
    bot = update.get_bot()
    if query is not None and isinstance(query.message, Message) and query.message.text is not None:
        if _same_content(query.message, screen):
            return
        try:
            await bot.do_api_request(
                "editMessageText",
                api_kwargs={"chat_id": query.message.chat_id, "message_id": query.message.message_id, **_screen_params(screen)},
            )
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit message, sending a new one: %s", exc)
    chat = update.effective_chat
    if chat is not None:
        try:
            await bot.do_api_request("sendMessage", api_kwargs={"chat_id": chat.id, **_screen_params(screen)})
        except TimedOut:
            # Telegram's answer came late: the message has most likely arrived, and sending it again would show it
            # twice (Telegram cannot deduplicate). Not an error to apologise for.
            log.warning("no answer in time to a screen sent to chat %s", chat.id)


def location_keyboard(tr: Translator) -> ReplyKeyboardMarkup:
    """Telegram asks for a location only from a reply-keyboard button: "send my location", or cancel."""
    return ReplyKeyboardMarkup(
        [[KeyboardButton(tr._("📍 Invia la mia posizione"), request_location=True)], [KeyboardButton(tr._("Annulla"))]],
        resize_keyboard=True, one_time_keyboard=True,
    )
