"""End-to-end harness: the real Application, over HTTP, against the strict Bot API emulator.

Tests read like a tenant's story: `amal = bot.person("Amal", "ar")`, `await amal.send("/start")`,
`await amal.tap("Spazi e servizi")`, then look at `amal.screen` (the bot's latest message as the person sees it).
`await bot.tenant("Amal", "ar")` is a person past the privacy notice; `await amal.tap_action(callbacks.BOOK)` taps
a button by its data, whatever the language; `await bot.deliver()` empties the outbox of what is due.
"""

from __future__ import annotations

import asyncio
import itertools
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import func, select
from telegram import Update

from bot import callbacks
from bot.clock import Clock
from bot.config import load_settings
from bot.emulator import BotApiEmulator
from bot.runners import BotService
from storage.domain import users
from storage.models import OutboxMessage
from tests.conftest import SAMPLE_CONTENT

TOKEN = "123456:TEST-token-for-the-emulator"
_user_ids = itertools.count(5001)


def copy_of_sample_content(tmp_path: Path) -> Path:
    """The sample content copied for a test that edits it (what an editor does while the bot runs)."""
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, folder)
    return folder


def settings_for(emu: BotApiEmulator, database_url: str, data_dir: Path, content_dir: Path, **env: str):  # type: ignore[no-untyped-def]
    return load_settings(
        {
            "QC_TELEGRAM_TOKEN": TOKEN,
            "QC_TELEGRAM_API_URL": emu.base_url,
            "QC_TELEGRAM_FILE_URL": emu.base_file_url,
            "QC_DATABASE_URL": database_url,
            "QC_DATA_DIR": str(data_dir),
            "QC_CONTENT_DIR": str(content_dir),
            # Stories tap at machine speed, far above a person's burst limit; the flood story sets its own.
            "QC_BURST_UPDATES": "100000",
            **env,
        }
    )


@dataclass
class Person:
    bot: "RunningBot"
    user_id: int
    name: str
    language: str | None

    @property
    def emu(self) -> BotApiEmulator:
        return self.bot.emu

    def messages(self):  # type: ignore[no-untyped-def]
        return self.bot.messages(self.user_id)

    def texts(self) -> list[str]:
        return self.bot.texts(self.user_id)

    @property
    def screen(self):  # type: ignore[no-untyped-def]
        """The bot's latest message in this chat (as edited so far)."""
        messages = self.messages()
        assert messages, f"{self.name} has received nothing"
        return messages[-1]

    def find_button(self, label: str):  # type: ignore[no-untyped-def]
        """The newest bot message with a button whose text contains `label`."""
        for message in reversed(self.messages()):
            for row in (message.reply_markup or {}).get("inline_keyboard", []):
                for button in row:
                    if label in button.get("text", "") and "callback_data" in button:
                        return message, button["callback_data"]
        shown = [m.button_texts() for m in self.messages()[-3:]]
        raise AssertionError(f"{self.name}: no button with {label!r}; last buttons: {shown}")

    async def send(self, text: str) -> None:
        await self.bot.settle(self.emu.send_text(self.user_id, text))

    async def tap(self, label: str) -> None:
        message, data = self.find_button(label)
        await self.press(message.message_id, data)

    async def tap_through(self, *labels: str) -> None:
        """Tap these buttons one after another, each on the screen the previous tap brought."""
        for label in labels:
            await self.tap(label)

    async def press(self, message_id: int, data: str, force: bool = False) -> str:
        before = len(self.emu.callback_answers)
        query_id = self.emu.press_button(self.user_id, message_id, data, force=force)
        await self.bot.settle(self.emu.last_update)
        assert query_id in self.emu.callback_answers, f"callback {data!r} was not answered"
        assert len(self.emu.callback_answers) > before
        return query_id

    async def tap_action(self, action: callbacks.Action, *args: object) -> None:
        """Tap the button carrying exactly this data on the newest message that shows it (language-proof)."""
        data = callbacks.encode(action, *args)
        for message in reversed(self.messages()):
            if any(data == button_data for row in message.buttons() for _text, button_data in row):
                await self.press(message.message_id, data)
                return
        raise AssertionError(f"{self.name}: no button {data!r}; last buttons: {self.screen.button_texts()}")

    async def share_location(self, lat: float, lon: float) -> None:
        await self.bot.settle(self.emu.send_location(self.user_id, lat, lon))

    async def send_photo(self, data: bytes, caption: str | None = None) -> None:
        await self.bot.settle(self.emu.send_photo(self.user_id, data, caption=caption))

    async def send_voice(self, data: bytes) -> None:
        await self.bot.settle(self.emu.send_voice(self.user_id, data))

    async def send_sticker(self) -> None:
        await self.bot.settle(self.emu.send_sticker(self.user_id))


@dataclass
class RunningBot:
    emu: BotApiEmulator
    service: BotService
    clock: Clock
    done: set[int] = field(default_factory=set)
    last_update: dict | None = None
    # Set by track() each time an update is done: settle() wakes at once instead of polling on a timer (a fixed poll
    # cost every tap a few ms, thousands of times over in the crawls and the forged-everything story).
    _progress: asyncio.Event = field(default_factory=asyncio.Event)

    def person(self, name: str, language: str | None = "it", user_id: int | None = None) -> Person:
        uid = user_id or next(_user_ids)
        self.emu.add_user(user_id=uid, first_name=name, language_code=language)
        return Person(self, uid, name, language)

    def messages(self, chat_id: int):  # type: ignore[no-untyped-def]
        """The bot's messages in this chat that are still there (as edited so far), oldest first."""
        return [m for m in self.emu.chat_messages(chat_id) if m.from_bot and not m.deleted]

    def texts(self, chat_id: int) -> list[str]:
        """The text or caption of each of the bot's messages in this chat."""
        return [m.text or m.caption or "" for m in self.messages(chat_id)]

    async def tenant(self, name: str, language: str = "it") -> Person:
        """A person who has started the bot and accepted the privacy notice."""
        person = self.person(name, language)
        await person.send("/start")
        await person.tap_action(callbacks.CONSENT)
        return person

    async def newcomer(self, name: str, language: str | None, consent_label: str) -> Person:
        """A person who sends /start and accepts the privacy notice the way people do: tapping its button, found
        by its label."""
        person = self.person(name, language)
        await person.send("/start")
        await person.tap(consent_label)
        return person

    async def grant_role(self, person: Person, role: str, scope: str = "") -> None:
        async with self.runtime.db.write() as session:
            await users.grant_role(session, person.user_id, role, scope, self.clock.now(), None)
        self.runtime.forget_user(person.user_id)

    def track(self, update: object) -> None:
        if isinstance(update, Update):
            self.done.add(update.update_id)
            self._progress.set()

    async def settle(self, injected: dict | None, timeout: float = 10.0) -> None:
        """Wait until the application has completely handled the update just injected."""
        self.last_update = injected
        update_id = injected["update_id"] if injected else None
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while update_id is not None and update_id not in self.done:
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), deadline - loop.time())
            except TimeoutError:
                raise TimeoutError(f"update {update_id} not handled within {timeout}s") from None

    async def flush_outbox(self) -> None:
        """Deliver every due alert now (tests move the clock instead of waiting)."""
        await self.service.runtime.outbox.flush()

    async def deliver(self) -> None:
        """Deliver every message due now, including those the background sender is holding."""
        for _ in range(1000):
            await self.flush_outbox()
            async with self.runtime.db.read() as session:
                due = await session.scalar(select(func.count(OutboxMessage.id)).where(
                    OutboxMessage.status == "pending", OutboxMessage.not_before <= self.clock.now()))
            if not due:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("the outbox did not empty")

    @property
    def runtime(self):  # type: ignore[no-untyped-def]
        return self.service.runtime


async def start_bot(emu: BotApiEmulator, settings, clock: Clock, *, webhook: bool = False) -> RunningBot:  # type: ignore[no-untyped-def]
    service = BotService(settings, clock=clock, webhook=webhook)
    running = RunningBot(emu, service, clock)
    await service.start()
    service.application.update_processor.on_done = running.track
    return running


@asynccontextmanager
async def serving(emu: BotApiEmulator, database_url: str, data_dir: Path, content_dir: Path, clock: Clock,
                  env: dict[str, str]) -> AsyncIterator[RunningBot]:
    """A bot for one story; once it has stopped, the story fails if the bot made a call Telegram refuses."""
    running = await start_bot(emu, settings_for(emu, database_url, data_dir, content_dir, **env), clock)
    yield running
    await running.service.stop()
    refusals = [r for r in emu.refusals if not r.injected and r.error_code != 403]
    shown = [f"{r.method}: {r.description} ({str(r.params.get('text', ''))[:60]!r})" for r in refusals[:3]]
    assert not refusals, f"the bot sent {len(refusals)} call(s) Telegram refuses, e.g. {shown}"


async def crawl(person: Person, start: str, limit: int, follow: Callable[[str, object], list[str]]) -> int:
    """Press every button reachable from the callback data `start`, breadth first, each once, at most `limit`
    presses, each on the person's latest screen (forced, as a stale button may be). `follow(data, screen)` checks
    the screen a press brought and says which of its buttons to press later. Returns the number of presses."""
    seen: set[str] = set()
    queue = [start]
    presses = 0
    while queue and presses < limit:
        data = queue.pop(0)
        if data in seen:
            continue
        seen.add(data)
        await person.press(person.screen.message_id, data, force=True)
        presses += 1
        queue.extend(d for d in follow(data, person.screen) if d not in seen)
    return presses
