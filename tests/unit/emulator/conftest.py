"""The emulator with two users, a python-telegram-bot client on it, and a plain HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
import telegram

from bot.emulator import BotApiEmulator
from tests.unit.emulator.support import OTHER_USER, USER


@pytest.fixture
async def emu() -> AsyncIterator[BotApiEmulator]:
    emulator = BotApiEmulator()
    await emulator.start()
    emulator.add_user(USER, "Amal", "ar")
    emulator.add_user(OTHER_USER, "Giuseppe", "it")
    yield emulator
    await emulator.stop()


@pytest.fixture
async def bot(emu: BotApiEmulator) -> AsyncIterator[telegram.Bot]:
    client = telegram.Bot(emu.token, base_url=emu.base_url, base_file_url=emu.base_file_url)
    async with client:
        yield client


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session
