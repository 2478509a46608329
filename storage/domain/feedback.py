"""Tenants' opinions and the prompts that ask for them, without Telegram.

From the menu a tenant rates a space or one of its services (1-5 stars, an optional comment) or writes a
suggestion or a complaint about a space, optionally anonymously. What they write waits in a draft (one per
tenant) until they send it; sending turns it into a `Feedback` row and deletes the draft in the same transaction.
An anonymous row has no user id and only the day: nothing in the database, the outbox or the logs links it to
its author (this module never logs anything about opinions).

Prompts: the day after staff mark a booking attended, and the day after a tenant confirms a fix, the tenant is
asked for stars, at most once a day and never after turning prompts off. A ticket's "has it been fixed?" notice
(sent by the reports flow when a custodian resolves it) counts as that day's prompt. The stars of a fix stay on
the ticket (`Ticket.stars`, what the reports screens show); a changed mind updates them, as it updates a booking's
rating, instead of adding a second one.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import Row, bindparam, delete, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, DetachedRows, dialect_insert
from storage.domain import tickets
from storage.content import Content
from storage.domain.hours import ROME
from storage.models import Booking, Feedback, FeedbackDraft, FeedbackPrompt, Ticket, TicketEvent, User
from storage.models.feedback import ONE_PER_BOOKING, ONE_PER_TARGET
from storage.domain.refusals import Refused
from storage.domain.tickets import Actor, TicketError

KINDS = ("rating", "suggestion", "complaint")
MAX_COMMENT = 1000
DRAFT_LIFETIME = timedelta(minutes=30)  # an unsent draft stops waiting for its text after this long
PROMPT_TIME = time(10, 0)  # prompts go out the next day from this local time, never at night
PROMPT_GUARD = "feedback_prompt"
# Hooks called inside storage transactions have no settings at hand; the service is Milan's.
DEFAULT_ZONE = ROME


class FeedbackError(Refused):
    """A refused action. `reason`: not_found, not_allowed, invalid."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(reason, message)


class Claim(StrEnum):
    ASK = "ask"  # send the prompt now
    LATER = "later"  # the tenant was already asked something today: tomorrow
    SKIP = "skip"  # prompts are off, the tenant blocked the bot, or there is nothing left to ask


@dataclass(frozen=True)
class Target:
    space_id: str
    service_id: str = ""  # "" for the space as a whole


def new_id() -> str:
    return secrets.token_urlsafe(16)


def local_day(moment: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> date:
    return moment.astimezone(tz).date()


def next_prompt_time(after: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> datetime:
    """PROMPT_TIME on the local day after `after`, in UTC."""
    tomorrow = local_day(after, tz) + timedelta(days=1)
    return datetime.combine(tomorrow, PROMPT_TIME, tz).astimezone(after.tzinfo)



def check_target(content: Content, target: Target) -> None:
    if target.space_id not in content.spaces:
        raise FeedbackError("invalid", f"no space {target.space_id!r} in the content")
    if target.service_id:
        service = content.services.get(target.service_id)
        if service is None or service.space_id != target.space_id:
            raise FeedbackError("invalid", f"space {target.space_id!r} has no service {target.service_id!r}")


def clean_comment(text: str | None) -> str | None:
    cleaned = (text or "").strip()[:MAX_COMMENT]
    return cleaned or None


# --------------------------------------------------------------------------------------------
# Drafts: what a tenant is writing


def _new_draft(user_id: int, kind: str, target: Target, content: Content, now: datetime) -> FeedbackDraft:
    """A new draft (not in any session): a rating starts at the stars, the others at their text."""
    if kind not in KINDS:
        raise FeedbackError("invalid", f"feedback kind {kind!r} is not one of {KINDS}")
    check_target(content, target)
    if kind != "rating" and target.service_id:
        raise FeedbackError("invalid", "suggestions and complaints are about a space, not a service")
    return FeedbackDraft(
        user_id=user_id, kind=kind, space_id=target.space_id, service_id=target.service_id, feedback_id=None,
        stars=None, comment=None, anonymous=False, step="stars" if kind == "rating" else "text", updated_at=now,
    )


async def start_comment(session: AsyncSession, user_id: int, booking_id: int, now: datetime) -> FeedbackDraft:
    """Add a comment to the rating a tenant gave after a booking: the next text message is the comment."""
    rating = await booking_rating(session, user_id, booking_id)
    if rating is None:
        raise FeedbackError("not_found", f"user {user_id} has not rated booking {booking_id}")
    await drop_draft(session, user_id)
    draft = FeedbackDraft(
        user_id=user_id, kind="rating", space_id=rating.space_id, service_id=rating.service_id,
        feedback_id=rating.id, stars=rating.stars, comment=None, anonymous=False, step="text", updated_at=now,
    )
    session.add(draft)
    await session.flush()
    return draft


async def drop_draft(session: AsyncSession, user_id: int) -> bool:
    result = await session.execute(delete(FeedbackDraft).where(FeedbackDraft.user_id == user_id))
    return result.rowcount > 0


# The opinion buttons' own writes of a draft, built once and run as Core through Database.write_now: a session's
# get and flush and the ORM statements built on every call cost several times the statements (docs/performance.md,
# writes under load, third pass; figures in this commit's message).
_drafts, _feedback = FeedbackDraft.__table__, Feedback.__table__
_DRAFTS = DetachedRows(_drafts, "user_id")
_DRAFT = select(_drafts).where(_drafts.c.user_id == bindparam("user_id"))
_DROP_DRAFT = delete(_drafts).where(_drafts.c.user_id == bindparam("user_id"))
_SAVED = (_feedback.c.id, _feedback.c.booking_id, _feedback.c.stars)
_COMMENT_ON_RATING = (update(_feedback)
                      .where(_feedback.c.id == bindparam("feedback_id"), _feedback.c.user_id == bindparam("author"))
                      .values(comment=bindparam("comment", type_=_feedback.c.comment.type),
                              day=bindparam("day", type_=_feedback.c.day.type))
                      .returning(*_SAVED))
_INSERT_FEEDBACK = insert(_feedback).returning(*_SAVED)


def _named_rating_upsert(dialect_insert_of):  # type: ignore[no-untyped-def]
    statement = dialect_insert_of(_feedback)
    return statement.on_conflict_do_update(
        index_elements=["user_id", "space_id", "service_id"], index_where=ONE_PER_TARGET,
        set_=dict(stars=statement.excluded.stars, comment=statement.excluded.comment, day=statement.excluded.day),
    ).returning(*_SAVED)


_NAMED_RATING = {"postgresql": _named_rating_upsert(pg_insert), "sqlite": _named_rating_upsert(sqlite_insert)}


async def start_draft_now(db: Database, user_id: int, kind: str, target: Target, content: Content,
                          now: datetime) -> FeedbackDraft:
    """A new draft replacing any earlier one, in a transaction of its own through Database.write_now; the draft
    returned is in no session."""
    draft = _new_draft(user_id, kind, target, content, now)

    def work(connection: Connection) -> None:
        connection.execute(_DROP_DRAFT, {"user_id": user_id})
        _DRAFTS.insert(connection, draft)

    await db.write_now(work)
    return draft


def _live_draft(connection: Connection, user_id: int, now: datetime) -> Row:
    """The tenant's draft (a Row), unless it is missing or has waited longer than DRAFT_LIFETIME."""
    row = connection.execute(_DRAFT, {"user_id": user_id}).first()
    if row is None or now - row.updated_at > DRAFT_LIFETIME:
        raise FeedbackError("not_found", f"user {user_id} has no feedback draft")
    return row


async def change_draft_now(db: Database, user_id: int, change: Callable[[FeedbackDraft, datetime], None],
                           now: datetime) -> FeedbackDraft:
    """Apply `change(draft, now)` (set_stars, toggle_anonymous) to the tenant's draft in one write transaction,
    through Database.write_now, writing the columns it changed; FeedbackError if there is no live draft or the
    change is refused (nothing written). The draft returned is in no session."""

    def work(connection: Connection) -> FeedbackDraft:
        row = _live_draft(connection, user_id, now)
        draft = FeedbackDraft(**row._mapping)
        change(draft, now)
        _DRAFTS.write_changes(connection, draft, row)
        return draft

    return await db.write_now(work)


async def drop_draft_now(db: Database, user_id: int) -> bool:
    """drop_draft on its own: one statement, through Database.write_one."""
    result = await db.write_one(lambda connection: connection.execute(_DROP_DRAFT, {"user_id": user_id}))
    return result.rowcount > 0


async def send_draft_now(db: Database, user_id: int, now: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> tuple[str, bool]:
    """Save the tenant's live draft (_save) and delete it, in a transaction of its own through Database.write_now:
    its kind and whether it was anonymous. FeedbackError if there is no live draft or it is not complete (nothing written)."""

    def work(connection: Connection) -> tuple[str, bool]:
        draft = _live_draft(connection, user_id, now)
        _save(connection, draft, now, tz)
        connection.execute(_DROP_DRAFT, {"user_id": user_id})
        return draft.kind, draft.anonymous

    return await db.write_now(work)


async def comment_now(db: Database, user_id: int, text: str, now: datetime,
                      tz: ZoneInfo = DEFAULT_ZONE) -> tuple[FeedbackDraft, Row | None] | None:
    """The tenant's typed text as the comment of their live draft, in one write transaction through
    Database.write_now: None when no draft waits for a text (none, expired, at the stars, or the text is empty;
    nothing written). Else the draft, with the saved opinion's row when the draft was a comment on a booking's
    rating (sent at once: nothing else to decide) or None (the draft, updated, waits to be sent)."""

    def work(connection: Connection) -> tuple[FeedbackDraft, Row | None] | None:
        row = connection.execute(_DRAFT, {"user_id": user_id}).first()
        if row is None or now - row.updated_at > DRAFT_LIFETIME or row.step == "stars":
            return None
        draft = FeedbackDraft(**row._mapping)
        try:
            set_comment(draft, text, now)
        except FeedbackError:
            return None
        if draft.feedback_id is not None:
            saved = _save(connection, draft, now, tz)
            connection.execute(_DROP_DRAFT, {"user_id": user_id})
            return draft, saved
        _DRAFTS.write_changes(connection, draft, row)
        return draft, None

    return await db.write_now(work)


def set_stars(draft: FeedbackDraft, stars: int, now: datetime) -> None:
    if draft.kind != "rating" or draft.feedback_id is not None:
        raise FeedbackError("invalid", f"a {draft.kind} draft has no stars")
    if not 1 <= stars <= 5:
        raise FeedbackError("invalid", f"stars must be 1 to 5, got {stars}")
    draft.stars, draft.updated_at = stars, now
    draft.step = "review" if draft.comment else "text"


def set_comment(draft: FeedbackDraft, text: str, now: datetime) -> None:
    comment = clean_comment(text)
    if comment is None:
        raise FeedbackError("invalid", "the text is empty")
    draft.comment, draft.step, draft.updated_at = comment, "review", now


def toggle_anonymous(draft: FeedbackDraft, now: datetime) -> None:
    if draft.feedback_id is not None:
        raise FeedbackError("invalid", "a comment on a booking's rating cannot be anonymous: the booking is yours")
    draft.anonymous, draft.updated_at = not draft.anonymous, now


def can_send(draft: FeedbackDraft | Row) -> bool:
    if draft.kind == "rating" and draft.feedback_id is None:
        return draft.stars is not None
    return draft.comment is not None


def _save(connection: Connection, draft: FeedbackDraft | Row, now: datetime, tz: ZoneInfo) -> Row:
    """Save what the draft holds (shared by send_draft_now and comment_now): the saved row's id, booking_id and
    stars. A named rating of a space or service replaces the tenant's earlier one; an anonymous opinion is a new
    row with no trace of its author."""
    if not can_send(draft):
        raise FeedbackError("invalid", f"the {draft.kind} is not complete: {'stars' if draft.kind == 'rating' else 'text'} missing")
    day = local_day(now, tz)
    if draft.feedback_id is not None:
        saved = connection.execute(_COMMENT_ON_RATING, {"feedback_id": draft.feedback_id, "author": draft.user_id,
                                                        "comment": draft.comment, "day": day}).first()
        if saved is None:
            raise FeedbackError("not_found", "the rating to comment on no longer exists")
        return saved
    named_rating = draft.kind == "rating" and not draft.anonymous
    values = dict(id=new_id(), kind=draft.kind, space_id=draft.space_id, service_id=draft.service_id, booking_id=None,
                  user_id=None if draft.anonymous else draft.user_id, stars=draft.stars, comment=draft.comment, day=day)
    statement = _NAMED_RATING[connection.dialect.name] if named_rating else _INSERT_FEEDBACK
    return connection.execute(statement, values).one()


# --------------------------------------------------------------------------------------------
# Ratings of a booking and of a fix


async def booking_rating(session: AsyncSession, user_id: int, booking_id: int) -> Feedback | None:
    return await session.scalar(select(Feedback).where(Feedback.user_id == user_id, Feedback.booking_id == booking_id))


async def rate_booking(session: AsyncSession, booking_id: int, user_id: int, stars: int, now: datetime,
                       tz: ZoneInfo = DEFAULT_ZONE) -> Feedback:
    """The tenant's stars for a booking they attended; a second tap changes them (one rating per booking)."""
    if not 1 <= stars <= 5:
        raise FeedbackError("invalid", f"stars must be 1 to 5, got {stars}")
    booking = await session.get(Booking, booking_id)
    if booking is None or booking.user_id != user_id:
        raise FeedbackError("not_found", f"user {user_id} has no booking {booking_id}")
    if booking.status != "attended":
        raise FeedbackError("not_allowed", f"booking {booking.code} is {booking.status}, not attended")
    day = local_day(now, tz)
    values = dict(id=new_id(), kind="rating", space_id=booking.space_id, service_id=booking.service_id,
                  booking_id=booking.id, user_id=user_id, stars=stars, comment=None, day=day)
    await session.execute(
        dialect_insert(session)(Feedback).values(**values).on_conflict_do_update(
            index_elements=["user_id", "booking_id"], index_where=ONE_PER_BOOKING, set_=dict(stars=stars, day=day),
        )
    )
    rating = await session.scalar(
        select(Feedback).where(Feedback.user_id == user_id, Feedback.booking_id == booking.id)
        .execution_options(populate_existing=True)
    )
    assert rating is not None
    return rating


async def rate_fix(session: AsyncSession, ticket_id: int, actor: Actor, stars: int, now: datetime) -> Ticket:
    """The reporter's stars for a fix: the first time through the tickets' own rule (with its history line), after
    that a changed mind updates them. Raises TicketError like the rest of the reports flow."""
    if not 1 <= stars <= 5:
        raise TicketError("invalid", f"stars must be 1 to 5, got {stars}")
    ticket = await session.scalar(select(Ticket).where(Ticket.id == ticket_id).with_for_update())
    if ticket is None:
        raise TicketError("not_found", f"no ticket with id {ticket_id}")
    if ticket.stars is None:
        return (await tickets.rate(session, ticket_id, actor, stars, now)).ticket
    if ticket.reporter_id != actor.user_id:
        raise TicketError("not_allowed", f"user {actor.user_id} did not report ticket {ticket.code}")
    if ticket.status != "closed":
        raise TicketError("wrong_state", f"ticket {ticket.code} is {ticket.status}: cannot rate")
    if ticket.stars != stars:
        ticket.stars, ticket.rated_at, ticket.updated_at = stars, now, now
        session.add(TicketEvent(ticket_id=ticket.id, at=now, actor_id=actor.user_id, kind="rated", status=ticket.status,
                                text=str(stars)))
        await session.flush()
    return ticket


# --------------------------------------------------------------------------------------------
# Prompts


async def _add_prompt(session: AsyncSession, user_id: int, kind: str, ref: int, due_at: datetime, *,
                      asked_on: date | None = None) -> None:
    """Once per (kind, ref, user); a "fix_question" already asked takes its day only if the day is still free."""
    values = dict(user_id=user_id, kind=kind, ref=ref, status="asked" if asked_on else "pending", due_at=due_at, day=asked_on)
    await session.execute(dialect_insert(session)(FeedbackPrompt).values(**values).on_conflict_do_nothing())


async def prompt_after_booking(session: AsyncSession, booking: Booking, now: datetime) -> None:
    """storage.domain.bookings.FEEDBACK_HOOKS: staff marked the booking attended; ask "how was it?" tomorrow."""
    await _add_prompt(session, booking.user_id, "booking", booking.id, next_prompt_time(now))


async def prompt_after_fix(session: AsyncSession, ticket: Ticket, now: datetime) -> None:
    """storage.domain.tickets.FEEDBACK_HOOKS: a custodian resolved the ticket (the reports flow asks "has it been fixed?"
    right away: that is today's prompt) or the reporter confirmed the fix (stars tomorrow, if not given by then)."""
    if ticket.reporter_id is None:
        return  # filed for someone without Telegram: nobody to ask
    if ticket.status == "resolved":
        today = local_day(now)
        taken = await session.scalar(select(FeedbackPrompt.id).where(FeedbackPrompt.user_id == ticket.reporter_id,
                                                                     FeedbackPrompt.day == today))
        await _add_prompt(session, ticket.reporter_id, "fix_question", ticket.id, now, asked_on=None if taken else today)
    elif ticket.status == "closed" and ticket.stars is None:
        await _add_prompt(session, ticket.reporter_id, "fix", ticket.id, next_prompt_time(now))


async def due_prompts(session: AsyncSession, now: datetime, limit: int = 200) -> list[FeedbackPrompt]:
    rows = await session.scalars(
        select(FeedbackPrompt).where(FeedbackPrompt.status == "pending", FeedbackPrompt.due_at <= now)
        .order_by(FeedbackPrompt.due_at, FeedbackPrompt.id).limit(limit).with_for_update(skip_locked=True)
    )
    return list(rows.all())


async def still_to_ask(session: AsyncSession, prompt: FeedbackPrompt) -> bool:
    """Whether there is still something to ask: the booking attended and unrated, the fix closed and unrated."""
    if prompt.kind == "booking":
        booking = await session.get(Booking, prompt.ref)
        return (booking is not None and booking.status == "attended"
                and await booking_rating(session, prompt.user_id, prompt.ref) is None)
    if prompt.kind == "fix":
        ticket = await session.get(Ticket, prompt.ref)
        return ticket is not None and ticket.status == "closed" and ticket.stars is None
    return False


async def claim(session: AsyncSession, prompt: FeedbackPrompt, now: datetime, tz: ZoneInfo = DEFAULT_ZONE) -> Claim:
    """Decide a due prompt: ask now (taking today), ask tomorrow (today is taken), or never."""
    user = await session.get(User, prompt.user_id)
    if user is None or not user.prompts_enabled or user.blocked_at is not None or not await still_to_ask(session, prompt):
        prompt.status = "skipped"
        return Claim.SKIP
    today = local_day(now, tz)
    taken = await session.scalar(
        select(FeedbackPrompt.id).where(FeedbackPrompt.user_id == prompt.user_id, FeedbackPrompt.day == today)
    )
    if taken is not None:
        prompt.due_at = next_prompt_time(now, tz)
        return Claim.LATER
    prompt.status, prompt.day = "asked", today
    await session.flush()
    return Claim.ASK


def prompt_guard(prompt: FeedbackPrompt) -> str:
    return f"{PROMPT_GUARD}:{prompt.id}"


async def prompt_still_wanted(session: AsyncSession, argument: str, now: datetime) -> bool:
    prompt = await session.get(FeedbackPrompt, int(argument))
    if prompt is None:
        return False
    user = await session.get(User, prompt.user_id)
    return user is not None and user.prompts_enabled and await still_to_ask(session, prompt)


# Built once and run as Core, like storage.domain.users' frequent writes (a "don't ask me again" is a task tenants do).
_SET_PROMPTS = update(User.__table__).where(User.__table__.c.id == bindparam("user_id")).values(
    prompts_enabled=bindparam("enabled", type_=User.__table__.c.prompts_enabled.type))


async def choose_prompts(db: Database, user_id: int, enabled: bool) -> None:
    """The "don't ask me again" button (or asking again), one statement, through Database.write_one."""
    await db.write_one(lambda connection: connection.execute(_SET_PROMPTS, {"user_id": user_id, "enabled": enabled}))


# Checked just before a prompt leaves (storage.domain.outbox.GUARDS); bot/app.py registers it.
OUTBOX_GUARDS = {PROMPT_GUARD: prompt_still_wanted}
