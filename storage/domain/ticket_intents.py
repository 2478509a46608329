"""Ticket intents, one domain call each: a tenant sends a report (`submit_report`), a custodian or the reporter acts
on a ticket (`change_status`, `reject`, `expect_text`, `finish_text`), a tenant joins a ticket (`me_too`). Each owns
its decision in one transaction — permissions, the daily caps, the merge of a report sent twice, the prompt —
writes the messages to other people through the `Announcer` in that same transaction (so an alert never leaves
for a change that rolled back) and returns an outcome the handler only renders (handlers/reports.py,
handlers/custodian.py). The announcer is the handlers' outgoing room (handlers/outgoing/tickets.py) handed in:
the domain decides that people are told, the words are the adapter's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from storage.content import Content
from storage.db import Database
from storage.domain import limits, tickets
from storage.domain.limits import DailyCaps, LimitReached
from storage.domain.tickets import Action, Actor, Change, TicketError
from storage.models import ReportDraft, Ticket, TicketMedia


class Announcer(Protocol):
    """Writes the outbox rows that tell other people (custodians, the manager chat, the tenants)."""

    async def new_ticket(self, session: AsyncSession, ticket: Ticket) -> None: ...

    async def change(self, session: AsyncSession, change: Change, actor_id: int, media: TicketMedia | None = None) -> None: ...


# --- outcomes: the domain's own values where they say it all (the ticket opened, the change made, the
# TicketError or LimitReached that refused it, the look-alikes), and these where they do not


@dataclass(frozen=True)
class Merged:
    """The same report sent again within the hour: the first one stands, nobody is alerted again. The draft's
    stored files are the caller's to delete."""

    ticket: Ticket
    dropped_files: list[str] | None


@dataclass(frozen=True)
class DraftRefused:
    """Not sent (no draft, or an incomplete one); the draft as it is now, if any, to resume."""

    error: TicketError
    draft: ReportDraft | None


@dataclass(frozen=True)
class Joined:
    """A "me too": the change on the ticket joined, and the files of the draft given up for it."""

    change: Change
    dropped_files: list[str] | None


# Ticket: opened; list[Ticket]: open look-alikes, to join (me too) or send anyway.
Submission = Ticket | Merged | list[Ticket] | DraftRefused | LimitReached
# Ticket: the actor's next message is the text (a note, a reason, a comment) for this ticket.
Acted = Change | TicketError
Asked = Ticket | TicketError


# --- a report sent


async def submit_report(
    db: Database, actor: Actor, content: Content, caps: DailyCaps, now: datetime, announcer: Announcer, *,
    skip_duplicates: bool = False,
) -> Submission:
    """Send the tenant's draft: merged into the same report sent within the hour, or the open look-alikes offered
    first (unless `skip_duplicates`), or a ticket opened under the daily cap with its alerts queued."""
    try:
        async with db.write() as session:
            draft = await tickets.get_draft(session, actor.user_id)
            if draft is None:
                raise TicketError("not_found", f"user {actor.user_id} has no draft")
            merged = await tickets.find_identical(session, draft, now)
            if merged is not None:
                return Merged(merged, await tickets.discard_draft(session, actor.user_id))
            if not (skip_duplicates or draft.on_behalf):
                duplicates = await tickets.find_duplicates(session, draft, now)
                if duplicates:
                    return duplicates
            if not draft.on_behalf:  # a custodian filing for tenants who phoned is at work, not flooding
                await limits.take(session, caps, actor.user_id, "ticket", now)
            ticket = await tickets.open_ticket(session, draft, content, actor.roles, now)
            await announcer.new_ticket(session, ticket)
            return ticket
    except LimitReached as limit:
        return limit
    except TicketError as error:
        refused = error
    async with db.read() as session:  # the failed transaction expired the draft it had read
        return DraftRefused(refused, await tickets.get_draft(session, actor.user_id))


async def me_too(
    db: Database, ticket_id: int, actor: Actor, caps: DailyCaps, now: datetime, announcer: Announcer
) -> Joined | TicketError | LimitReached:
    """A tenant joins an open ticket offered for their draft, which is given up."""
    try:
        async with db.write() as session:
            change = await tickets.me_too(session, ticket_id, actor, now)
            await limits.take(session, caps, actor.user_id, "me_too", now)
            dropped = await tickets.discard_draft(session, actor.user_id)
            await announcer.change(session, change, actor.user_id)
            return Joined(change, dropped)
    except (TicketError, LimitReached) as refusal:
        return refusal


# --- actions on a ticket


async def change_status(db: Database, ticket_id: int, action: Action, actor: Actor, now: datetime, announcer: Announcer) -> Acted:
    """Take charge, start, resolve (custodians); confirm, reopen (the reporter)."""
    try:
        async with db.write() as session:
            change = await tickets.change_status(session, ticket_id, action, actor, now)
            await announcer.change(session, change, actor.user_id)
            return change
    except TicketError as error:
        return error


async def reject(db: Database, ticket_id: int, actor: Actor, reason: str, now: datetime, announcer: Announcer) -> Acted | Ticket:
    """"Not for us" with one of the reasons; "other" asks for the custodian's words first."""
    try:
        async with db.write() as session:
            if reason == "other":
                return await tickets.expect_text(session, ticket_id, Action.REJECT, actor, now)
            change = await tickets.reject(session, ticket_id, actor, reason, now)
            await announcer.change(session, change, actor.user_id)
            return change
    except TicketError as error:
        return error


async def expect_text(db: Database, ticket_id: int, action: Action, actor: Actor, now: datetime) -> Asked:
    """A note (custodians) or a comment (the reporter, a subscriber) is typed next."""
    try:
        async with db.write() as session:
            return await tickets.expect_text(session, ticket_id, action, actor, now)
    except TicketError as error:
        return error


async def finish_text(
    db: Database, purpose: str, ticket_id: int, actor: Actor, caps: DailyCaps, now: datetime, announcer: Announcer, *,
    text: str | None = None, media: dict | None = None,
) -> Change | TicketError | LimitReached:
    """The text (or photo) a prompt waited for: a note, the reason of a rejection, a tenant's comment (under the
    daily caps). The prompt is dropped with it, and also when the action is refused."""
    try:
        async with db.write() as session:
            saved_media = None
            if purpose == "note":
                change = await tickets.add_note(session, ticket_id, actor, text or "", now)
            elif purpose == "reject":
                change = await tickets.reject(session, ticket_id, actor, "other", now, text)
            else:
                change, saved_media = await tickets.add_comment(session, ticket_id, actor, now, text=text, media=media)
                await limits.take(session, caps, actor.user_id, "photo" if media else "comment", now)
            await tickets.drop_prompt(session, actor.user_id)
            await announcer.change(session, change, actor.user_id, saved_media)
            return change
    except LimitReached as limit:
        return limit
    except TicketError as error:
        async with db.write() as session:
            await tickets.drop_prompt(session, actor.user_id)
        return error
