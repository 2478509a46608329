"""Updates reach the handlers through the inbox (storage/domain/inbox.py), in both modes.

- Webhook: the update is stored, then Telegram gets its 200 (a crash before the commit: Telegram sends it again).
- Long polling (`InboxPoller`, instead of PTB's Updater): a batch is stored before the next getUpdates confirms it
  with a higher offset. PTB's Updater asks for the next batch, confirming the last, while the last is still queued.
- A start first loads what the last process left unhandled (`InboxDispatcher.recover`): those updates are handled
  oldest first per chat by a few workers, and a chat's new updates wait behind its leftovers; chats without
  leftovers are answered at once, so a backlog of thousands never stops the bot answering new chats.
- Every update is marked handled right after its handler (bot.app.PerChatProcessor calls `mark_handled`).
- Several instances (webhook behind a proxy): each holds what it stored with a lease it renews; one that dies
  leaves its updates to the others once the lease runs out (`InboxDispatcher._keep`), or to itself at once when it
  starts again under the same name (`instance_name`).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections import deque
from contextvars import ContextVar
from dataclasses import dataclass

from telegram import Update
from telegram.error import InvalidToken, RetryAfter, TelegramError
from telegram.ext import Application

from bot.i18n import pick_language, translator
from bot.leases import LeaseKeeper
from bot.outbox_sender import retry_seconds
from bot.runtime import Runtime
from bot.ui import MAX_CAPTION, MAX_TEXT, parse_update, slim_pressed_message
from storage.domain import inbox
from storage.models import User

log = logging.getLogger(__name__)
BACKLOG_WORKERS = 8  # chats whose leftovers are handled at once; the rest of the loop serves live chats
POLL_TIMEOUT = 20  # seconds a long poll waits for updates
POLL_LIMIT = 100
POLL_RETRY_MAX = 30.0  # seconds between attempts while Telegram cannot be reached
TURN_POLL_FIRST, TURN_POLL_MAX = 0.01, 0.5  # seconds between looks while an older update of the chat is in hand


def instance_name(rt: Runtime, webhook: bool) -> str:
    """Who holds the updates this process stores: the host, and for a webhook the port it listens on (several
    instances may serve one host). The same process started again has the same name and takes its leftovers."""
    host = socket.gethostname()[:80]
    return f"{host}:{rt.settings.listen_port}" if webhook else host


async def purge_handled(rt: Runtime) -> None:
    """The periodic job: handled rows go after a day (storage.domain.inbox.KEEP_HANDLED)."""
    purged = await inbox.purge_handled(rt.db, rt.clock.now())
    if purged:
        log.info("inbox: %d handled update(s) purged", purged)


@dataclass
class RepeatNote:
    """Set while handling an update the last process may already have answered: the first message sent to its
    chat carries the note (bot.app.RepliesFirstRateLimiter adds it)."""

    text: str
    used: bool = False

    def add_to(self, endpoint: str, data: dict) -> None:
        field, limit = ("text", MAX_TEXT) if endpoint == "sendMessage" else ("caption", MAX_CAPTION)
        if self.used or endpoint not in SENDS_WITH_TEXT:
            return
        self.used = True
        body = data.get(field) or ""
        if len(body) + len(self.text) + 2 <= limit:
            data[field] = f"{self.text}\n\n{body}" if body else self.text


SENDS_WITH_TEXT = ("sendMessage", "sendPhoto", "sendDocument", "sendVoice", "sendVideo")
REPEAT_NOTE: ContextVar[RepeatNote | None] = ContextVar("repeat_note", default=None)


async def repeat_note_for(rt: Runtime, update: Update) -> RepeatNote:
    """The note in the reader's language (their choice, else their Telegram app's)."""
    user = update.effective_user
    stored = None
    if user is not None:
        async with rt.db.read() as session:
            record = await session.get(User, user.id)
        stored = record.language if record is not None else None
    tr = translator(pick_language(stored, user.language_code if user else None), rt.settings.timezone.key)
    return RepeatNote(tr._("🔁 Inviato di nuovo dopo un'interruzione: se l'avevi già ricevuto, vale questo."))


class InboxDispatcher:
    def __init__(self, application: Application, rt: Runtime, *, durable: bool = True, owner: str = "") -> None:
        self.application = application
        self.rt = rt
        self.owner = owner
        # durable=False stores nothing: only `qcbot bench load` runs it, to measure what the inbox costs.
        self.durable = durable
        self.writer = inbox.InboxWriter(rt.db)
        # Chats with leftovers from the last process: their updates, oldest first, and new ones queued behind.
        self._backlog: dict[int, deque[Update]] = {}
        self._ready: asyncio.Queue[int] = asyncio.Queue()
        self._workers: list[asyncio.Task] = []
        self._keeper: asyncio.Task | None = None
        self._busy: set[asyncio.Task | None] = set()
        self._first: set[int] = set()  # update ids of each chat's oldest leftover: possibly answered already
        self._stopping = False
        self._before_turn: dict[int, set[int]] = {}  # per chat: update ids in wait_for_turn

    @property
    def backlog_size(self) -> int:
        return sum(len(updates) for updates in self._backlog.values())

    async def recover(self) -> int:
        """Load what the last process stored and did not handle, and start handling it; returns how many."""
        count = await self._take_leftovers(others_only=False) if self.durable else 0
        if count:
            log.info("inbox: %d update(s) of %d chat(s) left by the last process, handled first", count, len(self._backlog))
        self._stopping = False
        self._workers = [asyncio.create_task(self._drain(), name=f"inbox-backlog-{n}") for n in range(BACKLOG_WORKERS)]
        if self.durable:
            self._keeper = asyncio.create_task(self._keep(), name="inbox-keeper")
        return count

    async def _take_leftovers(self, *, others_only: bool) -> int:
        after, count = -1, 0
        while rows := await inbox.claim_leftovers(self.rt.db, self.owner, self.rt.clock.now(), others_only=others_only,
                                                  after=after):
            for row in rows:
                # Stored as Telegram sent it (the webhook's body) or already slimmed: slimmed here either way.
                update = await self._parse(slim_pressed_message(row.payload))
                if update is not None:
                    self._hold(row.chat_id, update)
            after, count = rows[-1].update_id, count + len(rows)
        return count

    async def _keep(self) -> None:
        """Renew this process's lease on what it holds; take over what a dead instance left."""
        while True:
            await asyncio.sleep(inbox.LEASE.total_seconds() / 3)
            try:
                await inbox.renew(self.rt.db, self.owner, self.rt.clock.now())
                taken = await self._take_leftovers(others_only=True)
                if taken:
                    log.warning("inbox: took over %d update(s) another instance left unhandled", taken)
            except Exception:  # the database may be briefly unavailable; try again at the next round
                log.exception("inbox: could not renew the lease")

    def _hold(self, chat_id: int, update: Update) -> None:
        chat_updates = self._backlog.get(chat_id)
        if chat_updates is None:
            self._first.add(update.update_id)
            self._backlog[chat_id] = deque([update])
            self._ready.put_nowait(chat_id)
        else:
            chat_updates.append(update)

    async def receive(self, payloads: list[dict], texts: list[str] | None = None) -> None:
        """Store updates as Telegram sent them, then hand the new ones to the handlers. Returns once stored: the
        caller may then tell Telegram they arrived. texts: the payloads' JSON as received, if at hand (the
        webhook's body): stored as it is, not serialised again."""
        for payload in payloads:
            slim_pressed_message(payload)
        if self.durable:
            new_ids = set(await self.writer.store(payloads, self.rt.clock.now(), self.owner, texts))
        else:
            new_ids = {payload["update_id"] for payload in payloads}
        for payload in payloads:
            if payload["update_id"] not in new_ids:
                continue  # delivered again after a lost answer: stored already, handled (or to be) once
            new_ids.discard(payload["update_id"])
            update = await self._parse(payload)
            if update is None:
                continue
            backlog = self._backlog.get(inbox.chat_of(payload)) if self._backlog else None
            if backlog is not None:
                backlog.append(update)  # its turn comes after the chat's leftovers
            else:
                await self.application.update_queue.put(update)

    async def wait_for_turn(self, update: Update) -> None:
        """Several instances on one PostgreSQL (bot.app.PerChatProcessor calls this before taking the chat's lock):
        an update waits until every older update of its chat is handled, wherever it arrived — held by another
        instance, left by a dead one (taken over when its lease runs out), or among this process's leftovers —
        and until the older ones waiting here have gone first. Chats never wait for each other."""
        chat_id, update_id = update.effective_chat.id, update.update_id
        waiting = self._before_turn.setdefault(chat_id, set())
        waiting.add(update_id)
        pause = TURN_POLL_FIRST
        try:
            while True:
                leftovers = self._backlog.get(chat_id)
                if min(waiting) != update_id or (leftovers and leftovers[0].update_id < update_id):
                    await asyncio.sleep(TURN_POLL_FIRST)
                    continue
                if self.writer.take_clear(update_id):  # no other instance held this chat when it was stored
                    return
                if not await inbox.older_pending_elsewhere(self.rt.db, chat_id, update_id, self.owner):
                    return
                await asyncio.sleep(pause)
                pause = min(pause * 2, TURN_POLL_MAX)
        finally:
            waiting.discard(update_id)
            if not waiting:
                del self._before_turn[chat_id]

    async def mark_handled(self, update: Update) -> None:
        """Called by bot.app.PerChatProcessor right after the update's handler, inside the chat's turn."""
        await self.writer.mark_handled(update.update_id, self.rt.clock.now())

    async def _parse(self, payload: dict) -> Update | None:
        """PTB's Update, or None for one it cannot read: logged and marked handled, never tried again."""
        try:
            return parse_update(payload, self.application.bot)
        except Exception:
            log.exception("inbox: update %s cannot be read; skipped", payload.get("update_id"))
            await inbox.mark_handled(self.rt.db, int(payload["update_id"]), self.rt.clock.now())
            return None

    async def _drain(self) -> None:
        processor = self.application.update_processor
        me = asyncio.current_task()
        while not self._stopping:
            chat_id = await self._ready.get()
            self._busy.add(me)
            try:
                chat_updates = self._backlog[chat_id]
                while chat_updates and not self._stopping:
                    update = chat_updates[0]
                    # The chat's oldest leftover may have been in hand when the last process died, its answer
                    # already out: the answer sent now says it is a repeat (Telegram cannot deduplicate).
                    possibly_answered = update.update_id in self._first
                    note = REPEAT_NOTE.set(await repeat_note_for(self.rt, update) if possibly_answered else None)
                    try:
                        await processor.process_update(update, self.application.process_update(update))
                    finally:
                        REPEAT_NOTE.reset(note)
                    self._first.discard(update.update_id)
                    chat_updates.popleft()
                if not chat_updates:
                    del self._backlog[chat_id]
            finally:
                self._busy.discard(me)

    async def stop(self) -> None:
        """Finish the leftovers in hand; the others stay in the inbox for the next start."""
        self._stopping = True
        if self._keeper is not None:
            self._keeper.cancel()
            await asyncio.gather(self._keeper, return_exceptions=True)
            self._keeper = None
        for worker in self._workers:
            if worker not in self._busy:
                worker.cancel()  # waiting for a chat: nothing in hand
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []


class InboxPoller:
    """Long polling that confirms a batch (asks for the next offset) only after the inbox has stored it. Only the
    instance holding the polling lease polls (bot/leases.py): Telegram allows one getUpdates at a time, and a second
    poller would steal batches and confirm them out of turn. Another instance polls once the holder has stopped."""

    def __init__(self, dispatcher: InboxDispatcher, allowed_updates: list[str], lease: LeaseKeeper | None = None) -> None:
        self.dispatcher = dispatcher
        self.allowed_updates = allowed_updates
        self.lease = lease
        self._task: asyncio.Task | None = None
        self._asking = False  # waiting for getUpdates (a stop may cancel it) rather than storing a batch
        self._stopping = False

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name="inbox-poller")

    async def stop(self) -> None:
        """Stop asking. A batch being stored is stored first; one not yet stored stays Telegram's."""
        self._stopping = True
        if self._task is not None:
            if self._asking:
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _run(self) -> None:
        bot = self.dispatcher.application.bot
        offset = 0  # 0: whatever Telegram still holds, which includes what a crashed process had not confirmed
        pause = 1.0
        while not self._stopping:
            self._asking = True
            if self.lease is not None and not self.lease.held:
                log.warning("another instance is polling; this one waits for the polling lease")
                await self.lease.wait_until_held()
                offset = 0  # what the other poller had not confirmed is Telegram's again
            try:
                batch = await bot.do_api_request(
                    "getUpdates",
                    api_kwargs={"offset": offset, "limit": POLL_LIMIT, "timeout": POLL_TIMEOUT,
                                "allowed_updates": self.allowed_updates},
                    read_timeout=POLL_TIMEOUT + 10,
                )
            except InvalidToken:
                log.critical("Telegram refused the token: polling stops")
                raise
            except RetryAfter as exc:
                await asyncio.sleep(retry_seconds(exc))
                continue
            except TelegramError as exc:  # a network failure, a 5xx, or 409 while another instance still polls
                log.warning("getUpdates failed (%s); trying again in %.0f s", exc, pause)
                await asyncio.sleep(pause)
                pause = min(pause * 2, POLL_RETRY_MAX)
                continue
            finally:
                self._asking = False
            pause = 1.0
            if batch and await self._store(batch):
                offset = max(update["update_id"] for update in batch) + 1

    async def _store(self, batch: list[dict]) -> bool:
        """True once stored; False if the process stops first (the batch stays Telegram's, unconfirmed)."""
        while not self._stopping:
            try:
                await self.dispatcher.receive(batch)
                return True
            except Exception:  # the database may be briefly unavailable: the batch is not confirmed until stored
                log.exception("could not store %d update(s); trying again", len(batch))
                await asyncio.sleep(1.0)
        return False
