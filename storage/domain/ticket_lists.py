"""Tickets read in lists and by the messages about them: a tenant's reports, the estates' open tickets, events,
media, search, the followers and chats an alert goes to, the digest's claim. Opening and acting on a ticket are
storage/domain/tickets.py."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Row, Subquery, bindparam, exists, func, literal, or_, select, union
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, dialect_insert
from storage.models import (
    OutboxMessage, ReportDraft, RoleGrant, Ticket, TicketDigest, TicketEvent, TicketMedia, TicketSubscriber, User,
)
from storage.domain.tickets import ALERT_KIND, OPEN_STATUSES
from storage.domain.users import Roles


# --------------------------------------------------------------------------------------------
# Reading


def _ids_of_tickets_of(user_id: int) -> Subquery:
    """Ids of the tickets a tenant filed or joined. Two indexed lookups joined by UNION: written as
    `reporter_id = ? OR EXISTS (subscriber)` no index applies and every ticket is read."""
    return union(
        select(Ticket.id.label("id")).where(Ticket.reporter_id == user_id),
        select(TicketSubscriber.ticket_id.label("id")).where(TicketSubscriber.user_id == user_id),
    ).subquery()


# The report entry's questions, built once and run as Core through Database.read_now: in a session, with the
# statement built on every call, the same read cost ~1,050 µs of CPU, here ~170 µs (docs/performance.md, writes
# under load, third pass). Whether someone filed or joined a ticket: two indexed EXISTS.
_user = bindparam("user_id")
_HAS_TICKETS = or_(exists().where(Ticket.reporter_id == _user), exists().where(TicketSubscriber.user_id == _user))
_drafts = ReportDraft.__table__
_DRAFT_AND_HAS_TICKETS = (select(_drafts, _HAS_TICKETS.label("has_tickets"))
                          .select_from(select(literal(1).label("one")).subquery())
                          .outerjoin(_drafts, _drafts.c.user_id == _user))
_ANY_TICKETS = select(_HAS_TICKETS)


async def draft_and_has_tickets(db: Database, user_id: int) -> tuple[Row | None, bool]:
    """The report entry screen's two questions in one statement (one round trip on PostgreSQL): the tenant's draft,
    if any (a Row of report_drafts, as tickets.draft_now reads it), and whether they filed or joined any ticket."""
    row = await db.read_now(lambda connection: connection.execute(_DRAFT_AND_HAS_TICKETS, {"user_id": user_id}).one())
    return (row if row.user_id is not None else None), bool(row.has_tickets)


async def has_tickets(db: Database, user_id: int) -> bool:
    """Whether the tenant filed or joined any ticket (the categories' "My reports" button)."""
    return bool(await db.read_now(lambda connection: connection.execute(_ANY_TICKETS, {"user_id": user_id}).scalar()))


async def tickets_of(session: AsyncSession, user_id: int, *, limit: int, offset: int = 0) -> list[Ticket]:
    """The tickets a tenant filed or joined, newest first."""
    query = (
        select(Ticket)
        .where(Ticket.id.in_(select(_ids_of_tickets_of(user_id).c.id)))
        .order_by(Ticket.created_at.desc(), Ticket.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await session.scalars(query)).all())


async def count_tickets_of(session: AsyncSession, user_id: int) -> int:
    return await session.scalar(select(func.count()).select_from(_ids_of_tickets_of(user_id))) or 0


async def open_tickets(session: AsyncSession, estate_ids: frozenset[str] | None, *, limit: int = 200, offset: int = 0) -> list[Ticket]:
    """Open tickets of these estates (None: all), oldest first: what a custodian should look at."""
    query = select(Ticket).where(Ticket.status.in_(OPEN_STATUSES))
    if estate_ids is not None:
        query = query.where(Ticket.estate_id.in_(estate_ids))
    return list((await session.scalars(query.order_by(Ticket.created_at, Ticket.id).limit(limit).offset(offset))).all())


async def count_open_tickets(session: AsyncSession, estate_ids: frozenset[str] | None) -> int:
    query = select(func.count(Ticket.id)).where(Ticket.status.in_(OPEN_STATUSES))
    if estate_ids is not None:
        query = query.where(Ticket.estate_id.in_(estate_ids))
    return await session.scalar(query) or 0


def estates_handled(roles: Roles) -> frozenset[str] | None:
    """The estates whose tickets this person handles; None means all of them (admins)."""
    return None if roles.is_admin else roles.custodian_of


async def events_of(session: AsyncSession, ticket_id: int) -> list[TicketEvent]:
    rows = await session.scalars(select(TicketEvent).where(TicketEvent.ticket_id == ticket_id).order_by(TicketEvent.at, TicketEvent.id))
    return list(rows.all())


async def media_of(session: AsyncSession, ticket_id: int) -> list[TicketMedia]:
    rows = await session.scalars(select(TicketMedia).where(TicketMedia.ticket_id == ticket_id).order_by(TicketMedia.id))
    return list(rows.all())


async def media_by_token(session: AsyncSession, token: str) -> TicketMedia | None:
    return await session.scalar(select(TicketMedia).where(TicketMedia.token == token))


async def search_tickets(
    session: AsyncSession, *, codes: frozenset[str] | None = None, category_ids: frozenset[str] | None = None,
    statuses: frozenset[str] | None = None, since: datetime | None = None, until: datetime | None = None, limit: int = 1000,
) -> list[Ticket]:
    """Tickets by code, category, status and filing time (Open311), newest first."""
    query = select(Ticket)
    if codes is not None:
        query = query.where(Ticket.code.in_(codes))
    if category_ids is not None:
        query = query.where(Ticket.category_id.in_(category_ids))
    if statuses is not None:
        query = query.where(Ticket.status.in_(statuses))
    if since is not None:
        query = query.where(Ticket.created_at >= since)
    if until is not None:
        query = query.where(Ticket.created_at <= until)
    return list((await session.scalars(query.order_by(Ticket.created_at.desc(), Ticket.id.desc()).limit(limit))).all())


async def first_photo_tokens(session: AsyncSession, ticket_ids: list[int]) -> dict[int, str]:
    """The link token of each ticket's first photo."""
    rows = await session.execute(
        select(TicketMedia.ticket_id, TicketMedia.token)
        .where(TicketMedia.ticket_id.in_(ticket_ids), TicketMedia.kind == "photo")
        .order_by(TicketMedia.id.desc())
    )
    return {ticket_id: token for ticket_id, token in rows.all()}  # the last written wins: the lowest id


async def followers(session: AsyncSession, ticket: Ticket) -> list[User]:
    """The reporter (when they use Telegram) and everyone who said "me too"."""
    subscriber_ids = select(TicketSubscriber.user_id).where(TicketSubscriber.ticket_id == ticket.id)
    condition = User.id.in_(subscriber_ids)
    if ticket.reporter_id is not None:
        condition = or_(condition, User.id == ticket.reporter_id)
    return list((await session.scalars(select(User).where(condition).order_by(User.id))).all())


async def alert_chats(session: AsyncSession, ticket_id: int) -> list[int]:
    """The chats that were sent this ticket's alert (custodians, the manager chat), to update it in each."""
    rows = await session.scalars(
        select(OutboxMessage.chat_id)
        .where(OutboxMessage.kind == ALERT_KIND, OutboxMessage.ref == str(ticket_id),
               OutboxMessage.method == "sendMessage", OutboxMessage.status.in_(("pending", "sent")))
        .distinct()
    )
    return sorted(rows.all())


async def custodian_ids(session: AsyncSession) -> dict[int, frozenset[str]]:
    """Every custodian and the estates they look after."""
    rows = await session.execute(select(RoleGrant.user_id, RoleGrant.scope).where(RoleGrant.role == "custodian"))
    estates: dict[int, set[str]] = {}
    for user_id, scope in rows.all():
        estates.setdefault(user_id, set()).add(scope)
    return {user_id: frozenset(scopes) for user_id, scopes in estates.items()}


async def claim_digest(session: AsyncSession, user_id: int, day: str, now: datetime) -> bool:
    """True the first time for this custodian and day (across restarts and instances), False after."""
    result = await session.execute(
        dialect_insert(session)(TicketDigest).values(user_id=user_id, day=day, created_at=now)
        .on_conflict_do_nothing(index_elements=["user_id", "day"])
    )
    return result.rowcount == 1
