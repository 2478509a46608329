"""Open311 GeoReport v2 documents for the manager's systems: pure functions from tickets and content to dicts.

Nothing personal leaves here: no reporter or tenant names, phones or flat numbers, no floor; the place is the
estate's address (and building) with the estate's coordinates. Descriptions are the tenants' own words, so they
are scrubbed of phone numbers, e-mail addresses, flat numbers and the names we know (best effort).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime

from storage.content import Content, ProblemCategory
from storage.models import Ticket
from storage.tickets import OPEN_STATUSES

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
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_PHONE = re.compile(r"\+?\d(?:[\s./-]?\d){5,}")
# "int. 12", "interno 3B", "appartamento n. 7": the number must hold a digit, so "appartamento con" stays.
_FLAT = re.compile(r"\b(?:int(?:erno)?|app(?:artamento)?|apt|flat)\b\.?\s*(?:n\.?|nr\.?|numero)?\s*(?=[\w/-]{0,5}\d)[\w/-]{1,6}", re.IGNORECASE)


class Open311Error(Exception):
    """A request the API refuses; rendered in GeoReport's errors shape."""

    def __init__(self, status: int, description: str) -> None:
        super().__init__(description)
        self.status = status
        self.description = description


def errors(status: int, description: str) -> list[dict]:
    return [{"code": status, "description": description}]


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


def scrub(text: str, known_names: Iterable[str] = ()) -> str:
    """The tenant's words without e-mails, phone numbers, flat numbers and the names we know."""
    text = _EMAIL.sub("[email]", text)
    text = _PHONE.sub("[telefono]", text)
    text = _FLAT.sub("[interno]", text)
    for name in known_names:
        for word in name.split():
            if len(word) >= 2:
                text = re.sub(rf"\b{re.escape(word)}\b", "[nome]", text, flags=re.IGNORECASE)
    return text


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


def service_request(content: Content, ticket: Ticket, media_url: str | None, known_names: Iterable[str] = ()) -> dict:
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
        "description": scrub(ticket.description or "", known_names),
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
