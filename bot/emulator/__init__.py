"""A strict in-process Telegram Bot API emulator for end-to-end tests, the sandbox and benchmarks."""

from bot.emulator.html_check import EntityParseError, FormattedText, html_error, parse_html, utf16_length
from bot.emulator.models import ApiError, EmuGroup, EmuMessage, EmuUser, Refusal, StoredFile
from bot.emulator.server import DEFAULT_TOKEN, BotApiEmulator

__all__ = [
    "DEFAULT_TOKEN",
    "ApiError",
    "BotApiEmulator",
    "EmuGroup",
    "EmuMessage",
    "EmuUser",
    "EntityParseError",
    "FormattedText",
    "Refusal",
    "StoredFile",
    "html_error",
    "parse_html",
    "utf16_length",
]
