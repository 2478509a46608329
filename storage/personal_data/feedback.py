"""Opinions, the drafts being written, the questions waiting to be asked, the committees' digests.

Anonymous opinions carry no user id (storage/models/feedback.py) and are nobody's personal data. A forgotten
person's ratings are kept the same way, without their id, booking or comment, so the spaces' averages do not move;
their suggestions and complaints are deleted. After QC_RETAIN_BOOKINGS_DAYS an opinion loses its author's id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import CommitteeDigest, Feedback, FeedbackDraft, FeedbackPrompt
from storage.personal_data._helpers import count, delete_batch, record, rows
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


async def _export(session: AsyncSession, user_id: int) -> dict[str, list[dict]]:
    given = await rows(session, Feedback, Feedback.user_id == user_id, order=Feedback.day)
    draft = await session.get(FeedbackDraft, user_id)
    waiting = await rows(session, FeedbackPrompt, FeedbackPrompt.user_id == user_id, FeedbackPrompt.status == "pending")
    return {
        "opinions": [record(item, "kind", "space_id", "service_id", "stars", "comment", "day") for item in given],
        "drafts": [{"opinion": record(draft, "kind", "space_id", "service_id", "stars", "comment", "updated_at")}]
        if draft is not None else [],
        "questions_to_ask": [record(prompt, "kind", "due_at") for prompt in waiting],
    }


async def _forget(session: AsyncSession, forgetting: Forgetting) -> None:
    user_id = forgetting.user_id
    removed = await session.execute(delete(Feedback).where(Feedback.user_id == user_id, Feedback.kind != "rating"))
    unlinked = await session.execute(
        update(Feedback).where(Feedback.user_id == user_id).values(user_id=None, booking_id=None, comment=None)
    )
    forgetting.count("opinions", removed.rowcount + unlinked.rowcount)
    forgetting.count("drafts", (await session.execute(delete(FeedbackDraft).where(FeedbackDraft.user_id == user_id))).rowcount)
    await session.execute(delete(FeedbackPrompt).where(FeedbackPrompt.user_id == user_id))
    await session.execute(delete(CommitteeDigest).where(CommitteeDigest.user_id == user_id))


async def _count_drafts(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, FeedbackDraft, FeedbackDraft.updated_at < cutoff)


async def _purge_drafts(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, FeedbackDraft, FeedbackDraft.user_id, limit, FeedbackDraft.updated_at < cutoff))


def _old_signed(cutoff: datetime):  # type: ignore[no-untyped-def]
    return Feedback.user_id.is_not(None), Feedback.day < cutoff.date()


async def _count_signed(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, Feedback, *_old_signed(cutoff))


async def _purge_signed(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    ids = list((await session.scalars(select(Feedback.id).where(*_old_signed(cutoff)).limit(limit))).all())
    if ids:
        await session.execute(update(Feedback).where(Feedback.id.in_(ids)).values(user_id=None, booking_id=None))
    return PurgeBatch(len(ids))


async def _count_prompts(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, FeedbackPrompt, FeedbackPrompt.due_at < cutoff)


async def _purge_prompts(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, FeedbackPrompt, FeedbackPrompt.id, limit, FeedbackPrompt.due_at < cutoff))


async def _count_digests(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, CommitteeDigest, CommitteeDigest.created_at < cutoff)


async def _purge_digests(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, CommitteeDigest, CommitteeDigest.id, limit, CommitteeDigest.created_at < cutoff))


register(PersonalDataSource(
    name="feedback",
    person_columns={"feedback": ("user_id",), "feedback_drafts": ("user_id",), "feedback_prompts": ("user_id",),
                    "committee_digests": ("user_id",)},
    personal_fields={"feedback": ("comment",), "feedback_drafts": ("comment",)},
    export=_export,
    forget=_forget,
    retention=(
        RetentionRule("feedback_drafts", "drafts_days", _count_drafts, _purge_drafts),
        RetentionRule("opinions_unlinked", "bookings_days", _count_signed, _purge_signed),
        RetentionRule("feedback_prompts", "bookings_days", _count_prompts, _purge_prompts),
        RetentionRule("committee_digests", "bookings_days", _count_digests, _purge_digests),
    ),
))
