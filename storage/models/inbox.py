"""The inbox: every update Telegram hands over, stored before Telegram is told it arrived."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Index, Integer, String, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class InboxUpdate(Base):
    """One update as Telegram sent it. `handled_at` is set once its handler has finished, and the payload emptied;
    rows still without it after a crash are handled first at the next start, oldest first per chat. Handled rows
    (ids and times only) are purged after a day."""

    __tablename__ = "inbox"
    __table_args__ = (
        # What is left to handle, oldest first: partial, so that storing and marking an update touch one small
        # index (the handled rows of a day are not in it; docs/performance.md, the inbox's cost, final).
        Index("ix_inbox_pending", "update_id", sqlite_where=text("handled_at IS NULL"),
              postgresql_where=text("handled_at IS NULL")),
    )

    # Telegram's. On SQLite an INTEGER primary key is the rowid itself: no second B-tree to write per update.
    update_id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer(), "sqlite"), primary_key=True,
                                           autoincrement=False)
    chat_id: Mapped[int] = mapped_column(BigInteger, default=0)  # 0: an update without a chat
    payload: Mapped[dict] = mapped_column(JSON)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    handled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # The process that stored it holds it while its lease is renewed; another instance takes it over only once the
    # lease has run out (that process died). A process started again under the same name takes its own at once.
    owner: Mapped[str] = mapped_column(String(100), default="")
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
