"""Daily caps (storage/domain/limits.py): how many tickets, comments, photos and "me too" a person used on a day.

Only today's count matters to the cap; a row is kept no longer than the drafts are (QC_RETAIN_DRAFTS_DAYS)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection

from storage.models import DailyUsage
from storage.personal_data._helpers import forget_with, how_many, listed, record, rows_deleted_when, theirs, theirs_listed
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_USED_READ = theirs_listed(DailyUsage.user_id, order=DailyUsage.__table__.c.day)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    used = listed(connection, _USED_READ, user_id)
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
