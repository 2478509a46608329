"""What the emulator's tests share: the people in its chats and small helpers (the fixtures are in conftest.py)."""

from __future__ import annotations

import asyncio
import io
from typing import Any

import telegram
from PIL import Image
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.emulator import BotApiEmulator

USER = 1001
OTHER_USER = 1002
GROUP = -100123
NOT_MODIFIED = (
    "Message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)



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
