from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.emulator import BotApiEmulator
from tests.conftest import SAMPLE_CONTENT
from tests.e2e.harness import TOKEN, RunningBot, copy_of_sample_content, serving


@pytest.fixture
async def emulator() -> AsyncIterator[BotApiEmulator]:
    emu = BotApiEmulator(token=TOKEN, bot_username="qc_test_bot")
    await emu.start(host="127.0.0.1", port=0)
    yield emu
    await emu.stop()


@pytest.fixture
def content_dir(request, tmp_path) -> Path:  # type: ignore[no-untyped-def]
    """The sample content; a copy for the tests marked `edits_content` (an editor changing a file while the bot runs)."""
    if request.node.get_closest_marker("edits_content"):
        return copy_of_sample_content(tmp_path)
    return SAMPLE_CONTENT


@pytest.fixture
def bot_env() -> dict[str, str]:
    """Extra QC_* settings for the bot under test; override in a test module."""
    return {}


@pytest.fixture
async def bot(emulator, sqlite_url, tmp_path, clock, content_dir, bot_env) -> AsyncIterator[RunningBot]:  # type: ignore[no-untyped-def]
    async with serving(emulator, sqlite_url, tmp_path, content_dir, clock, bot_env) as running:
        yield running
