"""Loading a content folder: every file read and checked, cross-references between files checked, every problem
collected before giving up; `translation_gaps` lists texts not yet translated."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from storage.content import events, guides
from storage.content.errors import ContentError, Location, Problem, _explain, _suggest
from storage.content.model import (
    _WHOLE_FILE,
    _YAML_SUFFIXES,
    CATEGORIES_FILE,
    CONTACTS_FILE,
    DEFAULT_ACK_HOURS,
    ESTATES_FILE,
    FAQ_FILE,
    LANGUAGES,
    PROBLEMS_FILE,
    SPACES_FOLDER,
    BookingRules,
    Building,
    Category,
    Closure,
    Contacts,
    Content,
    Estate,
    ExtraDate,
    Faq,
    LocalText,
    PrivacyContacts,
    ProblemCategory,
    Question,
    Service,
    Space,
    TimeBank,
    TimeBankCategory,
    WeeklySlotRule,
)
from storage.content.reader import _FileReader, _compose, _field_path, _gc_paused, _line_at
from storage.content.schema import (
    _BookingSchema,
    _CategoriesFile,
    _ContactsFile,
    _EstatesFile,
    _FaqFile,
    _ProblemSchema,
    _ProblemsFile,
    _ServiceSchema,
    _SpaceContactsSchema,
    _SpaceSchema,
    _TimeBankSchema,
    _hours_by_weekday,
)

@dataclass
class _Parsed:
    """One file: its text and, when it validated, its schema object."""

    file: str
    text: str | None
    schema: Any = None
    root: yaml.Node | None = None  # composed again on demand: only problems need line numbers

    def line_at(self, loc: Location) -> int:
        if self.root is None and self.text is not None:
            self.root = _compose(self.text)
        return _line_at(self.root, loc)


class _Loading:
    """One attempt to load a content folder; collects every problem before giving up."""

    def __init__(self, directory: Path, cache: dict[str, _Parsed]) -> None:
        self.directory = directory
        self.label = directory.resolve().name
        self.cache = cache
        self.problems: list[Problem] = []
        self.sources: dict[str, str] = {}
        self.digest = hashlib.sha256()

    def display(self, relative: str) -> str:
        return f"{self.label}/{relative}"

    def problem(self, parsed: _Parsed, loc: Location, message: str, hint: str) -> None:
        self.problems.append(Problem(parsed.file, parsed.line_at(loc), _field_path(loc), message, hint))

    def parse(self, relative: str, schema: type[BaseModel]) -> _Parsed:
        file = self.display(relative)
        try:
            raw = (self.directory / relative).read_bytes()
        except FileNotFoundError:
            self.problems.append(Problem(file, 1, _WHOLE_FILE, "the file is missing", "create it; see content/README.md"))
            return _Parsed(file, None)
        self.digest.update(relative.encode() + b"\0" + raw + b"\0")
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as error:
            line = raw[: error.start].count(b"\n") + 1
            self.problems.append(Problem(file, line, _WHOLE_FILE, "the file is not UTF-8 text", "save it with UTF-8 encoding"))
            return _Parsed(file, None)
        self.sources[file] = text
        cached = self.cache.get(relative)
        if cached is not None and cached.text == text:
            return _Parsed(file, text, cached.schema)
        parsed = self._validate(file, text, schema)
        if parsed.schema is not None:
            self.cache[relative] = _Parsed(file, text, parsed.schema)  # without nodes: they are large
        return parsed

    def _validate(self, file: str, text: str, schema: type[BaseModel]) -> _Parsed:
        reported_before = len(self.problems)
        reader = _FileReader(file, self.problems)
        root, data = reader.read(text)
        parsed = _Parsed(file, text, root=root)
        if root is None:
            if len(self.problems) == reported_before:
                self.problems.append(Problem(file, 1, _WHOLE_FILE, "the file is empty", "see content/README.md for what it should contain"))
            return parsed
        if reader.has_alias:
            return parsed
        try:
            validated = schema.model_validate(data)
        except ValidationError as error:
            for item in error.errors(include_url=False):
                loc, message, hint = _explain(item, schema)
                self.problem(parsed, loc, message, hint)
            return parsed
        if len(self.problems) == reported_before:
            parsed.schema = validated
            parsed.root = None  # freed now, before the GC comes back on and would have to scan it
        return parsed

    def space_files(self) -> list[str]:
        folder = self.directory / SPACES_FOLDER
        if not folder.is_dir():
            self.problems.append(
                Problem(self.display(SPACES_FOLDER), 1, _WHOLE_FILE, "the spaces folder is missing", "create it with one file per space")
            )
            return []
        return sorted(f"{SPACES_FOLDER}/{entry.name}" for entry in folder.iterdir() if entry.suffix in _YAML_SUFFIXES)

    def check_unique(self, kind: str, entries: Iterable[tuple[_Parsed, Location, str]]) -> None:
        first: dict[str, tuple[_Parsed, Location]] = {}
        for parsed, loc, identifier in entries:
            if identifier not in first:
                first[identifier] = (parsed, loc)
                continue
            earlier, earlier_loc = first[identifier]
            self.problem(
                parsed, loc, f'{kind} id "{identifier}" is already used at {earlier.file}:{earlier.line_at(earlier_loc)}',
                "ids must be unique; choose another",
            )

    def check_reference(self, parsed: _Parsed, loc: Location, value: str, known: list[str], what: str) -> None:
        if value not in known:
            self.problem(parsed, loc, f'there is no {what} "{value}"', _suggest(value, known, ", ".join(known)))


def _space_from(schema: _SpaceSchema, file: str) -> Space:
    contacts = schema.contacts or _SpaceContactsSchema()
    return Space(
        id=schema.id, name=schema.name, neighbourhood=schema.neighbourhood, municipio=schema.municipio,
        address=schema.address, lat=schema.lat, lon=schema.lon, model=schema.model,
        hours=_hours_by_weekday(schema.hours),
        closures=[closure.to_closure() for closure in schema.closures],
        phone=contacts.phone, email=contacts.email, website=contacts.website,
        operator=schema.operator, description=schema.description, file=file,
        time_bank=_time_bank_from(schema.time_bank),
    )


def _time_bank_from(schema: _TimeBankSchema | None) -> TimeBank | None:
    if schema is None or not schema.enabled:
        return None
    return TimeBank(
        rules=schema.rules, categories=tuple(dict.fromkeys(schema.categories)),
        operator_present=frozenset(schema.operator_present), join=schema.join,
        starting_quarters=round(schema.starting_hours * 4), lowest_quarters=round(schema.lowest_balance_hours * 4),
        max_quarters=round(schema.max_hours_per_exchange * 4), post_days=schema.post_days,
    )


def _booking_from(schema: _BookingSchema) -> BookingRules:
    return BookingRules(
        schedule=[
            WeeklySlotRule(
                days=tuple(sorted(set(rule.days))), start=rule.start, end=rule.end, slot_minutes=rule.slot_minutes, seats=rule.seats
            )
            for rule in schema.schedule
        ],
        extra_dates=[
            ExtraDate(date=extra.date, start=extra.start, end=extra.end, slot_minutes=extra.slot_minutes, seats=extra.seats)
            for extra in schema.extra_dates
        ],
        closures=[closure.to_closure() for closure in schema.closures],
        min_notice_hours=float(schema.min_notice_hours), max_days_ahead=schema.max_days_ahead,
        cancel_deadline_hours=float(schema.cancel_deadline_hours), max_active_per_tenant=schema.max_active_per_tenant,
        phone_required=schema.phone_required,
        reminders_hours=tuple(sorted({float(hours) for hours in schema.reminders_hours}, reverse=True)),
    )


def _service_from(schema: _ServiceSchema, space_id: str) -> Service:
    return Service(
        id=schema.id, space_id=space_id, title=schema.title, description=schema.description, category=schema.category,
        audience=schema.audience, cost=schema.cost, when=schema.when, keywords=schema.keywords,
        booking=_booking_from(schema.booking) if schema.booking else None,
    )


def _problem_category_from(schema: _ProblemSchema) -> ProblemCategory:
    return ProblemCategory(
        id=schema.id, name=schema.name, urgency=schema.urgency, note=schema.note,
        questions=[Question(id=question.id, text=question.text) for question in schema.questions],
        ack_hours=float(schema.ack_hours if schema.ack_hours is not None else DEFAULT_ACK_HOURS[schema.urgency]),
        keywords=schema.keywords,
    )


def _cross_check(
    loading: _Loading, space_files: list[_Parsed], categories: _Parsed, faq: _Parsed, estates: _Parsed, problems: _Parsed
) -> None:
    """Checks between files and between entries. Runs on whatever validated, so one broken file hides nothing else."""
    spaces = [parsed for parsed in space_files if parsed.schema is not None]
    for parsed in spaces:
        stem = Path(parsed.file).stem
        if parsed.schema.id != stem:
            loading.problem(
                parsed, ("id",), f'the id "{parsed.schema.id}" differs from the file name "{stem}"',
                f'rename the file to "{parsed.schema.id}.yaml" or change the id',
            )
    # A space's id is its file name, so references to it can be checked even when its file is broken.
    space_ids = sorted(Path(parsed.file).stem for parsed in space_files)
    loading.check_unique("space", ((parsed, ("id",), parsed.schema.id) for parsed in spaces))
    loading.check_unique(
        "service",
        ((parsed, ("services", index, "id"), service.id) for parsed in spaces for index, service in enumerate(parsed.schema.services)),
    )
    if categories.schema is not None:
        entries = categories.schema.categories
        loading.check_unique("category", ((categories, ("categories", index, "id"), item.id) for index, item in enumerate(entries)))
        category_ids = [item.id for item in entries]
        for parsed in spaces:
            for index, service in enumerate(parsed.schema.services):
                loading.check_reference(parsed, ("services", index, "category"), service.category, category_ids, "category")
        bank_entries = categories.schema.time_bank
        loading.check_unique(
            "time bank category", ((categories, ("time_bank", index, "id"), item.id) for index, item in enumerate(bank_entries))
        )
        bank_ids = [item.id for item in bank_entries]
        for parsed in spaces:
            bank = parsed.schema.time_bank
            for key in ("categories", "operator_present") if bank is not None else ():
                for index, category in enumerate(getattr(bank, key)):
                    loading.check_reference(parsed, ("time_bank", key, index), category, bank_ids, "time bank category")
    if faq.schema is not None:
        loading.check_unique("FAQ", ((faq, ("faq", index, "id"), item.id) for index, item in enumerate(faq.schema.faq)))
        for index, item in enumerate(faq.schema.faq):
            if item.space is not None:
                loading.check_reference(faq, ("faq", index, "space"), item.space, space_ids, "space")
    if estates.schema is not None:
        entries = estates.schema.estates
        loading.check_unique("estate", ((estates, ("estates", index, "id"), item.id) for index, item in enumerate(entries)))
        for index, estate in enumerate(entries):
            loading.check_reference(estates, ("estates", index, "space"), estate.space, space_ids, "space")
            loading.check_unique(
                "building",
                ((estates, ("estates", index, "buildings", number, "id"), building.id) for number, building in enumerate(estate.buildings)),
            )
    if problems.schema is not None:
        entries = problems.schema.problems
        loading.check_unique("problem", ((problems, ("problems", index, "id"), item.id) for index, item in enumerate(entries)))
        for index, item in enumerate(entries):
            loading.check_unique(
                "question",
                ((problems, ("problems", index, "questions", number, "id"), question.id) for number, question in enumerate(item.questions)),
            )


def load_content(directory: Path, today: date | None = None) -> Content:
    """Load and validate a content folder; raises ContentError listing every problem found. With `today` (the
    content check), what's on may not be all in the past."""
    return _load(Path(directory), cache={}, today=today)


def _load(directory: Path, cache: dict[str, _Parsed], today: date | None = None) -> Content:
    if not directory.is_dir():
        raise ContentError([Problem(str(directory), 1, _WHOLE_FILE, "the content folder does not exist", "check the path")])
    loading = _Loading(directory, cache)
    with _gc_paused():
        categories = loading.parse(CATEGORIES_FILE, _CategoriesFile)
        contacts = loading.parse(CONTACTS_FILE, _ContactsFile)
        faq = loading.parse(FAQ_FILE, _FaqFile)
        estates = loading.parse(ESTATES_FILE, _EstatesFile)
        problems = loading.parse(PROBLEMS_FILE, _ProblemsFile)
        space_files = [loading.parse(relative, _SpaceSchema) for relative in loading.space_files()]
        guide_files = guides.guide_files(loading)
        _cross_check(loading, space_files, categories, faq, estates, problems)
        guides.cross_check(
            loading, guide_files, [item.id for item in faq.schema.faq] if faq.schema is not None else [],
            [service.id for parsed in space_files if parsed.schema is not None for service in parsed.schema.services],
        )
        programme_files = events.parse_files(loading)
        events.cross_check(
            loading, programme_files, sorted(Path(parsed.file).stem for parsed in space_files),
            {service.id for parsed in space_files if parsed.schema is not None for service in parsed.schema.services},
            today,
        )
        if loading.problems:
            raise ContentError(sorted(loading.problems, key=lambda problem: (problem.file, problem.line)))
        ordered = sorted(
            (parsed.schema for parsed in space_files), key=lambda space: (space.neighbourhood.casefold(), str(space.name).casefold())
        )
        files = {parsed.schema.id: parsed.file for parsed in space_files}
        programme = events.build(programme_files, [space.id for space in ordered])
        services = {service.id: _service_from(service, space.id) for space in ordered for service in space.services}
        for item in programme.items.values():
            service = events.to_service(item)
            if service is not None:
                services[item.id] = service
        return Content(
            programme=programme,
            spaces={space.id: _space_from(space, files[space.id]) for space in ordered},
            services=services,
            categories={item.id: Category(id=item.id, name=item.name, emoji=item.emoji) for item in categories.schema.categories},
            faqs=[
                Faq(id=item.id, question=item.question, answer=item.answer, keywords=item.keywords, space_id=item.space)
                for item in faq.schema.faq
            ],
            contacts=Contacts(
                **contacts.schema.model_dump(exclude={"privacy"}),
                privacy=PrivacyContacts(**contacts.schema.privacy.model_dump()) if contacts.schema.privacy else None,
            ),
            estates={
                item.id: Estate(
                    id=item.id, name=item.name, address=item.address, lat=item.lat, lon=item.lon, space_id=item.space,
                    buildings=[Building(id=building.id, name=building.name, staircases=list(building.staircases)) for building in item.buildings],
                )
                for item in estates.schema.estates
            },
            problems={item.id: _problem_category_from(item) for item in problems.schema.problems},
            timebank_categories={
                item.id: TimeBankCategory(id=item.id, name=item.name, emoji=item.emoji, keywords=item.keywords, advice=item.advice)
                for item in categories.schema.time_bank
            },
            version=loading.digest.hexdigest()[:16],
            directory=directory,
            _sources=MappingProxyType(loading.sources),
            guides=guides.guides_from(loading, guide_files),
        )


# --------------------------------------------------------------------------------------------
# Translations


def _local_texts(content: Content) -> Iterator[tuple[str, Location, LocalText]]:
    """Every translatable text with its file and location."""

    def closure_reasons(prefix: Location, closures: list[Closure]) -> Iterator[tuple[Location, LocalText | None]]:
        for index, closure in enumerate(closures):
            yield (*prefix, index, "reason"), closure.reason

    def name_and_optional(file: str, prefix: Location, item: Any, optional: str) -> Iterator[tuple[str, Location, LocalText]]:
        yield file, (*prefix, "name"), item.name
        if getattr(item, optional) is not None:
            yield file, (*prefix, optional), getattr(item, optional)

    for space in content.spaces.values():
        texts: list[tuple[Location, LocalText | None]] = [(("name",), space.name), (("description",), space.description)]
        texts.extend(closure_reasons(("closures",), space.closures))
        if space.time_bank is not None:
            texts.append((("time_bank", "rules"), space.time_bank.rules))
        for index, service in enumerate(content.services_of(space.id)):
            for name in ("title", "description", "audience", "cost", "when"):
                texts.append((("services", index, name), getattr(service, name)))
            if service.booking:
                texts.extend(closure_reasons(("services", index, "booking", "closures"), service.booking.closures))
        for loc, text in texts:
            if text is not None:
                yield space.file, loc, text
    label = content.directory.resolve().name
    categories, faq, problems = (f"{label}/{name}" for name in (CATEGORIES_FILE, FAQ_FILE, PROBLEMS_FILE))
    for index, category in enumerate(content.categories.values()):
        yield categories, ("categories", index, "name"), category.name
    for index, bank_category in enumerate(content.timebank_categories.values()):
        yield from name_and_optional(categories, ("time_bank", index), bank_category, "advice")
    for index, entry in enumerate(content.faqs):
        yield faq, ("faq", index, "question"), entry.question
        yield faq, ("faq", index, "answer"), entry.answer
    for index, problem in enumerate(content.problems.values()):
        yield from name_and_optional(problems, ("problems", index), problem, "note")
        for number, question in enumerate(problem.questions):
            yield problems, ("problems", index, "questions", number, "text"), question.text

    yield from guides.local_texts(content)


def translation_gaps(content: Content) -> dict[str, list[str]]:
    """For each shipped language but Italian, the texts without a translation, as "file:line field"."""
    files: dict[str, _Parsed] = {}
    gaps: dict[str, list[str]] = {language: [] for language in LANGUAGES if language != "it"}
    for file, loc, text in _local_texts(content):
        missing = [language for language in gaps if text.is_fallback(language)]
        if not missing:
            continue
        parsed = files.setdefault(file, _Parsed(file, content._sources[file]))
        where = f"{file}:{parsed.line_at(loc)} {_field_path(loc)}"
        for language in missing:
            gaps[language].append(where)
    return gaps
