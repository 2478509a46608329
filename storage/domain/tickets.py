"""Reports and tickets, without Telegram.

A tenant's report is a draft saved at every step (a restart loses nothing); sending it opens a ticket with a
code like QC-2026-000123. Tickets live through new → acknowledged → in_progress → resolved → closed, may be
reopened by the reporter within 14 days of "resolved", or rejected ("not for us") with a reason. Every action
goes through `authorize()` and the transition table below, inside the caller's transaction; a refused action
raises `TicketError` and changes nothing. The caller renders and enqueues the notifications (handlers/).
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import Row, bindparam, delete, exists, or_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, DetachedRows, dialect_insert
from storage.domain import neighbourhood
from storage.content import Content, Estate
from storage.models import (
    ReportDraft, Ticket, TicketCounter, TicketEvent, TicketMedia, TicketPrompt, TicketSubscriber, User,
)
from storage.domain.refusals import Refused
from storage.domain.users import Roles

log = logging.getLogger(__name__)

STATUSES = ("new", "acknowledged", "in_progress", "resolved", "closed", "reopened", "rejected")
OPEN_STATUSES = frozenset({"new", "acknowledged", "in_progress", "reopened"})
AWAITING_ACK = frozenset({"new", "reopened"})
FINAL_STATUSES = frozenset({"closed", "rejected"})
CONFIRM_WINDOW = timedelta(days=14)  # after "resolved", the reporter confirms or reopens; then it closes
DUPLICATE_WINDOW = timedelta(days=30)
MERGE_WINDOW = timedelta(hours=1)  # the same tenant's identical report within an hour joins the first one
PROMPT_LIFETIME = timedelta(minutes=30)  # a note, reason or comment typed later is not taken as one
ESCALATE_AGAIN_AFTER = timedelta(days=1)
MAX_PHOTOS = 3
MAX_DUPLICATES_SHOWN = 3
MAX_DESCRIPTION = 2000
MAX_NOTE = 1000
MAX_SHORT_TEXT = 120  # names, phone numbers, flat numbers
REJECT_REASONS = ("not_estate", "private", "other_body", "duplicate", "unclear", "other")
ANSWERS = ("yes", "no", "unknown")
AREAS = ("flat", "common")
LOWEST_FLOOR, HIGHEST_FLOOR = -2, 30
ALERT_KIND = "alert"  # outbox kind of the alert message each custodian (or the manager chat) receives
# Called with (session, ticket, now) inside the transaction when a custodian resolves a ticket or its reporter
# confirms the fix: the feedback feature schedules its prompts here.
FeedbackHook = Callable[[AsyncSession, "Ticket", datetime], Awaitable[None]]
FEEDBACK_HOOKS: list[FeedbackHook] = []

# The steps of a report, in order. "questions" is the category's extra questions, one screen each.
STEPS = (
    "tenant_name", "tenant_contact", "category", "estate", "building", "floor", "area", "flat", "questions",
    "description", "photos", "review",
)
# The parts the review screen can change: their steps are asked again, then back to the review.
EDIT_PARTS = {
    "tenant": ("tenant_name", "tenant_contact"),
    "category": ("category", "questions"),
    "place": ("estate", "building", "floor", "area", "flat"),
    "description": ("description",),
    "photos": ("photos",),
}


class Action(StrEnum):
    ACKNOWLEDGE = "acknowledge"
    START = "start"
    RESOLVE = "resolve"
    REJECT = "reject"
    NOTE = "note"
    CONFIRM = "confirm"
    REOPEN = "reopen"
    RATE = "rate"
    COMMENT = "comment"
    ME_TOO = "me_too"
    VIEW = "view"  # the tenant's view: reporter, subscribers, custodians
    STAFF_VIEW = "staff_view"  # the custodian's view, with the tenant's details and the action buttons


CUSTODIAN_ACTIONS = frozenset({Action.ACKNOWLEDGE, Action.START, Action.RESOLVE, Action.REJECT, Action.NOTE})
REPORTER_ACTIONS = frozenset({Action.CONFIRM, Action.REOPEN, Action.RATE})
# For each action: the statuses it may start from, and the status it leads to (None: the status stays).
TRANSITIONS: dict[Action, tuple[frozenset[str], str | None]] = {
    Action.ACKNOWLEDGE: (AWAITING_ACK, "acknowledged"),
    Action.START: (AWAITING_ACK | {"acknowledged"}, "in_progress"),
    Action.RESOLVE: (OPEN_STATUSES, "resolved"),
    Action.REJECT: (OPEN_STATUSES, "rejected"),
    Action.NOTE: (OPEN_STATUSES | {"resolved"}, None),
    Action.CONFIRM: (frozenset({"resolved"}), "closed"),
    Action.REOPEN: (frozenset({"resolved"}), "reopened"),
    Action.RATE: (frozenset({"closed"}), None),
    Action.COMMENT: (OPEN_STATUSES | {"resolved"}, None),
    Action.ME_TOO: (OPEN_STATUSES, None),
    Action.VIEW: (frozenset(STATUSES), None),
    Action.STAFF_VIEW: (frozenset(STATUSES), None),
}
# The history line each status change writes.
EVENT_OF_ACTION = {
    Action.ACKNOWLEDGE: "acknowledged", Action.START: "in_progress", Action.RESOLVE: "resolved",
    Action.REJECT: "rejected", Action.NOTE: "note", Action.CONFIRM: "confirmed", Action.REOPEN: "reopened",
    Action.RATE: "rated", Action.ME_TOO: "me_too",
}


class TicketError(Refused):
    """A refused action. `reason`: not_found, not_allowed, wrong_state, too_late or invalid."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)


@dataclass(frozen=True)
class Actor:
    user_id: int
    roles: Roles


@dataclass(frozen=True)
class Change:
    """What an action did, for the caller to announce."""

    ticket: Ticket
    event: TicketEvent
    previous_status: str


def authorize(action: Action, ticket: Ticket, actor: Actor, *, subscribed: bool) -> bool:
    """Whether this person may do this to this ticket, whatever the buttons they were shown."""
    handles = actor.roles.handles_estate(ticket.estate_id)
    if action in CUSTODIAN_ACTIONS or action is Action.STAFF_VIEW:
        return handles
    is_reporter = ticket.reporter_id is not None and ticket.reporter_id == actor.user_id
    if action in REPORTER_ACTIONS:
        return is_reporter
    if action is Action.COMMENT:
        # Only the reporter writes into the custodians' chat: a subscriber joined a problem, not a conversation
        # (they file their own report to add their words or photos).
        return is_reporter
    if action is Action.ME_TOO:
        # Never a problem inside someone's flat: nobody else can have it, and joining would reveal it.
        return not is_reporter and not subscribed and ticket.area != "flat"
    return is_reporter or subscribed or handles or ticket.filed_by == actor.user_id  # VIEW


def format_code(year: int, number: int) -> str:
    return f"QC-{year}-{number:06d}"


def short_text(text: str | None, limit: int = MAX_SHORT_TEXT) -> str | None:
    if text is None:
        return None
    cleaned = " ".join(text.split())
    return cleaned[:limit] or None



# --------------------------------------------------------------------------------------------
# Drafts

# A draft as the screens and the functions that only read it take it: the entity, or a Row of report_drafts read
# as Core (draft_now: the same attribute names, read-only).
DraftView = ReportDraft | Row


async def get_draft(session: AsyncSession, user_id: int) -> ReportDraft | None:
    return await session.get(ReportDraft, user_id)


async def start_draft(session: AsyncSession, user_id: int, now: datetime, *, on_behalf: bool = False) -> ReportDraft:
    """A new, empty draft, replacing any earlier one of this person (callers discard that one first with
    discard_draft, to learn which of its files to delete)."""
    await drop_draft(session, user_id)
    draft = ReportDraft(
        user_id=user_id, step="tenant_name" if on_behalf else "category", editing=None, done=[],
        on_behalf=on_behalf, answers={}, photos=[], offered=[], created_at=now, updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


def draft_files(draft: DraftView) -> list[str]:
    """The stored media of a draft (paths relative to the media folder)."""
    return [media["path"] for media in [*(draft.photos or []), *([draft.voice] if draft.voice else [])]]


async def discard_draft(session: AsyncSession, user_id: int) -> list[str] | None:
    """Delete this person's draft; None if there was none, else the files of its photos and voice note, for the
    caller to delete from disk once the transaction has committed (bot.media.delete_stored)."""
    draft = await session.get(ReportDraft, user_id)
    if draft is None:
        return None
    files = draft_files(draft)
    await session.delete(draft)
    await session.flush()
    return files


async def drop_draft(session: AsyncSession, user_id: int) -> bool:
    """Delete the draft row only; prefer discard_draft, which also says which files to delete."""
    result = await session.execute(delete(ReportDraft).where(ReportDraft.user_id == user_id))
    return result.rowcount > 0


# The report buttons' own reads and writes of a draft, built once and run as Core through Database.read_now and
# write_now: a session's get, its flush and the ORM statements built on every call cost several times the indexed
# statements (docs/performance.md, writes under load, third pass; the draft's read ~1,050 -> ~170 µs of CPU).
_drafts = ReportDraft.__table__
_DRAFTS = DetachedRows(_drafts, "user_id")
_DRAFT = select(_drafts).where(_drafts.c.user_id == bindparam("user_id"))
_DISCARD_DRAFT = (delete(_drafts).where(_drafts.c.user_id == bindparam("user_id"))
                  .returning(_drafts.c.photos, _drafts.c.voice))


def _new_draft(user_id: int, now: datetime, *, on_behalf: bool = False) -> ReportDraft:
    return ReportDraft(
        user_id=user_id, step="tenant_name" if on_behalf else "category", editing=None, done=[],
        on_behalf=on_behalf, tenant_name=None, tenant_contact=None, category_id=None, estate_id=None,
        building_id=None, staircase=None, floor=None, area=None, flat=None, answers={}, description=None,
        voice=None, photos=[], offered=[], created_at=now, updated_at=now,
    )


async def draft_now(db: Database, user_id: int) -> Row | None:
    """This person's draft, read-only, through Database.read_now."""
    return await db.read_now(lambda connection: connection.execute(_DRAFT, {"user_id": user_id}).first())


async def discard_draft_now(db: Database, user_id: int) -> list[str] | None:
    """discard_draft on its own: one DELETE … RETURNING, through Database.write_one."""
    row = await db.write_one(lambda connection: connection.execute(_DISCARD_DRAFT, {"user_id": user_id}).first())
    return None if row is None else draft_files(row)


DraftChange = Callable[[ReportDraft, Content, datetime], None]


async def change_draft_now(db: Database, user_id: int, content: Content, change: DraftChange, now: datetime, *,
                           create: bool = False) -> tuple[ReportDraft | None, TicketError | None]:
    """Apply one answer (`change`, one of the functions below) to the draft in one write transaction, through
    Database.write_now: the draft as changed and None, or, when `change` refused the answer, the draft as it was and
    the refusal. (None, None) without a draft; with `create`, a new one is started first (and kept, as
    start_draft's would be, even if the answer is refused). The draft returned is not in any session."""

    def work(connection: Connection) -> tuple[ReportDraft | None, TicketError | None]:
        row = connection.execute(_DRAFT, {"user_id": user_id}).first()
        if row is None and not create:
            return None, None
        draft = _new_draft(user_id, now) if row is None else ReportDraft(**row._mapping)
        try:
            change(draft, content, now)
        except TicketError as error:
            if row is not None:
                return ReportDraft(**row._mapping), error
            draft = _new_draft(user_id, now)
            _DRAFTS.insert(connection, draft)
            return draft, error
        if row is None:
            _DRAFTS.insert(connection, draft)
        else:
            _DRAFTS.write_changes(connection, draft, row)
        return draft, None

    return await db.write_now(work)


def place_choices(estate: Estate) -> list[tuple[str, str | None]]:
    """(building id, staircase) pairs a tenant picks from: one per staircase, or per building without any."""
    choices: list[tuple[str, str | None]] = []
    for building in estate.buildings:
        if building.staircases:
            choices.extend((building.id, staircase) for staircase in building.staircases)
        else:
            choices.append((building.id, None))
    return choices


def pending_questions(draft: DraftView, content: Content) -> list[int]:
    """Indexes of the category's extra questions not answered yet."""
    category = content.problems.get(draft.category_id or "")
    if category is None:
        return []
    return [index for index, question in enumerate(category.questions) if question.id not in (draft.answers or {})]


def _applies(step: str, draft: DraftView, content: Content) -> bool:
    if step in ("tenant_name", "tenant_contact"):
        return draft.on_behalf
    if step == "building":
        estate = content.estates.get(draft.estate_id or "")
        return estate is not None and bool(estate.buildings)
    if step == "flat":
        return draft.area == "flat"
    if step == "questions":
        category = content.problems.get(draft.category_id or "")
        return category is not None and bool(category.questions)
    return True


def _is_done(step: str, draft: DraftView, content: Content) -> bool:
    if step == "questions":
        return not pending_questions(draft, content)
    if step == "category":  # an editor may have removed it since
        return draft.category_id in content.problems
    if step == "estate":
        return draft.estate_id in content.estates
    return step in (draft.done or [])


def first_gap(draft: DraftView, content: Content) -> str:
    """The first step still unanswered, or "review" when the report is complete."""
    for step in STEPS[:-1]:
        if _applies(step, draft, content) and not _is_done(step, draft, content):
            return step
    return "review"


def _next_in_edit(draft: ReportDraft, content: Content, after: str) -> str | None:
    """While changing a part from the review screen, its next step (asked again even if answered)."""
    part = EDIT_PARTS.get(draft.editing or "", ())
    if after not in part:
        return None
    for step in part[part.index(after) + 1 :]:
        if _applies(step, draft, content):
            return step
    return None


def _complete(draft: ReportDraft, content: Content, step: str, now: datetime) -> None:
    if step != "questions" and step not in (draft.done or []):
        draft.done = [*(draft.done or []), step]
    following = _next_in_edit(draft, content, step)
    if following is None:
        draft.editing = None
        following = first_gap(draft, content)
    draft.step, draft.updated_at = following, now


def _forget(draft: ReportDraft, *steps: str) -> None:
    draft.done = [step for step in (draft.done or []) if step not in steps]


def _invalid(message: str) -> TicketError:
    return TicketError("invalid", message)


def begin_edit(draft: ReportDraft, part: str, now: datetime) -> None:
    """Change one part of the report from the review screen; photos and description are asked afresh."""
    if part not in EDIT_PARTS or (part == "tenant" and not draft.on_behalf):
        raise _invalid(f"the report has no part {part!r} to change")
    if part == "photos":
        draft.photos = []
    elif part == "description":
        draft.description, draft.voice = None, None
        _forget(draft, "description")
    draft.step, draft.editing, draft.updated_at = EDIT_PARTS[part][0], part, now


def resume_step(draft: DraftView, content: Content) -> str:
    """Where the person continues; a step made impossible by a change in the content falls back to the first gap."""
    if draft.step != "review" and _applies(draft.step, draft, content):
        return draft.step
    return first_gap(draft, content)


def set_tenant_name(draft: ReportDraft, content: Content, name: str, now: datetime) -> None:
    draft.tenant_name = short_text(name)
    if draft.tenant_name is None:
        raise _invalid("the tenant's name is empty")
    _complete(draft, content, "tenant_name", now)


def set_tenant_contact(draft: ReportDraft, content: Content, contact: str, now: datetime) -> None:
    draft.tenant_contact = short_text(contact)
    if draft.tenant_contact is None:
        raise _invalid("the tenant's phone or flat is empty")
    _complete(draft, content, "tenant_contact", now)


def choose_category(draft: ReportDraft, content: Content, category_id: str, now: datetime) -> None:
    if category_id not in content.problems:
        raise _invalid(f"no problem category {category_id!r} in the content")
    draft.category_id = category_id
    draft.answers = {}  # the questions belong to the category: ask them again
    _complete(draft, content, "category", now)


def choose_estate(draft: ReportDraft, content: Content, estate_id: str, now: datetime) -> None:
    if estate_id not in content.estates:
        raise _invalid(f"no estate {estate_id!r} in the content")
    if draft.estate_id != estate_id:
        draft.building_id = draft.staircase = None
        _forget(draft, "building")
    draft.estate_id = estate_id
    _complete(draft, content, "estate", now)


def choose_building(draft: ReportDraft, content: Content, index: int, now: datetime) -> None:
    """`index` into place_choices of the draft's estate; -1 when the tenant does not know or it is everywhere."""
    estate = content.estates.get(draft.estate_id or "")
    if estate is None:
        raise _invalid("choose the estate before the building")
    choices = place_choices(estate)
    if index == -1:
        draft.building_id = draft.staircase = None
    elif 0 <= index < len(choices):
        draft.building_id, draft.staircase = choices[index]
    else:
        raise _invalid(f"estate {estate.id!r} has no building choice {index}")
    _complete(draft, content, "building", now)


def choose_floor(draft: ReportDraft, content: Content, floor: int | None, now: datetime) -> None:
    if floor is not None and not LOWEST_FLOOR <= floor <= HIGHEST_FLOOR:
        raise _invalid(f"floor {floor} is not between {LOWEST_FLOOR} and {HIGHEST_FLOOR}")
    draft.floor = floor
    _complete(draft, content, "floor", now)


def choose_area(draft: ReportDraft, content: Content, area: str, now: datetime) -> None:
    if area not in AREAS:
        raise _invalid(f"area {area!r} is not one of {AREAS}")
    draft.area = area
    if area == "common":
        draft.flat = None
    _complete(draft, content, "area", now)


def set_flat(draft: ReportDraft, content: Content, flat: str | None, now: datetime) -> None:
    draft.flat = short_text(flat, 60)
    _complete(draft, content, "flat", now)


def same_place_as(draft: ReportDraft, content: Content, last: Ticket | Row, now: datetime) -> None:
    """"Same place as last time": the estate, building and staircase, floor and flat of the tenant's last report
    in one answer. The review screen shows them all and "Luogo" changes them."""
    estate = content.estates.get(last.estate_id)
    if estate is None or (last.building_id is not None and (last.building_id, last.staircase) not in place_choices(estate)):
        raise _invalid(f"the place of ticket {last.code} is no longer in the content")
    draft.estate_id, draft.building_id, draft.staircase = last.estate_id, last.building_id, last.staircase
    draft.floor, draft.area = last.floor, last.area
    draft.flat = last.flat if last.area == "flat" else None
    answered = ["estate", "building", "floor", *(["area", "flat"] if last.area else [])]
    draft.done = [*(draft.done or []), *(step for step in answered if step not in (draft.done or []))]
    draft.editing = None
    _complete(draft, content, "estate", now)


def answer_question(draft: ReportDraft, content: Content, index: int, answer: str, now: datetime) -> None:
    category = content.problems.get(draft.category_id or "")
    if category is None or not 0 <= index < len(category.questions) or answer not in ANSWERS:
        raise _invalid(f"no question {index} with answer {answer!r} for category {draft.category_id!r}")
    draft.answers = {**(draft.answers or {}), category.questions[index].id: answer}
    if pending_questions(draft, content):
        draft.step, draft.updated_at = "questions", now
    else:
        _complete(draft, content, "questions", now)


def set_description(draft: ReportDraft, content: Content, text: str, now: datetime) -> None:
    cleaned = text.strip()[:MAX_DESCRIPTION]
    if not cleaned:
        raise _invalid("the description is empty")
    draft.description = cleaned
    _complete(draft, content, "description", now)


def set_voice(draft: ReportDraft, content: Content, media: dict, now: datetime) -> None:
    draft.voice = media
    _complete(draft, content, "description", now)


def add_photo(draft: ReportDraft, content: Content, media: dict, now: datetime) -> int:
    """Adds a photo and returns how many there are; the third one ends the step."""
    photos = list(draft.photos or [])
    if len(photos) >= MAX_PHOTOS:
        raise _invalid(f"a report has at most {MAX_PHOTOS} photos")
    photos.append(media)
    draft.photos = photos
    if len(photos) == MAX_PHOTOS:
        _complete(draft, content, "photos", now)
    else:
        draft.updated_at = now
    return len(photos)


def photos_done(draft: ReportDraft, content: Content, now: datetime) -> None:
    _complete(draft, content, "photos", now)


def missing_parts(draft: ReportDraft, content: Content) -> list[str]:
    """What still prevents sending: steps unanswered, or made invalid by a change in the content."""
    return [step for step in STEPS[:-1] if _applies(step, draft, content) and not _is_done(step, draft, content)]


# --------------------------------------------------------------------------------------------
# Opening a ticket


async def _next_number(session: AsyncSession, year: int) -> int:
    """Atomic per-year counter: the row is locked by the update until the transaction ends."""
    await session.execute(dialect_insert(session)(TicketCounter).values(year=year, last=0).on_conflict_do_nothing(index_elements=["year"]))
    await session.execute(update(TicketCounter).where(TicketCounter.year == year).values(last=TicketCounter.last + 1))
    return (await session.scalar(select(TicketCounter.last).where(TicketCounter.year == year))) or 0


def _event(ticket: Ticket, kind: str, actor_id: int | None, now: datetime, text: str | None = None) -> TicketEvent:
    return TicketEvent(ticket_id=ticket.id, at=now, actor_id=actor_id, kind=kind, status=ticket.status, text=text)


async def find_duplicates(session: AsyncSession, draft: ReportDraft, now: datetime) -> list[Ticket]:
    """Open tickets of the same estate and category (and building, when given) from the last 30 days that this
    person has neither filed nor joined; never one inside a flat. They are recorded on the draft as offered: the
    only tickets "me too" accepts from this person."""
    user_id = draft.user_id
    query = (
        select(Ticket)
        .where(
            Ticket.estate_id == draft.estate_id,
            Ticket.category_id == draft.category_id,
            Ticket.status.in_(OPEN_STATUSES),
            Ticket.created_at >= now - DUPLICATE_WINDOW,
            or_(Ticket.area.is_(None), Ticket.area != "flat"),
            or_(Ticket.reporter_id.is_(None), Ticket.reporter_id != user_id),
            ~exists().where(TicketSubscriber.ticket_id == Ticket.id, TicketSubscriber.user_id == user_id),
        )
        .order_by(Ticket.created_at.desc())
        .limit(MAX_DUPLICATES_SHOWN)
    )
    if draft.building_id:
        query = query.where(or_(Ticket.building_id == draft.building_id, Ticket.building_id.is_(None)))
    found = list((await session.scalars(query)).all())
    draft.offered = [ticket.id for ticket in found]
    return found


async def find_identical(session: AsyncSession, draft: ReportDraft, now: datetime) -> Ticket | None:
    """The open ticket this same person sent within the last hour with the very same report, if any: sending it
    again (a double tap, an impatient second try) joins that one instead of alerting the custodians again."""
    if draft.on_behalf:
        return None
    return await session.scalar(
        select(Ticket)
        .where(
            Ticket.reporter_id == draft.user_id, Ticket.created_at >= now - MERGE_WINDOW,
            Ticket.status.in_(OPEN_STATUSES), Ticket.category_id == draft.category_id,
            Ticket.estate_id == draft.estate_id, Ticket.building_id.is_not_distinct_from(draft.building_id),
            Ticket.staircase.is_not_distinct_from(draft.staircase), Ticket.floor.is_not_distinct_from(draft.floor),
            Ticket.area.is_not_distinct_from(draft.area), Ticket.flat.is_not_distinct_from(draft.flat),
            Ticket.description == (draft.description or ""),
        )
        .order_by(Ticket.created_at, Ticket.id)
        .limit(1)
    )


def new_media_token() -> str:
    return secrets.token_urlsafe(24)


async def _add_media(session: AsyncSession, ticket: Ticket, media: dict, added_by: int | None, now: datetime) -> TicketMedia:
    record = TicketMedia(
        ticket_id=ticket.id, kind=media["kind"], file_id=media["file_id"], path=media["path"], size=media["size"],
        mime_type=media["mime_type"], token=new_media_token(), added_by=added_by, added_at=now,
    )
    session.add(record)
    await session.flush()
    return record


async def open_ticket(session: AsyncSession, draft: ReportDraft, content: Content, roles: Roles, now: datetime) -> Ticket:
    """Turn a complete draft into a ticket (deleting the draft); the caller announces it in the same transaction.
    A report filed on a tenant's behalf needs the filer to handle that estate."""
    missing = missing_parts(draft, content)
    if missing:
        raise _invalid(f"the report is not complete: {', '.join(missing)}")
    if draft.on_behalf and not roles.handles_estate(draft.estate_id):
        log.warning("user %s may not file a report for estate %s", draft.user_id, draft.estate_id)
        raise TicketError("not_allowed", f"user {draft.user_id} does not handle estate {draft.estate_id!r}")
    category = content.problems[draft.category_id]
    number = await _next_number(session, now.year)
    ticket = Ticket(
        code=format_code(now.year, number), status="new", category_id=category.id, urgency=category.urgency,
        ack_hours=category.ack_hours, estate_id=draft.estate_id, building_id=draft.building_id,
        staircase=draft.staircase, floor=draft.floor, area=draft.area, flat=draft.flat, answers=dict(draft.answers or {}),
        description=draft.description or "", reporter_id=None if draft.on_behalf else draft.user_id,
        filed_by=draft.user_id if draft.on_behalf else None, tenant_name=draft.tenant_name,
        tenant_contact=draft.tenant_contact, affected=1, created_at=now, updated_at=now,
        escalate_at=now + timedelta(hours=category.ack_hours), escalations=0,
    )
    session.add(ticket)
    await session.flush()
    for media in [*(draft.photos or []), *([draft.voice] if draft.voice else [])]:
        await _add_media(session, ticket, media, draft.user_id, now)
    session.add(_event(ticket, "opened", draft.user_id, now))
    if not draft.on_behalf:
        await session.execute(update(User).where(User.id == draft.user_id).values(last_estate_id=draft.estate_id))
        await neighbourhood.remember_from_report(session, draft.user_id, draft.estate_id, draft.building_id, draft.staircase, now)
    await session.delete(draft)
    await session.flush()
    return ticket


# --------------------------------------------------------------------------------------------
# Acting on a ticket


async def get_ticket(session: AsyncSession, ticket_id: int) -> Ticket | None:
    return await session.get(Ticket, ticket_id)


async def is_subscribed(session: AsyncSession, ticket_id: int, user_id: int) -> bool:
    found = await session.scalar(
        select(TicketSubscriber.id).where(TicketSubscriber.ticket_id == ticket_id, TicketSubscriber.user_id == user_id)
    )
    return found is not None


async def _checked(session: AsyncSession, ticket_id: int, action: Action, actor: Actor, now: datetime) -> Ticket:
    """The ticket, locked for this transaction, once the actor may do the action in its current state."""
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise TicketError("not_found", f"no ticket with id {ticket_id}")
    subscribed = await is_subscribed(session, ticket.id, actor.user_id)
    if not authorize(action, ticket, actor, subscribed=subscribed):
        log.warning("user %s may not %s ticket %s (estate %s)", actor.user_id, action.value, ticket.code, ticket.estate_id)
        raise TicketError("not_allowed", f"user {actor.user_id} may not {action.value} ticket {ticket.code}")
    allowed_from, _target = TRANSITIONS[action]
    if ticket.status not in allowed_from:
        raise TicketError("wrong_state", f"ticket {ticket.code} is {ticket.status}: cannot {action.value}")
    if action in (Action.CONFIRM, Action.REOPEN) and ticket.resolved_at is not None and now - ticket.resolved_at > CONFIRM_WINDOW:
        raise TicketError("too_late", f"ticket {ticket.code} was resolved more than {CONFIRM_WINDOW.days} days ago")
    if action is Action.RATE and ticket.stars is not None:
        raise TicketError("wrong_state", f"ticket {ticket.code} is already rated")
    return ticket


async def _record(session: AsyncSession, ticket: Ticket, previous: str, kind: str, actor_id: int | None, now: datetime,
                  text: str | None = None) -> Change:
    ticket.updated_at = now
    event = _event(ticket, kind, actor_id, now, text)
    session.add(event)
    await session.flush()
    return Change(ticket, event, previous)


async def change_status(session: AsyncSession, ticket_id: int, action: Action, actor: Actor, now: datetime) -> Change:
    """Acknowledge, start, resolve (custodians) or confirm, reopen (the reporter)."""
    if action not in (Action.ACKNOWLEDGE, Action.START, Action.RESOLVE, Action.CONFIRM, Action.REOPEN):
        raise ValueError(f"{action.value} is not a plain change of status; use its own function")
    ticket = await _checked(session, ticket_id, action, actor, now)
    previous = ticket.status
    ticket.status = TRANSITIONS[action][1]
    if action in CUSTODIAN_ACTIONS:
        ticket.acknowledged_at = ticket.acknowledged_at or now
        ticket.escalate_at = None  # someone acted
    if action is Action.RESOLVE:
        ticket.resolved_at = now
    elif action is Action.CONFIRM:
        ticket.closed_at = now
    elif action is Action.REOPEN:
        ticket.resolved_at = None
        ticket.escalate_at = now + timedelta(hours=ticket.ack_hours)
    if action in (Action.RESOLVE, Action.CONFIRM):
        for hook in FEEDBACK_HOOKS:
            await hook(session, ticket, now)
    return await _record(session, ticket, previous, EVENT_OF_ACTION[action], actor.user_id, now)


async def reject(session: AsyncSession, ticket_id: int, actor: Actor, reason: str, now: datetime, text: str | None = None) -> Change:
    """"Not for us": closes the ticket with one of REJECT_REASONS and, for "other", the custodian's words."""
    if reason not in REJECT_REASONS:
        raise _invalid(f"reason {reason!r} is not one of {REJECT_REASONS}")
    ticket = await _checked(session, ticket_id, Action.REJECT, actor, now)
    previous = ticket.status
    ticket.status, ticket.reject_reason, ticket.closed_at, ticket.escalate_at = "rejected", reason, now, None
    ticket.acknowledged_at = ticket.acknowledged_at or now
    note = (text or "").strip()[:MAX_NOTE] or None
    if note:
        ticket.last_note, ticket.last_note_at = note, now
    return await _record(session, ticket, previous, "rejected", actor.user_id, now, note)


async def add_note(session: AsyncSession, ticket_id: int, actor: Actor, text: str, now: datetime) -> Change:
    note = text.strip()[:MAX_NOTE]
    if not note:
        raise _invalid("the note is empty")
    ticket = await _checked(session, ticket_id, Action.NOTE, actor, now)
    ticket.last_note, ticket.last_note_at = note, now
    return await _record(session, ticket, ticket.status, "note", actor.user_id, now, note)


async def add_comment(session: AsyncSession, ticket_id: int, actor: Actor, now: datetime, *, text: str | None = None,
                      media: dict | None = None) -> tuple[Change, TicketMedia | None]:
    """The reporter or a subscriber adds words or a photo; the custodians are told."""
    comment = (text or "").strip()[:MAX_DESCRIPTION] or None
    if comment is None and media is None:
        raise _invalid("a comment needs a text or a photo")
    ticket = await _checked(session, ticket_id, Action.COMMENT, actor, now)
    saved = await _add_media(session, ticket, media, actor.user_id, now) if media else None
    change = await _record(session, ticket, ticket.status, "photo" if saved else "comment", actor.user_id, now, comment)
    return change, saved


async def rate(session: AsyncSession, ticket_id: int, actor: Actor, stars: int, now: datetime) -> Change:
    if not 1 <= stars <= 5:
        raise _invalid(f"stars must be 1 to 5, got {stars}")
    ticket = await _checked(session, ticket_id, Action.RATE, actor, now)
    ticket.stars, ticket.rated_at = stars, now
    return await _record(session, ticket, ticket.status, "rated", actor.user_id, now, str(stars))


async def me_too(session: AsyncSession, ticket_id: int, actor: Actor, now: datetime) -> Change:
    """A tenant with the same problem joins the ticket instead of filing a duplicate: only one the server offered
    them for the draft they are writing now (find_duplicates), whatever id a button carries."""
    draft = await get_draft(session, actor.user_id)
    if draft is None or ticket_id not in (draft.offered or []):
        log.warning("user %s: me too on ticket %s, which was not offered to them", actor.user_id, ticket_id)
        raise TicketError("not_allowed", f"ticket {ticket_id} was not offered to user {actor.user_id}")
    ticket = await _checked(session, ticket_id, Action.ME_TOO, actor, now)
    session.add(TicketSubscriber(ticket_id=ticket.id, user_id=actor.user_id, created_at=now))
    ticket.affected = (ticket.affected or 1) + 1
    return await _record(session, ticket, ticket.status, "me_too", actor.user_id, now)


async def check(session: AsyncSession, ticket_id: int, action: Action, actor: Actor, now: datetime) -> Ticket:
    """The ticket if the actor may do the action now (to offer its next question), else TicketError."""
    return await _checked(session, ticket_id, action, actor, now)


PROMPT_OF_ACTION = {Action.NOTE: "note", Action.REJECT: "reject", Action.COMMENT: "comment"}


async def expect_text(session: AsyncSession, ticket_id: int, action: Action, actor: Actor, now: datetime) -> Ticket:
    """Check the action, then remember that the actor's next message is its text (a note, a reason, a comment)."""
    ticket = await _checked(session, ticket_id, action, actor, now)
    await set_prompt(session, actor.user_id, ticket.id, PROMPT_OF_ACTION[action], now)
    return ticket


async def view(session: AsyncSession, ticket_id: int, actor: Actor, action: Action = Action.VIEW) -> Ticket:
    """The ticket, if this person may see it (VIEW for tenants, STAFF_VIEW for custodians)."""
    ticket = await get_ticket(session, ticket_id)
    if ticket is None:
        raise TicketError("not_found", f"no ticket with id {ticket_id}")
    if not authorize(action, ticket, actor, subscribed=await is_subscribed(session, ticket_id, actor.user_id)):
        log.warning("user %s may not %s ticket %s", actor.user_id, action.value, ticket.code)
        raise TicketError("not_allowed", f"user {actor.user_id} may not view ticket {ticket.code}")
    return ticket


def can_answer_resolution(ticket: Ticket, user_id: int, now: datetime) -> bool:
    """Whether the reporter is still asked "is it fixed?" (confirm or reopen)."""
    return (
        ticket.status == "resolved" and ticket.reporter_id == user_id and ticket.resolved_at is not None
        and now - ticket.resolved_at <= CONFIRM_WINDOW
    )


def can_rate(ticket: Ticket, user_id: int) -> bool:
    return ticket.status == "closed" and ticket.reporter_id == user_id and ticket.stars is None


# --------------------------------------------------------------------------------------------
# Time passing: escalation and automatic closing (periodic jobs)


async def escalate_due(session: AsyncSession, now: datetime, limit: int | None = None) -> list[Change]:
    """Tickets nobody took in charge in time: escalate them, and again every day until someone acts. At most
    `limit`, in no particular order (sorting a backlog of thousands to take ten cost more than the ten); the
    escalated ones are not due again for a day, so the next call takes others."""
    due = await session.scalars(
        select(Ticket).where(Ticket.status.in_(AWAITING_ACK), Ticket.escalate_at <= now).limit(limit).with_for_update()
    )
    changes = []
    for ticket in due.all():
        ticket.escalations += 1
        ticket.escalate_at = now + ESCALATE_AGAIN_AFTER
        changes.append(await _record(session, ticket, ticket.status, "escalated", None, now, str(ticket.escalations)))
    return changes


async def close_expired(session: AsyncSession, now: datetime, limit: int | None = None) -> list[Change]:
    """Resolved tickets nobody reopened within 14 days are closed (at most `limit`, in no particular order)."""
    due = await session.scalars(
        select(Ticket).where(Ticket.status == "resolved", Ticket.resolved_at <= now - CONFIRM_WINDOW)
        .limit(limit).with_for_update()
    )
    changes = []
    for ticket in due.all():
        ticket.status, ticket.closed_at = "closed", now
        changes.append(await _record(session, ticket, "resolved", "closed", None, now))
    return changes


# --------------------------------------------------------------------------------------------
# Prompts: the bot waits for a text (or a photo) about a ticket


PROMPT_PURPOSES = ("note", "reject", "comment")


async def set_prompt(session: AsyncSession, user_id: int, ticket_id: int, purpose: str, now: datetime) -> None:
    if purpose not in PROMPT_PURPOSES:
        raise ValueError(f"prompt purpose {purpose!r} is not one of {PROMPT_PURPOSES}")
    await drop_prompt(session, user_id)
    session.add(TicketPrompt(user_id=user_id, ticket_id=ticket_id, purpose=purpose, created_at=now))
    await session.flush()


async def get_prompt(session: AsyncSession, user_id: int) -> TicketPrompt | None:
    return await session.get(TicketPrompt, user_id)


def prompt_is_live(prompt: TicketPrompt, now: datetime) -> bool:
    """A prompt older than PROMPT_LIFETIME has expired: a message typed days later must not become a note that
    every follower receives."""
    return now - prompt.created_at <= PROMPT_LIFETIME


async def drop_prompt(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(delete(TicketPrompt).where(TicketPrompt.user_id == user_id))
    return result.rowcount > 0
