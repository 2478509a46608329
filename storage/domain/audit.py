"""The record of who read or exported personal data: staff opening a ticket with the tenant's details, an
operator opening a booking with the tenant's name and phone, every export with personal data, every forgetting
and purge. Who, what, when; listed by `qcbot audit`; kept QC_RETAIN_AUDIT_DAYS."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database
from storage.models import AuditRecord, User

ACTIONS = ("ticket_view", "booking_view", "export", "forget", "purge")


async def record(session: AsyncSession, actor_id: int | None, action: str, subject: str, now: datetime) -> None:
    if action not in ACTIONS:
        raise ValueError(f"audit action {action!r} is not one of {ACTIONS}")
    session.add(AuditRecord(at=now, actor_id=actor_id, action=action, subject=subject[:160]))


async def record_now(db: Database, actor_id: int | None, action: str, subject: str, now: datetime) -> None:
    async with db.write() as session:
        await record(session, actor_id, action, subject, now)


async def records(db: Database, *, since: datetime, actor_id: int | None = None, limit: int = 1000) -> list[AuditRecord]:
    """Newest first."""
    query = select(AuditRecord).where(AuditRecord.at >= since)
    if actor_id is not None:
        query = query.where(AuditRecord.actor_id == actor_id)
    async with db.read(long=True) as session:
        return list((await session.scalars(query.order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).limit(limit))).all())


async def count(db: Database) -> int:
    async with db.read() as session:
        return await session.scalar(select(func.count(AuditRecord.id))) or 0


async def page(db: Database, *, offset: int, limit: int) -> list[tuple[AuditRecord, str | None]]:
    """A page of the record, newest first, with each actor's name where they are still a user."""
    async with db.read() as session:
        rows = await session.execute(
            select(AuditRecord, User.first_name).outerjoin(User, User.id == AuditRecord.actor_id)
            .order_by(AuditRecord.at.desc(), AuditRecord.id.desc()).offset(offset).limit(limit)
        )
        return [(item, name) for item, name in rows.all()]


async def recorded_since(session: AsyncSession, action: str, subject_prefix: str, since: datetime) -> bool:
    """Whether an action on such a subject was recorded since then (a daily job's "done today")."""
    found = await session.scalar(select(AuditRecord.id).where(
        AuditRecord.action == action, AuditRecord.subject.startswith(subject_prefix), AuditRecord.at >= since).limit(1))
    return found is not None
