"""The question "which phone shall the space call?" after "I'm interested" in a job offer: the next text the tenant
sends is that number. Personal data: the row says who is answering about which offer; an unanswered question is
dropped after QC_RETAIN_DRAFTS_DAYS (storage/personal_data/interest_phone.py)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class InterestPhonePrompt(Base):
    __tablename__ = "interest_phone_prompts"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
