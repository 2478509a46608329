"""Every refused action is told here, the same way: a forged, stale or foreign button gets a short answer on the
button and changes nothing (the screen is shown again only when the caller has one); a message gets the screen,
or the words with the menu. The words come from each conversation's table of reasons (storage/domain/refusals.py)."""

from __future__ import annotations

import logging

from telegram import Update

from bot.runtime import Visitor
from bot.ui import Screen, clip, menu_row, show

log = logging.getLogger(__name__)

ANSWER_LIMIT = 200  # Telegram's limit for a callback answer


async def refuse(update: Update, v: Visitor, text: str, *, alert: bool = False, screen: Screen | None = None) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(clip(text, ANSWER_LIMIT), show_alert=alert)
        if screen is not None:
            await show(update, screen)
        return
    await show(update, screen or Screen(text, [menu_row(v.tr)]))
