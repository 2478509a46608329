"""Every refused action is told here, the same way: a forged, stale or foreign button gets a short answer on the
button and changes nothing (the screen is shown again only when the caller has one); a message gets the screen,
or the words with the menu. The words come from each conversation's table of reasons (storage/domain/refusals.py)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from telegram import Update

from bot.runtime import FrontDeskContext, Visitor
from bot.ui import Screen, clip, menu_row, show

log = logging.getLogger(__name__)

ANSWER_LIMIT = 200  # Telegram's limit for a callback answer

Handler = Callable[..., Awaitable[None]]  # (update, context, …what the handler is about)
E = TypeVar("E", bound=Exception)


async def refuse(update: Update, v: Visitor, text: str, *, alert: bool = False, screen: Screen | None = None) -> None:
    query = update.callback_query
    if query is not None:
        await query.answer(clip(text, ANSWER_LIMIT), show_alert=alert)
        if screen is not None:
            await show(update, screen)
        return
    await show(update, screen or Screen(text, [menu_row(v.tr)]))


def answered(refusal: type[E], answer: Callable[[Update, FrontDeskContext, E], Awaitable[None]]) -> Callable[[Handler], Handler]:
    """For a button's handler: the domain's `refusal`, wherever in the handler it is raised (its transaction then
    rolls back), is told by `answer` instead of ending the update, so the handler reads as the way things go."""

    def wrap(handler: Handler) -> Handler:
        @functools.wraps(handler)
        async def guarded(update: Update, context: FrontDeskContext, *more: Any) -> None:
            try:
                await handler(update, context, *more)
            except refusal as error:
                await answer(update, context, error)

        return guarded

    return wrap
