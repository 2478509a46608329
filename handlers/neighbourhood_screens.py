"""Pieces of screens that what's on (handlers/whats_on.py), the notices conversation (handlers/notices.py) and the
messages of notices and broadcasts (handlers/outgoing/notices.py) all show: an estate's places, the kinds of the
programme, one line per occurrence, the name of a follow. Here so that no conversation imports another."""

from __future__ import annotations

from bot.i18n import N_, Translator
from handlers.common import space_name
from storage.content import Content, Estate
from storage.content.events import Item, Occurrence

KIND_LABELS = {"activities": N_("🎨 Attività"), "courses": N_("🎓 Corsi"), "jobs": N_("💼 Lavoro e tirocini")}


def places(estate: Estate) -> list[tuple[str, str]]:
    """(building, staircase) choices of an estate in a fixed order, which buttons refer to by index."""
    found: list[tuple[str, str]] = []
    for building in estate.buildings:
        found += [(building.id, staircase) for staircase in building.staircases] or [(building.id, "")]
    return found


def place_label(tr: Translator, estate: Estate, building_id: str, staircase: str) -> str:
    building = next((item for item in estate.buildings if item.id == building_id), None)
    name = building.name if building is not None else building_id
    return tr._("{building}, scala {staircase}", building=name, staircase=staircase) if staircase else name


def near_space_ids(content: Content, estate_id: str | None) -> set[str]:
    estate = content.estates.get(estate_id or "")
    return {estate.space_id} if estate is not None else set()


def occurrence_line(tr: Translator, content: Content, occurrence: Occurrence, item: Item) -> str:
    return tr._("• {day} {start}–{end} <b>{title}</b> ({space})", day=tr.short_date(occurrence.start.date()),
                start=tr.time(occurrence.start.time()), end=tr.time(occurrence.end.time()), title=item.title.get(tr.language),
                space=space_name(tr, content, item.space_id))


def follow_name(tr: Translator, content: Content, kind: str, ref: str) -> str:
    """What a follow is about, as "stop these" and "done, no more" name it: a space, a kind, the Monday digest."""
    if kind == "space":
        return space_name(tr, content, ref)
    if kind == "kind":
        return tr._(KIND_LABELS.get(ref, ref))
    return tr._("Riepilogo del lunedì mattina")
