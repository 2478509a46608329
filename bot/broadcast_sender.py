"""Drains broadcasts (storage/domain/broadcast.py) at Telegram's pace, beside the outbox sender.

- Global pace (bot/pacing.py): `rate` is the most calls Telegram may receive in any one second (30 by default, as
  Telegram allows a bot); starts aim at 97.5 % of it and make up for late timers, and a call counts against the
  window from its start to its answer, so no second at Telegram's end ever holds more than `rate`.
- Per chat: at most one message a second (a tenant in two broadcasts at once gets them a second apart).
- 429: retry_after pauses the whole broadcast sender, not just the one message; the row goes back unchanged.
- 403: the tenant is marked unreachable (users.blocked_at) and no broadcast writes to them again until they do.
- 5xx and time-outs: the row is retried with backoff, up to MAX_ATTEMPTS.
- Interactive traffic first: replies to a pressed button do not go through here at all, alerts and reminders are
  the outbox's (its own table and loop), so neither ever waits behind broadcast rows.

A row is marked right after Telegram answers; rows are leased, so a restart continues with the rows nobody was
holding, and the one message in flight at a crash is the only possible repeat (as in the outbox).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from zoneinfo import ZoneInfo

from telegram import Bot
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.clock import Clock
from bot.outbox_sender import backoff, retry_seconds
from bot.pacing import SendPacer
from bot.wakeable_loop import WakeableLoop
from storage.domain import broadcast
from storage.db import Database
from storage.models import Broadcast

log = logging.getLogger(__name__)

DEFAULT_RATE = 30
PER_CHAT_SECONDS = 1.0
MAX_ATTEMPTS = 12
# One call (and its row's write) at a time: a crash can then repeat at most the one message in flight. The pacer
# waits outside the slot, so this still kept 29.4/s on the loaded 2-core machine; 8 in flight let a SIGKILL
# repeat 3 messages and paced no faster.
IN_FLIGHT = 1

# (broadcast, recipient) -> (Bot API method, parameters), or None to drop the row (e.g. the item is gone).
Render = Callable[[Broadcast, broadcast.Claimed], Awaitable[tuple[str, dict] | None]]


class BroadcastSender(WakeableLoop):
    name = "broadcast-sender"

    def __init__(self, db: Database, bot: Bot, clock: Clock, render: Render, tz: ZoneInfo, *, rate: float = DEFAULT_RATE,
                 per_chat_seconds: float = PER_CHAT_SECONDS, time_scale: float = 1.0) -> None:
        super().__init__()
        self.db = db
        self.bot = bot
        self.clock = clock
        self.render = render
        self.tz = tz
        # time_scale > 1 runs faster than Telegram allows, for short benchmark runs only (qcbot bench broadcast).
        self.pacer = SendPacer(int(rate), window=1.0 / time_scale)
        self.per_chat_seconds = per_chat_seconds / time_scale
        self.time_scale = time_scale
        self._paused_until = 0.0  # monotonic
        self._last_in_chat: dict[int, float] = {}
        self._broadcasts: dict[int, Broadcast] = {}
        self._stopped: set[int] = set()  # stopped while this process held rows of them (see stopped())
        self._slots = asyncio.Semaphore(IN_FLIGHT)
        self._in_flight: set[asyncio.Task] = set()
        self.sent = 0  # counters for the benchmark and logs
        self.pauses = 0

    def stopped(self, broadcast_id: int) -> None:
        """A broadcast was stopped in this process: the rows already claimed are not sent (another process's
        claimed rows, about a second's worth, may still go)."""
        self._stopped.add(broadcast_id)

    async def stop(self) -> None:
        await super().stop()
        if self._in_flight:
            await asyncio.gather(*self._in_flight, return_exceptions=True)

    async def work_round(self) -> bool:
        return await self.step()

    async def step(self) -> bool:
        """Fan out a batch where needed and send what is due; False when there was nothing to do."""
        pause = self._paused_until - time.monotonic()
        if pause > 0:
            await asyncio.sleep(pause)
        now = self.clock.now()
        active = await broadcast.active_broadcasts(self.db, now, self.tz)
        self._broadcasts = {item.id: item for item in active}
        if not self._in_flight:
            self._stopped.clear()  # no row of a stopped broadcast is held any more
        if not active:
            return False
        for item in active:
            if not item.fanout_done:
                await broadcast.fan_out_batch(self.db, item.id, now)
        # About a second's worth at a time: leases stay short and a stop or a 429 gives back little.
        rows = await broadcast.claim(self.db, [item.id for item in active], now, limit=max(1, int(self.pacer.pace * self.pacer.window)))
        if not rows:
            finished = await broadcast.close_finished(self.db, now)
            return bool(finished) or any(not item.fanout_done for item in active)
        for index, row in enumerate(rows):
            # Each row waits for the pacer, then for a call slot. After a 429 the rest of the batch goes back, so no
            # row stays leased through a long retry_after.
            await asyncio.sleep(0)  # the answers already on their way (a 429 among them) are taken in first
            if self._stopping or self._paused_until > time.monotonic():  # a 429 came back while we waited
                await broadcast.release(self.db, [later.id for later in rows[index:]], self.clock.now())
                break
            if not self._chat_ready(row.user_id):
                await broadcast.release(self.db, [row.id], self.clock.now() + timedelta(seconds=self.per_chat_seconds))
                continue
            started = await self.pacer.start()
            await self._slots.acquire()
            task = asyncio.create_task(self._deliver(row, started))
            self._in_flight.add(task)
            task.add_done_callback(self._in_flight.discard)
        return True

    def _chat_ready(self, chat_id: int) -> bool:
        now = time.monotonic()
        last = self._last_in_chat.get(chat_id)
        if last is not None and now - last < self.per_chat_seconds:
            return False
        self._last_in_chat[chat_id] = now
        if len(self._last_in_chat) > 1000:  # keep only the last second's chats: memory stays flat
            self._last_in_chat = {chat: at for chat, at in self._last_in_chat.items() if now - at < self.per_chat_seconds}
        return True

    async def _deliver(self, row: broadcast.Claimed, started: int) -> None:
        try:
            await self._deliver_row(row, started)
        except Exception:
            log.exception("broadcast row %s failed", row.id)
        finally:
            self.pacer.end(started)  # a row that never reached its call (dropped, paused, stopped) ends here
            self._slots.release()

    async def _deliver_row(self, row: broadcast.Claimed, started: int) -> None:
        item = self._broadcasts.get(row.broadcast_id)
        now = self.clock.now()
        call = await self.render(item, row) if item is not None else None
        if call is None:
            await broadcast.mark(self.db, row.id, "dropped", now, "nothing to send")
            return
        method, params = call
        if row.broadcast_id in self._stopped:  # the stop dropped the row already
            return
        if self._paused_until > time.monotonic():  # a 429 came back after this row was handed out: not now
            await broadcast.release(self.db, [row.id], self.clock.now())
            return
        try:
            try:
                result = await self.bot.do_api_request(method, api_kwargs={**params, "chat_id": row.user_id})
            finally:
                self.pacer.end(started)  # the answer is in: from now on the call ages out of the pacer's window
                self._last_in_chat[row.user_id] = time.monotonic()  # a chat's next message a second after this one's answer
        except RetryAfter as exc:
            wait = retry_seconds(exc) / self.time_scale
            self._paused_until = max(self._paused_until, time.monotonic() + wait)
            self.pauses += 1
            log.info("429 on a broadcast: every broadcast waits %.1f s", wait)
            await broadcast.release(self.db, [row.id], self.clock.now())
            return
        except Forbidden as exc:
            await broadcast.mark_unreachable(self.db, row.id, row.user_id, now, str(exc))
            return
        except BadRequest as exc:
            log.warning("broadcast row %s refused: %s", row.id, exc)
            await broadcast.mark(self.db, row.id, "failed", now, str(exc))
            return
        except (TimedOut, NetworkError) as exc:
            if row.attempts >= MAX_ATTEMPTS:
                await broadcast.mark(self.db, row.id, "failed", now, str(exc))
            else:
                delay = backoff(row.attempts).total_seconds() / self.time_scale
                await broadcast.release(self.db, [row.id], now + timedelta(seconds=delay), str(exc), count_attempt=True)
            return
        del result  # the message id is not needed: broadcasts are never edited
        self.sent += 1
        await broadcast.mark(self.db, row.id, "sent", self.clock.now())
