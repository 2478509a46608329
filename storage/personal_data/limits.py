"""The daily caps (storage/limits.py): how many tickets, comments, photos and "me too" a person used on a day.

Nothing to export: a count of today's actions, whose actions themselves are in My data. Forgetting deletes the
counts; past days' counts are of no use and go with the drafts (QC_RETAIN_DRAFTS_DAYS).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DailyUsage
from storage.personal_data._helpers import count, delete_batch
from storage.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


async def _export(session: AsyncSession, user_id: int) -> dict[str, list[dict]]:
    return {}


async def _forget(session: AsyncSession, forgetting: Forgetting) -> None:
    await session.execute(delete(DailyUsage).where(DailyUsage.user_id == forgetting.user_id))


def _before(cutoff: datetime):  # type: ignore[no-untyped-def]
    return DailyUsage.day < cutoff.date().isoformat()  # ISO dates sort as text


async def _count_old(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, DailyUsage, _before(cutoff))


async def _purge_old(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, DailyUsage, DailyUsage.id, limit, _before(cutoff)))


register(PersonalDataSource(
    name="daily_caps",
    person_columns={"daily_usage": ("user_id",)},
    export=_export,
    forget=_forget,
    retention=(RetentionRule("daily_usage", "drafts_days", _count_old, _purge_old),),
))
