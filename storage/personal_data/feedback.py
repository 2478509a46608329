"""Opinions, the drafts being written, the questions waiting to be asked, the committees' digests.

Anonymous opinions carry no user id (storage/models/feedback.py) and are nobody's personal data. A forgotten
person's ratings are kept the same way, without their id, booking or comment, so the spaces' averages do not move;
their suggestions and complaints are deleted. After QC_RETAIN_BOOKINGS_DAYS an opinion loses its author's id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CommitteeDigest, Feedback, FeedbackDraft, FeedbackPrompt
from storage.personal_data._helpers import count, forget_with, how_many, listed, record, rows_older_than, theirs, theirs_listed
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


_GIVEN = theirs_listed(Feedback.user_id, order=Feedback.__table__.c.day)
_DRAFT = theirs_listed(FeedbackDraft.user_id)
_WAITING = theirs_listed(FeedbackPrompt.user_id, FeedbackPrompt.__table__.c.status == "pending")


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    given = listed(connection, _GIVEN, user_id)
    draft = next(iter(listed(connection, _DRAFT, user_id)), None)
    waiting = listed(connection, _WAITING, user_id)
    return {
        "opinions": [record(item, "kind", "space_id", "service_id", "stars", "comment", "day") for item in given],
        "drafts": [{"opinion": record(draft, "kind", "space_id", "service_id", "stars", "comment", "updated_at")}]
        if draft is not None else [],
        "questions_to_ask": [record(prompt, "kind", "due_at") for prompt in waiting],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"opinions": how_many(Feedback, Feedback.user_id == user_id),
            "drafts": how_many(FeedbackDraft, FeedbackDraft.user_id == user_id),
            "questions_to_ask": how_many(FeedbackPrompt, FeedbackPrompt.user_id == user_id, FeedbackPrompt.status == "pending")}


_feedback = Feedback.__table__
_SAID = delete(_feedback).where(_feedback.c.user_id == bindparam("person"), _feedback.c.kind != "rating")
_RATED = update(_feedback).where(_feedback.c.user_id == bindparam("person")).values(user_id=None, booking_id=None, comment=None)
_THEIRS = tuple((theirs(column), label) for column, label in (
    (FeedbackDraft.user_id, "drafts"), (FeedbackPrompt.user_id, None), (CommitteeDigest.user_id, None)))


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    forgetting.count("opinions", forget_with(connection, forgetting, _SAID) + forget_with(connection, forgetting, _RATED))
    for statement, label in _THEIRS:
        forget_with(connection, forgetting, statement, label)


def _old_signed(cutoff: datetime):  # type: ignore[no-untyped-def]
    return Feedback.user_id.is_not(None), Feedback.day < cutoff.date()


async def _count_signed(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, Feedback, *_old_signed(cutoff))


async def _purge_signed(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    ids = list((await session.scalars(select(Feedback.id).where(*_old_signed(cutoff)).limit(limit))).all())
    if ids:
        await session.execute(update(Feedback).where(Feedback.id.in_(ids)).values(user_id=None, booking_id=None))
    return PurgeBatch(len(ids))


register(PersonalDataSource(
    name="feedback",
    person_columns={"feedback": ("user_id",), "feedback_drafts": ("user_id",), "feedback_prompts": ("user_id",),
                    "committee_digests": ("user_id",)},
    personal_fields={"feedback": ("comment",), "feedback_drafts": ("comment",)},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        rows_older_than("feedback_drafts", "drafts_days", FeedbackDraft.user_id, FeedbackDraft.updated_at),
        RetentionRule("opinions_unlinked", "bookings_days", _count_signed, _purge_signed),
        rows_older_than("feedback_prompts", "bookings_days", FeedbackPrompt.id, FeedbackPrompt.due_at),
        rows_older_than("committee_digests", "bookings_days", CommitteeDigest.id, CommitteeDigest.created_at),
    ),
))
