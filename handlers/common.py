"""Rules several features share: whose language a message is written in, how a screen becomes the parameters of a
message the outbox sends later, how a page number is kept within the pages there are, and the name of a space;
the answer to a button with its screen, and the question for a location."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot.i18n import SOURCE_LANGUAGE, Translator, pick_language, translator
from bot.runtime import FrontDeskContext, Runtime
from bot.ui import Screen, location_keyboard, show
from storage.content import Content
from storage.models import User


def language_of(user: User | None) -> str:
    return pick_language(user.language, user.telegram_language) if user is not None else SOURCE_LANGUAGE


def translator_for(rt: Runtime, language: str) -> Translator:
    return translator(language, rt.settings.timezone.key)


async def chat_translator(session: AsyncSession, rt: Runtime, chat_id: int) -> Translator:
    """The language the person behind a chat uses now, for a message someone else's action sends them; a group
    chat (negative id) reads the source language."""
    language = language_of(await session.get(User, chat_id)) if chat_id > 0 else SOURCE_LANGUAGE
    return translator_for(rt, language)


def screen_params(screen: Screen) -> dict:
    """A screen as Bot API parameters for the outbox: the text in HTML and its buttons, if any."""
    params: dict = {"text": screen.text, "parse_mode": "HTML"}
    if screen.keyboard is not None:
        params["reply_markup"] = screen.keyboard.to_dict()
    return params


def message_params(screen: Screen) -> dict:
    """A screen as a new message for the outbox, without link previews."""
    return {**screen_params(screen), "link_preview_options": {"is_disabled": True}}


def paging(page: int, total: int, per_page: int) -> tuple[int, int]:
    """The page a button asks for, kept within the pages there are now (the list may have shrunk since), and how
    many pages there are: always at least one, so an empty list still has a page to show."""
    pages = max(1, math.ceil(total / per_page))
    return min(max(page, 0), pages - 1), pages


def space_name(tr: Translator, content: Content, space_id: str) -> str:
    space = content.spaces.get(space_id)
    return space.name.get(tr.language) if space is not None else space_id


Waiting = TypeVar("Waiting")


async def waiting_for(update: Update, context: FrontDeskContext,
                      read: Callable[[AsyncSession, int, datetime], Awaitable[Waiting | None]]) -> Waiting | None:
    """What a feature waits for the writer to type or send (a draft, a prompt: `read(session, user_id, now)`), read
    on a reader's connection: a text consumer that finds nothing lets the next one look."""
    rt = context.rt
    async with rt.db.read() as session:
        return await read(session, update.effective_user.id, rt.clock.now())
async def reply(update: Update, screen: Screen, note: str | None = None) -> None:
    """Answer the button (with the note, if any) and show the screen; after a typed message the note goes above it."""
    if update.callback_query is not None:
        await update.callback_query.answer(note)
    elif note:
        screen.text = f"{note}\n\n{screen.text}"
    await show(update, screen)


async def ask_for_location(update: Update, tr: Translator, chat_id: int, text: str) -> None:
    """Telegram asks for a location only from a reply-keyboard button: answer the tap and offer that button."""
    await update.callback_query.answer()
    await update.get_bot().send_message(chat_id, text, reply_markup=location_keyboard(tr))
