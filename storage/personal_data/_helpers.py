"""What every source needs: a row as a JSON-friendly record, batched deletes by primary key, the retention rule that
deletes rows once they are old enough, and the two things forgetting does to most tables (delete the person's rows;
keep the row but not who).

Forgetting runs as Core on one Connection (`storage.domain.privacy.forget`): each source builds its statements once,
at import, with the person's id bound as `person` (not a column's name: an UPDATE would take it as a value to set).
Built per call, as ORM statements in a session, the ~70 statements had held the event loop ~45 ms per person."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from sqlalchemy import Column, ColumnElement, Connection, Delete, Executable, Row, Select, Update, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from storage.domain.privacy import Forgetting, PurgeBatch, RetentionRule


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


def record(row: object, *columns: str) -> dict[str, Any]:
    """The named columns of a row, dates as ISO text; empty values left out so the copy reads short."""
    values = {name: plain(getattr(row, name)) for name in columns}
    return {name: value for name, value in values.items() if value not in (None, "", [], {})}


def theirs_listed(attribute: InstrumentedAttribute, *conditions: ColumnElement[bool], order: Any = None) -> Select:
    """SELECT of every column of the rows whose column is the person (bound as `person`), for an export: built
    once, read as Core (`listed`); the rows have the model's attribute names."""
    column = table_column(attribute)
    query = select(column.table).where(column == bindparam("person"), *conditions)
    return query if order is None else query.order_by(order)


def listed(connection: Connection, statement: Select, user_id: int) -> list[Row]:
    return list(connection.execute(statement, {"person": user_id}).all())


def how_many(model: type, *conditions: ColumnElement[bool]) -> ColumnElement[int]:
    """The number of the model's rows matching the conditions, as a scalar subquery: a section of a source's
    `counts`, for the same rows its export reads."""
    return select(func.count()).select_from(model).where(*conditions).scalar_subquery()


async def count(session: AsyncSession, model: type, *conditions: ColumnElement[bool]) -> int:
    return await session.scalar(select(func.count()).select_from(model).where(*conditions)) or 0


async def delete_batch(session: AsyncSession, model: type, key: Any, limit: int, *conditions: ColumnElement[bool]) -> int:
    """Delete at most `limit` rows matching the conditions (DELETE … LIMIT is not portable: by key instead)."""
    ids = list((await session.scalars(select(key).where(*conditions).limit(limit))).all())
    if not ids:
        return 0
    result = await session.execute(delete(model).where(key.in_(ids)))
    return result.rowcount


def rows_deleted_when(name: str, days_setting: str, key: InstrumentedAttribute,
                      due: Callable[[datetime], ColumnElement[bool]]) -> RetentionRule:
    """The retention rule of most tables: the rows of `key`'s table for which `due(cutoff)` holds are deleted, in
    batches by that key, once `Retention.<days_setting>` days have passed."""
    model = key.class_

    async def count_due(session: AsyncSession, cutoff: datetime) -> int:
        return await count(session, model, due(cutoff))

    async def purge_due(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
        return PurgeBatch(await delete_batch(session, model, key, limit, due(cutoff)))

    return RetentionRule(name, days_setting, count_due, purge_due)


def fields_blanked_when(name: str, days_setting: str, key: InstrumentedAttribute,
                        due: Callable[[datetime], ColumnElement[bool]], blank: dict[str, Any]) -> RetentionRule:
    """The retention rule of a row that stays (a ledger needs it) while its personal fields go: `blank` is written
    over the rows for which `due(cutoff)` holds, in batches by `key`."""
    model = key.class_

    async def count_due(session: AsyncSession, cutoff: datetime) -> int:
        return await count(session, model, due(cutoff))

    async def purge_due(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
        ids = list((await session.scalars(select(key).where(due(cutoff)).limit(limit))).all())
        if not ids:
            return PurgeBatch(0)
        return PurgeBatch((await session.execute(update(model).where(key.in_(ids)).values(blank))).rowcount)

    return RetentionRule(name, days_setting, count_due, purge_due)


def table_column(attribute: InstrumentedAttribute) -> Column:
    """The Table's own column behind a mapped attribute: statements of plain Core, cheaper to run than the ORM's."""
    return attribute.property.columns[0]


def theirs(attribute: InstrumentedAttribute) -> Delete:
    """DELETE of the rows whose column is the person being forgotten (bound as `person`)."""
    column = table_column(attribute)
    return delete(column.table).where(column == bindparam("person"))


def unlinked(attribute: InstrumentedAttribute) -> Update:
    """UPDATE setting the column to NULL where it is the person: what they did for others stays (a cancelled
    booking, an answered question), without their id."""
    column = table_column(attribute)
    return update(column.table).where(column == bindparam("person")).values({column.key: None})


def forget_with(connection: Connection, forgetting: Forgetting, statement: Executable, label: str | None = None,
                **params: object) -> int:
    """Run a prebuilt statement for the person being forgotten; its rows are counted under `label` when it has one."""
    rows = connection.execute(statement, {"person": forgetting.user_id, **params}).rowcount
    if label:
        forgetting.count(label, rows)
    return rows


def rows_older_than(name: str, days_setting: str, key: InstrumentedAttribute, moment: InstrumentedAttribute) -> RetentionRule:
    """`rows_deleted_when` for the plain case: rows whose `moment` (a date and time column) is before the cutoff."""
    return rows_deleted_when(name, days_setting, key, lambda cutoff: moment < cutoff)
