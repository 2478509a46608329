"""A report draft filled in through the domain's own steps, as the tenant's taps would fill it."""

from __future__ import annotations

from datetime import datetime

from storage.domain import tickets
from storage.models import ReportDraft

ESTATE = "omero-mompiani"


def fill_draft(draft: ReportDraft, content, now: datetime, *, category: str = "water-leak", estate: str = ESTATE,  # type: ignore[no-untyped-def]
               description: str = "Acqua dal soffitto", area: str = "flat") -> None:
    """Every step up to the description (the photos step is left to the caller): the first building, the third
    floor, flat "int. 12" when in a flat, "yes" to every question."""
    tickets.choose_category(draft, content, category, now)
    tickets.choose_estate(draft, content, estate, now)
    if draft.step == "building":
        tickets.choose_building(draft, content, 0, now)
    tickets.choose_floor(draft, content, 3, now)
    tickets.choose_area(draft, content, area, now)
    if area == "flat":
        tickets.set_flat(draft, content, "int. 12", now)
    while draft.step == "questions":
        tickets.answer_question(draft, content, tickets.pending_questions(draft, content)[0], "yes", now)
    tickets.set_description(draft, content, description, now)
