"""Delivers the outbox: honours retry_after on 429, retries 5xx and network errors with backoff, marks 403.

Rows of one chat go out in order; different chats go out concurrently. A row is marked sent right after Telegram
accepts it; the lease on claimed rows means a crash between "sent" and "marked" is the only window for a repeat,
and it is as small as one database write. A new message is marked "in doubt" just before it is handed over; if it
comes back (a crash, or Telegram's answer came too late), it goes out again saying so in the reader's language.
"""

from __future__ import annotations

import asyncio
import logging
import warnings
from collections import defaultdict
from collections.abc import Awaitable, Callable
from datetime import timedelta

from telegram import Bot, Message
from telegram.warnings import PTBDeprecationWarning, PTBUserWarning
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

from bot.clock import Clock
from bot.wakeable_loop import WakeableLoop
from bot.i18n import SOURCE_LANGUAGE, pick_language, translator
from storage.domain import outbox
from storage.db import Database
from storage.models import OutboxMessage, User

log = logging.getLogger(__name__)
# Outbox rows are raw Bot API calls by design (so any method can be queued); PTB's hint to use the typed
# method instead does not apply.
warnings.filterwarnings("ignore", message=r"Please use 'Bot\.", category=PTBUserWarning)
MAX_ATTEMPTS = 25
MAX_TEXT, MAX_CAPTION = 4096, 1024  # Telegram's limits (bot.ui has them too; bot.ui imports PTB's screen objects)

OnBlocked = Callable[[OutboxMessage], Awaitable[None]]


def retry_seconds(error: RetryAfter) -> float:
    """The wait Telegram asked for, whichever type this PTB version gives it (int now, timedelta later)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PTBDeprecationWarning)  # we handle both types; no need to warn each 429
        wait = error.retry_after
    return wait.total_seconds() if isinstance(wait, timedelta) else float(wait)


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(2 ** min(attempts, 10), 600))


class OutboxSender(WakeableLoop):
    name = "outbox-sender"
    round_after_stop = True  # stop() finishes what is in hand: a final flush of due rows

    def __init__(self, db: Database, bot: Bot, clock: Clock, on_blocked: OnBlocked | None = None) -> None:
        super().__init__()
        self.db = db
        self.bot = bot
        self.clock = clock
        self.on_blocked = on_blocked
        # One flush at a time in this process, so a caller's flush() returns only after rows the background
        # loop had already taken are delivered too (tests rely on it; other instances are kept apart by leases).
        self._flushing = asyncio.Lock()

    async def work_round(self) -> bool:
        return await self.flush() > 0

    async def flush(self) -> int:
        """Deliver every row due now; returns how many rows were handled."""
        async with self._flushing:
            return await self._flush_batch()

    async def _flush_batch(self) -> int:
        rows = await outbox.claim_due(self.db, self.clock.now())
        if not rows:
            return 0
        by_chat: dict[int, list[OutboxMessage]] = defaultdict(list)
        for row in rows:
            by_chat[row.chat_id].append(row)
        await asyncio.gather(*(self._deliver_chat(chat_rows) for chat_rows in by_chat.values()))
        return len(rows)

    async def _deliver_chat(self, rows: list[OutboxMessage]) -> None:
        for index, row in enumerate(rows):
            if not await self._deliver(row):
                # Keep the chat's order: later rows wait for the one that must be retried.
                for later in rows[index + 1 :]:
                    await outbox.retry_later(self.db, later.id, self.clock.now(), "waiting for an earlier message", count_attempt=False)
                return

    async def _deliver(self, row: OutboxMessage) -> bool:
        """Returns False when the row must be retried later."""
        now = self.clock.now()
        if not await outbox.check_guard(self.db, row.guard, now):
            await outbox.finish(self.db, row.id, "dropped", now, error="guard no longer holds")
            return True
        params = dict(row.params)
        edit_ref = params.pop(outbox.EDIT_REF, None)
        if edit_ref is not None:
            state, message_id = await outbox.sent_message_id(self.db, row.chat_id, edit_ref[0], edit_ref[1])
            if state == "pending":
                await outbox.retry_later(self.db, row.id, now + timedelta(seconds=2), "original not sent yet", count_attempt=False)
                return False
            if message_id is None:
                await outbox.finish(self.db, row.id, "dropped", now, error="nothing to edit")
                return True
            params["message_id"] = message_id
        doubt_before = row.in_doubt
        if row.method.startswith("send"):
            if doubt_before:
                await self._mark_as_repeat(row, params)
            await outbox.begin_attempt(self.db, row.id)
        try:
            result = await self.bot.do_api_request(row.method, api_kwargs=params)
        except RetryAfter as exc:
            seconds = retry_seconds(exc)
            await outbox.retry_later(self.db, row.id, now + timedelta(seconds=seconds), str(exc), count_attempt=False,
                                     in_doubt=doubt_before)
            return False
        except Forbidden as exc:
            await outbox.finish(self.db, row.id, "blocked", now, error=str(exc))
            if self.on_blocked is not None:
                await self.on_blocked(row)
            return True
        except BadRequest as exc:
            text = str(exc).lower()
            if "not modified" in text:
                await outbox.finish(self.db, row.id, "sent", now, error=str(exc))
            elif "not found" in text:
                await outbox.finish(self.db, row.id, "dropped", now, error=str(exc))
            else:
                log.error("outbox row %s refused: %s", row.id, exc)
                await outbox.finish(self.db, row.id, "failed", now, error=str(exc))
            return True
        except (TimedOut, NetworkError) as exc:
            if row.attempts >= MAX_ATTEMPTS:
                await outbox.finish(self.db, row.id, "failed", now, error=str(exc))
                return True
            # A late answer: it may have arrived. A 5xx or a connection that failed: it did not.
            in_doubt = doubt_before or (isinstance(exc, TimedOut) and row.method.startswith("send"))
            await outbox.retry_later(self.db, row.id, now + backoff(row.attempts), str(exc), in_doubt=in_doubt)
            return False
        message_id = result.get("message_id") if isinstance(result, dict) else None
        if isinstance(result, Message):
            message_id = result.message_id
        await outbox.finish(self.db, row.id, "sent", self.clock.now(), message_id=message_id)
        return True

    async def _mark_as_repeat(self, row: OutboxMessage, params: dict) -> None:
        """An earlier attempt may have arrived: say so above the text, in the reader's language."""
        language = SOURCE_LANGUAGE  # groups (the manager chat) read Italian
        if row.chat_id > 0:
            async with self.db.read() as session:
                user = await session.get(User, row.chat_id)
            if user is not None:
                language = pick_language(user.language, user.telegram_language)
        note = translator(language)._("🔁 Inviato di nuovo dopo un'interruzione: se l'avevi già ricevuto, vale questo.")
        field, limit = ("text", MAX_TEXT) if row.method == "sendMessage" else ("caption", MAX_CAPTION)
        body = params.get(field) or ""
        if len(body) + len(note) + 2 <= limit:
            params[field] = f"{note}\n\n{body}" if body else note
