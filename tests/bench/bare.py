"""Bare reference bots for the benchmark: the least work a PTB bot can do per update.

They measure what the framework and the HTTP backend cost on their own, so the real bot's
numbers can be compared against them. Both variants are identical except for the request
backend: PTB's default httpx one or :class:`bot.telegram_http.AiohttpRequest`.
"""

from typing import Literal

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram_http import AiohttpRequest

# PTB's own defaults: a large pool for bot calls, one connection for the long poll.
_BOT_POOL_SIZE = 256
_GET_UPDATES_POOL_SIZE = 1

_KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("A", callback_data="a"), InlineKeyboardButton("B", callback_data="b")]]
)
_REPLY_TEXT = "Pick one"
# Telegram rejects an edit that leaves the message unchanged, so edits alternate.
_EDIT_TEXTS = ("Tick", "Tock")


async def _reply_with_buttons(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    if update.effective_message is not None:
        await update.effective_message.reply_text(_REPLY_TEXT, reply_markup=_KEYBOARD)


async def _answer_and_edit(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    if query is None:
        return
    await query.answer()
    current_text = query.message.text if isinstance(query.message, Message) else None
    next_text = _EDIT_TEXTS[1] if current_text == _EDIT_TEXTS[0] else _EDIT_TEXTS[0]
    await query.edit_message_text(next_text, reply_markup=_KEYBOARD)


def _build_requests(backend: Literal["httpx", "aiohttp"]) -> tuple[BaseRequest, BaseRequest]:
    """Returns (request for bot calls, request for getUpdates)."""
    if backend == "aiohttp":
        return (
            AiohttpRequest(connection_pool_size=_BOT_POOL_SIZE),
            AiohttpRequest(connection_pool_size=_GET_UPDATES_POOL_SIZE),
        )
    if backend == "httpx":
        return (
            HTTPXRequest(connection_pool_size=_BOT_POOL_SIZE),
            HTTPXRequest(connection_pool_size=_GET_UPDATES_POOL_SIZE),
        )
    raise ValueError(f"Unknown HTTP backend {backend!r}: use 'httpx' or 'aiohttp'.")


def build_bare_app(
    base_url: str,
    base_file_url: str,
    token: str,
    backend: Literal["httpx", "aiohttp"],
    *,
    concurrent_updates: bool | int = True,
) -> Application:
    """Builds a bot that answers any text message with two inline buttons and any button
    press by answering the query and editing the message (same buttons, new text).

    ``base_url``/``base_file_url`` are PTB's (e.g. ``http://127.0.0.1:8081/bot``); updates
    are handled concurrently by default, like a bot serving many users at once.
    """
    bot_request, get_updates_request = _build_requests(backend)
    app = (
        ApplicationBuilder()
        .token(token)
        .base_url(base_url)
        .base_file_url(base_file_url)
        .request(bot_request)
        .get_updates_request(get_updates_request)
        .concurrent_updates(concurrent_updates)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, _reply_with_buttons))
    app.add_handler(CallbackQueryHandler(_answer_and_edit))
    return app
