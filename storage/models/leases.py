"""Leases: work that one instance at a time must do (the periodic jobs, long polling) is held by a named row."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class Lease(Base):
    """`name` is held by `owner` (an instance's name, bot.inbox.instance_name) until `expires_at`; the holder renews
    it well before then, and another instance may take it only once it has run out (the holder died)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(60), primary_key=True)
    owner: Mapped[str] = mapped_column(String(100))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
