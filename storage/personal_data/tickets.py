"""Reports: drafts, tickets, their history, photos and voice notes, "me too" and the prompts waiting for a text.

A ticket is the manager's maintenance record, so it is kept when its reporter is forgotten, and after
QC_RETAIN_TICKETS_DAYS from closing: stripped of every personal field (who filed it, the flat, the tenant's name and
contact, the reporter's words and comments, who followed it, who acted on it) and of its photos and voice notes.
What remains is the category, the estate, building, staircase, floor, the dates, the custodians' notes and the
rating: what the maintenance history needs.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache

from sqlalchemy import ColumnElement, Connection, Row, Update, bindparam, delete, exists, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import OutboxMessage, ReportDraft, Ticket, TicketDigest, TicketEvent, TicketMedia, TicketPrompt, TicketSubscriber
from storage.personal_data._helpers import (
    count, forget_with, how_many, listed, record, rows_older_than, theirs, theirs_listed, unlinked,
)
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register
from storage.db import core_in_session
from storage.domain.tickets import FINAL_STATUSES

# Outbox messages about a ticket (handlers/custodian.py), whose texts quote the reporter.
TICKET_MESSAGE_KINDS = ("alert", "alert_media", "alert_edit", "notice", "comment", "escalation", "blocked")
# History lines whose text is the tenant's own words.
TENANT_TEXT_EVENTS = ("comment", "photo")


def _draft_media(draft: ReportDraft | Row) -> list[str]:
    return [item["path"] for item in [*(draft.photos or []), *([draft.voice] if draft.voice else [])]
            if isinstance(item, dict) and item.get("path")]


# The copy's reads, built once; a report's media are read with the reports' (one statement, not one a report).
_t, _m, _s, _e = Ticket.__table__, TicketMedia.__table__, TicketSubscriber.__table__, TicketEvent.__table__
_REPORTED_READ = theirs_listed(Ticket.reporter_id, order=_t.c.created_at)
_REPORTED_MEDIA = (select(_m).where(_m.c.ticket_id.in_(select(_t.c.id).where(_t.c.reporter_id == bindparam("person"))))
                   .order_by(_m.c.id))
_JOINED = (select(_t.c.code, _t.c.status, _t.c.category_id, _s.c.created_at)
           .join(_s, _s.c.ticket_id == _t.c.id).where(_s.c.user_id == bindparam("person")))
_WRITTEN = (select(_t.c.code, _e.c.at, _e.c.kind, _e.c.text)
            .join(_e, _e.c.ticket_id == _t.c.id).where(_e.c.actor_id == bindparam("person")).order_by(_e.c.at))
_DRAFT_READ = theirs_listed(ReportDraft.user_id)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    reported = listed(connection, _REPORTED_READ, user_id)
    media_of: dict[int, list[dict]] = {}
    for item in listed(connection, _REPORTED_MEDIA, user_id):
        media_of.setdefault(item.ticket_id, []).append(record(item, "kind", "added_at", "size", "mime_type"))
    reports = [
        {**record(ticket, "code", "status", "category_id", "estate_id", "building_id", "staircase", "floor", "area",
                  "flat", "answers", "description", "created_at", "acknowledged_at", "resolved_at", "closed_at",
                  "last_note", "stars"),
         "media": media_of.get(ticket.id, [])}
        for ticket in reported
    ]
    joined = listed(connection, _JOINED, user_id)
    written = listed(connection, _WRITTEN, user_id)
    draft = next(iter(listed(connection, _DRAFT_READ, user_id)), None)
    return {
        "reports": reports,
        "me_too": [{"code": code, "status": status, "category_id": category, "since": at.isoformat()}
                   for code, status, category, at in joined],
        "ticket_history": [{"code": code, "at": at.isoformat(), "kind": kind, **({"text": text} if text else {})}
                           for code, at, kind, text in written],
        "drafts": [{"report": record(draft, "step", "category_id", "estate_id", "building_id", "floor", "area", "flat",
                                     "description", "tenant_name", "tenant_contact", "created_at", "updated_at")}]
        if draft is not None else [],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {
        "reports": how_many(Ticket, Ticket.reporter_id == user_id),  # each report holds its media
        "me_too": select(func.count()).select_from(TicketSubscriber).join(Ticket, TicketSubscriber.ticket_id == Ticket.id)
        .where(TicketSubscriber.user_id == user_id).scalar_subquery(),
        "ticket_history": select(func.count()).select_from(TicketEvent).join(Ticket, TicketEvent.ticket_id == Ticket.id)
        .where(TicketEvent.actor_id == user_id).scalar_subquery(),
        "drafts": how_many(ReportDraft, ReportDraft.user_id == user_id),
    }


# Forgetting's statements, built once (storage/personal_data/_helpers.py); `person` is the person's id, `tickets` the
# ids of the tickets they reported, `refs` the same as the outbox's text.
_tickets, _media, _events, _subscribers = Ticket.__table__, TicketMedia.__table__, TicketEvent.__table__, TicketSubscriber.__table__
_outbox, _drafts = OutboxMessage.__table__, ReportDraft.__table__
_THESE_TICKETS = bindparam("tickets", expanding=True)
_REPORTED = select(_tickets.c.id).where(_tickets.c.reporter_id == bindparam("person"))
_STRIPPED_MEDIA = select(_media.c.path).where(_media.c.ticket_id.in_(_THESE_TICKETS))
_STRIP = (
    delete(_media).where(_media.c.ticket_id.in_(_THESE_TICKETS)),
    update(_tickets).where(_tickets.c.id.in_(_THESE_TICKETS))
    .values(reporter_id=None, filed_by=None, description="", flat=None, tenant_name=None, tenant_contact=None),
    update(_events).where(_events.c.ticket_id.in_(_THESE_TICKETS), _events.c.kind.in_(TENANT_TEXT_EVENTS)).values(text=None),
    update(_events).where(_events.c.ticket_id.in_(_THESE_TICKETS)).values(actor_id=None),
    delete(_subscribers).where(_subscribers.c.ticket_id.in_(_THESE_TICKETS)),
)
_COMMENTED = select(_events.c.id).where(_events.c.actor_id == bindparam("person"), _events.c.kind.in_(TENANT_TEXT_EVENTS))
_THEIR_MEDIA = select(_media.c.path).where(_media.c.added_by == bindparam("person"))
_THEIR_TRACES = (
    (delete(_media).where(_media.c.added_by == bindparam("person")), None),
    (update(_events).where(_events.c.actor_id == bindparam("person"), _events.c.kind.in_(TENANT_TEXT_EVENTS))
     .values(text=None), None),
    (unlinked(TicketEvent.actor_id), None),
    (theirs(TicketSubscriber.user_id), "me too"),
    # As staff: tickets filed for someone keep the fact, not the filer.
    (unlinked(Ticket.filed_by), None),
)
_DRAFT_GONE = delete(_drafts).where(_drafts.c.user_id == bindparam("person")).returning(_drafts.c.photos, _drafts.c.voice)
_LAST = (theirs(TicketPrompt.user_id), theirs(TicketDigest.user_id))


def _strip_tickets(connection: Connection, ticket_ids: list[int]) -> list[str]:
    """Remove every personal field of these tickets and their media rows; returns the media files to delete."""
    if not ticket_ids:
        return []
    params = {"tickets": ticket_ids}
    paths = list(connection.execute(_STRIPPED_MEDIA, params).scalars())
    for statement in _STRIP:
        connection.execute(statement, params)
    return paths


def _emptied(*which: ColumnElement[bool]) -> tuple[Update, Update]:
    """Texts of these messages: emptied, and not sent if still waiting."""
    return (update(_outbox).where(*which, _outbox.c.status == "pending").values(status="dropped"),
            update(_outbox).where(*which).values(
                params={}, last_error=None, text_purged_at=bindparam("now", type_=_outbox.c.text_purged_at.type)))


# Every message about the tickets (alerts, notices and comments quote the reporter).
_TICKET_MESSAGES = _emptied(_outbox.c.kind.in_(TICKET_MESSAGE_KINDS), _outbox.c.ref.in_(bindparam("refs", expanding=True)))


@lru_cache(maxsize=8)
def _comment_messages(keys: int) -> tuple[Update, Update]:
    """The custodians' copies of a person's comments, by the keys handlers/custodian.py gives them
    ("comment:<event>:<chat>", "comment-photo:<event>:<chat>"): `keys` prefixes bound as key0, key1…"""
    return _emptied(_outbox.c.kind == "comment",
                    or_(*(_outbox.c.dedupe_key.startswith(bindparam(f"key{place}")) for place in range(keys))))


def _empty_messages(connection: Connection, statements: tuple[Update, Update], params: dict) -> None:
    for statement in statements:
        connection.execute(statement, params)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    person, now = {"person": forgetting.user_id}, forgetting.now
    reported = list(connection.execute(_REPORTED, person).scalars())
    if reported:
        _empty_messages(connection, _TICKET_MESSAGES, {"refs": [str(ticket_id) for ticket_id in reported], "now": now})
    events = list(connection.execute(_COMMENTED, person).scalars())
    if events:
        prefixes = [f"{prefix}:{event_id}:" for event_id in events for prefix in ("comment", "comment-photo")]
        _empty_messages(connection, _comment_messages(len(prefixes)),
                        {"now": now, **{f"key{place}": prefix for place, prefix in enumerate(prefixes)}})
    forgetting.media_paths.extend(_strip_tickets(connection, reported))
    forgetting.count("reports kept without personal data", len(reported))
    # Photos they added to tickets they followed, their comments, their place among the followers.
    forgetting.media_paths.extend(connection.execute(_THEIR_MEDIA, person).scalars())
    forgetting.count("photos and voice notes", len(forgetting.media_paths))
    for statement, label in _THEIR_TRACES:
        forget_with(connection, forgetting, statement, label)
    draft = connection.execute(_DRAFT_GONE, person).first()
    if draft is not None:
        forgetting.media_paths.extend(_draft_media(draft))
        forgetting.count("drafts", 1)
    for statement in _LAST:
        forget_with(connection, forgetting, statement)


# --- retention


def _closed_with_personal_data(cutoff: datetime) -> tuple[ColumnElement[bool], ...]:
    return (
        Ticket.status.in_(FINAL_STATUSES),
        Ticket.closed_at < cutoff,
        or_(
            Ticket.reporter_id.is_not(None), Ticket.filed_by.is_not(None), Ticket.description != "",
            Ticket.flat.is_not(None), Ticket.tenant_name.is_not(None), Ticket.tenant_contact.is_not(None),
            exists().where(TicketMedia.ticket_id == Ticket.id),
            exists().where(TicketSubscriber.ticket_id == Ticket.id),
            exists().where(TicketEvent.ticket_id == Ticket.id, TicketEvent.actor_id.is_not(None)),
        ),
    )


async def _count_closed(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, Ticket, *_closed_with_personal_data(cutoff))


async def _purge_closed(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    ids = list((await session.scalars(select(Ticket.id).where(*_closed_with_personal_data(cutoff)).limit(limit))).all())
    return PurgeBatch(len(ids), tuple(await core_in_session(session, lambda connection: _strip_tickets(connection, ids))))


async def _count_drafts(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, ReportDraft, ReportDraft.updated_at < cutoff)


async def _purge_drafts(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    drafts = list((await session.scalars(select(ReportDraft).where(ReportDraft.updated_at < cutoff).limit(limit))).all())
    paths = [path for draft in drafts for path in _draft_media(draft)]
    if drafts:
        await session.execute(delete(ReportDraft).where(ReportDraft.user_id.in_([draft.user_id for draft in drafts])))
    return PurgeBatch(len(drafts), tuple(paths))


register(PersonalDataSource(
    name="tickets",
    person_columns={
        "report_drafts": ("user_id",), "tickets": ("reporter_id", "filed_by"), "ticket_events": ("actor_id",),
        "ticket_subscribers": ("user_id",), "ticket_media": ("added_by",), "ticket_prompts": ("user_id",),
        "ticket_digests": ("user_id",),
    },
    personal_fields={
        "report_drafts": ("tenant_name", "tenant_contact", "flat", "description", "voice", "photos"),
        "tickets": ("flat", "description", "tenant_name", "tenant_contact"),
        "ticket_events": ("text",),
        "ticket_media": ("file_id", "path"),
    },
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        RetentionRule("report_drafts", "drafts_days", _count_drafts, _purge_drafts),
        rows_older_than("ticket_prompts", "drafts_days", TicketPrompt.user_id, TicketPrompt.created_at),
        RetentionRule("closed_tickets", "tickets_days", _count_closed, _purge_closed),
        rows_older_than("ticket_digests", "tickets_days", TicketDigest.id, TicketDigest.created_at),
    ),
    forget_order=20,
))
