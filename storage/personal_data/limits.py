"""Daily caps (storage/limits.py): how many tickets, comments, photos and "me too" a person used on a day.

Only today's count matters to the cap; a row is kept no longer than the drafts are (QC_RETAIN_DRAFTS_DAYS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DailyUsage
from storage.personal_data._helpers import count, delete_batch, record, rows
from storage.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


async def _export(session: AsyncSession, user_id: int) -> dict[str, list[dict]]:
    used = await rows(session, DailyUsage, DailyUsage.user_id == user_id, order=DailyUsage.day)
    return {"daily_counts": [record(row, "day", "kind", "used") for row in used]}


async def _forget(session: AsyncSession, forgetting: Forgetting) -> None:
    await session.execute(delete(DailyUsage).where(DailyUsage.user_id == forgetting.user_id))


def _before(cutoff: datetime):  # type: ignore[no-untyped-def]
    return DailyUsage.day < cutoff.date().isoformat()  # ISO dates compare as text


async def _count_old(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, DailyUsage, _before(cutoff))


async def _purge_old(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, DailyUsage, DailyUsage.id, limit, _before(cutoff)))


register(PersonalDataSource(
    name="daily_counts",
    person_columns={"daily_usage": ("user_id",)},
    export=_export,
    forget=_forget,
    retention=(RetentionRule("daily_counts", "drafts_days", _count_old, _purge_old),),
))
