"""The sandbox in-process on a free port, and Debian's Chromium driven by Playwright (never a downloaded browser)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

import pytest

from bot.clock import Clock
from bot.emulator.sandbox.server import Sandbox
from tests.conftest import ROOT, SAMPLE_CONTENT

if TYPE_CHECKING:
    from playwright.async_api import Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
ARTIFACTS = ROOT / "test-artifacts" / "sandbox"
# A Monday morning in Milan: the spaces are open and the bookable services have free slots in the coming days.
MONDAY_MORNING = datetime(2027, 3, 1, 8, 0, tzinfo=ZoneInfo("Europe/Rome"))


@pytest.fixture
def content_dir() -> Path:
    """The content the sandbox runs on; override in a test module (e.g. a copy to break)."""
    return SAMPLE_CONTENT


@pytest.fixture
async def sandbox(tmp_path: Path, content_dir: Path) -> AsyncIterator[Sandbox]:
    clock = Clock()
    clock.set(MONDAY_MORNING)
    running = Sandbox(tmp_path / "data", content_dir, port=0, clock=clock)
    await running.start()
    try:
        yield running
        refused = [refusal for refusal in running.emulator.refusals if not refusal.injected]
        assert not refused, f"the bot sent what Telegram refuses: {refused}"
    finally:
        await running.stop()


@pytest.fixture
def chromium() -> Path:
    if not CHROMIUM.exists():
        pytest.skip("Chromium not installed: apt-get install chromium")
    return CHROMIUM


@asynccontextmanager
async def watched_page(chromium: Path, **context_options: Any) -> AsyncIterator[Page]:
    """A page in a fresh Chromium context (`context_options`: viewport, locale...); the test fails if the page's
    script throws."""
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    script_errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = await (await browser.new_context(**context_options)).new_page()
            page.set_default_timeout(10_000)
            page.on("pageerror", lambda error: script_errors.append(str(error)))
            yield page
        finally:
            await browser.close()
    assert not script_errors, f"the page's script failed: {script_errors}"


@pytest.fixture
async def browser_page(chromium: Path, sandbox: Sandbox) -> AsyncIterator[Page]:
    """A page on the sandbox; the test fails if the page's script throws."""
    async with watched_page(chromium, viewport={"width": 1400, "height": 900}, locale="it-IT") as page:
        yield page
