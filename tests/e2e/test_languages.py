"""Every tenant is served in their own language: the main screens in all ten, nothing Telegram would refuse,
no screen left in Italian where the source was translated, Arabic screens in Arabic script."""

from __future__ import annotations

import re

import pytest

from bot.i18n import LANGUAGES

ARABIC = re.compile(r"[\u0600-\u06FF]")
TELEGRAM_CODES = {"it": "it", "en": "en-US", "ar": "ar", "es": "es-419", "zh": "zh-hans", "tl": "tl", "si": "si",
                  "ro": "ro", "uk": "uk", "sq": "sq"}


async def walk_main_screens(bot, language: str) -> list[str]:  # type: ignore[no-untyped-def]
    """The tenant's path through the main screens, by button position (labels differ per language)."""
    tenant = bot.person(f"Tenant-{language}", TELEGRAM_CODES[language])
    screens = []
    await tenant.send("/start")
    screens.append(tenant.screen.text)
    await tenant.press(tenant.screen.message_id, tenant.screen.buttons()[0][0][1])  # accept the notice
    screens.append(tenant.screen.text)
    await tenant.press(tenant.screen.message_id, tenant.screen.buttons()[0][0][1])  # spaces and services
    screens.append(tenant.screen.text)
    await tenant.press(tenant.screen.message_id, tenant.screen.buttons()[0][0][1])  # the first space
    screens.append(tenant.screen.text)
    await tenant.press(tenant.screen.message_id, tenant.screen.buttons()[0][0][1])  # its first service
    screens.append(tenant.screen.text)
    await tenant.send("/help")
    screens.append(tenant.screen.text)
    await tenant.send("riparazione")
    screens.append(tenant.screen.text)
    return screens


@pytest.mark.parametrize("language", [code for code in LANGUAGES if code != "it"])
async def test_main_screens_are_in_the_tenants_language(bot, language):
    italian = await walk_main_screens(bot, "it")
    translated = await walk_main_screens(bot, language)
    for index, (source, text) in enumerate(zip(italian, translated, strict=True)):
        assert text != source, f"{language}: screen {index} is still Italian: {text[:100]!r}"
        if language == "ar":
            assert ARABIC.search(text), f"ar: screen {index} has no Arabic script: {text[:100]!r}"
