"""What every source needs: a row as a JSON-friendly record, and batched deletes by primary key."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(row: object, *columns: str) -> dict[str, Any]:
    """The named columns of a row, dates as ISO text; empty values left out so the copy reads short."""
    values = {name: plain(getattr(row, name)) for name in columns}
    return {name: value for name, value in values.items() if value not in (None, "", [], {})}


async def rows(session: AsyncSession, model: type, *conditions: ColumnElement[bool], order: Any = None) -> list:
    query = select(model).where(*conditions)
    if order is not None:
        query = query.order_by(order)
    return list((await session.scalars(query)).all())


async def count(session: AsyncSession, model: type, *conditions: ColumnElement[bool]) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


async def delete_batch(session: AsyncSession, model: type, key: Any, limit: int, *conditions: ColumnElement[bool]) -> int:
    """Delete at most `limit` rows matching the conditions (DELETE … LIMIT is not portable: by key instead)."""
    ids = list((await session.scalars(select(key).where(*conditions).limit(limit))).all())
    if not ids:
        return 0
    result = await session.execute(delete(model).where(key.in_(ids)))
    return result.rowcount
