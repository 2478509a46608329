"""The inbox: updates stored as Telegram hands them over, handled from here, marked when handled.

An update is Telegram's until `store()` has committed it (the webhook answers 200, the long poll asks for the next
offset, only after that) and the product's from then on. `claim_leftovers()` gives what a crashed process left
behind, oldest first; `mark_handled()` follows each handler. Storing an update id twice is a no-op, so an update
Telegram sends again (its 200 was lost) is neither lost nor handled twice. A running bot goes through
`InboxWriter`, which writes the stores and marks of many updates in one transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

import orjson
from sqlalchemy import and_, bindparam, delete, or_, select, text, update

from storage.db import Database
from storage.models import InboxUpdate

INBOX = InboxUpdate.__table__
# Handled rows are kept this long (to tell a repeated delivery from a new update), then purged.
KEEP_HANDLED = timedelta(days=1)
LEASE = timedelta(seconds=60)  # renewed every LEASE/3 by the process holding the rows (bot.inbox)
PURGE_BATCH = 1000


def chat_of(payload: dict) -> int:
    """The chat an update belongs to (0 for none): what orders updates in the inbox and the processor."""
    for kind in ("message", "edited_message", "channel_post", "my_chat_member", "chat_member"):
        if isinstance(payload.get(kind), dict):
            return int(payload[kind].get("chat", {}).get("id", 0))
    query = payload.get("callback_query")
    if isinstance(query, dict):
        message = query.get("message")
        if isinstance(message, dict) and isinstance(message.get("chat"), dict):
            return int(message["chat"]["id"])
        return int(query.get("from", {}).get("id", 0))
    return 0


# PostgreSQL: a store and the marks asked for meanwhile, in ONE statement (atomic by itself, so without BEGIN and
# COMMIT): every statement there is a round trip that waits a turn of the busy loop, and a transaction of an INSERT,
# a SELECT and the marks was five of them, while each update waited for about two such writes (docs/performance.md,
# eleventh session). The rows come as arrays, so the text is the same for any number of them: one prepared statement
# (a text per count would have been prepared again and again, a round trip each). It also says, for each new
# update, whether its chat has an unhandled update held by another instance (seen as it was when the statement
# began): only those ask again before their turn (bot.inbox.InboxDispatcher.wait_for_turn); asking for every update
# was ~11 % of the bot's CPU under the task mix. A mark is never for a row this statement inserts (only stored,
# handled updates are marked), so the two never touch one row. The mark empties what _MARK_HANDLED empties.
_PG_WRITE = text("""
WITH marked AS (
    UPDATE inbox SET handled_at = mark.handled_at, payload = '{}', lease_until = NULL, chat_id = 0
    FROM unnest(CAST(:handled_ids AS BIGINT[]), CAST(:handled_ats AS TIMESTAMPTZ[])) AS mark (update_id, handled_at)
    WHERE inbox.update_id = mark.update_id
), stored AS (
    INSERT INTO inbox (update_id, chat_id, payload, received_at, owner, lease_until)
    SELECT new.update_id, new.chat_id, CAST(new.payload AS JSON), new.received_at, :owner, new.lease_until
    FROM unnest(CAST(:update_ids AS BIGINT[]), CAST(:chat_ids AS BIGINT[]), CAST(:payloads AS TEXT[]),
                CAST(:received_ats AS TIMESTAMPTZ[]), CAST(:lease_untils AS TIMESTAMPTZ[]))
         AS new (update_id, chat_id, payload, received_at, lease_until)
    ON CONFLICT (update_id) DO NOTHING
    RETURNING update_id, chat_id
)
SELECT stored.update_id, EXISTS (
    SELECT FROM inbox WHERE inbox.handled_at IS NULL AND inbox.chat_id = stored.chat_id AND inbox.owner <> :owner
) AS held_elsewhere
FROM stored
""")
_MARK_HANDLED = (
    update(INBOX).where(INBOX.c.update_id == bindparam("handled_id"))
    .values(handled_at=bindparam("handled_at"), payload={}, lease_until=None, chat_id=0)
)


def _rows(payloads: Sequence[dict], now: datetime, owner: str, texts: Sequence[str] | None = None) -> list[dict]:
    """texts: each payload as Telegram sent it (JSON), stored as is on SQLite instead of serialised again."""
    lease_until = now + LEASE
    return [
        dict(update_id=int(payload["update_id"]), chat_id=chat_of(payload), payload=payload, received_at=now,
             owner=owner, lease_until=lease_until, handled_at=None, text=texts[number] if texts else None)
        for number, payload in enumerate(payloads)
    ]


# No RETURNING: SQLite's count of changed rows tells a new update from one stored already, for less.
_SQLITE_STORE = (
    "INSERT INTO inbox (update_id, chat_id, payload, received_at, owner, lease_until, handled_at) "
    "VALUES (?, ?, ?, ?, ?, ?, NULL) ON CONFLICT (update_id) DO NOTHING"
)
_SQLITE_MARK = "UPDATE inbox SET handled_at = ?, payload = ?, lease_until = NULL, chat_id = 0 WHERE update_id = ?"


def _json_text(payload: dict) -> str:
    """A getUpdates item as JSON text (long polling: PTB hands over the parsed page). orjson writes it ~10 times
    faster than the json.dumps SQLAlchemy's JSON type would use; it reads back through SQLAlchemy the same."""
    return orjson.dumps(payload).decode()


@lru_cache(maxsize=1)
def _sqlite_binders(dialect: Any) -> dict[str, Callable[[Any], Any]]:
    """How SQLAlchemy binds each column on SQLite (the date format, JSON), so rows written on the plain connection
    read back through SQLAlchemy exactly like the others."""
    return {column.name: column.type.bind_processor(dialect) or (lambda value: value) for column in INBOX.columns}


def _write_sqlite_now(db: Database, connection: sqlite3.Connection, rows: list[dict], handled: list[dict]) -> set[int]:
    """The statements of `_write` on SQLite, in the caller's transaction."""
    bind = _sqlite_binders(db.write_engine.dialect)
    # The rows of one store share their times (received_at, lease_until: one column type): each is bound once.
    stamps: dict[datetime, Any] = {}

    def stamp(value: datetime) -> Any:
        bound = stamps.get(value)
        if bound is None:
            bound = stamps[value] = bind["received_at"](value)
        return bound

    new: set[int] = set()
    for row in rows:
        as_sent = row["text"]
        stored = connection.execute(_SQLITE_STORE, (
            row["update_id"], row["chat_id"], _json_text(row["payload"]) if as_sent is None else as_sent,
            stamp(row["received_at"]), row["owner"], stamp(row["lease_until"]),
        )).rowcount
        if stored:
            new.add(row["update_id"])
    if handled:
        empty = bind["payload"]({})
        connection.executemany(_SQLITE_MARK, [
            (bind["handled_at"](mark["handled_at"]), empty, mark["handled_id"]) for mark in handled
        ])
    return new


async def _write_sqlite(db: Database, rows: list[dict], handled: list[dict]) -> set[int]:
    async with db.sqlite_write_connection() as connection:
        return _write_sqlite_now(db, connection, rows, handled)


async def _write(db: Database, rows: list[dict], handled: list[dict]) -> tuple[set[int], set[int]]:
    """One transaction (on PostgreSQL one statement): store rows, mark updates handled; returns the stored ids that
    were new, and (PostgreSQL) those of them whose chat had no unhandled update held by another instance when they
    were stored: Telegram sends a chat's next update only once the last one is acknowledged, so none older can come
    later (SQLite: one instance, always empty)."""
    if db.is_sqlite:
        return await _write_sqlite(db, rows, handled), set()
    if not rows:  # marks alone: one statement for them all (asyncpg's executemany is atomic by itself)
        if handled:
            await db.write_one(lambda connection: connection.execute(_MARK_HANDLED, handled))
        return set(), set()
    found = await db.write_one(lambda connection: connection.execute(_PG_WRITE, {
        "handled_ids": [mark["handled_id"] for mark in handled], "handled_ats": [mark["handled_at"] for mark in handled],
        "owner": rows[0]["owner"], "update_ids": [row["update_id"] for row in rows],
        "chat_ids": [row["chat_id"] for row in rows],
        "payloads": [_json_text(row["payload"]) if row["text"] is None else row["text"] for row in rows],
        "received_ats": [row["received_at"] for row in rows], "lease_untils": [row["lease_until"] for row in rows],
    }).all())
    new = {update_id for update_id, _held_elsewhere in found}
    clear = {update_id for update_id, held_elsewhere in found if not held_elsewhere}
    return new, clear


async def store(db: Database, payloads: Sequence[dict], now: datetime, owner: str) -> list[int]:
    """Store updates in one transaction, held by `owner`; returns the ids that were new (a repeated delivery is
    not handled twice)."""
    rows = _rows(payloads, now, owner)
    new, _clear = await _write(db, rows, []) if rows else (set(), set())
    return [row["update_id"] for row in rows if row["update_id"] in new]


# At most this many "clear" ids wait to be asked about; beyond it they are forgotten (and those updates ask).
CLEAR_KEPT = 10_000


class InboxWriter:
    """Group commit: the stores and marks asked for while a transaction is being written go together in the next
    one, and each caller returns once its own is committed. Under load one transaction carries the inbox's writes
    of many updates (a transaction per update cost as much CPU as handling the update).

    On SQLite a transaction lets the loop go nowhere (`Database.sqlite_write_now`, ~0.1 ms): a store (a webhook's
    update, a getUpdates page) is written at once, with every mark asked for meanwhile, and its caller waits no
    turn of the event loop; marks alone are written together at the loop's next turn. Through the writer's turn
    (a task awaiting the turn, a checkout, a shielded close) a store waited ~6 turns, each as long as everything
    else the busy loop had to do: a webhook's 200 came 68 ms p50 after its POST, while Telegram keeps only 40 POSTs
    in flight (docs/performance.md, the webhook's 200). The task remains for when a handler's transaction holds
    the turn across an await or another process holds the write lock, and for PostgreSQL."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._rows: list[dict] = []
        self._handled: list[dict] = []
        self._waiting: list[asyncio.Future] = []
        self._writer: asyncio.Task | None = None
        self._flush_due = False  # SQLite: _flush_now is scheduled for the loop's next turn
        self._clear: set[int] = set()  # PostgreSQL: stored ids whose chat no other instance held (_write)

    async def store(self, payloads: Sequence[dict], now: datetime, owner: str,
                    texts: Sequence[str] | None = None) -> list[int]:
        """texts: the payloads as Telegram sent them (JSON), if at hand: stored as they are on SQLite."""
        queued = {row["update_id"] for row in self._rows}
        rows = [row for row in _rows(payloads, now, owner, texts) if row["update_id"] not in queued]  # sent twice at once
        if not rows:
            return []
        self._rows.extend(rows)
        new = self._write_now() if self.db.is_sqlite and self._writer is None else None
        if new is None:
            new = await self._committed()
        return [row["update_id"] for row in rows if row["update_id"] in new]

    async def mark_handled(self, update_id: int, now: datetime) -> None:
        self._handled.append({"handled_id": update_id, "handled_at": now})
        await self._committed()

    def take_clear(self, update_id: int) -> bool:
        """True, once, if the update was stored by this writer while no other instance held an unhandled update of
        its chat: it need not ask the database before its turn. False for anything else (asking is always safe)."""
        if update_id in self._clear:
            self._clear.discard(update_id)
            return True
        return False

    def _committed(self) -> asyncio.Future:
        loop = asyncio.get_running_loop()
        future = loop.create_future()
        self._waiting.append(future)
        if self._writer is None and not self._flush_due:
            if self.db.is_sqlite:
                self._flush_due = True
                loop.call_soon(self._flush_now)
            else:
                self._writer = asyncio.create_task(self._write_all(), name="inbox-writer")
        return future

    def _take(self) -> tuple[list[dict], list[dict], list[asyncio.Future]]:
        taken = self._rows, self._handled, self._waiting
        self._rows, self._handled, self._waiting = [], [], []
        return taken

    def _flush_now(self) -> None:
        self._flush_due = False
        if self._writer is None and self._waiting:
            with contextlib.suppress(Exception):  # the error has gone to the callers' futures
                self._write_now()

    def _write_now(self) -> set[int] | None:
        """SQLite: what was asked for so far, in one transaction now; returns the stored ids that were new, or None
        when it cannot be written now (the writer's turn is taken): then the writer task writes it."""
        rows, handled, waiting = self._take()
        try:
            written, new = self.db.sqlite_write_now(lambda connection: _write_sqlite_now(self.db, connection, rows, handled))
        except Exception as error:
            _settle(waiting, error=error)
            raise
        if not written:
            self._rows[:0], self._handled[:0], self._waiting[:0] = rows, handled, waiting
            self._writer = asyncio.create_task(self._write_all(), name="inbox-writer")
            return None
        _settle(waiting, new)
        return new

    async def _write_all(self) -> None:
        try:
            while self._waiting:
                rows, handled, waiting = self._take()
                try:
                    new, clear = await _write(self.db, rows, handled)
                except Exception as error:
                    _settle(waiting, error=error)
                    continue
                if len(self._clear) > CLEAR_KEPT:  # ids never asked about (unreadable updates): asking is safe
                    self._clear.clear()
                self._clear.update(clear)
                _settle(waiting, new)
        finally:
            self._writer = None


def _settle(waiting: list[asyncio.Future], new: set[int] | None = None, error: Exception | None = None) -> None:
    for future in waiting:
        if not future.done():
            if error is not None:
                future.set_exception(error)
            else:
                future.set_result(new)


async def pending(db: Database, *, after: int = -1, limit: int = 500) -> list[InboxUpdate]:
    """Updates not handled yet, oldest first (update ids grow with time), starting after `after`."""
    async with db.read() as session:
        rows = await session.scalars(
            select(InboxUpdate)
            .where(InboxUpdate.handled_at.is_(None), InboxUpdate.update_id > after)
            .order_by(InboxUpdate.update_id)
            .limit(limit)
        )
        return list(rows.all())


async def claim_leftovers(db: Database, owner: str, now: datetime, *, others_only: bool = False, after: int = -1,
                          limit: int = 500) -> list[InboxUpdate]:
    """Unhandled updates nobody holds any more, oldest first, now held by `owner`: those a process of the same name
    left (unless others_only) and those whose holder's lease ran out."""
    lapsed = and_(InboxUpdate.owner != owner, InboxUpdate.lease_until < now)
    free = lapsed if others_only else or_(InboxUpdate.owner == owner, lapsed)
    async with db.write() as session:
        query = (select(InboxUpdate.update_id)
                 .where(InboxUpdate.handled_at.is_(None), InboxUpdate.update_id > after, free)
                 .order_by(InboxUpdate.update_id).limit(limit))
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.scalars(query)).all())
        if not ids:
            return []
        await session.execute(update(InboxUpdate).where(InboxUpdate.update_id.in_(ids))
                              .values(owner=owner, lease_until=now + LEASE))
        rows = await session.scalars(select(InboxUpdate).where(InboxUpdate.update_id.in_(ids)).order_by(InboxUpdate.update_id))
        return list(rows.all())


_OLDER_PENDING = (
    select(INBOX.c.update_id)
    .where(INBOX.c.handled_at.is_(None), INBOX.c.chat_id == bindparam("chat_id"),
           INBOX.c.update_id < bindparam("update_id"), INBOX.c.owner != bindparam("owner"))
    .limit(1)
)


async def older_pending_elsewhere(db: Database, chat_id: int, update_id: int, owner: str) -> bool:
    """Whether an older update of this chat, held by another instance (or left by a dead one), is still unhandled:
    the newer one must wait for it (per-chat order across instances; bot.inbox.InboxDispatcher.wait_for_turn)."""
    async with db.read() as session:
        connection = await session.connection()
        found = await connection.execute(_OLDER_PENDING, {"chat_id": chat_id, "update_id": update_id, "owner": owner})
        return found.first() is not None


async def renew(db: Database, owner: str, now: datetime) -> None:
    """The holder is alive: its unhandled updates stay its own for another lease."""
    async with db.write() as session:
        await session.execute(update(InboxUpdate)
                              .where(InboxUpdate.owner == owner, InboxUpdate.handled_at.is_(None))
                              .values(lease_until=now + LEASE))


async def mark_handled(db: Database, update_id: int, now: datetime) -> None:
    """Handled: what the person sent and whose chat it was are forgotten here (an anonymous comment must not stay
    beside its author's id); the update's id stays a day, to recognise it if Telegram delivers it again."""
    marked = {"handled_id": update_id, "handled_at": now}
    await db.write_one(lambda connection: connection.execute(_MARK_HANDLED, marked))


async def purge_handled(db: Database, now: datetime, keep: timedelta = KEEP_HANDLED) -> int:
    """Delete handled rows older than `keep`, a batch per transaction; returns how many went."""
    purged = 0
    while True:
        async with db.write() as session:
            ids = list((await session.scalars(
                select(InboxUpdate.update_id)
                .where(InboxUpdate.handled_at.is_not(None), InboxUpdate.handled_at < now - keep)
                .limit(PURGE_BATCH)
            )).all())
            if ids:
                await session.execute(delete(InboxUpdate).where(InboxUpdate.update_id.in_(ids)))
        purged += len(ids)
        if len(ids) < PURGE_BATCH:
            return purged
        await asyncio.sleep(0)  # let the bot answer between batches
