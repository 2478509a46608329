"""Which users' roles changed, so that every instance drops them from its user cache within seconds
(bot/runtime.py polls the rows after the last id it saw; storage/domain/users.py writes them with every role change)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class UserChange(Base):
    __tablename__ = "user_changes"
    __table_args__ = (Index("ix_user_changes_at", "at"),)  # pruning the old rows

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # instances read the rows after the last id they saw
    user_id: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
