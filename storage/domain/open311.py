"""Open311 GeoReport v2 documents for the manager's systems: pure functions from tickets and content to dicts
(bot/open311_http.py renders them as JSON or XML).

Nothing a tenant wrote leaves here, and nothing personal: no names, phones, flat numbers or floors. A request's
`description` is its category and where it is (building, common areas or a flat without its number);
`status_notes` is a fixed text for its state (and the reason of a rejection, chosen from a list). The place is
the estate's address (and building) with the estate's coordinates.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from storage.content import Content, ProblemCategory
from storage.models import Ticket
from storage.domain.tickets import OPEN_STATUSES

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
MAX_REQUESTS = 1000  # GeoReport v2: at most 1000 requests per answer
DEFAULT_WINDOW_DAYS = 90  # and, without dates, the last 90 days
OPEN311_STATUSES = ("open", "closed")
STATUS_NOTES = {
    "new": "Ricevuta, in attesa del custode",
    "acknowledged": "Presa in carico dal custode",
    "in_progress": "Lavori in corso",
    "resolved": "Risolta dal custode, in attesa di conferma dell'inquilino",
    "closed": "Chiusa",
    "reopened": "Riaperta dall'inquilino: il problema c'è ancora",
    "rejected": "Non di competenza del custode",
}
REJECT_NOTES = {
    "not_estate": "non riguarda il caseggiato",
    "private": "a carico dell'inquilino",
    "other_body": "di competenza di un altro ente",
    "duplicate": "già segnalata",
    "unclear": "problema non chiaro",
    "other": "altro motivo",
}
AREA_WORDS = {"common": "parti comuni", "flat": "in un alloggio"}  # never the flat's number


class Open311Error(Exception):
    """A request the API refuses; rendered in GeoReport's errors shape."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def errors(status: int, description: str) -> list[dict]:
    return [{"code": status, "description": description}]


def discovery(api_url: str, changeset: str) -> dict:
    """The Service Discovery document: where the API is and which formats it speaks (XML first, as required)."""
    return {
        "changeset": changeset,
        "contact": "Quartieri Connessi: chiedete al referente del progetto presso il gestore del patrimonio",
        "key_service": "La chiave si chiede al referente del progetto; va inviata in ogni GET come api_key= o X-API-Key",
        "endpoints": [{
            "specification": SPECIFICATION, "url": api_url, "changeset": changeset, "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }


def service_definition(category: ProblemCategory) -> dict:
    """No service asks for extra fields (metadata is false), so the definition has no attributes."""
    return {"service_code": category.id, "attributes": []}


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def parse_datetime(name: str, value: str) -> datetime:
    """W3C/ISO 8601 as GeoReport asks; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        raise Open311Error(400, f"{name}: {value!r} is not an ISO 8601 date-time (write e.g. 2026-03-01T00:00:00Z)") from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def parse_statuses(value: str | None) -> frozenset[str] | None:
    if not value:
        return None
    wanted = frozenset(part.strip().lower() for part in value.split(",") if part.strip())
    unknown = wanted - set(OPEN311_STATUSES)
    if unknown:
        raise Open311Error(400, f"status: {', '.join(sorted(unknown))} not allowed (write open, closed or open,closed)")
    return wanted


def ticket_statuses(open311_statuses: Iterable[str]) -> frozenset[str]:
    """Our statuses behind GeoReport's open/closed: resolved counts as closed (the work is done)."""
    wanted: set[str] = set()
    for status in open311_statuses:
        wanted |= OPEN_STATUSES if status == "open" else {"resolved", "closed", "rejected"}
    return frozenset(wanted)


def service(category: ProblemCategory) -> dict:
    keywords = category.keywords.get("it", [])
    return {
        "service_code": category.id,
        "service_name": category.name.get("it"),
        "description": category.note.get("it") if category.note is not None else category.name.get("it"),
        "metadata": False,
        "type": "realtime",
        "keywords": ", ".join(keywords),
        "group": category.urgency,
    }


def services(content: Content) -> list[dict]:
    return [service(category) for category in content.problems.values()]


def _address(content: Content, ticket: Ticket) -> str:
    estate = content.estates.get(ticket.estate_id)
    if estate is None:
        return ticket.estate_id
    parts = [estate.address]
    building = next((b for b in estate.buildings if b.id == ticket.building_id), None)
    if building is not None:
        parts.append(building.name + (f" scala {ticket.staircase}" if ticket.staircase else ""))
    parts.append("Milano")
    return ", ".join(parts)


def describe(content: Content, ticket: Ticket) -> str:
    """What and where, never the tenant's words: "Perdita d'acqua · Civico 15 scala B, in un alloggio"."""
    category = content.problems.get(ticket.category_id)
    what = category.name.get("it") if category is not None else ticket.category_id
    estate = content.estates.get(ticket.estate_id)
    building = next((b for b in estate.buildings if b.id == ticket.building_id), None) if estate is not None else None
    if building is not None:
        where = building.name + (f" scala {ticket.staircase}" if ticket.staircase else "")
    else:
        where = estate.name if estate is not None else ticket.estate_id
    area = AREA_WORDS.get(ticket.area or "")
    return f"{what} · {where}" + (f", {area}" if area else "")


def service_request(content: Content, ticket: Ticket, media_url: str | None) -> dict:
    estate = content.estates.get(ticket.estate_id)
    category = content.problems.get(ticket.category_id)
    notes = STATUS_NOTES[ticket.status]
    if ticket.status == "rejected" and ticket.reject_reason:
        notes += ": " + REJECT_NOTES.get(ticket.reject_reason, REJECT_NOTES["other"])
    return {
        "service_request_id": ticket.code,
        "status": "open" if ticket.status in OPEN_STATUSES else "closed",
        "status_notes": notes,
        "service_name": category.name.get("it") if category is not None else ticket.category_id,
        "service_code": ticket.category_id,
        "description": describe(content, ticket),
        "agency_responsible": "Custode del caseggiato",
        "service_notice": None,
        "requested_datetime": iso(ticket.created_at),
        "updated_datetime": iso(ticket.updated_at),
        "expected_datetime": None,
        "address": _address(content, ticket),
        "address_id": ticket.estate_id,
        "zipcode": None,
        "lat": estate.lat if estate is not None else None,
        "long": estate.lon if estate is not None else None,
        "media_url": media_url,
    }
