"""The editors' content store: loading, every kind of mistake an editor can make, reloading."""

from __future__ import annotations

import os
import shutil
from datetime import date, time
from pathlib import Path

import pytest

from storage.content import (
    LANGUAGES,
    ContentError,
    ContentStore,
    LocalText,
    Problem,
    base_language,
    load_content,
    translation_gaps,
)
from tests.bench.content import generate_large_content

SAMPLE = Path(__file__).resolve().parents[2] / "content"

# A minimal valid folder; tests break one thing at a time. Line numbers matter: see SPACE.
CATEGORIES = """\
categories:
  - id: repairs
    name: {it: Riparazioni, en: Repairs}
  - id: digital
    name: Aiuto digitale
"""
CONTACTS = """\
free_phone: "800 123 456"
emergency_phone: "800 123 999"
"""
FAQ = """\
faq:
  - id: rent
    question: Come pago l'affitto?
    answer: Con il bollettino.
"""
ESTATES = """\
estates:
  - id: alpha-estate
    name: Case Alpha
    address: viale Omero 13
    lat: 45.4374
    lon: 9.2266
    space: alpha
"""
PROBLEMS = """\
problems:
  - id: water-leak
    name: {it: Perdita d'acqua, en: Water leak}
    urgency: urgent
    questions:
      - id: other-flats
        text: Riguarda altri appartamenti?
"""
SPACE = """\
id: alpha
name: Spazio Alpha
neighbourhood: Corvetto
municipio: 4
address: viale Omero 15
lat: 45.4378
lon: 9.2259
model: social_portineria
operator: Cooperativa Esempio
hours:
  mon: ["09:00-12:30"]
services:
  - id: alpha-repairs
    title: {it: Riparazioni, en: Repairs}
    description: Piccole riparazioni.
    category: repairs
    booking:
      schedule:
        - days: [tue]
          start: "10:00"
          end: "12:00"
          slot_minutes: 30
"""


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    content = tmp_path / "content"
    (content / "spaces").mkdir(parents=True)
    for name, text in {
        "categories.yaml": CATEGORIES, "contacts.yaml": CONTACTS, "faq.yaml": FAQ,
        "estates.yaml": ESTATES, "problems.yaml": PROBLEMS, "spaces/alpha.yaml": SPACE,
    }.items():
        (content / name).write_text(text, encoding="utf-8")
    return content


def write(folder: Path, name: str, text: str) -> None:
    (folder / name).write_text(text, encoding="utf-8")


def edit(folder: Path, name: str, old: str, new: str) -> None:
    text = (folder / name).read_text(encoding="utf-8")
    assert old in text, f"test setup: {old!r} not in {name}"
    write(folder, name, text.replace(old, new, 1))


def problems_of(folder: Path) -> list[Problem]:
    with pytest.raises(ContentError) as caught:
        load_content(folder)
    return caught.value.problems


def only_problem(folder: Path) -> Problem:
    problems = problems_of(folder)
    assert len(problems) == 1, "\n".join(map(str, problems))
    return problems[0]


# --- The sample content ----------------------------------------------------------------------


def test_sample_content_loads_clean() -> None:
    content = load_content(SAMPLE)
    assert len(content.spaces) == 9
    assert {space.municipio for space in content.spaces.values()} <= set(range(1, 10))
    assert {space.model for space in content.spaces.values()} == {"social_portineria", "animation", "enterprise"}
    for space in content.spaces.values():
        assert 3 <= len(content.services_of(space.id)) <= 6
        assert space.file == f"content/spaces/{space.id}.yaml"
        assert 2 <= sum(estate.space_id == space.id for estate in content.estates.values()) <= 3
    assert any(service.booking for service in content.services.values())
    assert {"gas-smell", "fire-smoke", "person-in-danger", "water-leak", "lift"} <= set(content.problems)
    assert content.problems["gas-smell"].urgency == "emergency"
    assert content.contacts.emergency_number == "112"
    for service in content.services.values():
        assert not service.title.is_fallback("en") and not service.description.is_fallback("en")


def test_sample_spaces_are_ordered_by_neighbourhood() -> None:
    neighbourhoods = [space.neighbourhood for space in load_content(SAMPLE).spaces.values()]
    assert neighbourhoods == sorted(neighbourhoods, key=str.casefold)


def test_minimal_folder_loads_with_defaults(folder: Path) -> None:
    content = load_content(folder)
    space = content.spaces["alpha"]
    assert space.hours[0] == [(time(9), time(12, 30))]
    assert space.hours[6] == []
    assert space.phone is None and space.description is None
    booking = content.services["alpha-repairs"].booking
    assert booking is not None
    assert booking.schedule[0].days == (1,)
    assert booking.schedule[0].seats == 1
    assert (booking.min_notice_hours, booking.max_days_ahead, booking.cancel_deadline_hours) == (2.0, 14, 2.0)
    assert (booking.max_active_per_tenant, booking.phone_required, booking.reminders_hours) == (2, False, (24.0, 2.0))
    assert content.problems["water-leak"].ack_hours == 2.0  # default for urgent
    assert content.contacts.emergency_number == "112"
    assert content.services_of("alpha") == [content.services["alpha-repairs"]]
    assert content.services_of("nowhere") == []


def test_version_changes_with_any_file(folder: Path) -> None:
    before = load_content(folder).version
    assert load_content(folder).version == before
    edit(folder, "faq.yaml", "Con il bollettino.", "Con il bollettino MAV.")
    assert load_content(folder).version != before


def test_unquoted_times_and_leading_zero_numbers_stay_text(folder: Path) -> None:
    # YAML 1.1 would read 14:30 as the number 870 and 0212345 as an octal number.
    edit(folder, "spaces/alpha.yaml", 'start: "10:00"', "start: 10:00")
    edit(folder, "spaces/alpha.yaml", "operator: Cooperativa Esempio\n", "operator: Cooperativa Esempio\ncontacts:\n  phone: 0212345\n")
    content = load_content(folder)
    assert content.spaces["alpha"].phone == "0212345"
    assert content.services["alpha-repairs"].booking.schedule[0].start == time(10)


def test_international_phone_numbers_keep_their_plus(folder: Path) -> None:
    edit(folder, "contacts.yaml", 'free_phone: "800 123 456"', "free_phone: +390212345")
    assert load_content(folder).contacts.free_phone == "+390212345"


def test_yes_no_words_need_quotes_in_text(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "    category: repairs", "    category: repairs\n    keywords: {it: [aggiustare, no]}")
    problem = only_problem(folder)
    assert (problem.line, problem.field) == (17, "services[0].keywords.it[1]")
    assert (problem.message, problem.hint) == ("no is read as yes/no, not as text", 'put it in quotes: "no"')


def test_anchors_and_aliases_are_refused(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", '  mon: ["09:00-12:30"]', '  mon: &morning ["09:00-12:30"]\n  tue: *morning')
    problem = only_problem(folder)
    assert (problem.line, problem.field, problem.message) == (12, "hours.tue", "anchors and aliases (& and *) are not supported")


def test_recursive_alias_does_not_hang(folder: Path) -> None:
    write(folder, "faq.yaml", "faq: &loop\n  - *loop\n")
    problem = only_problem(folder)
    assert (problem.field, problem.message) == ("faq[0]", "anchors and aliases (& and *) are not supported")


def test_italian_weekday_names_and_dates(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "  mon: [", "  lunedì: [")
    edit(folder, "spaces/alpha.yaml", "hours:", "closures:\n  - 14/08/2027\n  - {from: 2027-08-01, to: 2027-08-03, reason: Ferie}\nhours:")
    space = load_content(folder).spaces["alpha"]
    assert space.hours[0] == [(time(9), time(12, 30))]
    assert [(closure.start, closure.end) for closure in space.closures] == [
        (date(2027, 8, 14), date(2027, 8, 14)), (date(2027, 8, 1), date(2027, 8, 3)),
    ]
    assert space.closures[1].reason == LocalText("Ferie")


# --- Each kind of mistake, with file, line, field, message and hint ---------------------------


def test_problem_string_format() -> None:
    problem = Problem("content/spaces/omero.yaml", 14, "services[2].booking.schedule[0].start", '"25:00" is not a time', 'write a time like "09:30"')
    assert str(problem) == 'content/spaces/omero.yaml:14: services[2].booking.schedule[0].start: "25:00" is not a time (write a time like "09:30")'


# One mistake, and the whole line the editor reads for it: file:line: field: what is wrong (what to write instead).
ONE_MISTAKE_AS_THE_EDITOR_READS_IT = [
    pytest.param("spaces/alpha.yaml", 'start: "10:00"', 'start: "25:00"',
                 'content/spaces/alpha.yaml:20: services[0].booking.schedule[0].start: "25:00" is not a time (write a time like "09:30")', id="bad time"),
    pytest.param("spaces/alpha.yaml", "address: viale Omero 15\n", "",
                 'content/spaces/alpha.yaml:1: address: "address" is missing (add a line "address: ..."; see content/README.md)', id="missing required field"),
    pytest.param("spaces/alpha.yaml", "hours:", "closures:\n  - date: 2027-13-01\nhours:",
                 'content/spaces/alpha.yaml:11: closures[0].date: "2027-13-01" is not a date (write a date like "2025-08-14" (year-month-day))', id="bad date"),
    pytest.param("spaces/alpha.yaml", "category: repairs", "category: repair",
                 'content/spaces/alpha.yaml:16: services[0].category: there is no category "repair" '
                 '(did you mean "repairs"? Allowed: repairs, digital)', id="service with missing category"),
    pytest.param("spaces/alpha.yaml", "lat: 45.4378", "lat: 41.9028",
                 "content/spaces/alpha.yaml:6: lat: 41.9028 is outside Milan "
                 "(Milan's latitude is between 45.35 and 45.6; copy the coordinates from a map)", id="coordinates outside milan"),
    pytest.param("spaces/alpha.yaml", "slot_minutes: 30", "slot_minutes: 30\n          seats: 0",
                 "content/spaces/alpha.yaml:23: services[0].booking.schedule[0].seats: 0 is out of range (it must be at least 1)", id="seats below one"),
    pytest.param("spaces/alpha.yaml", "municipio: 4\n", "municipio: 4\nmunicipio: 5\n",
                 'content/spaces/alpha.yaml:5: municipio: "municipio" appears twice (first on line 4) (keep only one of them)', id="repeated yaml key"),
]


@pytest.mark.parametrize(("file", "old", "new", "expected"), ONE_MISTAKE_AS_THE_EDITOR_READS_IT)
def test_one_mistake_as_the_editor_reads_it(folder: Path, file: str, old: str, new: str, expected: str) -> None:
    edit(folder, file, old, new)
    assert str(only_problem(folder)) == expected


def test_yaml_syntax_error(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "operator: Cooperativa Esempio", "operator: Cooperativa: Esempio")
    problem = only_problem(folder)
    assert (problem.file, problem.line, problem.field) == ("content/spaces/alpha.yaml", 9, "(file)")
    assert problem.message == "YAML syntax error: mapping values are not allowed in this context"
    assert problem.hint.startswith('a text that contains ": " must be in quotes')


def test_unclosed_quote(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "operator: Cooperativa Esempio", 'operator: "Cooperativa Esempio')
    problem = only_problem(folder)
    assert problem.message.startswith("YAML syntax error")
    assert "quotes" in problem.hint


def test_tab_indentation(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "  mon:", "\tmon:")
    problem = only_problem(folder)
    assert problem.line == 11
    assert problem.hint == "indent with spaces, never with tabs"


def test_unknown_key_suggests_the_closest(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "    description: Piccole", "    descripton: Piccole")
    problems = problems_of(folder)
    unknown = next(problem for problem in problems if problem.message.startswith("unknown field"))
    assert str(unknown).startswith('content/spaces/alpha.yaml:15: services[0].descripton: unknown field "descripton" (did you mean "description"?')
    missing = next(problem for problem in problems if "missing" in problem.message)
    assert (missing.line, missing.field, missing.message) == (13, "services[0].description", '"description" is missing')


def test_unknown_key_lists_allowed_keys(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "          slot_minutes: 30", "          slot_minutes: 30\n          colour: red")
    problem = only_problem(folder)
    assert (problem.line, problem.field) == (23, "services[0].booking.schedule[0].colour")
    assert problem.hint == "allowed: days, start, end, slot_minutes, seats"


# One mistake in the space file, the one problem it makes: where it is (line, field), what is wrong and the start of
# the hint ("" when the hint is not the point).
ONE_MISTAKE_IN_A_SPACE = [
    pytest.param('["09:00-12:30"]', '["09:00-12:30", "14:00-12:00"]',
                 11, "hours.mon[1]", '"14:00-12:00" ends before it starts', "", id="opening hours ending before they start"),
    pytest.param('["09:00-12:30"]', '["9-12"]', 11, "hours.mon[0]", '"9" in "9-12" is not a time', "",
                 id="malformed opening hours"),
    pytest.param('["09:00-12:30"]', '["09:00-12:30", "12:00-14:00"]', 11, "hours.mon", "the opening times on mon overlap", "",
                 id="overlapping opening hours"),
    pytest.param('  mon: ["09:00-12:30"]', '  mon: ["09:00-12:30"]\n  lun: ["15:00-16:00"]',
                 12, "hours.lun", '"lun" is the same day as "mon"', "", id="same weekday twice"),
    pytest.param('end: "12:00"', 'end: "09:00"', 21, "services[0].booking.schedule[0].end",
                 '"09:00" is not after the start "10:00"', "", id="slot end before start"),
    pytest.param("days: [tue]", "days: [tuesdy]", 19, "services[0].booking.schedule[0].days[0]",
                 '"tuesdy" is not a day of the week', 'did you mean "tuesday"?', id="bad weekday name"),
    pytest.param("  mon: [", "  mond: [", 11, "hours.mond", '"mond" is not a day of the week', 'did you mean "mon"?',
                 id="bad weekday key in hours"),
    pytest.param("{it: Riparazioni, en: Repairs}", "{en: Repairs}", 14, "services[0].title", "the Italian text is missing",
                 "", id="local text without Italian"),
    pytest.param("title: {it: Riparazioni, en: Repairs}", "title:\n      it: Riparazioni\n      cn: 修理",
                 16, "services[0].title.cn", 'unknown language "cn"', 'did you mean "zh"?',
                 id="local text with unknown language"),
    pytest.param("{it: Riparazioni, en: Repairs}", "{it: Riparazioni, anche piccole, en: Repairs}", 14, "services[0].title",
                 'the text is cut at a comma before "anche piccole"', "", id="text cut at a comma"),
    pytest.param('      schedule:\n        - days: [tue]\n          start: "10:00"\n          end: "12:00"\n          slot_minutes: 30\n',
                 "      schedule: []\n", 17, "services[0].booking", "a bookable service needs times to book", "",
                 id="booking with empty schedule"),
    pytest.param("neighbourhood: Corvetto", "neighbourhood:", 3, "neighbourhood", "is empty", "", id="empty value"),
]


@pytest.mark.parametrize(("old", "new", "line", "field", "message", "hint_start"), ONE_MISTAKE_IN_A_SPACE)
def test_one_mistake_in_a_space_file(
    folder: Path, old: str, new: str, line: int, field: str, message: str, hint_start: str,
) -> None:
    edit(folder, "spaces/alpha.yaml", old, new)
    problem = only_problem(folder)
    assert (problem.line, problem.field, problem.message) == (line, field, message)
    assert problem.hint.startswith(hint_start)


def test_closure_ending_before_it_starts(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "hours:", "closures:\n  - from: 2027-08-20\n    to: 2027-08-01\nhours:")
    problem = only_problem(folder)
    assert (problem.line, problem.field, problem.hint) == (12, "closures[0].to", 'swap "from" and "to"')


def test_closure_without_date(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "hours:", "closures:\n  - reason: Ferie\nhours:")
    assert only_problem(folder).message == "the closure has no date"


def test_duplicate_service_id_names_both_places(folder: Path) -> None:
    write(folder, "spaces/beta.yaml", SPACE.replace("id: alpha\n", "id: beta\n", 1))
    assert str(only_problem(folder)) == (
        'content/spaces/beta.yaml:13: services[0].id: service id "alpha-repairs" is already used at '
        "content/spaces/alpha.yaml:13 (ids must be unique; choose another)"
    )


@pytest.mark.parametrize(
    ("name", "entry", "kind", "line"),
    [
        ("categories.yaml", "  - id: repairs\n    name: Altro\n", "category", 6),
        ("faq.yaml", "  - id: rent\n    question: Altra?\n    answer: Altra.\n", "FAQ", 5),
        ("estates.yaml", "  - {id: alpha-estate, name: Bis, address: via X 1, lat: 45.44, lon: 9.22, space: alpha}\n", "estate", 8),
        ("problems.yaml", "  - {id: water-leak, name: Altro, urgency: normal}\n", "problem", 8),
    ],
)
def test_duplicate_ids(folder: Path, name: str, entry: str, kind: str, line: int) -> None:
    write(folder, name, (folder / name).read_text(encoding="utf-8") + entry)
    problem = only_problem(folder)
    assert (problem.file, problem.line) == (f"content/{name}", line)
    assert problem.message.startswith(f'{kind} id "') and f"is already used at content/{name}:2" in problem.message


def test_duplicate_question_ids(folder: Path) -> None:
    write(folder, "problems.yaml", PROBLEMS + "      - id: other-flats\n        text: Di nuovo?\n")
    problem = only_problem(folder)
    assert (problem.line, problem.field) == (8, "problems[0].questions[1].id")


def test_space_id_must_match_file_name(folder: Path) -> None:
    shutil.move(folder / "spaces/alpha.yaml", folder / "spaces/alfa.yaml")
    problems = problems_of(folder)
    assert problems[0].file == "content/estates.yaml"  # the estate now points to a missing space
    assert str(problems[1]).startswith('content/spaces/alfa.yaml:1: id: the id "alpha" differs from the file name "alfa"')


def test_estate_pointing_to_missing_space(folder: Path) -> None:
    edit(folder, "estates.yaml", "space: alpha", "space: omega")
    problem = only_problem(folder)
    assert (problem.file, problem.line, problem.field, problem.message) == (
        "content/estates.yaml", 7, "estates[0].space", 'there is no space "omega"',
    )


def test_faq_pointing_to_missing_space(folder: Path) -> None:
    write(folder, "faq.yaml", FAQ + "    space: nowhere\n")
    problem = only_problem(folder)
    assert (problem.line, problem.field) == (5, "faq[0].space")


def test_swapped_coordinates(folder: Path) -> None:
    edit(folder, "estates.yaml", "lat: 45.4374\n    lon: 9.2266", "lat: 9.2266\n    lon: 45.4374")
    problems = problems_of(folder)
    assert [(problem.line, problem.field) for problem in problems] == [(5, "estates[0].lat"), (6, "estates[0].lon")]
    assert all(problem.hint == "latitude and longitude look swapped" for problem in problems)


def test_comma_decimal_coordinates(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "lon: 9.2259", 'lon: "9,2259"')
    problem = only_problem(folder)
    assert (problem.message, problem.hint) == ('"9,2259" is not a number', "use a dot for decimals, e.g. 45.4781")


def test_keywords_accept_search_only_languages(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "    category: repairs", "    category: repairs\n    keywords: {it: [aggiustare], fr: réparer}")
    assert load_content(folder).services["alpha-repairs"].keywords == {"it": ["aggiustare"], "fr": ["réparer"]}


def test_slot_length_not_dividing_the_period(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "slot_minutes: 30", "slot_minutes: 45")
    problem = only_problem(folder)
    assert (problem.line, problem.field) == (22, "services[0].booking.schedule[0].slot_minutes")
    assert problem.message == "10:00-12:00 (120 minutes) cannot be split into slots of 45 minutes"
    assert problem.hint == "choose a slot length that divides 120, e.g. 30, or change start or end"


def test_booking_with_extra_dates_only(folder: Path) -> None:
    edit(
        folder, "spaces/alpha.yaml",
        '      schedule:\n        - days: [tue]\n          start: "10:00"\n          end: "12:00"\n          slot_minutes: 30\n',
        '      extra_dates:\n        - {date: 2027-03-06, start: "10:00", end: "11:00", slot_minutes: 20, seats: 4}\n'
        "      reminders_hours: 3\n      phone_required: yes\n",
    )
    booking = load_content(folder).services["alpha-repairs"].booking
    assert booking is not None and booking.schedule == []
    assert (booking.extra_dates[0].date, booking.extra_dates[0].seats) == (date(2027, 3, 6), 4)
    assert (booking.reminders_hours, booking.phone_required) == ((3.0,), True)


def test_unknown_service_model(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "model: social_portineria", "model: portineria")
    problem = only_problem(folder)
    assert problem.message == '"portineria" is not a known service model'
    assert problem.hint.startswith('did you mean "social_portineria"?')


def test_bad_id(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", "  - id: alpha-repairs", "  - id: Alpha Repairs")
    problem = only_problem(folder)
    assert (problem.line, problem.message) == (13, '"Alpha Repairs" is not a valid id')
    assert 'e.g. "alpha-repairs"' in problem.hint


def test_missing_file(folder: Path) -> None:
    os.remove(folder / "problems.yaml")
    assert str(only_problem(folder)) == "content/problems.yaml:1: (file): the file is missing (create it; see content/README.md)"


def test_empty_file(folder: Path) -> None:
    write(folder, "contacts.yaml", "# nothing yet\n")
    assert only_problem(folder).message == "the file is empty"


def test_file_not_utf8(folder: Path) -> None:
    (folder / "faq.yaml").write_bytes(FAQ.encode("utf-8") + "    # però\n".encode("latin-1"))
    problem = only_problem(folder)
    assert (problem.line, problem.message) == (5, "the file is not UTF-8 text")


def test_all_problems_are_collected_and_sorted(folder: Path) -> None:
    edit(folder, "spaces/alpha.yaml", 'start: "10:00"', 'start: "25:00"')
    edit(folder, "spaces/alpha.yaml", "municipio: 4", "municipio: 12")
    edit(folder, "spaces/alpha.yaml", "category: repairs", "category: nothing")
    edit(folder, "estates.yaml", "lat: 45.4374", "lat: 46.5")
    edit(folder, "categories.yaml", "name: Aiuto digitale", "nome: Aiuto digitale")
    problems = problems_of(folder)
    assert [(problem.file, problem.line) for problem in problems] == sorted((problem.file, problem.line) for problem in problems)
    assert {(problem.file, problem.field) for problem in problems} >= {
        ("content/categories.yaml", "categories[1].nome"),
        ("content/categories.yaml", "categories[1].name"),
        ("content/estates.yaml", "estates[0].lat"),
        ("content/spaces/alpha.yaml", "municipio"),
        ("content/spaces/alpha.yaml", "services[0].booking.schedule[0].start"),
    }
    # The category check is skipped while categories.yaml itself is broken, so it adds no noise.
    assert all(problem.field != "services[0].category" for problem in problems)


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(ContentError) as caught:
        load_content(tmp_path / "nowhere")
    assert caught.value.problems[0].message == "the content folder does not exist"


# --- Texts and translations -------------------------------------------------------------------


def test_local_text() -> None:
    text = LocalText({"it": "Riparazioni", "en": "Repairs"})
    assert text.get("en") == "Repairs"
    assert text.get("en-GB") == "Repairs"
    assert text.get("ar") == "Riparazioni"
    assert text.is_fallback("ar") and not text.is_fallback("en") and not text.is_fallback("it")
    assert sorted(text.all_texts()) == ["Repairs", "Riparazioni"]
    assert LocalText("Ciao") == LocalText({"it": "Ciao"})
    with pytest.raises(AttributeError):
        text.extra = "no"  # type: ignore[attr-defined]
    with pytest.raises(ValueError):
        LocalText({"en": "Only English"})


def test_base_language() -> None:
    assert [base_language(code) for code in ("zh-hans", "pt_BR", "fil", "EN")] == ["zh", "pt", "tl", "en"]


def test_translation_gaps(folder: Path) -> None:
    gaps = translation_gaps(load_content(folder))
    assert set(gaps) == set(LANGUAGES) - {"it"}
    assert "content/spaces/alpha.yaml:14 services[0].title" not in gaps["en"]
    assert "content/spaces/alpha.yaml:14 services[0].title" in gaps["ar"]
    assert "content/spaces/alpha.yaml:2 name" in gaps["en"]
    assert "content/problems.yaml:7 problems[0].questions[0].text" in gaps["uk"]
    assert "content/categories.yaml:5 categories[1].name" in gaps["zh"]


def test_sample_is_fully_translated_into_english() -> None:
    assert translation_gaps(load_content(SAMPLE))["en"] == []


# --- Reloading --------------------------------------------------------------------------------


def test_reload_keeps_the_last_good_content(folder: Path) -> None:
    store = ContentStore(folder)
    good = store.current
    edit(folder, "spaces/alpha.yaml", 'start: "10:00"', 'start: "25:00"')
    problems = store.reload()
    assert [problem.field for problem in problems] == ["services[0].booking.schedule[0].start"]
    assert store.current is good
    edit(folder, "spaces/alpha.yaml", 'start: "25:00"', 'start: "10:30"')
    assert store.reload() == []
    assert store.current.version != good.version
    assert store.current.services["alpha-repairs"].booking.schedule[0].start == time(10, 30)


def test_reload_reparses_only_what_changed_but_sees_every_change(folder: Path) -> None:
    write(folder, "spaces/beta.yaml", SPACE.replace("alpha", "beta"))
    store = ContentStore(folder)
    edit(folder, "spaces/beta.yaml", "Spazio Alpha", "Spazio Beta rinnovato")
    assert store.reload() == []
    assert str(store.current.spaces["beta"].name) == "Spazio Beta rinnovato"
    assert str(store.current.spaces["alpha"].name) == "Spazio Alpha"
    # A problem in a file that did not change (a duplicate created by another file) is still found.
    write(folder, "spaces/gamma.yaml", SPACE.replace("id: alpha\n", "id: gamma\n"))
    problems = store.reload()
    assert [(problem.file, problem.line) for problem in problems] == [("content/spaces/gamma.yaml", 13)]
    assert "content/spaces/alpha.yaml:13" in problems[0].message


def test_first_load_failure_raises(folder: Path) -> None:
    os.remove(folder / "contacts.yaml")
    with pytest.raises(ContentError):
        ContentStore(folder)


def test_changed_on_disk(folder: Path) -> None:
    store = ContentStore(folder)
    assert not store.changed_on_disk()
    path = folder / "faq.yaml"
    path.write_text(FAQ + "  - {id: more, question: Altro?, answer: Sì.}\n", encoding="utf-8")
    assert store.changed_on_disk()
    store.reload()
    assert not store.changed_on_disk()
    write(folder, "spaces/beta.yaml", SPACE.replace("alpha", "beta"))
    assert store.changed_on_disk()
    store.reload()
    os.remove(folder / "spaces/beta.yaml")
    assert store.changed_on_disk()
    store.reload()
    assert not store.changed_on_disk()
    # A broken edit is reported once, not on every watcher tick.
    write(folder, "faq.yaml", "faq: [")
    assert store.changed_on_disk()
    assert store.reload() != []
    assert not store.changed_on_disk()


def test_generated_large_content_is_valid(tmp_path: Path) -> None:
    generate_large_content(tmp_path / "big", spaces=3, services_per_space=12)
    content = load_content(tmp_path / "big")
    assert len(content.spaces) == 3 and len(content.services) == 36
    assert sum(service.booking is not None for service in content.services.values()) == 9


# --- The time bank ----------------------------------------------------------------------------

TIME_BANK = """\
time_bank:
  rules: Un'ora vale un'ora.
  categories: [forms, home]
  operator_present: [home]
  starting_hours: 1.5
"""
BANK_CATEGORIES = """\
time_bank:
  - id: forms
    name: {it: Moduli, en: Forms}
  - id: home
    name: Lavori in casa
    advice: Non fate entrare nessuno quando siete soli.
"""


def test_a_space_time_bank_is_read_with_its_categories(folder: Path) -> None:
    write(folder, "categories.yaml", CATEGORIES + BANK_CATEGORIES)
    write(folder, "spaces/alpha.yaml", SPACE.replace("services:", TIME_BANK + "services:"))
    content = load_content(folder)
    bank = content.spaces["alpha"].time_bank
    assert bank.categories == ("forms", "home") and bank.operator_present == {"home"}
    assert (bank.starting_quarters, bank.lowest_quarters, bank.max_quarters, bank.join) == (6, -40, 16, "approval")
    assert content.timebank_categories["home"].advice is not None


def test_time_bank_mistakes_name_the_line_and_what_to_write(folder: Path) -> None:
    write(folder, "categories.yaml", CATEGORIES + BANK_CATEGORIES)
    write(folder, "spaces/alpha.yaml", SPACE.replace("services:", TIME_BANK.replace("1.5", "1.3") + "services:"))
    problem = only_problem(folder)
    assert problem.file.endswith("alpha.yaml") and "quarter hours" in problem.message and "0.25" in problem.hint
    write(folder, "spaces/alpha.yaml", SPACE.replace("services:", TIME_BANK.replace("[forms, home]", "[forms, garden]") + "services:"))
    problem = only_problem(folder)
    assert 'no time bank category "garden"' in problem.message and problem.line == 14


def test_a_disabled_time_bank_is_off(folder: Path) -> None:
    write(folder, "categories.yaml", CATEGORIES + BANK_CATEGORIES)
    write(folder, "spaces/alpha.yaml", SPACE.replace("services:", TIME_BANK.replace("time_bank:\n", "time_bank:\n  enabled: false\n") + "services:"))
    assert load_content(folder).spaces["alpha"].time_bank is None
