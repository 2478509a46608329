"""The bot without Telegram: a strict in-process Telegram Bot API emulator (for the end-to-end tests and the
benchmarks) and, built on it, the sandbox (`bot.emulator.sandbox`: `qcbot sandbox`, what `make run` starts
without a token, so this package ships). The runtime (`qcbot run`) imports nothing from here.

The names below load their modules on first use (PEP 562): every `qcbot` command, `qcbot run` too, registers
`qcbot sandbox` in the command line, and that must not load the emulator.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bot.emulator.html_check import EntityParseError, FormattedText, html_error, parse_html, utf16_length
    from bot.emulator.models import ApiError, EmuGroup, EmuMessage, EmuUser, Refusal, StoredFile
    from bot.emulator.server import DEFAULT_TOKEN, BotApiEmulator

_MODULE_OF = {
    "DEFAULT_TOKEN": "server",
    "BotApiEmulator": "server",
    "ApiError": "models",
    "EmuGroup": "models",
    "EmuMessage": "models",
    "EmuUser": "models",
    "Refusal": "models",
    "StoredFile": "models",
    "EntityParseError": "html_check",
    "FormattedText": "html_check",
    "html_error": "html_check",
    "parse_html": "html_check",
    "utf16_length": "html_check",
}
__all__ = sorted(_MODULE_OF)


def __getattr__(name: str) -> Any:
    if name not in _MODULE_OF:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"bot.emulator.{_MODULE_OF[name]}"), name)
