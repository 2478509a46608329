"""Search in any language, with typos and without accents."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from storage.content import Content, ContentStore, load_content
from storage.domain.search import SearchHit, fold, prepare_index, search

SAMPLE = Path(__file__).resolve().parents[2] / "content"


@pytest.fixture(scope="module")
def content() -> Content:
    return load_content(SAMPLE)


def categories_of(content: Content, hits: list[SearchHit]) -> set[str]:
    return {content.services[hit.id].category for hit in hits if hit.kind == "service"}


@pytest.mark.parametrize("query", ["repair", "riparazione", "riparazone", "RIPARARE", "aggiustare", "إصلاح", "修理", "reparación"])
def test_repair_services_in_any_language_and_with_typos(content: Content, query: str) -> None:
    hits = search(content, query, "it")
    assert hits, query
    assert categories_of(content, hits[:3]) == {"repairs"}


def test_computer_finds_the_digital_help_desks(content: Content) -> None:
    hits = search(content, "computer", "en")
    assert {content.services[hit.id].category for hit in hits[:4]} == {"digital"}
    assert "omero-digital-desk" in {hit.id for hit in hits}


def test_doposcuola_finds_after_school_clubs(content: Content) -> None:
    ids = [hit.id for hit in search(content, "doposcuola", "it")]
    assert set(ids[:3]) == {"boccioni-after-school", "faenza-after-school", "monti-after-school"}


@pytest.mark.parametrize("query", ["leak", "perdita", "fuite", "تسرب", "漏水", "tagas", "fuga", "水管漏水了", "perdita d'acqua in cucina"])
def test_water_leak_problem_in_any_language(content: Content, query: str) -> None:
    hits = search(content, query, "it")
    assert (hits[0].kind, hits[0].id) == ("problem", "water-leak"), hits


def test_emergencies_are_found(content: Content) -> None:
    assert search(content, "gas", "it")[0].id == "gas-smell"
    assert search(content, "fumo", "it")[0].id == "fire-smoke"
    assert search(content, "ascensore bloccato", "it")[0].id == "lift"


def test_accents_and_case_do_not_matter(content: Content) -> None:
    assert search(content, "Repair CAFÉ", "en") == search(content, "repair cafe", "en")
    assert fold("Città Ñandú ÉCOLE") == "citta nandu ecole"
    assert fold("أسرة") == "اسره"


def test_faqs_and_spaces_are_found(content: Content) -> None:
    assert search(content, "spid", "it")[0] == SearchHit("faq", "spid", 1.0)
    assert search(content, "Quarto Oggiaro", "it")[0].id == "capuana"


def test_results_are_ranked_and_limited(content: Content) -> None:
    hits = search(content, "riparazione", "it", limit=3)
    assert len(hits) == 3
    assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)
    assert all(0.5 <= hit.score <= 1.0 for hit in hits)


@pytest.mark.parametrize("query", ["", "   ", "?!", "xyzzy qwerty"])
def test_nothing_found(content: Content, query: str) -> None:
    assert search(content, query, "it") == []


def test_the_index_follows_content_changes(tmp_path: Path) -> None:
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE, folder)
    store = ContentStore(folder)
    prepare_index(store.current)
    assert search(store.current, "zumba", "it") == []
    space_file = folder / "spaces" / "monti.yaml"
    space_file.write_text(space_file.read_text(encoding="utf-8").replace("Ginnastica dolce", "Ginnastica dolce e zumba"), encoding="utf-8")
    assert store.reload() == []
    assert search(store.current, "zumba", "it")[0].id == "monti-gentle-exercise"


def test_every_service_and_faq_has_keywords_in_every_language(content: Content) -> None:
    from bot.i18n import LANGUAGES

    # What's on items are services only for the booking engine; search leaves them out (they have their own screens).
    services = [service for service in content.services.values() if service.id not in content.programme.items]
    missing = [f"{kind} {item.id}: {language}" for kind, items in (("service", services), ("faq", content.faqs))
               for item in items for language in LANGUAGES if not item.keywords.get(language)]
    assert not missing, missing


@pytest.mark.parametrize(("query", "language"), [
    ("комп'ютер", "uk"), ("calculator", "ro"), ("kompjuter", "sq"), ("kompyuter", "tl"), ("පරිගණක", "si"),
])
def test_computer_finds_every_digital_help_desk_in_every_language(content: Content, query: str, language: str) -> None:
    desks = {service.id for service in content.services.values() if service.id.endswith("digital-desk")}
    assert desks <= {hit.id for hit in search(content, query, language)}


@pytest.mark.parametrize("query", ["අලුත්වැඩියා", "පාර්සල්", "පරිගණක"])
def test_the_sinhala_examples_the_bot_suggests_find_something(content: Content, query: str) -> None:
    assert search(content, query, "si")
