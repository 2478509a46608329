"""Per-user daily caps (storage/domain/limits.py): how many tickets, comments, photos and "me too" a person used today."""

from __future__ import annotations

from sqlalchemy import BigInteger, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base


class DailyUsage(Base):
    """One person's use of one capped action on one local day; the cap is enforced by a conditional UPDATE."""

    __tablename__ = "daily_usage"
    __table_args__ = (UniqueConstraint("user_id", "day", "kind", name="uq_daily_usage_user_day_kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[str] = mapped_column(String(10))  # ISO date in the configured time zone
    kind: Mapped[str] = mapped_column(String(16))  # storage/domain/limits.py KINDS
    used: Mapped[int] = mapped_column(Integer, default=0)
