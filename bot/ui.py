"""Screens and the Bot API limits they must respect, in one place."""

from __future__ import annotations

import html
import logging
import re
from dataclasses import dataclass, field

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.error import BadRequest

from bot import callbacks
from bot.callbacks import Action
from bot.i18n import Translator

log = logging.getLogger(__name__)

MAX_TEXT = 4096
MAX_CAPTION = 1024
MAX_CALLBACK_ANSWER = 200
# Editors' long texts are clipped before they are escaped, so a screen always fits one message.
MAX_FIELD = 1500


@dataclass
class Screen:
    text: str  # HTML
    rows: list[list[InlineKeyboardButton]] = field(default_factory=list)

    @property
    def keyboard(self) -> InlineKeyboardMarkup | None:
        return InlineKeyboardMarkup(self.rows) if self.rows else None


def button(text: str, action: Action, *args: object) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, callback_data=callbacks.encode(action, *args))


def url_button(text: str, url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text, url=url)


def menu_row(tr: Translator) -> list[InlineKeyboardButton]:
    return [button(tr._("🏠 Menu principale"), callbacks.MENU)]


def back_row(tr: Translator, action: Action, *args: object) -> list[InlineKeyboardButton]:
    return [button(tr._("⬅️ Indietro"), action, *args), button(tr._("🏠 Menu"), callbacks.MENU)]


def pager_row(tr: Translator, action: Action, page: int, pages: int, *prefix_args: object) -> list[InlineKeyboardButton]:
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


def _same_content(message: Message, screen: Screen) -> bool:
    # Compare what the person sees; PTB's text_html escapes differently from us, so HTML strings can differ.
    return message.text == plain_text(screen.text) and message.reply_markup == screen.keyboard


async def show(update: Update, screen: Screen) -> None:
    """Edit the message a button belongs to, or send a new one; never an edit that changes nothing."""
    query = update.callback_query
    if query is not None and isinstance(query.message, Message) and query.message.text is not None:
        if _same_content(query.message, screen):
            return
        try:
            await query.message.edit_text(screen.text, reply_markup=screen.keyboard)
            return
        except BadRequest as exc:
            if "not modified" in str(exc).lower():
                return
            log.info("could not edit message, sending a new one: %s", exc)
    chat = update.effective_chat
    if chat is not None:
        await update.get_bot().send_message(chat.id, screen.text, reply_markup=screen.keyboard)
