"""The outbox: outgoing alerts and notifications written in the same transaction as the change they report.

Delivery (bot/outbox_sender.py) claims due rows with a lease, so a second instance or a restart never sends a
row that another sender is holding, and a crashed sender's rows come back when the lease runs out.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, and_, bindparam, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import OutboxMessage

# A guard is checked just before delivery; False drops the row (e.g. a reminder for a cancelled booking).
Guard = Callable[[AsyncSession, str, datetime], Awaitable[bool]]
GUARDS: dict[str, Guard] = {}
EDIT_REF = "_edit_ref"  # params key: [kind, ref] of an earlier message in the same chat whose message_id to edit


# The row a change queues, built once (a booking queues two reminders; built per call through the ORM's INSERT
# path the statement cost more CPU than running it). Parameters are prefixed: Core would take a column's own name
# as one more value to write.
_outbox = OutboxMessage.__table__
_ENQUEUE = {
    name: dialect.insert(_outbox).values(
        status="pending", attempts=0,
        **{column: bindparam(f"new_{column}", type_=_outbox.c[column].type)
           for column in ("dedupe_key", "chat_id", "method", "params", "guard", "kind", "ref", "not_before", "created_at")},
    ).on_conflict_do_nothing(index_elements=["dedupe_key"])
    for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))
}


def register_guard(name: str, check: Guard) -> None:
    GUARDS[name] = check


async def enqueue(session: AsyncSession, **message: Any) -> None:
    """Add a call to deliver; a second call with the same dedupe_key is ignored (one delivery per state change).
    The arguments are enqueue_on's."""
    await session.execute(_ENQUEUE[session.bind.dialect.name], _enqueued(**message))


def enqueue_on(connection: Connection, **message: Any) -> None:
    """enqueue on a Connection (Database.write_now, storage.db.core_in_session)."""
    connection.execute(_ENQUEUE[connection.dialect.name], _enqueued(**message))


def enqueue_all_on(connection: Connection, messages: list[dict[str, Any]]) -> None:
    """enqueue_on for several messages (each a dict of enqueue_on's arguments) in one executemany: on PostgreSQL one
    round trip for them all (asyncpg sends the rows together), where a statement each waited a turn of the loop each."""
    if messages:
        connection.execute(_ENQUEUE[connection.dialect.name], [_enqueued(**message) for message in messages])


def _enqueued(
    *,
    chat_id: int,
    method: str,
    params: dict,
    dedupe_key: str,
    now: datetime,
    not_before: datetime | None = None,
    guard: str | None = None,
    kind: str = "",
    ref: str = "",
) -> dict[str, Any]:
    values = dict(
        dedupe_key=dedupe_key[:160], chat_id=chat_id, method=method, params={**params, "chat_id": chat_id},
        guard=guard, kind=kind, ref=ref, not_before=not_before or now, created_at=now,
    )
    return {f"new_{name}": value for name, value in values.items()}


def _due(now: datetime):  # type: ignore[no-untyped-def]
    return and_(
        OutboxMessage.status == "pending",
        OutboxMessage.not_before <= now,
        or_(OutboxMessage.lease_until.is_(None), OutboxMessage.lease_until < now),
    )


async def claim_due(db: Database, now: datetime, limit: int = 100, lease: timedelta = timedelta(seconds=60)) -> list[OutboxMessage]:
    # The sender asks every second and most seconds nothing is due: a read finds that out without taking a
    # writer's turn (on SQLite, the one writer every tenant's change queues behind).
    async with db.read() as session:
        if await session.scalar(select(OutboxMessage.id).where(_due(now)).limit(1)) is None:
            return []
    async with db.write() as session:
        query = select(OutboxMessage.id).where(_due(now)).order_by(OutboxMessage.id).limit(limit)
        if not db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        ids = list((await session.scalars(query)).all())
        if not ids:
            return []
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), _due(now))
            .values(lease_until=now + lease, attempts=OutboxMessage.attempts + 1)
        )
        rows = await session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id))
        return list(rows.all())


async def finish(db: Database, row_id: int, status: str, now: datetime, *, message_id: int | None = None, error: str | None = None) -> None:
    async with db.write() as session:
        await session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == row_id)
            .values(status=status, sent_at=now if status == "sent" else None, message_id=message_id,
                    last_error=error, lease_until=None, in_doubt=False)
        )


async def begin_attempt(db: Database, row_id: int) -> None:
    """Just before a message is handed to Telegram: until the row is marked, its outcome is in doubt."""
    async with db.write() as session:
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(in_doubt=True))


async def retry_later(db: Database, row_id: int, at: datetime, error: str, *, count_attempt: bool = True,
                      in_doubt: bool | None = None) -> None:
    async with db.write() as session:
        values: dict = dict(not_before=at, lease_until=None, last_error=error[:500])
        if not count_attempt:
            values["attempts"] = OutboxMessage.attempts - 1
        if in_doubt is not None:
            values["in_doubt"] = in_doubt
        await session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id).values(**values))


async def check_guard(db: Database, guard: str | None, now: datetime) -> bool:
    if not guard:
        return True
    name, _, argument = guard.partition(":")
    check = GUARDS.get(name)
    if check is None:
        return False  # a guard nobody knows any more: safer not to send
    async with db.read() as session:
        return await check(session, argument, now)


async def sent_message_id(db: Database, chat_id: int, kind: str, ref: str) -> tuple[str, int | None]:
    """The state and message_id of the newest message of that kind/ref in the chat, for edits of alerts."""
    async with db.read() as session:
        row = (
            await session.execute(
                select(OutboxMessage.status, OutboxMessage.message_id)
                .where(OutboxMessage.chat_id == chat_id, OutboxMessage.kind == kind, OutboxMessage.ref == ref,
                       OutboxMessage.method.in_(("sendMessage", "sendPhoto")))
                .order_by(OutboxMessage.id.desc())
                .limit(1)
            )
        ).first()
    if row is None:
        return "missing", None
    return row[0], row[1]


async def chats_alerted(session: AsyncSession, kind: str, ref: str) -> list[int]:
    """The chats that were sent a message of that kind about `ref` (whose alert is edited when it is settled)."""
    rows = await session.scalars(
        select(OutboxMessage.chat_id).where(OutboxMessage.kind == kind, OutboxMessage.ref == ref).distinct()
    )
    return list(rows.all())
