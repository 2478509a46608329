"""Neighbourhood life: where the tenant lives, what they follow, their interest in job offers, the notices they
wrote and the broadcasts addressed to them.

A notice already sent belongs to the estate that read it: forgetting its author keeps it without who wrote it;
one still being written, moderated or queued goes. Who received which broadcast is kept `notices_days` after it
finished, an "I'm interested" `job_interests_days` after it was sent (bot.config.Retention), by the nightly purge.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, bindparam, delete, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Broadcast, BroadcastRecipient, Follow, JobInterest, NoticePrompt, TenantHome
from storage.personal_data._helpers import (
    count, forget_with, how_many, listed, record, rows_deleted_when, theirs, theirs_listed, unlinked,
)
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register

UNSENT = ("draft", "moderation", "queued")


_HOME = theirs_listed(TenantHome.user_id)
_FOLLOWS = theirs_listed(Follow.user_id, order=Follow.__table__.c.created_at)
_INTERESTS = theirs_listed(JobInterest.user_id, order=JobInterest.__table__.c.created_at)
_WRITTEN = theirs_listed(Broadcast.author_id, order=Broadcast.__table__.c.id)
_RECEIVED = theirs_listed(BroadcastRecipient.user_id, order=BroadcastRecipient.__table__.c.id)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    home = next(iter(listed(connection, _HOME, user_id)), None)
    follows = listed(connection, _FOLLOWS, user_id)
    interests = listed(connection, _INTERESTS, user_id)
    written = listed(connection, _WRITTEN, user_id)
    received = listed(connection, _RECEIVED, user_id)
    return {
        "home": [record(home, "estate_id", "building", "staircase", "updated_at")] if home is not None else [],
        "follows": [record(follow, "topic", "created_at") for follow in follows],
        "job_interests": [record(interest, "job_id", "name", "phone", "created_at") for interest in interests],
        "notices_written": [record(notice, "audience", "audience_ref", "text", "status", "created_at", "confirmed_at")
                            for notice in written],
        "notices_received": [record(row, "broadcast_id", "status", "sent_at") for row in received],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"home": how_many(TenantHome, TenantHome.user_id == user_id),
            "follows": how_many(Follow, Follow.user_id == user_id),
            "job_interests": how_many(JobInterest, JobInterest.user_id == user_id),
            "notices_written": how_many(Broadcast, Broadcast.author_id == user_id),
            "notices_received": how_many(BroadcastRecipient, BroadcastRecipient.user_id == user_id)}


_broadcasts = Broadcast.__table__
_FORGET = (
    *((theirs(column), label) for column, label in (
        (TenantHome.user_id, "home"), (Follow.user_id, "follows"), (JobInterest.user_id, "job interests"),
        (NoticePrompt.user_id, None), (BroadcastRecipient.user_id, "notices received"))),
    (delete(_broadcasts).where(_broadcasts.c.author_id == bindparam("person"), _broadcasts.c.status.in_(UNSENT)),
     "notices not sent"),
    *((unlinked(column), None) for column in (Broadcast.author_id, Broadcast.moderated_by, Broadcast.stopped_by)),
)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    for statement, label in _FORGET:
        forget_with(connection, forgetting, statement, label)


def _recipients_due(cutoff: datetime) -> ColumnElement[bool]:
    return BroadcastRecipient.broadcast_id.in_(
        select(Broadcast.id).where(Broadcast.finished_at.is_not(None), Broadcast.finished_at < cutoff))


async def _count_interests(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, JobInterest, JobInterest.created_at < cutoff)


async def _purge_interests(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    keys = (await session.execute(select(JobInterest.user_id, JobInterest.job_id)
                                  .where(JobInterest.created_at < cutoff).limit(limit))).all()
    if not keys:
        return PurgeBatch(0)
    result = await session.execute(delete(JobInterest).where(
        tuple_(JobInterest.user_id, JobInterest.job_id).in_([tuple(key) for key in keys])))
    return PurgeBatch(result.rowcount)


register(PersonalDataSource(
    name="neighbourhood",
    person_columns={
        "tenant_homes": ("user_id",), "follows": ("user_id",), "job_interests": ("user_id",),
        "notice_prompts": ("user_id",), "broadcast_recipients": ("user_id",),
        "broadcasts": ("author_id", "moderated_by", "stopped_by"),
    },
    personal_fields={"tenant_homes": ("estate_id", "building", "staircase"), "job_interests": ("name", "phone")},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        rows_deleted_when("notice_recipients", "notices_days", BroadcastRecipient.id, _recipients_due),
        RetentionRule("job_interests", "job_interests_days", _count_interests, _purge_interests),
    ),
))
