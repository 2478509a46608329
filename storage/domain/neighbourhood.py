"""Neighbourhood life for tenants: where they live, what they follow, interest in job offers, announcing new items
to followers once. Plain async code over a session; permissions and ownership are checked here."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import broadcast
from storage.content import Content
from storage.db import dialect_insert
from storage.content.events import KINDS, Item, Programme
from storage.models import AnnouncedItem, Follow, JobInterest, TenantHome


# --- where tenants live


async def home_of(session: AsyncSession, user_id: int) -> TenantHome | None:
    return await session.get(TenantHome, user_id)


async def set_home(session: AsyncSession, user_id: int, estate_id: str, building: str, staircase: str, now: datetime,
                   *, source: str = "settings") -> None:
    values = dict(user_id=user_id, estate_id=estate_id, building=building, staircase=staircase, source=source, updated_at=now)
    statement = dialect_insert(session)(TenantHome).values(**values)
    await session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_={
        key: statement.excluded[key] for key in ("estate_id", "building", "staircase", "source", "updated_at")
    }))


async def remember_from_report(session: AsyncSession, user_id: int, estate_id: str, building: str | None,
                               staircase: str | None, now: datetime) -> None:
    """A tenant's own report tells where they live, unless they said it themselves in settings."""
    home = await session.get(TenantHome, user_id)
    if home is not None and home.source == "settings":
        return
    await set_home(session, user_id, estate_id, building or "", staircase or "", now, source="report")


# --- follows


def topic_valid(topic: str, content: Content) -> bool:
    kind, _, ref = topic.partition(":")
    if topic == "digest":
        return True
    return (kind == "space" and ref in content.spaces) or (kind == "kind" and ref in KINDS)


async def follows_of(session: AsyncSession, user_id: int) -> set[str]:
    return set((await session.scalars(select(Follow.topic).where(Follow.user_id == user_id))).all())


async def follow(session: AsyncSession, user_id: int, topic: str, now: datetime) -> None:
    await session.execute(
        dialect_insert(session)(Follow).values(user_id=user_id, topic=topic, created_at=now).on_conflict_do_nothing(index_elements=["user_id", "topic"])
    )


async def unfollow(session: AsyncSession, user_id: int, topic: str) -> bool:
    return bool((await session.execute(delete(Follow).where(Follow.user_id == user_id, Follow.topic == topic))).rowcount)


# --- new items reach their followers once


def item_topics(item: Item) -> str:
    return f"space:{item.space_id},kind:{item.kind}"


async def announce_new_items(session: AsyncSession, programme: Programme, now: datetime, tz: ZoneInfo) -> list[int]:
    """Queue one broadcast per item never announced and still open; returns the broadcasts' ids. An item is
    marked announced in the same transaction, so a reload, a restart or a second instance announces it once."""
    known = set((await session.scalars(select(AnnouncedItem.item_id))).all())
    today = now.astimezone(tz).date()
    created = []
    for item in programme.items.values():
        if item.id in known or not item.is_open(today):
            continue
        inserted = await session.execute(
            dialect_insert(session)(AnnouncedItem).values(item_id=item.id, announced_at=now).on_conflict_do_nothing(index_elements=["item_id"])
        )
        if not inserted.rowcount:
            continue
        queued = await broadcast.queue_bot_broadcast(session, kind="item", audience="item", ref=item_topics(item), now=now, tz=tz)
        queued.text = item.id
        created.append(queued.id)
        await session.execute(AnnouncedItem.__table__.update().where(AnnouncedItem.item_id == item.id).values(broadcast_id=queued.id))
    return created


async def mark_all_announced(session: AsyncSession, programme: Programme, now: datetime) -> None:
    """On the very first start nothing is 'new': the whole programme is taken as already announced. One statement
    for all the items: a statement built and run for each held the writer's turn ~0.1 s while tenants' writes
    waited (the job runs a second after the start)."""
    rows = [{"item_id": item.id, "announced_at": now} for item in programme.items.values()]
    if rows:
        await session.execute(
            dialect_insert(session)(AnnouncedItem).on_conflict_do_nothing(index_elements=["item_id"]), rows
        )


async def anything_announced(session: AsyncSession) -> bool:
    return await session.scalar(select(AnnouncedItem.item_id).limit(1)) is not None


# --- weekly digest: Monday morning


def digest_due(now: datetime, tz: ZoneInfo) -> date | None:
    """The Monday whose digest is due now (Monday 08:00-12:00 local: a bot down all morning skips a week rather
    than sending "this week" in the evening), else None."""
    local = now.astimezone(tz)
    if local.weekday() == 0 and 8 <= local.hour < 12:
        return local.date()
    return None


async def queue_digest(session: AsyncSession, monday: date, now: datetime, tz: ZoneInfo) -> int | None:
    """One digest broadcast per Monday (its key in announced_items keeps it single across instances)."""
    key = f"digest:{monday:%Y%m%d}"
    inserted = await session.execute(
        dialect_insert(session)(AnnouncedItem).values(item_id=key, announced_at=now).on_conflict_do_nothing(index_elements=["item_id"])
    )
    if not inserted.rowcount:
        return None
    queued = await broadcast.queue_bot_broadcast(session, kind="digest", audience="digest", ref="", now=now, tz=tz)
    queued.text = monday.isoformat()
    return queued.id


# --- job offers: "I'm interested"


async def register_interest(session: AsyncSession, user_id: int, item: Item, name: str, phone: str | None,
                            today: date, now: datetime) -> bool:
    """False when the tenant had already said so (nothing is sent twice) or the offer is closed."""
    if item.kind != "jobs" or not item.is_open(today):
        return False
    inserted = await session.execute(
        dialect_insert(session)(JobInterest).values(user_id=user_id, job_id=item.id, name=name[:128], phone=phone, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "job_id"])
    )
    return bool(inserted.rowcount)


async def has_interest(session: AsyncSession, user_id: int, job_id: str) -> bool:
    return await session.get(JobInterest, (user_id, job_id)) is not None
