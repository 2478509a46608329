"""The phone question of "I'm interested" (storage/domain/interest_phone.py), and how long a phone given for a job
offer is kept.

- An unanswered question: QC_RETAIN_DRAFTS_DAYS after it was asked.
- The phone in a job interest (typed, or the saved one the tenant chose to share): erased QC_RETAIN_BOOKINGS_DAYS
  after the interest was made, like a phone given for a booking; the interest itself (the name) goes 180 days after
  the offer closes (storage/domain/neighbourhood.py), but an offer with no closing date would keep it for ever.
The interest and its phone are in the neighbourhood source's export ("job_interests") and forgotten with it.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, select, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import InterestPhonePrompt, JobInterest
from storage.personal_data._helpers import count, delete_batch, forget_with, how_many, listed, record, theirs, theirs_listed
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


_ASKED_READ = theirs_listed(InterestPhonePrompt.user_id)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    asked = listed(connection, _ASKED_READ, user_id)
    return {"job_interest_phone_question": [record(prompt, "job_id", "created_at") for prompt in asked]}


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"job_interest_phone_question": how_many(InterestPhonePrompt, InterestPhonePrompt.user_id == user_id)}


_ASKED = theirs(InterestPhonePrompt.user_id)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    forget_with(connection, forgetting, _ASKED)


async def _count_questions(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, InterestPhonePrompt, InterestPhonePrompt.created_at < cutoff)


async def _purge_questions(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, InterestPhonePrompt, InterestPhonePrompt.user_id, limit,
                                         InterestPhonePrompt.created_at < cutoff))


def _old_phone(cutoff: datetime):  # type: ignore[no-untyped-def]
    return (JobInterest.phone.is_not(None), JobInterest.created_at < cutoff)


async def _count_phones(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, JobInterest, *_old_phone(cutoff))


async def _purge_phones(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    keys = (await session.execute(select(JobInterest.user_id, JobInterest.job_id).where(*_old_phone(cutoff)).limit(limit))).all()
    if not keys:
        return PurgeBatch(0)
    result = await session.execute(update(JobInterest).where(tuple_(JobInterest.user_id, JobInterest.job_id).in_([tuple(key) for key in keys]))
                                   .values(phone=None))
    return PurgeBatch(result.rowcount)


register(PersonalDataSource(
    name="interest_phone",
    person_columns={"interest_phone_prompts": ("user_id",)},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        RetentionRule("job_interest_phone_questions", "drafts_days", _count_questions, _purge_questions),
        RetentionRule("job_interest_phones", "bookings_days", _count_phones, _purge_phones),
    ),
))
