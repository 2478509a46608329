"""Guides to digital services: going through a guide one step at a time, remembering where a tenant stopped,
"I'm stuck here" (the help desk booking that carries the step, a question for the operators and their answer),
"did it work?", and the figures per guide. No Telegram here. What is kept about a person, and for how long, is
declared in storage/personal_data/guides.py (My data, Forget me, QC_RETAIN_GUIDES_DAYS).

Every button carries a guide id and a step number, never state: the run is looked up for the person pressing,
so a forged button can only move that person's own run. A step number the guide no longer has (an editor removed
steps) is refused as STALE and the run goes back to the first step.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, bindparam, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import dialect_insert
from storage.domain import bookings, stats, users
from storage.content import Content, Service
from storage.content.guides import Guide
from storage.models import Booking, GuidePrompt, GuideQuestion, GuideRun, GuideStuck, User
from storage.domain.refusals import Refused
from storage.domain.stats import Figure, Period, count
from storage.domain.users import Roles

# A help desk chosen from "I'm stuck" is attached to a booking of that desk made within this time.
DESK_CHOICE_LIFETIME = timedelta(hours=2)
PROMPT_LIFETIME = timedelta(minutes=30)
HELP_DESK_CATEGORY = "digital"  # the services of this category are the spaces' digital help desks
MAX_QUESTION = 1000
MAX_ANSWER = 2000
WORKED_ANSWERS = ("yes", "no")


class Result(StrEnum):
    SHOWN = "shown"  # the step to show is in the outcome
    FINISHED = "finished"  # the last step is done: ask "did it work?"
    STALE = "stale"  # the button named a step the guide no longer has: back to the first step
    INTRO = "intro"  # back from the first step: the guide's opening screen


@dataclass(frozen=True)
class StepOutcome:
    result: Result
    run: GuideRun
    step: int  # 1-based; for FINISHED the last step


@dataclass(frozen=True)
class Stuck:
    step: int
    desks: list[Service]  # bookable help desks to offer: the tenant's own space's, or every space's


class Refusal(StrEnum):
    NOT_FOUND = "not_found"
    NOT_ALLOWED = "not_allowed"
    ANSWERED = "answered"


class GuideRefused(Refused):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason, reason.value)


# --------------------------------------------------------------------------------------------
# Runs: start, resume, next, back, finish


async def open_run(session: AsyncSession, user_id: int, guide_id: str) -> GuideRun | None:
    return await session.scalar(
        select(GuideRun).where(GuideRun.user_id == user_id, GuideRun.guide_id == guide_id, GuideRun.finished_at.is_(None))
    )


async def open_runs(session: AsyncSession, user_id: int, content: Content) -> list[GuideRun]:
    """The tenant's unfinished guides that still exist, the most recently used first ("Continue" buttons)."""
    rows = await session.scalars(
        select(GuideRun).where(GuideRun.user_id == user_id, GuideRun.finished_at.is_(None))
        .order_by(GuideRun.updated_at.desc(), GuideRun.id.desc())
    )
    return [run for run in rows.all() if run.guide_id in content.guides]


async def _run_for(session: AsyncSession, user_id: int, guide: Guide, language: str, now: datetime) -> GuideRun:
    # Moving on in a guide leaves a question half-asked: the next message is no longer taken as that question.
    await session.execute(delete(GuidePrompt).where(GuidePrompt.user_id == user_id, GuidePrompt.kind == "question"))
    run = await open_run(session, user_id, guide.id)
    if run is None:
        insert = dialect_insert(session)
        # A double tap racing this one finds the open run through the partial unique index and adds nothing.
        await session.execute(
            insert(GuideRun).values(user_id=user_id, guide_id=guide.id, language=language, step=1, furthest_step=1,
                                    started_at=now, updated_at=now)
            .on_conflict_do_nothing(index_elements=["user_id", "guide_id"], index_where=GuideRun.finished_at.is_(None))
        )
        run = await open_run(session, user_id, guide.id)
        assert run is not None
    return run


def _place(run: GuideRun, step: int, language: str, now: datetime) -> None:
    run.step = step
    run.furthest_step = max(run.furthest_step, step)
    run.language = language
    run.updated_at = now


async def start(session: AsyncSession, user_id: int, guide: Guide, language: str, now: datetime) -> StepOutcome:
    """"Start" and "Start again": the first step (an unfinished run starts over, keeping how far it once got)."""
    run = await _run_for(session, user_id, guide, language, now)
    _place(run, 1, language, now)
    await session.flush()
    return StepOutcome(Result.SHOWN, run, 1)


async def resume(session: AsyncSession, user_id: int, guide: Guide, language: str, now: datetime) -> StepOutcome:
    """"Continue": the step where the tenant stopped (the first one if the guide has fewer steps now)."""
    run = await _run_for(session, user_id, guide, language, now)
    step = run.step if run.step <= len(guide.steps) else 1
    _place(run, step, language, now)
    await session.flush()
    return StepOutcome(Result.SHOWN if step == run.step else Result.STALE, run, step)


async def show_step(session: AsyncSession, user_id: int, guide: Guide, step: int, language: str, now: datetime) -> StepOutcome:
    """A step shown again (back from "I'm stuck", an operator's answer): STALE when the guide no longer has it."""
    run = await _run_for(session, user_id, guide, language, now)
    if not 1 <= step <= len(guide.steps):
        _place(run, 1, language, now)
        await session.flush()
        return StepOutcome(Result.STALE, run, 1)
    _place(run, step, language, now)
    await session.flush()
    return StepOutcome(Result.SHOWN, run, step)


async def advance(session: AsyncSession, user_id: int, guide: Guide, done_step: int, language: str, now: datetime) -> StepOutcome:
    """"Done, next" on `done_step`: the following step, or FINISHED after the last one."""
    if not 1 <= done_step <= len(guide.steps):
        return await show_step(session, user_id, guide, 0, language, now)
    run = await _run_for(session, user_id, guide, language, now)
    if done_step == len(guide.steps):
        _place(run, done_step, language, now)
        run.finished_at = now
        await session.flush()
        return StepOutcome(Result.FINISHED, run, done_step)
    _place(run, done_step + 1, language, now)
    await session.flush()
    return StepOutcome(Result.SHOWN, run, done_step + 1)


async def back(session: AsyncSession, user_id: int, guide: Guide, from_step: int, language: str, now: datetime) -> StepOutcome:
    """"Back" on `from_step`: the step before, or the guide's opening screen from the first."""
    if not 1 <= from_step <= len(guide.steps):
        return await show_step(session, user_id, guide, 0, language, now)
    run = await _run_for(session, user_id, guide, language, now)
    _place(run, max(1, from_step - 1), language, now)
    await session.flush()
    return StepOutcome(Result.INTRO if from_step == 1 else Result.SHOWN, run, run.step)


async def answer_worked(session: AsyncSession, user_id: int, run_id: int, worked: str, now: datetime) -> GuideRun:
    """"Did it work?" on a finished run of the person answering; a changed mind replaces the answer."""
    if worked not in WORKED_ANSWERS:
        raise GuideRefused(Refusal.NOT_FOUND)
    run = await session.get(GuideRun, run_id)
    if run is None or run.user_id != user_id or run.finished_at is None:
        raise GuideRefused(Refusal.NOT_FOUND)
    run.worked, run.answered_at, run.updated_at = worked, now, now
    await session.flush()
    return run


# --------------------------------------------------------------------------------------------
# I'm stuck here: tips, the help desk (booking with the step attached), a question for the operators


def home_space(content: Content, estate_id: str | None) -> str | None:
    """The space serving the tenant's estate, when the bot knows it (from their reports)."""
    estate = content.estates.get(estate_id) if estate_id else None
    return estate.space_id if estate is not None and estate.space_id in content.spaces else None


def help_desks(content: Content, space_id: str | None) -> list[Service]:
    """The bookable digital help desks to offer: the tenant's own space's, or else every space's."""
    desks = [service for service in content.services.values()
             if service.category == HELP_DESK_CATEGORY and service.booking is not None and service.space_id in content.spaces]
    own = [service for service in desks if service.space_id == space_id]
    return own or desks


async def stuck(session: AsyncSession, user_id: int, guide: Guide, step: int, language: str, now: datetime,
                content: Content, estate_id: str | None) -> Stuck | StepOutcome:
    """"I'm stuck here": counted once per run and step (the funnel shows where people get stuck)."""
    outcome = await show_step(session, user_id, guide, step, language, now)
    if outcome.result is Result.STALE:
        return outcome
    insert = dialect_insert(session)
    await session.execute(
        insert(GuideStuck).values(run_id=outcome.run.id, user_id=user_id, guide_id=guide.id, step=step, created_at=now)
        .on_conflict_do_nothing(index_elements=["run_id", "step"])
    )
    return Stuck(step, help_desks(content, home_space(content, estate_id)))


async def choose_desk(session: AsyncSession, user_id: int, guide: Guide, step: int, service: Service | None,
                      now: datetime) -> bool:
    """The tenant will book this help desk (None: one of several, picked next) for this step: their next booking
    of it carries the step (attach_booking). False when the run or the step is gone. A finished run counts too:
    "did it work? No" offers the desk for the last step."""
    run = await session.scalar(
        select(GuideRun).where(GuideRun.user_id == user_id, GuideRun.guide_id == guide.id)
        .order_by(GuideRun.finished_at.is_not(None), GuideRun.updated_at.desc(), GuideRun.id.desc()).limit(1)
    )
    if run is None or not 1 <= step <= len(guide.steps):
        return False
    insert = dialect_insert(session)
    await session.execute(
        insert(GuideStuck).values(run_id=run.id, user_id=user_id, guide_id=guide.id, step=step, created_at=now)
        .on_conflict_do_nothing(index_elements=["run_id", "step"])
    )
    changed = await session.execute(
        update(GuideStuck).where(GuideStuck.run_id == run.id, GuideStuck.step == step)
        .values(service_id=service.id if service is not None else None, desk_chosen_at=now, booking_id=None)
    )
    return changed.rowcount == 1


async def want_desk(session: AsyncSession, user_id: int, guide: Guide, step: int, language: str, now: datetime,
                    content: Content, estate_id: str | None) -> Stuck | StepOutcome:
    """"Book the digital help desk" at a step: the desks to offer (one is chosen at once, several are listed), or
    the step again when no desk can be booked, or the first step when the button is stale."""
    desks = help_desks(content, home_space(content, estate_id))
    if desks and await choose_desk(session, user_id, guide, step, desks[0] if len(desks) == 1 else None, now):
        return Stuck(step, desks)
    return await show_step(session, user_id, guide, step, language, now)


async def choose_desk_for_latest(session: AsyncSession, user_id: int, service: Service, now: datetime) -> GuideStuck | None:
    """A help desk picked from the list offered after "Book the help desk" (choose_desk with no service): it is
    for that step (buttons cannot carry a guide, a step and a service within Telegram's 64 bytes)."""
    latest = await session.scalar(
        select(GuideStuck).where(GuideStuck.user_id == user_id, GuideStuck.desk_chosen_at >= now - DESK_CHOICE_LIFETIME)
        .order_by(GuideStuck.desk_chosen_at.desc(), GuideStuck.id.desc()).limit(1)
    )
    if latest is None:
        return None
    latest.service_id, latest.desk_chosen_at, latest.booking_id = service.id, now, None
    await session.flush()
    return latest


# attach_booking runs with every booking made (a course makes eight): its statements are built once, Core.
_stuck = GuideStuck.__table__
_DESK_CHOSEN = (
    select(_stuck.c.id).where(_stuck.c.user_id == bindparam("user"), _stuck.c.service_id == bindparam("service"),
                              _stuck.c.booking_id.is_(None), _stuck.c.desk_chosen_at >= bindparam("since"))
    .order_by(_stuck.c.desk_chosen_at.desc(), _stuck.c.id.desc()).limit(1)
)
_ATTACH = update(_stuck).where(_stuck.c.id == bindparam("stuck")).values(
    booking_id=bindparam("booking", type_=_stuck.c.booking_id.type))


def attach_booking(connection: Connection, booking: Booking, now: datetime) -> None:
    """storage.domain.bookings.BOOKED_HOOKS: a booking of a help desk chosen from "I'm stuck" carries that step."""
    chosen = connection.execute(_DESK_CHOSEN, {"user": booking.user_id, "service": booking.service_id,
                                               "since": now - DESK_CHOICE_LIFETIME}).scalar()
    if chosen is not None:
        connection.execute(_ATTACH, {"stuck": chosen, "booking": booking.id})


@dataclass(frozen=True)
class DeskNote:
    guide_id: str
    step: int


async def notes_for_bookings(session: AsyncSession, booking_ids: Iterable[int]) -> dict[int, DeskNote]:
    """The guide and step attached to each of these bookings, for the operators' agenda."""
    ids = list(booking_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(GuideStuck.booking_id, GuideStuck.guide_id, GuideStuck.step).where(GuideStuck.booking_id.in_(ids))
    )
    return {booking_id: DeskNote(guide_id, step) for booking_id, guide_id, step in rows.all()}


async def set_prompt(session: AsyncSession, user_id: int, kind: str, now: datetime, *, guide_id: str | None = None,
                     step: int | None = None, space_id: str | None = None, question_id: int | None = None) -> None:
    await session.execute(delete(GuidePrompt).where(GuidePrompt.user_id == user_id))
    session.add(GuidePrompt(user_id=user_id, kind=kind, guide_id=guide_id, step=step, space_id=space_id,
                            question_id=question_id, created_at=now))
    await session.flush()


async def pending_prompt(session: AsyncSession, user_id: int, now: datetime) -> GuidePrompt | None:
    prompt = await session.get(GuidePrompt, user_id)
    return prompt if prompt is not None and prompt.created_at >= now - PROMPT_LIFETIME else None


async def drop_prompt(session: AsyncSession, user_id: int) -> bool:
    return (await session.execute(delete(GuidePrompt).where(GuidePrompt.user_id == user_id))).rowcount > 0


async def ask_question(session: AsyncSession, user_id: int, guide: Guide, step: int, now: datetime,
                       content: Content, estate_id: str | None) -> str | None:
    """"Ask the operator": the bot waits for the question's text. Returns the space it will go to, or None when
    the tenant must choose one first (the bot does not know their estate)."""
    space_id = home_space(content, estate_id)
    await set_prompt(session, user_id, "question", now, guide_id=guide.id, step=step, space_id=space_id)
    return space_id


async def choose_question_space(session: AsyncSession, user_id: int, space_id: str, now: datetime) -> GuidePrompt | None:
    prompt = await pending_prompt(session, user_id, now)
    if prompt is None or prompt.kind != "question":
        return None
    prompt.space_id, prompt.created_at = space_id, now
    await session.flush()
    return prompt


@dataclass(frozen=True)
class Asked:
    question: GuideQuestion
    operators: list[User] = field(default_factory=list)  # who is alerted; none: the manager chat or the admins


async def submit_question(session: AsyncSession, prompt: GuidePrompt, chat_id: int, language: str, text: str,
                          now: datetime) -> Asked:
    question = GuideQuestion(user_id=prompt.user_id, chat_id=chat_id, guide_id=prompt.guide_id or "", step=prompt.step or 1,
                             space_id=prompt.space_id or "", language=language, text=text.strip()[:MAX_QUESTION], asked_at=now)
    session.add(question)
    await session.execute(delete(GuidePrompt).where(GuidePrompt.user_id == prompt.user_id))
    await session.flush()
    operators = [user for user in await users.users_with_role(session, "operator", question.space_id) if user.blocked_at is None]
    return Asked(question, operators)


def may_answer(roles: Roles, content: Content, question: GuideQuestion) -> bool:
    """The people who see the space's agenda answer its questions (operators, its estates' custodians, admins)."""
    return question.space_id in bookings.staff_space_ids(roles, content)


async def start_answer(session: AsyncSession, user_id: int, roles: Roles, content: Content, question_id: int,
                       now: datetime) -> GuideQuestion:
    """The "Reply" button on a question's alert: the bot waits for the answer's text from this person."""
    question = await session.get(GuideQuestion, question_id)
    if question is None:
        raise GuideRefused(Refusal.NOT_FOUND)
    if not may_answer(roles, content, question):
        raise GuideRefused(Refusal.NOT_ALLOWED)
    if question.answered_at is not None:
        raise GuideRefused(Refusal.ANSWERED)
    await set_prompt(session, user_id, "answer", now, question_id=question.id)
    return question


async def submit_answer(session: AsyncSession, user_id: int, roles: Roles, content: Content, question_id: int,
                        text: str, now: datetime) -> GuideQuestion:
    """The answer, once: a second operator answering the same question is refused (conditional UPDATE)."""
    await session.execute(delete(GuidePrompt).where(GuidePrompt.user_id == user_id))
    question = await session.get(GuideQuestion, question_id)
    if question is None:
        raise GuideRefused(Refusal.NOT_FOUND)
    if not may_answer(roles, content, question):
        raise GuideRefused(Refusal.NOT_ALLOWED)
    answered = await session.execute(
        update(GuideQuestion).where(GuideQuestion.id == question_id, GuideQuestion.answered_at.is_(None))
        .values(answer=text.strip()[:MAX_ANSWER], answered_at=now, answered_by=user_id)
        .execution_options(synchronize_session=False)
    )
    if answered.rowcount != 1:
        raise GuideRefused(Refusal.ANSWERED)
    await session.refresh(question)
    return question


# --------------------------------------------------------------------------------------------
# Figures per guide for /stats


@dataclass(frozen=True)
class GuideFigures:
    guide_id: str
    started: Figure
    finished: Figure
    reached: list[Figure]  # runs started in the period that reached step 1, 2, ... (the funnel)
    stuck: list[Figure]  # "I'm stuck" presses at step 1, 2, ...
    worked_yes: Figure
    worked_no: Figure


async def figures(session: AsyncSession, period: Period, content: Content, tz: ZoneInfo) -> list[GuideFigures]:
    """Runs started in the period, per guide: how many, how far they got, where people got stuck, the answers.
    Every number is a Figure, so groups under five are hidden like the rest of the statistics."""
    start, end = period.bounds(tz)
    in_period = (GuideRun.started_at >= start, GuideRun.started_at < end)
    reached: dict[str, Counter[int]] = defaultdict(Counter)
    finished: Counter[str] = Counter()
    worked: dict[str, Counter[str]] = defaultdict(Counter)
    rows = await session.execute(
        select(GuideRun.guide_id, GuideRun.furthest_step, GuideRun.finished_at.is_not(None), GuideRun.worked, func.count())
        .where(*in_period).group_by(GuideRun.guide_id, GuideRun.furthest_step, GuideRun.finished_at.is_not(None), GuideRun.worked)
    )
    for guide_id, furthest, is_finished, answer, n in rows.all():
        reached[guide_id][furthest] += n
        if is_finished:
            finished[guide_id] += n
        if answer:
            worked[guide_id][answer] += n
    stuck_rows = await session.execute(
        select(GuideStuck.guide_id, GuideStuck.step, func.count()).join(GuideRun, GuideRun.id == GuideStuck.run_id)
        .where(*in_period).group_by(GuideStuck.guide_id, GuideStuck.step)
    )
    stuck_at: dict[str, Counter[int]] = defaultdict(Counter)
    for guide_id, step, n in stuck_rows.all():
        stuck_at[guide_id][step] += n
    result = []
    for guide in content.guides.values():
        furthest = reached[guide.id]
        steps = len(guide.steps)
        # A run that got to step 4 also reached steps 1-3: the funnel counts from the furthest step down.
        funnel = [count(sum(n for step, n in furthest.items() if step >= number)) for number in range(1, steps + 1)]
        result.append(GuideFigures(
            guide.id, count(sum(furthest.values())), count(finished[guide.id]), funnel,
            [count(stuck_at[guide.id][number]) for number in range(1, steps + 1)],
            count(worked[guide.id]["yes"]), count(worked[guide.id]["no"]),
        ))
    return result


async def figures_for_summary(session: AsyncSession, scope: stats.Scope, period: Period, content: Content,
                               tz: ZoneInfo, now: datetime) -> list[GuideFigures]:
    return await figures(session, period, content, tz)
