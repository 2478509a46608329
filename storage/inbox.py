"""The inbox: updates stored as Telegram hands them over, handled from here, marked when handled.

An update is Telegram's until `store()` has committed it (the webhook answers 200, the long poll asks for the next
offset, only after that) and the product's from then on. `pending()` gives what a crashed process left behind,
oldest first; `mark_handled()` follows each handler. Storing an update id twice is a no-op, so an update Telegram
sends again (its 200 was lost) is neither lost nor handled twice.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import InboxUpdate

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


async def store(db: Database, payloads: Iterable[dict], now: datetime, owner: str) -> list[int]:
    """Store updates in one transaction, held by `owner`; returns the ids that were new (a repeated delivery is
    not handled twice)."""
    rows = [
        dict(update_id=int(payload["update_id"]), chat_id=chat_of(payload), payload=payload, received_at=now,
             owner=owner, lease_until=now + LEASE)
        for payload in payloads
    ]
    if not rows:
        return []
    async with db.write() as session:
        insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
        statement = (insert(InboxUpdate).values(rows).on_conflict_do_nothing(index_elements=["update_id"])
                     .returning(InboxUpdate.update_id))
        new = set((await session.scalars(statement)).all())
    return [row["update_id"] for row in rows if row["update_id"] in new]


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


async def renew(db: Database, owner: str, now: datetime) -> None:
    """The holder is alive: its unhandled updates stay its own for another lease."""
    async with db.write() as session:
        await session.execute(update(InboxUpdate)
                              .where(InboxUpdate.owner == owner, InboxUpdate.handled_at.is_(None))
                              .values(lease_until=now + LEASE))


async def mark_handled(db: Database, update_id: int, now: datetime) -> None:
    """Handled: what the person sent is forgotten here (an anonymous comment must not stay beside its author's id);
    the id stays a day, to recognise the update if Telegram delivers it again."""
    async with db.write() as session:
        await session.execute(
            update(InboxUpdate).where(InboxUpdate.update_id == update_id)
            .values(handled_at=now, payload={}, lease_until=None)
        )


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
