"""What every handler needs, built once per process, and the per-update view of who is writing."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from telegram import Update
from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot import callbacks
from bot.clock import Clock
from bot.config import Settings
from bot.i18n import Translator, pick_language, translator
from bot.limits import BurstLimiter
from storage.domain import stats, users
from storage.content import Content, ContentStore
from storage.db import Database
from storage.domain.users import Roles

if TYPE_CHECKING:
    from bot.broadcast_sender import BroadcastSender
    from bot.outbox_sender import OutboxSender


@dataclass
class DeferredWakes:
    """Outboxes woken while an update is handled (bot.app.PerChatProcessor sets one per update): woken when the
    handler is done, so the person's own answer leaves before the alerts and notices their action queued."""

    senders: set[OutboxSender] = field(default_factory=set)
    done: bool = False

    def wake_all(self) -> None:
        self.done = True
        for sender in self.senders:
            sender.wake()


WAKES_AFTER_UPDATE: ContextVar[DeferredWakes | None] = ContextVar("wakes_after_update", default=None)


USER_CACHE_SECONDS = 60.0
# How often each instance reads which users' roles changed (storage.domain.users.note_user_changed) and drops them from its
# cache: a revoked role stops working everywhere within this, off the update path (a periodic job, bot/jobs.py).
USER_CHANGES_POLL_SECONDS = 2.0
USER_CACHE_SIZE = 10_000  # the oldest entries go first, so memory stays flat however many tenants write


@dataclass
class CachedUser:
    language: str | None
    consented: bool
    roles: Roles
    last_estate_id: str | None
    expires: float
    prompts_enabled: bool = True  # "don't ask me again" not chosen (the feedback screens show the toggle)


@dataclass
class Runtime:
    settings: Settings
    db: Database
    content_store: ContentStore
    clock: Clock
    outbox: OutboxSender | None = None
    bot_username: str = ""
    broadcasts: BroadcastSender | None = None  # messages to many (bot/broadcast_sender.py)

    def __post_init__(self) -> None:
        # A cache, not the truth: every write goes to the database first, then here. Another instance may see a
        # language or "don't ask me again" change up to USER_CACHE_SECONDS late, which is harmless; a role change
        # within USER_CHANGES_POLL_SECONDS (drop_changed_users).
        self._users: dict[int, CachedUser] = {}
        self._last_user_change: int | None = None  # the last storage.domain.users change this process has applied
        self.summaries = stats.SummaryCache()
        self.bursts = BurstLimiter(self.settings.burst_updates, self.settings.burst_seconds,
                                   self.settings.burst_silence_seconds)

    @property
    def content(self) -> Content:
        return self.content_store.current

    def forget_user(self, user_id: int) -> None:
        self._users.pop(user_id, None)

    async def drop_changed_users(self) -> int:
        """Forget the cached users whose roles changed on any instance since the last call; returns how many.
        The first call only learns where the changes stand and empties the cache, which may predate it."""
        async with self.db.read() as session:
            if self._last_user_change is None:
                self._last_user_change = await users.last_user_change(session)
                dropped = len(self._users)
                self._users.clear()
                return dropped
            changes = await users.users_changed_after(session, self._last_user_change)
        for change_id, user_id in changes:
            self._users.pop(user_id, None)
            self._last_user_change = change_id
        return len(changes)

    def update_cached_user(self, user_id: int, **changes: object) -> None:
        """After a write that changed only these fields (language, consented, prompts_enabled): the cached entry
        follows it, so the reply needs no read. Without an entry there is nothing to update; the next visitor() reads the row."""
        cached = self._users.get(user_id)
        if cached is not None:
            self._users[user_id] = replace(cached, **changes)

    def wake_outbox(self) -> None:
        """Deliver what was just enqueued: now, or when the update being handled is done (DeferredWakes)."""
        if self.outbox is None:
            return
        deferred = WAKES_AFTER_UPDATE.get()
        if deferred is None or deferred.done:  # a job, or a task that outlived its update
            self.outbox.wake()
        else:
            deferred.senders.add(self.outbox)

    async def cached_user(self, user_id: int, first_name: str, telegram_language: str | None) -> CachedUser:
        cached = self._users.get(user_id)
        if cached is not None and cached.expires > time.monotonic():
            return cached
        now = self.clock.now()
        # Usually a read: a write only when touch_user has something to change (see users.needs_touch).
        record, roles = await users.user_and_roles(self.db, user_id, self.settings.admin_ids)
        if record is None:
            record = await users.first_contact(self.db, user_id, telegram_language, now)
        elif users.needs_touch(record, first_name, telegram_language, now):
            async with self.db.write() as session:
                record = await users.touch_user(session, user_id, first_name, telegram_language, now)
        cached = CachedUser(
            language=record.language,
            consented=record.consent_at is not None,
            roles=roles,
            last_estate_id=record.last_estate_id,
            expires=time.monotonic() + USER_CACHE_SECONDS,
            prompts_enabled=record.prompts_enabled,
        )
        self._users.pop(user_id, None)
        self._users[user_id] = cached  # dicts keep insertion order: the first key is the oldest entry
        if len(self._users) > USER_CACHE_SIZE:
            del self._users[next(iter(self._users))]
        return cached


@dataclass
class Visitor:
    """Who sent this update, in which language, with which roles."""

    user_id: int
    chat_id: int
    first_name: str
    language: str
    tr: Translator
    roles: Roles
    consented: bool
    last_estate_id: str | None
    prompts_enabled: bool = True


def runtime_of(context: ContextTypes.DEFAULT_TYPE) -> Runtime:
    return context.application.bot_data["runtime"]


async def visitor(update: Update, context: ContextTypes.DEFAULT_TYPE) -> Visitor:
    rt = runtime_of(context)
    tg_user = update.effective_user
    assert tg_user is not None, "handlers that need a visitor only receive updates from users"
    cached = await rt.cached_user(tg_user.id, tg_user.first_name or "", tg_user.language_code)
    language = pick_language(cached.language, tg_user.language_code)
    return Visitor(
        user_id=tg_user.id,
        chat_id=update.effective_chat.id if update.effective_chat else tg_user.id,
        first_name=tg_user.first_name or "",
        language=language,
        tr=translator(language, rt.settings.timezone.key),
        roles=cached.roles,
        consented=cached.consented,
        last_estate_id=cached.last_estate_id,
        prompts_enabled=cached.prompts_enabled,
    )


class FrontDeskContext(CallbackContext[ExtBot, dict, dict, dict]):
    """The context every handler receives (bot/app.py: `ContextTypes(context=FrontDeskContext)`). PTB builds one per
    update and passes it to every group, so what is read here is read once: `rt` the runtime, `visitor` who is
    writing (read by the opening handler in group -1, handlers.privacy.consent_gate), `data` the decoded callback."""

    def __init__(self, application: Application, chat_id: int | None = None, user_id: int | None = None) -> None:
        super().__init__(application, chat_id, user_id)
        self._update: Update | None = None
        self._visitor: Visitor | None = None
        self._data: callbacks.Decoded | None = None

    @classmethod
    def from_update(cls, update: object, application: Application) -> FrontDeskContext:  # type: ignore[override]
        context = super().from_update(update, application)
        if isinstance(update, Update):
            context._update = update
        return context

    @property
    def rt(self) -> Runtime:
        return self.application.bot_data["runtime"]

    async def open(self) -> Visitor:
        """The visitor of this update, read on first use (the cached user, so usually no query)."""
        if self._visitor is None:
            assert self._update is not None, "a visitor exists only for updates"
            self._visitor = await visitor(self._update, self)
        return self._visitor

    async def reopen(self) -> Visitor:
        """After a write that changed who the visitor is (language, roles): read again."""
        self._visitor = None
        return await self.open()

    @property
    def visitor(self) -> Visitor:
        assert self._visitor is not None, "the visitor is read by the opening handler (group -1) or context.open()"
        return self._visitor

    @property
    def data(self) -> callbacks.Decoded:
        """The decoded callback of a button press (bot/callbacks.py); handlers are routed by its pattern, so it
        decodes."""
        if self._data is None:
            assert self._update is not None and self._update.callback_query is not None
            self._data = callbacks.decode(self._update.callback_query.data)
        return self._data
