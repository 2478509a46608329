from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy import BigInteger, CheckConstraint, DateTime, ForeignKey, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """Aware UTC datetimes on every backend (SQLite forgets the zone; we put it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use an aware UTC datetime")
        return value.astimezone(timezone.utc)

    def process_result_value(self, value: datetime | None, dialect):  # type: ignore[override]
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class PerPerson:
    """Mixin for the tables with (at most) one row per person and kind of thing: keyed by their Telegram user id,
    gone with them. `sort_order=-1` keeps the key the table's first column, as it was when each table wrote it."""

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True,
                                         sort_order=-1)


class Prompt(PerPerson, Base):
    """A text the bot waits for from one person (one at a time: a new question replaces the last), with what it is
    for in the columns of each feature's table. In the database, so a restart in between loses nothing."""

    __abstract__ = True

    created_at: Mapped[datetime] = mapped_column(UtcDateTime)  # when the question was asked


def one_of(column: str, *values: str) -> CheckConstraint:
    """The column holds one of these words (a status, a kind): the database refuses any other, whatever the code."""
    return CheckConstraint(f"{column} IN ({', '.join(repr(value) for value in values)})", name=column)
