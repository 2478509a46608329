"""Daily caps (storage/domain/limits.py): how many tickets, comments, photos and "me too" a person used on a day.

Only today's count matters to the cap; a row is kept no longer than the drafts are (QC_RETAIN_DRAFTS_DAYS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import DailyUsage
from storage.personal_data._helpers import forget_with, how_many, record, rows, rows_deleted_when, theirs
from storage.domain.privacy import Forgetting, PersonalDataSource, register


async def _export(session: AsyncSession, user_id: int) -> dict[str, list[dict]]:
    used = await rows(session, DailyUsage, DailyUsage.user_id == user_id, order=DailyUsage.day)
    return {"daily_counts": [record(row, "day", "kind", "used") for row in used]}


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"daily_counts": how_many(DailyUsage, DailyUsage.user_id == user_id)}


_USED = theirs(DailyUsage.user_id)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    forget_with(connection, forgetting, _USED)


def _before(cutoff: datetime):  # type: ignore[no-untyped-def]
    return DailyUsage.day < cutoff.date().isoformat()  # ISO dates compare as text


register(PersonalDataSource(
    name="daily_counts",
    person_columns={"daily_usage": ("user_id",)},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(rows_deleted_when("daily_counts", "drafts_days", DailyUsage.id, _before),),
))
