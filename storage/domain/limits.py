"""Per-user daily caps on what alerts or loads the custodians: tickets, comments, photos and "me too".

A cap is counted per person and local day in `daily_usage` and taken with a conditional UPDATE (`used < cap`), in
the caller's transaction: two updates at once never both pass the last free unit, and a refused action rolls back
with the rest of its transaction. Counts live in the database, so they hold across restarts and instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import bindparam, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, core_in_session
from storage.models import DailyUsage

KINDS = ("ticket", "comment", "photo", "me_too")


class LimitReached(Exception):
    """Today's cap for this kind of action is used up; nothing was changed."""

    def __init__(self, kind: str, cap: int) -> None:
        super().__init__(f"daily cap of {cap} {kind} reached")
        self.kind = kind
        self.cap = cap


@dataclass(frozen=True)
class DailyCaps:
    ticket: int = 5
    comment: int = 20
    photo: int = 15
    me_too: int = 10
    timezone: ZoneInfo = ZoneInfo("Europe/Rome")

    def cap(self, kind: str) -> int:
        if kind not in KINDS:
            raise ValueError(f"no daily cap for {kind!r}; use one of {KINDS}")
        return getattr(self, kind)


def caps_of(settings) -> DailyCaps:  # type: ignore[no-untyped-def]
    """The caps configured with QC_DAILY_* (bot/config.py)."""
    return DailyCaps(settings.daily_tickets, settings.daily_comments, settings.daily_photos, settings.daily_me_too,
                     settings.timezone)


# Built once and run as Core: a report's photo takes one of these per message, and in a session of its own the ORM
# statements built on every call cost several times the two indexed ones (docs/performance.md, writes under load).
_usage = DailyUsage.__table__
# The day's row (its columns given when run), if it is not there yet.
_TODAY = {
    name: insert_of(_usage).on_conflict_do_nothing(index_elements=["user_id", "day", "kind"])
    for name, insert_of in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
_TAKE = (update(_usage)
         .where(_usage.c.user_id == bindparam("who"), _usage.c.day == bindparam("on_day"),
                _usage.c.kind == bindparam("of_kind"), _usage.c.used + bindparam("amount") <= bindparam("cap"))
         .values(used=_usage.c.used + bindparam("amount")))


def take_on(connection: Connection, caps: DailyCaps, user_id: int, kind: str, now: datetime, amount: int = 1) -> None:
    """Count `amount` uses of `kind` today, or raise LimitReached (counting nothing: the caller's transaction rolls
    back) if that would pass the cap."""
    cap = caps.cap(kind)
    day = now.astimezone(caps.timezone).date().isoformat()
    connection.execute(_TODAY[connection.dialect.name], {"user_id": user_id, "day": day, "kind": kind, "used": 0})
    taken = connection.execute(_TAKE, {"who": user_id, "on_day": day, "of_kind": kind, "amount": amount, "cap": cap})
    if taken.rowcount != 1:
        raise LimitReached(kind, cap)


async def take(session: AsyncSession, caps: DailyCaps, user_id: int, kind: str, now: datetime, amount: int = 1) -> None:
    """take_on in the session's transaction."""
    await core_in_session(session, lambda connection: take_on(connection, caps, user_id, kind, now, amount))


async def take_now(db: Database, caps: DailyCaps, user_id: int, kind: str, now: datetime) -> None:
    """take_on in a write transaction of its own, through Database.write_now."""
    await db.write_now(lambda connection: take_on(connection, caps, user_id, kind, now))
