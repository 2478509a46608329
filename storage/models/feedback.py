"""Tenants' opinions (ratings, suggestions, complaints), the drafts they are writing, the prompts that ask for
them, and the committees' monthly digests.

An anonymous opinion carries nothing that leads back to its author: no user id, no chat id, only the day it was
given (never a time), and a random id, so not even the order of insertion says anything.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, Date, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, one_of

# Conditions of the partial unique indexes (storage/domain/feedback.py names them in its upserts).
ONE_PER_BOOKING = text("booking_id IS NOT NULL")
ONE_PER_TARGET = text("kind = 'rating' AND booking_id IS NULL AND user_id IS NOT NULL")
ONE_PER_DAY = text("day IS NOT NULL")


class Feedback(Base):
    __tablename__ = "feedback"
    __table_args__ = (
        # One rating per tenant per booking, and one per tenant per space or service from the menu: a changed
        # mind updates the row instead of adding a second.
        Index("uq_feedback_per_booking", "user_id", "booking_id", unique=True,
              sqlite_where=ONE_PER_BOOKING, postgresql_where=ONE_PER_BOOKING),
        Index("uq_feedback_per_target", "user_id", "space_id", "service_id", unique=True,
              sqlite_where=ONE_PER_TARGET, postgresql_where=ONE_PER_TARGET),
        # A person's opinions ("my data", forget me): the unique indexes above are partial, so they cannot serve.
        Index("ix_feedback_user", "user_id"),
        Index("ix_feedback_space_day", "space_id", "day"),
        one_of("kind", "rating", "suggestion", "complaint"),
        CheckConstraint("stars IS NULL OR (stars >= 1 AND stars <= 5)", name="stars"),
    )

    id: Mapped[str] = mapped_column(String(24), primary_key=True)  # random, see the module's docstring
    kind: Mapped[str] = mapped_column(String(12))
    space_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64), default="")  # "" when about the space as a whole
    booking_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(BigInteger)  # None when anonymous
    stars: Mapped[int | None] = mapped_column(Integer)  # ratings only
    comment: Mapped[str | None] = mapped_column(Text)
    day: Mapped[date] = mapped_column(Date)  # the local day it was given or last changed


class FeedbackDraft(Base):
    """What a tenant is writing, one per tenant, until they send it (then it becomes a Feedback row and this row
    is deleted in the same transaction) or drop it. `feedback_id` is set when adding a comment to a rating
    already saved (after a booking)."""

    __tablename__ = "feedback_drafts"
    __table_args__ = (one_of("step", "stars", "text", "review"),)

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(12))
    space_id: Mapped[str] = mapped_column(String(64))
    service_id: Mapped[str] = mapped_column(String(64), default="")
    feedback_id: Mapped[str | None] = mapped_column(String(24))
    stars: Mapped[int | None] = mapped_column(Integer)
    comment: Mapped[str | None] = mapped_column(Text)
    anonymous: Mapped[bool] = mapped_column(Boolean, default=False)
    step: Mapped[str] = mapped_column(String(8))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class FeedbackPrompt(Base):
    """A question to ask a tenant later: "how was it?" the day after an attended booking, stars the day after
    a fix was confirmed. `day` is the local day it was asked; the unique index is what makes "at most one prompt
    a day" hold across restarts and instances. A ticket's "has it been fixed?" notice is recorded here too
    (kind "fix_question", already asked), so it counts as that day's prompt."""

    __tablename__ = "feedback_prompts"
    __table_args__ = (
        UniqueConstraint("kind", "ref", "user_id", name="uq_feedback_prompts_kind_ref_user"),
        Index("uq_feedback_prompts_user_day", "user_id", "day", unique=True,
              sqlite_where=ONE_PER_DAY, postgresql_where=ONE_PER_DAY),
        Index("ix_feedback_prompts_due", "status", "due_at"),
        one_of("kind", "booking", "fix", "fix_question"),
        one_of("status", "pending", "asked", "skipped"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))
    ref: Mapped[int] = mapped_column(Integer)  # booking or ticket id
    status: Mapped[str] = mapped_column(String(8), default="pending")
    due_at: Mapped[datetime] = mapped_column(UtcDateTime)
    day: Mapped[date | None] = mapped_column(Date)


class CommitteeDigest(Base):
    """A committee member's monthly digest was prepared for that month: restarts and second instances skip it."""

    __tablename__ = "committee_digests"
    __table_args__ = (UniqueConstraint("user_id", "month", name="uq_committee_digests_user_month"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    month: Mapped[str] = mapped_column(String(7))  # YYYY-MM, the month the digest is about
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
