"""Guides to digital services (storage/domain/guides.py): where the person is in each guide, the steps where they were
stuck, the questions they asked the operators (with the answers), and the typed text the bot is waiting for.

Runs (with their stuck steps) and questions are deleted QC_RETAIN_GUIDES_DAYS after their last change; a prompt
the bot waits for is ignored after 30 minutes (storage.domain.guides.PROMPT_LIFETIME) and deleted with the drafts.
Forgetting deletes all of the person's rows; questions they answered as staff keep the answer, without their id.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import GuidePrompt, GuideQuestion, GuideRun, GuideStuck
from storage.personal_data._helpers import (
    count, forget_with, how_many, listed, record, rows_deleted_when, rows_older_than, theirs, theirs_listed, unlinked,
)
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


_RUNS = theirs_listed(GuideRun.user_id, order=GuideRun.__table__.c.started_at)
_STUCK = theirs_listed(GuideStuck.user_id, order=GuideStuck.__table__.c.created_at)
_ASKED = theirs_listed(GuideQuestion.user_id, order=GuideQuestion.__table__.c.asked_at)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    runs = listed(connection, _RUNS, user_id)
    stuck = listed(connection, _STUCK, user_id)
    asked = listed(connection, _ASKED, user_id)
    stuck_by_run: dict[int, list[dict]] = {}
    for item in stuck:
        stuck_by_run.setdefault(item.run_id, []).append(record(item, "step", "created_at", "service_id"))
    return {
        "guides": [
            {**record(run, "guide_id", "step", "started_at", "updated_at", "finished_at", "worked"),
             **({"stuck": stuck_by_run[run.id]} if run.id in stuck_by_run else {})}
            for run in runs
        ],
        "guide_questions": [record(question, "guide_id", "step", "space_id", "text", "asked_at", "answer", "answered_at")
                            for question in asked],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"guides": how_many(GuideRun, GuideRun.user_id == user_id),  # each run holds its "stuck" records
            "guide_questions": how_many(GuideQuestion, GuideQuestion.user_id == user_id)}


_FORGET = (
    (theirs(GuideStuck.user_id), None), (theirs(GuideRun.user_id), "guides"),
    (theirs(GuideQuestion.user_id), "guide questions"),
    # The answers they gave as staff stay with the tenants who asked, without the operator's id.
    (unlinked(GuideQuestion.answered_by), None),
    (theirs(GuidePrompt.user_id), None),
)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    for statement, label in _FORGET:
        forget_with(connection, forgetting, statement, label)


# --- retention: runs and questions after QC_RETAIN_GUIDES_DAYS since their last change; prompts with the drafts


async def _count_runs(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, GuideRun, GuideRun.updated_at < cutoff)


async def _purge_runs(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    ids = list((await session.scalars(select(GuideRun.id).where(GuideRun.updated_at < cutoff).limit(limit))).all())
    if not ids:
        return PurgeBatch(0)
    await session.execute(delete(GuideStuck).where(GuideStuck.run_id.in_(ids)))
    return PurgeBatch((await session.execute(delete(GuideRun).where(GuideRun.id.in_(ids)))).rowcount)


def _old_question(cutoff: datetime):  # type: ignore[no-untyped-def]
    return func.coalesce(GuideQuestion.answered_at, GuideQuestion.asked_at) < cutoff


register(PersonalDataSource(
    name="guides",
    person_columns={"guide_runs": ("user_id",), "guide_stuck": ("user_id",),
                    "guide_questions": ("user_id", "chat_id", "answered_by"), "guide_prompts": ("user_id",)},
    personal_fields={"guide_questions": ("text", "answer")},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        RetentionRule("guide_runs", "guides_days", _count_runs, _purge_runs),
        rows_deleted_when("guide_questions", "guides_days", GuideQuestion.id, _old_question),
        # A prompt is ignored after 30 minutes already (storage.domain.guides.PROMPT_LIFETIME); it holds no words.
        rows_older_than("guide_prompts", "drafts_days", GuidePrompt.user_id, GuidePrompt.created_at),
    ),
))
