"""Where injected updates wait for the bot: a getUpdates queue, or webhook delivery."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

import aiohttp

from bot.emulator.models import ApiError

_SUPERSEDED_BY_GET_UPDATES = (
    "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
_FIRST_RETRY_DELAY = 0.05
_MAX_RETRY_DELAY = 1.0
_WEBHOOK_POST_TIMEOUT = aiohttp.ClientTimeout(total=30)


class UpdateQueue:
    """Updates for getUpdates: kept until confirmed by offset; a newer call ends a waiting one with 409."""

    def __init__(self, on_waiting: Callable[[], None] | None = None) -> None:
        self._pending: deque[dict[str, Any]] = deque()
        # A waiting long poll; its result is None when updates arrived, else the 409 description.
        self._waiter: asyncio.Future[str | None] | None = None
        # Told when a long poll starts waiting: that is news to whoever waits for a bot to be polling (the call
        # itself is only over when the poll ends, up to its timeout later).
        self._on_waiting = on_waiting

    def __len__(self) -> int:
        return len(self._pending)

    @property
    def has_waiting_poll(self) -> bool:
        return self._waiter is not None and not self._waiter.done()

    def push(self, update: dict[str, Any]) -> None:
        self._pending.append(update)
        self._wake_waiting_poll(None)

    def push_all(self, updates: Iterable[dict[str, Any]]) -> None:
        """Put back updates (e.g. undelivered webhook ones), keeping update_id order."""
        merged = sorted([*self._pending, *updates], key=lambda update: update["update_id"])
        self._pending = deque(merged)
        if self._pending:
            self._wake_waiting_poll(None)

    def take_all(self) -> list[dict[str, Any]]:
        taken = list(self._pending)
        self._pending.clear()
        return taken

    def end_waiting_poll(self, conflict: str | None) -> None:
        """End a waiting getUpdates: with a 409 carrying ``conflict``, or with what is pending if None."""
        self._wake_waiting_poll(conflict)

    def _wake_waiting_poll(self, conflict: str | None) -> None:
        if self._waiter is not None and not self._waiter.done():
            self._waiter.set_result(conflict)

    async def get(self, offset: int, limit: int, timeout: float) -> list[dict[str, Any]]:
        self._wake_waiting_poll(_SUPERSEDED_BY_GET_UPDATES)
        self._confirm(offset)
        if not self._pending and timeout > 0:
            waiter: asyncio.Future[str | None] = asyncio.get_running_loop().create_future()
            self._waiter = waiter
            if self._on_waiting is not None:
                self._on_waiting()
            try:
                await asyncio.wait({waiter}, timeout=timeout)
            finally:
                if self._waiter is waiter:
                    self._waiter = None
            conflict = waiter.result() if waiter.done() else None
            if conflict is not None:
                raise ApiError(409, conflict)
        return [self._pending[index] for index in range(min(limit, len(self._pending)))]

    def _confirm(self, offset: int) -> None:
        """Forget updates the bot confirmed: ids below a positive offset, all but the last -offset."""
        if offset > 0:
            while self._pending and self._pending[0]["update_id"] < offset:
                self._pending.popleft()
        elif offset < 0:
            while len(self._pending) > -offset:
                self._pending.popleft()


def update_chat_key(update: dict[str, Any]) -> int:
    """The chat an update belongs to; webhook delivery keeps order within each chat."""
    for kind in ("message", "edited_message", "my_chat_member"):
        if kind in update:
            return update[kind]["chat"]["id"]
    if "callback_query" in update:
        query = update["callback_query"]
        return query["message"]["chat"]["id"] if "message" in query else query["from"]["id"]
    return 0


class WebhookDelivery:
    """POSTs updates to the bot's webhook: in order within a chat, up to max_connections chats at once.

    A failed POST (connection error or non-2xx status) is retried with a growing pause, as Telegram does. A 2xx
    answer with a JSON body may carry a method call (the Bot API's "Making requests when getting updates"): it goes
    to `on_answer`, which carries it out as a call.
    """

    def __init__(self, url: str, secret_token: str | None, max_connections: int,
                 on_answer: Callable[[Any], Awaitable[None]] | None = None) -> None:
        self.url = url
        self.on_answer = on_answer
        self.secret_token = secret_token
        self.max_connections = max_connections
        self.last_error_date: int | None = None
        self.last_error_message: str | None = None
        self._per_chat: dict[int, deque[dict[str, Any]]] = {}  # a chat is present while scheduled or in flight
        self._ready: asyncio.Queue[int] = asyncio.Queue()
        self._workers: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None

    @property
    def pending_count(self) -> int:
        return sum(len(updates) for updates in self._per_chat.values())

    def start(self, initial_updates: Iterable[dict[str, Any]]) -> None:
        headers = {"Content-Type": "application/json"}
        if self.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = self.secret_token
        self._session = aiohttp.ClientSession(headers=headers, timeout=_WEBHOOK_POST_TIMEOUT)
        for update in initial_updates:
            self.push(update)
        self._workers = [asyncio.create_task(self._work()) for _ in range(self.max_connections)]

    def push(self, update: dict[str, Any]) -> None:
        chat_key = update_chat_key(update)
        chat_updates = self._per_chat.get(chat_key)
        if chat_updates is None:
            self._per_chat[chat_key] = deque([update])
            self._ready.put_nowait(chat_key)
        else:
            chat_updates.append(update)

    async def stop(self) -> list[dict[str, Any]]:
        """Stop delivering; returns the undelivered updates (including any in flight) in order."""
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._session is not None:
            await self._session.close()
            self._session = None
        undelivered = [update for updates in self._per_chat.values() for update in updates]
        self._per_chat.clear()
        return sorted(undelivered, key=lambda update: update["update_id"])

    async def _work(self) -> None:
        while True:
            chat_key = await self._ready.get()
            chat_updates = self._per_chat[chat_key]
            await self._deliver(chat_updates[0])
            chat_updates.popleft()
            if chat_updates:
                self._ready.put_nowait(chat_key)
            else:
                del self._per_chat[chat_key]

    async def _deliver(self, update: dict[str, Any]) -> None:
        assert self._session is not None, "start() creates the session before any worker runs"
        body = json.dumps(update, ensure_ascii=False).encode("utf-8")
        retry_delay = _FIRST_RETRY_DELAY
        while True:
            try:
                async with self._session.post(self.url, data=body) as response:
                    answer = await response.read()
                    if 200 <= response.status < 300:
                        if self.on_answer is not None and response.content_type == "application/json":
                            await self.on_answer(_json_or_none(answer))
                        return
                    self._record_error(f"Wrong response from the webhook: {response.status} {response.reason}")
            except (aiohttp.ClientError, asyncio.TimeoutError) as error:
                self._record_error(f"Connection failed: {error!r}")
            await asyncio.sleep(retry_delay)
            retry_delay = min(retry_delay * 2, _MAX_RETRY_DELAY)

    def _record_error(self, message: str) -> None:
        self.last_error_date = int(time.time())
        self.last_error_message = message


def _json_or_none(body: bytes) -> Any:
    try:
        return json.loads(body)
    except ValueError:
        return None
