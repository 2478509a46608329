"""What a returning tenant did before, so the first screens can offer it again in one tap: the services they
booked lately, the place of their last report and their own space. Read-only; the screens still show every
other choice beside these shortcuts, so nothing is hidden from someone whose plans have changed."""

from __future__ import annotations

from sqlalchemy import Row, bindparam, select

from storage.content import Content
from storage.db import Database
from storage.models import Booking, Ticket
from storage.domain.tickets import place_choices

RECENT_BOOKINGS_LOOKED_AT = 20

# Built once and run as Core through Database.read_now (as the user cache's miss is): these run on menus often
# pressed, where a session and an ORM statement built on every call cost several times the indexed read
# (docs/performance.md, writes under load, third pass).
_bookings = Booking.__table__
_RECENT_SERVICES = (select(_bookings.c.service_id).where(_bookings.c.user_id == bindparam("user_id"))
                    .order_by(_bookings.c.slot_start.desc()).limit(RECENT_BOOKINGS_LOOKED_AT))
_LAST_BOOKED_SPACE = (select(_bookings.c.space_id).where(_bookings.c.user_id == bindparam("user_id"))
                      .order_by(_bookings.c.slot_start.desc()).limit(1))
_tickets = Ticket.__table__
_LAST_PLACE = (select(_tickets.c.code, _tickets.c.estate_id, _tickets.c.building_id, _tickets.c.staircase,
                      _tickets.c.floor, _tickets.c.area, _tickets.c.flat)
               .where(_tickets.c.reporter_id == bindparam("user_id"), _tickets.c.filed_by.is_(None))
               .order_by(_tickets.c.id.desc()).limit(1))


async def recent_services(db: Database, user_id: int, content: Content, limit: int = 2) -> list[str]:
    """The services the tenant booked most recently (by appointment), newest first, that can still be booked."""
    rows = await db.read_now(lambda connection: connection.execute(_RECENT_SERVICES, {"user_id": user_id}).scalars().all())
    found: list[str] = []
    for service_id in rows:
        service = content.services.get(service_id)
        if service is not None and service.booking is not None and service_id not in found:
            found.append(service_id)
            if len(found) == limit:
                break
    return found


async def last_place(db: Database, user_id: int, content: Content) -> Row | None:
    """The place (estate_id, building_id, staircase, floor, area, flat) and code of the tenant's own last report,
    a Row read through Database.read_now, when that place still exists."""
    ticket = await db.read_now(lambda connection: connection.execute(_LAST_PLACE, {"user_id": user_id}).first())
    if ticket is None or ticket.estate_id not in content.estates:
        return None
    if ticket.building_id is not None and (ticket.building_id, ticket.staircase) not in place_choices(content.estates[ticket.estate_id]):
        return None
    return ticket


async def own_space(db: Database, user_id: int, last_estate_id: str | None, content: Content) -> str | None:
    """The tenant's space: the one of the estate they last reported from, else the one they last booked at."""
    estate = content.estates.get(last_estate_id or "")
    if estate is not None and estate.space_id in content.spaces:
        return estate.space_id
    space_id = await db.read_now(lambda connection: connection.execute(_LAST_BOOKED_SPACE, {"user_id": user_id}).scalar())
    return space_id if space_id in content.spaces else None
