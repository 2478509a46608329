"""The record of who read or exported personal data (GDPR art. 5(2), accountability). Kept as long as
QC_RETAIN_AUDIT_DAYS, like what it audits."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class AuditRecord(Base):
    __tablename__ = "audit_records"
    __table_args__ = (Index("ix_audit_records_at", "at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # None: the command line without an id
    action: Mapped[str] = mapped_column(String(24))  # storage/domain/audit.py ACTIONS
    subject: Mapped[str] = mapped_column(String(160))  # a ticket code, an export's file name, "user 123"…
