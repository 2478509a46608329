"""CSV exports that open cleanly in Italian Excel (UTF-8 with BOM, ";" between fields, dates as dd/mm/yyyy,
decimal comma), and the `qcbot export` command.

Without `with_personal_data` the files carry no names, phone numbers, Telegram ids, flat numbers or free-text
descriptions; ratings and comments never carry a name either way (anonymous ones have none to give). Rows are
read in batches by primary key, so a large export never holds the whole table in memory.
"""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import TextIO
from zoneinfo import ZoneInfo

from sqlalchemy import select

from storage.content import Content
from storage.db import Database
from storage.models import Booking, Broadcast, Feedback, GuideRun, Ticket, TimeBankExchange
from storage.domain.stats import Period

WHAT = ("bookings", "tickets", "feedback", "guides", "timebank", "notices")
BOM = "\ufeff"
DELIMITER = ";"
BATCH = 1000
PROGRESS_EVERY = 10_000

BOOKING_STATUS = {"active": "Attiva", "cancelled": "Annullata", "attended": "Presente", "no_show": "Assente"}
TICKET_STATUS = {
    "new": "Nuova", "acknowledged": "Presa in carico", "in_progress": "In lavorazione", "resolved": "Risolta",
    "closed": "Chiusa", "reopened": "Riaperta", "rejected": "Non di competenza",
}
FEEDBACK_KIND = {"rating": "Voto", "suggestion": "Suggerimento", "complaint": "Reclamo"}
EXCHANGE_STATUS = {"done": "Fatto", "reversed": "Annullato dall'operatore"}
URGENCY = {"emergency": "Emergenza", "urgent": "Urgente", "normal": "Normale"}
WORKED = {"yes": "Sì", "no": "No"}


@dataclass(frozen=True)
class ExportRequest:
    what: str
    period: Period
    with_personal_data: bool = False
    # Only these spaces' rows (an operator's export of the banks they keep); None: every space. Time bank only.
    spaces: tuple[str, ...] | None = None


FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: str) -> str:
    """A cell Excel shows as text: one starting like a formula (= + - @, tab, CR) gets a leading apostrophe, so
    a tenant's comment such as `=HYPERLINK(...)` never runs on the editor's computer."""
    return "'" + value if value.startswith(FORMULA_STARTS) else value


def excel_date(moment: datetime | date | None, tz: ZoneInfo) -> str:
    if moment is None:
        return ""
    if isinstance(moment, datetime):
        moment = moment.astimezone(tz).date()
    return moment.strftime("%d/%m/%Y")


def excel_time(moment: datetime | None, tz: ZoneInfo) -> str:
    return moment.astimezone(tz).strftime("%H:%M") if moment is not None else ""


def excel_number(value: float | None, decimals: int = 1) -> str:
    return "" if value is None else f"{value:.{decimals}f}".replace(".", ",")


def file_name(request: ExportRequest) -> str:
    return f"{request.what}_{request.period.start:%Y%m%d}-{request.period.end:%Y%m%d}.csv"


async def _batches(db: Database, query, key) -> AsyncIterator[list]:  # type: ignore[no-untyped-def]
    """The query's rows in primary-key order, BATCH at a time, each batch in its own short read transaction."""
    last = None
    while True:
        page = query if last is None else query.where(key > last)
        async with db.read(long=True) as session:
            rows = list((await session.scalars(page.order_by(key).limit(BATCH))).all())
        if not rows:
            return
        yield rows
        last = getattr(rows[-1], key.key)


def _headers(request: ExportRequest) -> list[str]:
    personal = request.with_personal_data
    if request.what == "bookings":
        return ["Codice", "Spazio", "Servizio", "Data", "Ora", "Stato", "Prenotata il"] + (
            ["Nome", "Telefono", "ID Telegram"] if personal else [])
    if request.what == "tickets":
        return ["Codice", "Caseggiato", "Categoria", "Urgenza", "Stato", "Edificio", "Scala", "Aperta il",
                "Presa in carico il", "Risolta il", "Chiusa il", "Ore per la presa in carico", "Persone coinvolte",
                "Voto"] + (["Interno", "Descrizione", "ID Telegram", "Nome", "Contatto"] if personal else [])
    if request.what == "guides":
        return ["Guida", "Passi", "Lingua", "Iniziata il", "Arrivata al passo", "Finita il", "Ha funzionato"] + (
            ["ID Telegram"] if personal else [])
    if request.what == "timebank":
        return ["Giorno", "Spazio", "Categoria", "Ore", "Stato"] + (["ID Telegram di chi aiuta", "ID Telegram di chi riceve"]
                                                                   if personal else [])
    if request.what == "notices":
        return ["Avviso", "Confermato il", "Ora", "Ruolo di chi scrive", "Destinatari", "Urgente", "Stato", "Persone",
                "Consegnati", "Non raggiungibili"] + (["Testo", "ID Telegram di chi scrive"] if personal else [])
    return ["Giorno", "Tipo", "Spazio", "Servizio", "Voto", "Commento"] + (["ID Telegram"] if personal else [])


def _booking_row(booking: Booking, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    space = content.spaces.get(booking.space_id)
    service = content.services.get(booking.service_id)
    row = [booking.code, str(space.name) if space else booking.space_id, str(service.title) if service else booking.service_id,
           excel_date(booking.slot_start, tz), excel_time(booking.slot_start, tz),
           BOOKING_STATUS.get(booking.status, booking.status), excel_date(booking.created_at, tz)]
    if personal:
        row += [booking.name, booking.phone or "", str(booking.user_id)]
    return row


def _ticket_row(ticket: Ticket, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    estate = content.estates.get(ticket.estate_id)
    category = content.problems.get(ticket.category_id)
    hours_to_ack = (ticket.acknowledged_at - ticket.created_at).total_seconds() / 3600 if ticket.acknowledged_at else None
    row = [ticket.code, estate.name if estate else ticket.estate_id, str(category.name) if category else ticket.category_id,
           URGENCY.get(ticket.urgency, ticket.urgency), TICKET_STATUS.get(ticket.status, ticket.status),
           ticket.building_id or "", ticket.staircase or "", excel_date(ticket.created_at, tz),
           excel_date(ticket.acknowledged_at, tz), excel_date(ticket.resolved_at, tz), excel_date(ticket.closed_at, tz),
           excel_number(hours_to_ack), str(ticket.affected), str(ticket.stars or "")]
    if personal:
        row += [ticket.flat or "", ticket.description, str(ticket.reporter_id or ""), ticket.tenant_name or "",
                ticket.tenant_contact or ""]
    return row


def _feedback_row(item: Feedback, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    space = content.spaces.get(item.space_id)
    service = content.services.get(item.service_id) if item.service_id else None
    row = [excel_date(item.day, tz), FEEDBACK_KIND.get(item.kind, item.kind), str(space.name) if space else item.space_id,
           str(service.title) if service else "", str(item.stars or ""), item.comment or ""]
    if personal:
        row.append(str(item.user_id or ""))  # empty for anonymous opinions: there is nothing to give
    return row


def _guide_run_row(run: GuideRun, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    guide = content.guides.get(run.guide_id)
    row = [str(guide.title) if guide else run.guide_id, str(len(guide.steps)) if guide else "", run.language,
           excel_date(run.started_at, tz), str(run.furthest_step), excel_date(run.finished_at, tz),
           WORKED.get(run.worked or "", "")]
    if personal:
        row.append(str(run.user_id))
    return row


def exchange_row(item: TimeBankExchange, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    """A settled time bank exchange: when, where, what, how many hours (no names)."""
    space = content.spaces.get(item.space_id)
    category = content.timebank_categories.get(item.category)
    row = [excel_date(item.done_at, tz), str(space.name) if space else item.space_id,
           str(category.name) if category else item.category, excel_number((item.quarters or 0) / 4, 2),
           EXCHANGE_STATUS.get(item.status, item.status)]
    if personal:
        row += [str(item.giver_id), str(item.receiver_id)]
    return row


def exchanges_query(start: datetime, end: datetime):  # type: ignore[no-untyped-def]
    return select(TimeBankExchange).where(TimeBankExchange.done_at >= start, TimeBankExchange.done_at < end)


NOTICE_STATUS = {"queued": "In coda", "sending": "In invio", "done": "Finito", "stopped": "Fermato",
                 "moderation": "In moderazione", "rejected": "Non approvato"}


def _notice_row(notice: Broadcast, content: Content, tz: ZoneInfo, personal: bool) -> list[str]:
    """The reach of a notice (counted when it ended; empty while it is still going out)."""
    row = [f"AV-{notice.id:06d}", excel_date(notice.confirmed_at, tz), excel_time(notice.confirmed_at, tz),
           notice.author_role, f"{notice.audience} {notice.audience_ref}".strip(), "Sì" if notice.urgent else "No",
           NOTICE_STATUS.get(notice.status, notice.status), str(notice.recipients if notice.recipients is not None else ""),
           str(notice.delivered if notice.delivered is not None else ""),
           str(notice.unreachable if notice.unreachable is not None else "")]
    if personal:
        row += [notice.text, str(notice.author_id or "")]
    return row


def _query(request: ExportRequest, tz: ZoneInfo):  # type: ignore[no-untyped-def]
    start, end = request.period.bounds(tz)
    if request.what == "notices":
        return (select(Broadcast).where(Broadcast.kind == "notice", Broadcast.confirmed_at >= start, Broadcast.confirmed_at < end),
                Broadcast.id, _notice_row)
    if request.what == "bookings":
        return select(Booking).where(Booking.slot_start >= start, Booking.slot_start < end), Booking.id, _booking_row
    if request.what == "tickets":
        return select(Ticket).where(Ticket.created_at >= start, Ticket.created_at < end), Ticket.id, _ticket_row
    if request.what == "guides":
        return select(GuideRun).where(GuideRun.started_at >= start, GuideRun.started_at < end), GuideRun.id, _guide_run_row
    if request.what == "timebank":
        query = exchanges_query(start, end)
        if request.spaces is not None:
            query = query.where(TimeBankExchange.space_id.in_(request.spaces))
        return query, TimeBankExchange.id, exchange_row
    return (select(Feedback).where(Feedback.day >= request.period.start, Feedback.day <= request.period.end),
            Feedback.id, _feedback_row)


async def write_csv(db: Database, request: ExportRequest, out: TextIO, content: Content, tz: ZoneInfo,
                    progress: Callable[[int], None] | None = None) -> int:
    """Write the export to a text stream (opened with newline=""); returns the number of data rows."""
    if request.what not in WHAT:
        raise ValueError(f"cannot export {request.what!r}: choose one of {', '.join(WHAT)}")
    if request.spaces is not None and request.what != "timebank":
        raise ValueError(f"only the time bank's export is kept per space, not {request.what!r}")
    query, key, make_row = _query(request, tz)
    out.write(BOM)
    writer = csv.writer(out, delimiter=DELIMITER, lineterminator="\r\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(_headers(request))
    written = 0
    async for rows in _batches(db, query, key):
        for item in rows:
            writer.writerow([cell(value) for value in make_row(item, content, tz, request.with_personal_data)])
        written += len(rows)
        if progress is not None and written // PROGRESS_EVERY != (written - len(rows)) // PROGRESS_EVERY:
            progress(written)
    return written


async def csv_bytes(db: Database, request: ExportRequest, content: Content, tz: ZoneInfo) -> tuple[bytes, int]:
    """The whole export in memory (what Telegram uploads as a document) and its row count."""
    buffer = io.StringIO(newline="")
    rows = await write_csv(db, request, buffer, content, tz)
    return buffer.getvalue().encode("utf-8"), rows


# --------------------------------------------------------------------------------------------
