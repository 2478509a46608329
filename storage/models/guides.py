"""Guides to digital services: where each tenant is in a guide, where they got stuck (and the help desk booking
that carries it), the questions they asked the operators, and the typed answers the bot is waiting for.

Personal data, kept QC_RETAIN_GUIDES_DAYS (12 months) after the last change and then deleted by the nightly purge
(storage/personal_data/guides.py). Every table has a `user_id` column naming the tenant it is about (guide_questions also `answered_by`, the
operator), so "My data" / "Forget me" can list and delete them:
- guide_runs: guide, language, step reached, when started / last moved / finished, the did-it-work answer;
- guide_stuck: the step of a run where the tenant pressed "I'm stuck", and the help desk booking made for it;
- guide_questions: the question typed at a step, the space asked, the operator's answer and who gave it;
- guide_prompts: a question or an answer the bot is waiting for (deleted when it comes, or after 30 minutes).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Prompt, UtcDateTime, one_of

_OPEN_RUN = text("finished_at IS NULL")


class GuideRun(Base):
    """One tenant going through one guide, from the first step to "did it work?". Starting the same guide again
    after finishing it makes a new run; an unfinished run is picked up where it stopped."""

    __tablename__ = "guide_runs"
    __table_args__ = (
        # One open run per tenant and guide: a double tap on "Start" cannot open two.
        Index("uq_guide_runs_open", "user_id", "guide_id", unique=True, sqlite_where=_OPEN_RUN, postgresql_where=_OPEN_RUN),
        Index("ix_guide_runs_user_updated", "user_id", "updated_at"),
        Index("ix_guide_runs_started", "started_at", "guide_id"),
        Index("ix_guide_runs_updated", "updated_at"),
        CheckConstraint("step >= 1 AND furthest_step >= step", name="steps"),
        CheckConstraint("worked IS NULL OR worked IN ('yes', 'no')", name="worked"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    guide_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    step: Mapped[int] = mapped_column(Integer)  # 1-based, the step on screen
    furthest_step: Mapped[int] = mapped_column(Integer)  # the funnel counts how far each run got
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    worked: Mapped[str | None] = mapped_column(String(4))
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class GuideStuck(Base):
    """A step where the tenant pressed "I'm stuck here"; a help desk booking made from it is attached, so the
    operator's agenda says "stuck at step 3 of pagoPA"."""

    __tablename__ = "guide_stuck"
    __table_args__ = (
        UniqueConstraint("run_id", "step", name="uq_guide_stuck_run_step"),  # counted once per run and step
        Index("ix_guide_stuck_user_service", "user_id", "service_id", "created_at"),
        Index("ix_guide_stuck_booking", "booking_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer, ForeignKey("guide_runs.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    guide_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    service_id: Mapped[str | None] = mapped_column(String(64))  # the help desk the tenant chose to book
    desk_chosen_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    booking_id: Mapped[int | None] = mapped_column(Integer)


class GuideQuestion(Base):
    """A question typed at a step, for the operators of a space; answered once, in the bot, through the outbox."""

    __tablename__ = "guide_questions"
    __table_args__ = (
        Index("ix_guide_questions_user", "user_id"),
        Index("ix_guide_questions_asked", "asked_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    guide_id: Mapped[str] = mapped_column(String(64))
    step: Mapped[int] = mapped_column(Integer)
    space_id: Mapped[str] = mapped_column(String(64))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    asked_at: Mapped[datetime] = mapped_column(UtcDateTime)
    answer: Mapped[str | None] = mapped_column(Text)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answered_by: Mapped[int | None] = mapped_column(BigInteger)  # the operator who answered


class GuidePrompt(Prompt):
    """The text the bot waits for: a tenant's question at a step, or an operator's answer to a question."""

    __tablename__ = "guide_prompts"
    __table_args__ = (one_of("kind", "question", "answer"),)

    kind: Mapped[str] = mapped_column(String(12))
    guide_id: Mapped[str | None] = mapped_column(String(64))
    step: Mapped[int | None] = mapped_column(Integer)
    space_id: Mapped[str | None] = mapped_column(String(64))
    question_id: Mapped[int | None] = mapped_column(Integer)
