"""Per-user daily caps on what alerts or loads the custodians: tickets, comments, photos and "me too".

A cap is counted per person and local day in `daily_usage` and taken with a conditional UPDATE (`used < cap`), in
the caller's transaction: two updates at once never both pass the last free unit, and a refused action rolls back
with the rest of its transaction. Counts live in the database, so they hold across restarts and instances.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
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


async def take(session: AsyncSession, caps: DailyCaps, user_id: int, kind: str, now: datetime, amount: int = 1) -> None:
    """Count `amount` uses of `kind` today, or raise LimitReached (counting nothing) if that would pass the cap."""
    cap = caps.cap(kind)
    day = now.astimezone(caps.timezone).date().isoformat()
    insert = dialect_insert(session)
    await session.execute(
        insert(DailyUsage).values(user_id=user_id, day=day, kind=kind, used=0)
        .on_conflict_do_nothing(index_elements=["user_id", "day", "kind"])
    )
    taken = await session.execute(
        update(DailyUsage)
        .where(DailyUsage.user_id == user_id, DailyUsage.day == day, DailyUsage.kind == kind,
               DailyUsage.used + amount <= cap)
        .values(used=DailyUsage.used + amount)
    )
    if taken.rowcount != 1:
        raise LimitReached(kind, cap)
