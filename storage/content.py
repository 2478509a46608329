"""Editors' content: the YAML files under content/ loaded into immutable objects.

Editors at the operators (not programmers) keep spaces, services, FAQs, estates and maintenance
problem categories in YAML files. Loading checks them against a strict pydantic schema and reports
*every* mistake at once, each with file, line, field and a hint, so an editor can fix the files
without help. The bot only ever sees a fully valid `Content`; `ContentStore` keeps the last good
one when an edit breaks something.
"""

from __future__ import annotations

import difflib
import gc
import hashlib
import os
import random
import re
import types
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, time
from itertools import pairwise
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainValidator,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError, core_schema

LANGUAGES = ("it", "en", "ar", "es", "zh", "tl", "si", "ro", "uk", "sq")
# Tenants may type search words in languages the bot does not ship (many speak French, for example),
# so keywords accept these too; texts shown to tenants are limited to LANGUAGES.
KEYWORD_LANGUAGES = LANGUAGES + (
    "fr", "pt", "de", "ru", "bn", "ur", "hi", "pa", "ta", "ml", "fa", "tr", "am", "ti", "so", "wo", "ff",
)
# Codes people often write by mistake (country codes, three-letter codes) and the language meant.
_LANGUAGE_ALIASES = {
    "ita": "it", "eng": "en", "gb": "en", "uk-en": "en", "ara": "ar", "sp": "es", "spa": "es", "cn": "zh",
    "zho": "zh", "ch": "zh", "fil": "tl", "ph": "tl", "tgl": "tl", "lk": "si", "sin": "si", "rom": "ro",
    "ua": "uk", "ukr": "uk", "al": "sq", "alb": "sq", "sqi": "sq", "fra": "fr", "fre": "fr",
}
SERVICE_MODELS = ("social_portineria", "animation", "enterprise")
URGENCIES = ("emergency", "urgent", "normal")
# How long a custodian has to acknowledge a report before it escalates, when the editor sets none.
DEFAULT_ACK_HOURS = {"emergency": 0.25, "urgent": 2.0, "normal": 24.0}
# Milan and its first-ring municipalities: anything outside is a typo or swapped coordinates.
MILAN_LAT = (45.35, 45.60)
MILAN_LON = (9.0, 9.35)
MAX_ID_LENGTH = 40  # ids travel inside Telegram callback data, which is limited to 64 bytes

SPACES_FOLDER = "spaces"
WHATS_ON_FOLDER = "whats_on"  # storage/events.py
CATEGORIES_FILE = "categories.yaml"
FAQ_FILE = "faq.yaml"
CONTACTS_FILE = "contacts.yaml"
ESTATES_FILE = "estates.yaml"
PROBLEMS_FILE = "problems.yaml"
_YAML_SUFFIXES = (".yaml", ".yml")
_WHOLE_FILE = "(file)"  # the field shown for problems with a file as a whole

Location = tuple[str | int, ...]  # keys and list positions leading to a value in a file, as pydantic reports them


# --------------------------------------------------------------------------------------------
# Problems


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in the content files, phrased for an editor."""

    file: str
    line: int
    field: str
    message: str
    hint: str

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.field}: {self.message} ({self.hint})"


class ContentError(Exception):
    """The content files have mistakes; `problems` lists all of them, sorted by file and line."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        listing = "\n".join(str(problem) for problem in problems)
        super().__init__(f"{len(problems)} problem(s) in the content files:\n{listing}")


# --------------------------------------------------------------------------------------------
# Texts in several languages


def base_language(code: str) -> str:
    """The two-letter code for a Telegram/IETF language tag: "zh-hans" -> "zh", "fil" -> "tl"."""
    base = code.strip().lower().replace("_", "-").split("-", 1)[0]
    return "tl" if base == "fil" else base


class LocalText:
    """An immutable text with an Italian original and optional translations."""

    __slots__ = ("_texts",)
    _texts: Mapping[str, str]

    def __init__(self, texts: Mapping[str, str] | str) -> None:
        if isinstance(texts, str):
            texts = {"it": texts}
        if not texts.get("it"):
            raise ValueError(f"a LocalText needs an Italian ('it') text, got languages {sorted(texts)}")
        object.__setattr__(self, "_texts", MappingProxyType(dict(texts)))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("LocalText is immutable")

    def get(self, lang: str) -> str:
        """The text in `lang`, or the Italian text when there is no translation."""
        return self._texts.get(base_language(lang)) or self._texts["it"]

    def is_fallback(self, lang: str) -> bool:
        """True when `get(lang)` would answer with Italian because `lang` has no text of its own."""
        code = base_language(lang)
        return code != "it" and code not in self._texts

    def all_texts(self) -> Iterable[str]:
        return self._texts.values()

    @property
    def languages(self) -> frozenset[str]:
        return frozenset(self._texts)

    def __str__(self) -> str:
        return self._texts["it"]

    def __repr__(self) -> str:
        return f"LocalText({dict(self._texts)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, LocalText) and dict(self._texts) == dict(other._texts)

    def __hash__(self) -> int:
        return hash(frozenset(self._texts.items()))

    @classmethod
    def __get_pydantic_core_schema__(cls, source: Any, handler: Any) -> core_schema.CoreSchema:
        # A plain string is the Italian text; a mapping is language -> text and must include Italian.
        mapping = handler.generate_schema(dict[_LanguageCode, str])
        return core_schema.no_info_before_validator_function(
            _plain_text_is_italian, core_schema.no_info_after_validator_function(_local_text_from_mapping, mapping)
        )


def _plain_text_is_italian(value: Any) -> Any:
    if isinstance(value, str):
        return {"it": value}
    if isinstance(value, dict):
        # `{it: Gratuito, paghi solo i materiali}` splits at the comma into a key with no value.
        for key, text in value.items():
            if text is None and key not in LANGUAGES and " " in key.strip():
                raise _invalid(
                    f'the text is cut at a comma before "{key}"',
                    'inside { } put texts that contain commas in quotes, e.g. {it: "Gratuito, paghi solo i materiali"}',
                )
    return value


def _local_text_from_mapping(texts: dict[str, str]) -> LocalText:
    if "it" not in texts:
        raise _invalid("the Italian text is missing", 'add a line "it: ..." — Italian is required, other languages are optional')
    return LocalText(texts)


# --------------------------------------------------------------------------------------------
# The objects the bot uses


@dataclass(frozen=True, slots=True)
class Closure:
    """A day or a range of days (both ends included) when something is closed."""

    start: date
    end: date
    reason: LocalText | None = None

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end


@dataclass(frozen=True, slots=True)
class WeeklySlotRule:
    days: tuple[int, ...]  # 0 = Monday
    start: time
    end: time
    slot_minutes: int
    seats: int


@dataclass(frozen=True, slots=True)
class ExtraDate:
    date: date
    start: time
    end: time
    slot_minutes: int
    seats: int


@dataclass(frozen=True, slots=True)
class BookingRules:
    schedule: list[WeeklySlotRule]
    extra_dates: list[ExtraDate]
    closures: list[Closure]
    min_notice_hours: float
    max_days_ahead: int
    cancel_deadline_hours: float
    max_active_per_tenant: int
    phone_required: bool
    reminders_hours: tuple[float, ...]


@dataclass(frozen=True, slots=True)
class Space:
    id: str
    name: LocalText
    neighbourhood: str
    municipio: int
    address: str
    lat: float
    lon: float
    model: str  # one of SERVICE_MODELS
    hours: dict[int, list[tuple[time, time]]]  # all seven weekdays, 0 = Monday; [] when closed
    closures: list[Closure]
    phone: str | None
    email: str | None
    website: str | None
    operator: str
    description: LocalText | None
    file: str  # where an editor changes it, e.g. "content/spaces/omero.yaml"


@dataclass(frozen=True, slots=True)
class Service:
    id: str
    space_id: str
    title: LocalText
    description: LocalText
    category: str
    audience: LocalText | None
    cost: LocalText | None
    when: LocalText | None
    keywords: dict[str, list[str]]
    booking: BookingRules | None


@dataclass(frozen=True, slots=True)
class Category:
    id: str
    name: LocalText
    emoji: str | None


@dataclass(frozen=True, slots=True)
class Faq:
    id: str
    question: LocalText
    answer: LocalText
    keywords: dict[str, list[str]]
    space_id: str | None


@dataclass(frozen=True, slots=True)
class Contacts:
    free_phone: str
    emergency_phone: str
    emergency_number: str = "112"
    website: str | None = None


@dataclass(frozen=True, slots=True)
class Building:
    id: str
    name: str
    staircases: list[str]


@dataclass(frozen=True, slots=True)
class Estate:
    id: str
    name: str
    address: str
    lat: float
    lon: float
    space_id: str
    buildings: list[Building]


@dataclass(frozen=True, slots=True)
class Question:
    id: str
    text: LocalText


@dataclass(frozen=True, slots=True)
class ProblemCategory:
    id: str
    name: LocalText
    urgency: Literal["emergency", "urgent", "normal"]
    note: LocalText | None
    questions: list[Question]
    ack_hours: float
    keywords: dict[str, list[str]]


@dataclass(frozen=True, eq=False)
class Content:
    """Everything the editors wrote, validated. Treat it as read-only."""

    spaces: dict[str, Space]  # ordered by neighbourhood, then name
    services: dict[str, Service]  # in space order, then file order
    categories: dict[str, Category]
    faqs: list[Faq]
    contacts: Contacts
    estates: dict[str, Estate]
    problems: dict[str, ProblemCategory]
    version: str  # hash of the files: changes whenever any file changes
    directory: Path
    _sources: Mapping[str, str] = field(repr=False)  # file -> text, to find line numbers later
    _services_by_space: dict[str, list[Service]] = field(init=False, repr=False)
    # What's on (storage/events.py): its items with a capacity are in `services` too, for the booking engine,
    # but not in services_of(), which lists what a space offers every day.
    programme: Any = None

    def __post_init__(self) -> None:
        by_space: dict[str, list[Service]] = {space_id: [] for space_id in self.spaces}
        programme_ids = self.programme.items if self.programme is not None else {}
        for service in self.services.values():
            if service.id not in programme_ids:
                by_space[service.space_id].append(service)
        object.__setattr__(self, "_services_by_space", by_space)

    def services_of(self, space_id: str) -> list[Service]:
        """The space's services in the order the editor listed them ([] for an unknown space)."""
        return list(self._services_by_space.get(space_id, ()))


# --------------------------------------------------------------------------------------------
# Schema: what the YAML files may contain. Every custom check raises `_invalid` so that the
# editor gets a sentence and a hint instead of pydantic's developer-facing wording.


def _invalid(message: str, hint: str, at: Location = ()) -> PydanticCustomError:
    """An error for the editor; `at` points below the field being validated (e.g. to "end")."""
    return PydanticCustomError("content", message, {"hint": hint, "at": at})


def _suggest(value: str, candidates: Iterable[str], allowed: str, aliases: Mapping[str, str] | None = None) -> str:
    """A hint with the closest allowed value, if any, and the list of allowed values."""
    wanted = value.strip().lower()
    guess = (aliases or {}).get(wanted)
    if guess is None:
        close = difflib.get_close_matches(wanted, list(candidates), n=1, cutoff=0.6)
        guess = close[0] if close else None
    return f'did you mean "{guess}"? Allowed: {allowed}' if guess else f"allowed: {allowed}"


def _check_language(code: str) -> str:
    if code not in LANGUAGES:
        raise _invalid(f'unknown language "{code}"', _suggest(code, LANGUAGES, ", ".join(LANGUAGES), _LANGUAGE_ALIASES))
    return code


def _check_keyword_language(code: str) -> str:
    if code not in KEYWORD_LANGUAGES:
        allowed = ", ".join(KEYWORD_LANGUAGES)
        raise _invalid(f'unknown language "{code}"', _suggest(code, KEYWORD_LANGUAGES, allowed, _LANGUAGE_ALIASES))
    return code


_LanguageCode = Annotated[str, AfterValidator(_check_language)]

_ID_PATTERN = re.compile(rf"[a-z0-9][a-z0-9_-]{{0,{MAX_ID_LENGTH - 1}}}")


def _check_identifier(value: str) -> str:
    if not _ID_PATTERN.fullmatch(value):
        example = re.sub(r"[^a-z0-9_-]+", "-", value.lower()).strip("-")[:MAX_ID_LENGTH] or "omero-15"
        raise _invalid(
            f'"{value}" is not a valid id',
            f'use lowercase letters, digits, "-" and "_" only, at most {MAX_ID_LENGTH} characters, e.g. "{example}"',
        )
    return value


_Identifier = Annotated[str, AfterValidator(_check_identifier)]

_TIME_PATTERN = re.compile(r"^([01]?\d|2[0-3])[:.]([0-5]\d)$")


def parse_clock_time(text: str) -> time | None:
    """ "9:30", "09:30" or "09.30" -> time(9, 30); None when it is not a time of day."""
    match = _TIME_PATTERN.match(text.strip())
    return time(int(match[1]), int(match[2])) if match else None


def _scalar_text(value: Any) -> str:
    """The text of a YAML value for validators that parse text themselves (times, dates, days)."""
    if value is None:
        raise _invalid("is empty", "write a value after the colon, or remove the line")
    if isinstance(value, (list, dict)):
        raise _invalid(f"expected a single value, found {_shown(value)}", "write the value on the same line, after the colon")
    return str(value).strip()


def _check_time(raw: Any) -> time:
    value = _scalar_text(raw)
    parsed = parse_clock_time(value)
    if parsed is None:
        raise _invalid(f'"{value}" is not a time', 'write a time like "09:30"')
    return parsed


_ClockTime = Annotated[time, PlainValidator(_check_time)]


def _check_time_range(raw: Any) -> tuple[time, time]:
    value = _scalar_text(raw)
    parts = re.split(r"\s*[-–—]\s*", value)  # noqa: RUF001 - editors paste en and em dashes from documents
    if len(parts) != 2:
        raise _invalid(f'"{value}" is not a time range', 'write it like "09:00-12:30"')
    start, end = parse_clock_time(parts[0]), parse_clock_time(parts[1])
    if start is None or end is None:
        wrong = parts[0] if start is None else parts[1]
        raise _invalid(f'"{wrong}" in "{value}" is not a time', 'write the range like "09:00-12:30"')
    if end <= start:
        raise _invalid(f'"{value}" ends before it starts', "write the opening time first, then the closing time")
    return start, end


_TimeRange = Annotated[tuple[time, time], PlainValidator(_check_time_range)]

_WEEKDAY_NAMES = {
    **{name: number for number, name in enumerate(("mon", "tue", "wed", "thu", "fri", "sat", "sun"))},
    **{name: number for number, name in enumerate(("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))},
    **{name: number for number, name in enumerate(("lun", "mar", "mer", "gio", "ven", "sab", "dom"))},
    **{name: number for number, name in enumerate(("lunedì", "martedì", "mercoledì", "giovedì", "venerdì", "sabato", "domenica"))},
    **{name: number for number, name in enumerate(("lunedi", "martedi", "mercoledi", "giovedi", "venerdi"))},
}
_WEEKDAYS_ALLOWED = "mon, tue, wed, thu, fri, sat, sun (or lun, mar, mer, gio, ven, sab, dom)"


def weekday_number(name: str) -> int | None:
    """0 for "mon"/"lun"/"lunedì" ... 6 for "sun"/"dom"; None for anything else."""
    return _WEEKDAY_NAMES.get(name.strip().lower())


def _check_weekday(raw: Any) -> int:
    value = _scalar_text(raw)
    number = weekday_number(value)
    if number is None:
        raise _invalid(f'"{value}" is not a day of the week', _suggest(value, _WEEKDAY_NAMES, _WEEKDAYS_ALLOWED))
    return number


def _check_weekday_key(value: str) -> str:
    _check_weekday(value)
    return value


_Weekday = Annotated[int, PlainValidator(_check_weekday)]
# Opening-hours keys stay as written until the whole mapping is checked, so that "mon" and "lun"
# given together are reported instead of one silently replacing the other.
_WeekdayKey = Annotated[str, AfterValidator(_check_weekday_key)]


def _one_or_many(value: Any) -> Any:
    """Lets an editor write a single item without list syntax (`days: tue`)."""
    return [value] if isinstance(value, str) else value


def _check_hours(hours: dict[str, list[tuple[time, time]]]) -> dict[str, list[tuple[time, time]]]:
    first_name: dict[int, str] = {}
    for name, ranges in hours.items():
        number = _check_weekday(name)
        if number in first_name:
            raise _invalid(f'"{name}" is the same day as "{first_name[number]}"', "keep only one of them", at=(name,))
        first_name[number] = name
        ordered = sorted(ranges)
        for (_, earlier_end), (later_start, _) in pairwise(ordered):
            if later_start < earlier_end:
                raise _invalid(f"the opening times on {name} overlap", "merge them into one range or fix the times", at=(name,))
    return hours


_Hours = Annotated[
    dict[_WeekdayKey, Annotated[list[_TimeRange], BeforeValidator(_one_or_many)]], AfterValidator(_check_hours)
]


def _hours_by_weekday(hours: dict[str, list[tuple[time, time]]]) -> dict[int, list[tuple[time, time]]]:
    by_number: dict[int, list[tuple[time, time]]] = {number: [] for number in range(7)}
    for name, ranges in hours.items():
        by_number[_check_weekday(name)] = sorted(ranges)
    return by_number


_DMY_PATTERN = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{4})$")


def _check_date(raw: Any) -> date:
    text = _scalar_text(raw)
    try:
        dmy = _DMY_PATTERN.match(text)
        if dmy:
            return date(int(dmy[3]), int(dmy[2]), int(dmy[1]))
        if re.match(r"^\d{4}-\d{2}-\d{2}$", text):
            return date.fromisoformat(text)
    except ValueError:
        pass
    raise _invalid(f'"{text}" is not a date', 'write a date like "2025-08-14" (year-month-day)')


_Date = Annotated[date, PlainValidator(_check_date)]


def _coordinate_check(axis: str, bounds: tuple[float, float], other: tuple[float, float]) -> Callable[[float], float]:
    def check(value: float) -> float:
        if not bounds[0] <= value <= bounds[1]:
            swapped = other[0] <= value <= other[1]
            hint = (
                "latitude and longitude look swapped"
                if swapped
                else f"Milan's {axis} is between {bounds[0]} and {bounds[1]}; copy the coordinates from a map"
            )
            raise _invalid(f"{value} is outside Milan", hint)
        return value

    return check


_Latitude = Annotated[float, AfterValidator(_coordinate_check("latitude", MILAN_LAT, MILAN_LON))]
_Longitude = Annotated[float, AfterValidator(_coordinate_check("longitude", MILAN_LON, MILAN_LAT))]


def _check_phone(value: str) -> str:
    if not re.fullmatch(r"\+?[\d\s./()-]+", value) or sum(char.isdigit() for char in value) < 3:
        raise _invalid(f'"{value}" is not a phone number', 'write digits, spaces and an optional "+", e.g. "02 1234 5678"')
    return value


def _check_email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise _invalid(f'"{value}" is not an email address', 'write it like "info@example.org"')
    return value


def _check_website(value: str) -> str:
    if not re.fullmatch(r"https?://[^\s]+\.[^\s]+", value):
        raise _invalid(f'"{value}" is not a web address', 'write the full address, starting with "https://"')
    return value


def _choice(options: tuple[str, ...], what: str) -> Callable[[Any], str]:
    def check(raw: Any) -> str:
        value = _scalar_text(raw)
        if value not in options:
            raise _invalid(f'"{value}" is not a known {what}', _suggest(value, options, ", ".join(options)))
        return value

    return check


_Phone = Annotated[str, AfterValidator(_check_phone)]
_Email = Annotated[str, AfterValidator(_check_email)]
_Website = Annotated[str, AfterValidator(_check_website)]
_ServiceModel = Annotated[str, PlainValidator(_choice(SERVICE_MODELS, "service model"))]
_Urgency = Annotated[Literal["emergency", "urgent", "normal"], PlainValidator(_choice(URGENCIES, "urgency"))]
# Building ids and staircases are what is painted on the wall: "A", "15", "Scala B".
_Label = Annotated[str, Field(max_length=MAX_ID_LENGTH)]


def _keywords_by_language(value: Any) -> Any:
    # A bare list is taken as Italian keywords; a single word per language needs no list syntax.
    if isinstance(value, list):
        return {"it": value}
    if isinstance(value, dict):
        return {language: _one_or_many(words) for language, words in value.items()}
    return value


_Keywords = Annotated[
    dict[Annotated[str, AfterValidator(_check_keyword_language)], list[str]],
    BeforeValidator(_keywords_by_language),
]


class _Schema(BaseModel):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, str_min_length=1
    )


class _ClosureSchema(_Schema):
    date: _Date | None = None
    from_: _Date | None = Field(default=None, alias="from")
    to: _Date | None = None
    reason: LocalText | None = None

    @model_validator(mode="before")
    @classmethod
    def _bare_date(cls, value: Any) -> Any:
        return {"date": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _one_day_or_range(self) -> _ClosureSchema:
        if self.date is not None and (self.from_ is not None or self.to is not None):
            raise _invalid('both "date" and "from"/"to" are given', 'use "date" for one day, "from" and "to" for a period')
        if self.date is None and (self.from_ is None or self.to is None):
            raise _invalid(
                "the closure has no date", 'write "date: 2025-12-24" for one day, or "from: 2025-08-01" and "to: 2025-08-31"'
            )
        if self.to is not None and self.from_ is not None and self.to < self.from_:
            raise _invalid(f'the period ends ({self.to}) before it starts ({self.from_})', 'swap "from" and "to"', at=("to",))
        return self

    def to_closure(self) -> Closure:
        start = self.date or self.from_
        end = self.date or self.to
        assert start is not None and end is not None  # guaranteed by _one_day_or_range
        return Closure(start=start, end=end, reason=self.reason)


def _check_slots(start: time, end: time, slot_minutes: int) -> None:
    if end <= start:
        raise _invalid(f'"{end:%H:%M}" is not after the start "{start:%H:%M}"', "the end must come after the start", at=("end",))
    period = (end.hour * 60 + end.minute) - (start.hour * 60 + start.minute)
    if period % slot_minutes:
        fitting = [minutes for minutes in (5, 10, 15, 20, 30, 45, 60, 90, 120) if period % minutes == 0]
        hint = (
            f"choose a slot length that divides {period}, e.g. {min(fitting, key=lambda minutes: abs(minutes - slot_minutes))}, "
            "or change start or end"
            if fitting
            else f"change start or end so that the period is a multiple of {slot_minutes} minutes"
        )
        raise _invalid(
            f"{start:%H:%M}-{end:%H:%M} ({period} minutes) cannot be split into slots of {slot_minutes} minutes",
            hint,
            at=("slot_minutes",),
        )


class _SlotRuleSchema(_Schema):
    days: Annotated[list[_Weekday], BeforeValidator(_one_or_many), Field(min_length=1)]
    start: _ClockTime
    end: _ClockTime
    slot_minutes: Annotated[int, Field(ge=5, le=480)]
    seats: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _slots_fit(self) -> _SlotRuleSchema:
        _check_slots(self.start, self.end, self.slot_minutes)
        return self


class _ExtraDateSchema(_Schema):
    date: _Date
    start: _ClockTime
    end: _ClockTime
    slot_minutes: Annotated[int, Field(ge=5, le=480)]
    seats: Annotated[int, Field(ge=1)] = 1

    @model_validator(mode="after")
    def _slots_fit(self) -> _ExtraDateSchema:
        _check_slots(self.start, self.end, self.slot_minutes)
        return self


class _BookingSchema(_Schema):
    schedule: list[_SlotRuleSchema] = []
    extra_dates: list[_ExtraDateSchema] = []
    closures: list[_ClosureSchema] = []
    min_notice_hours: Annotated[float, Field(ge=0)] = 2.0
    max_days_ahead: Annotated[int, Field(ge=1, le=365)] = 14
    cancel_deadline_hours: Annotated[float, Field(ge=0)] = 2.0
    max_active_per_tenant: Annotated[int, Field(ge=1)] = 2
    phone_required: bool = False
    reminders_hours: Annotated[list[Annotated[float, Field(gt=0)]], BeforeValidator(_one_or_many)] = [24.0, 2.0]

    @model_validator(mode="after")
    def _has_slots(self) -> _BookingSchema:
        if not self.schedule and not self.extra_dates:
            raise _invalid(
                "a bookable service needs times to book", 'add a "schedule:" or "extra_dates:" list, or remove "booking:"'
            )
        return self


class _ServiceSchema(_Schema):
    id: _Identifier
    title: LocalText
    description: LocalText
    category: str
    audience: LocalText | None = None
    cost: LocalText | None = None
    when: LocalText | None = None
    keywords: _Keywords = {}
    booking: _BookingSchema | None = None


class _SpaceContactsSchema(_Schema):
    phone: _Phone | None = None
    email: _Email | None = None
    website: _Website | None = None


class _SpaceSchema(_Schema):
    id: _Identifier
    name: LocalText
    neighbourhood: str
    municipio: Annotated[int, Field(ge=1, le=9)]
    address: str
    lat: _Latitude
    lon: _Longitude
    model: _ServiceModel
    operator: str
    description: LocalText | None = None
    contacts: _SpaceContactsSchema | None = None
    hours: _Hours
    closures: list[_ClosureSchema] = []
    services: list[_ServiceSchema] = []


class _CategorySchema(_Schema):
    id: _Identifier
    name: LocalText
    emoji: str | None = None


class _CategoriesFile(_Schema):
    categories: list[_CategorySchema]


class _FaqSchema(_Schema):
    id: _Identifier
    question: LocalText
    answer: LocalText
    keywords: _Keywords = {}
    space: str | None = None


class _FaqFile(_Schema):
    faq: list[_FaqSchema]


class _ContactsFile(_Schema):
    free_phone: _Phone
    emergency_phone: _Phone
    emergency_number: _Phone = "112"
    website: _Website | None = None


class _BuildingSchema(_Schema):
    id: _Label
    name: str
    staircases: list[_Label] = []


class _EstateSchema(_Schema):
    id: _Identifier
    name: str
    address: str
    lat: _Latitude
    lon: _Longitude
    space: str
    buildings: list[_BuildingSchema] = []


class _EstatesFile(_Schema):
    estates: list[_EstateSchema]


class _QuestionSchema(_Schema):
    id: _Identifier
    text: LocalText


class _ProblemSchema(_Schema):
    id: _Identifier
    name: LocalText
    urgency: _Urgency
    note: LocalText | None = None
    questions: list[_QuestionSchema] = []
    ack_hours: Annotated[float, Field(gt=0)] | None = None
    keywords: _Keywords = {}


class _ProblemsFile(_Schema):
    problems: list[_ProblemSchema]


# --------------------------------------------------------------------------------------------
# Reading YAML with line numbers

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's C parser when available


class _UntypedLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """Composes nodes without PyYAML's per-scalar regex tag resolution, which costs more than parsing.

    `_scalar` gives scalars their meaning instead (see there).
    """

    def descend_resolver(self, current_node: Any, current_index: Any) -> None:
        pass

    def ascend_resolver(self) -> None:
        pass

    def resolve(self, kind: type, value: Any, implicit: Any) -> str:
        return "?"


def _compose(text: str) -> yaml.Node | None:
    loader = _UntypedLoader(text)
    try:
        return loader.get_single_node()
    finally:
        loader.dispose()


@contextmanager
def _gc_paused() -> Iterator[None]:
    """Loading allocates ~10 objects per YAML line; repeated cyclic GC passes over them triple the load time.

    Free large temporary structures (YAML nodes) inside the block: whatever is still referenced when
    the GC comes back on is scanned once more.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLEANS = {
    word: truth
    for truth, words in ((True, "yes Yes YES true True TRUE on On ON"), (False, "no No NO false False FALSE off Off OFF"))
    for word in words.split()
}


def _scalar(node: yaml.ScalarNode) -> Any:
    """Empty and yes/no values as YAML 1.1 reads them; everything else as the text written.

    Numbers stay text too (the schema turns them into numbers where it expects one), so that
    14:30 does not become 870 (YAML 1.1 base-60) and phone numbers keep leading zeros and "+".
    """
    value = node.value
    if node.style:  # quoted and block scalars are always text
        return value
    if value in _NULLS:
        return None
    return _BOOLEANS.get(value, value)


def _field_path(loc: Iterable[str | int]) -> str:
    path = ""
    for step in loc:
        path += f"[{step}]" if isinstance(step, int) else (f".{step}" if path else str(step))
    return path or _WHOLE_FILE


def _line_at(root: yaml.Node | None, loc: Iterable[str | int]) -> int:
    """The 1-based line of the key or item at `loc`, or of the closest enclosing one that exists."""
    if root is None:
        return 1
    node, line = root, root.start_mark.line + 1
    for step in loc:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            found = next(((key, value) for key, value in node.value if key.value == step), None)
            if found is None:
                break
            line, node = found[0].start_mark.line + 1, found[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and 0 <= step < len(node.value):
            node = node.value[step]
            line = node.start_mark.line + 1
        else:
            break
    return line


def _path_to(root: yaml.Node | None, target: yaml.Node, inside: frozenset[int] = frozenset()) -> list[str | int] | None:
    """The location of `target` inside `root` (only needed to report a problem)."""
    if root is target:
        return []
    if root is None or id(root) in inside:
        return None
    inside |= {id(root)}
    children: Iterable[tuple[str | int, yaml.Node]] = ()
    if isinstance(root, yaml.SequenceNode):
        children = enumerate(root.value)
    elif isinstance(root, yaml.MappingNode):
        children = ((key.value, value) for key, value in root.value)
    for step, child in children:
        below = _path_to(child, target, inside)
        if below is not None:
            return [step, *below]
    return None


class _FileReader:
    """Turns one file's YAML into plain data, reporting syntax errors and repeated keys."""

    def __init__(self, file: str, problems: list[Problem]) -> None:
        self.file = file
        self.problems = problems
        self._root: yaml.Node | None = None
        self._seen: set[int] = set()  # ids of lists and mappings already read
        self.has_alias = False  # the data is then incomplete: checking it against the schema would only add noise

    def read(self, text: str) -> tuple[yaml.Node | None, Any]:
        try:
            self._root = _compose(text)
        except yaml.MarkedYAMLError as error:
            self._syntax_problem(error, text)
            return None, None
        except yaml.YAMLError as error:
            self.problems.append(Problem(self.file, 1, _WHOLE_FILE, f"the YAML cannot be read: {error}", "check the file's syntax"))
            return None, None
        return self._root, (self._plain(self._root) if self._root is not None else None)

    def _syntax_problem(self, error: yaml.MarkedYAMLError, text: str) -> None:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark else 1
        description = " ".join(part for part in (error.context, error.problem) if part)
        source_lines = text.splitlines()
        source = source_lines[line - 1] if line <= len(source_lines) else ""
        if "\t" in source[: len(source) - len(source.lstrip())]:
            hint = "indent with spaces, never with tabs"
        elif "mapping values are not allowed" in description:
            hint = 'a text that contains ": " must be in quotes, e.g. title: "Orari: 9-12"'
        else:
            hint = "check indentation, colons and quotes on this line and the one above"
        self.problems.append(Problem(self.file, line, _WHOLE_FILE, f"YAML syntax error: {description}", hint))

    def _plain(self, node: yaml.Node) -> Any:
        if isinstance(node, yaml.ScalarNode):
            return _scalar(node)
        self._seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            return [self._child(node, index, item, item) for index, item in enumerate(node.value)]
        mapping: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = key_node.value
            if not isinstance(key_node, yaml.ScalarNode) or key in mapping:
                self._key_problem(node, key_node)
                continue
            mapping[key] = self._child(node, key, value_node, key_node)
        return mapping

    def _child(self, parent: yaml.Node, step: str | int, child: yaml.Node, line_node: yaml.Node) -> Any:
        if isinstance(child, yaml.ScalarNode) or id(child) not in self._seen:
            return self._plain(child)
        # The same list or mapping a second time is an alias (*name), which could repeat itself without end.
        self.has_alias = True
        where = [*(_path_to(self._root, parent) or []), step]
        self.problems.append(
            Problem(
                self.file, line_node.start_mark.line + 1, _field_path(where),
                "anchors and aliases (& and *) are not supported", "write the value out in full",
            )
        )
        return None

    def _key_problem(self, mapping: yaml.MappingNode, key_node: yaml.Node) -> None:
        assert self._root is not None
        where = _path_to(self._root, mapping) or []
        line = key_node.start_mark.line + 1
        if not isinstance(key_node, yaml.ScalarNode):
            self.problems.append(Problem(self.file, line, _field_path(where), "a key must be a plain word", 'write "name: value"'))
            return
        first = next(key for key, _ in mapping.value if key.value == key_node.value)
        self.problems.append(
            Problem(
                self.file, line, _field_path([*where, key_node.value]),
                f'"{key_node.value}" appears twice (first on line {first.start_mark.line + 1})', "keep only one of them",
            )
        )


# --------------------------------------------------------------------------------------------
# Turning pydantic errors into sentences for editors


def _strip_wrappers(annotation: Any) -> Any:
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            members = [member for member in get_args(annotation) if member is not type(None)]
            if len(members) != 1:
                return annotation
            annotation = members[0]
        else:
            return annotation


def _model_at(schema: type[BaseModel], loc: Iterable[str | int]) -> type[BaseModel] | None:
    """The schema model describing the mapping at `loc`, to list the keys it allows."""
    current: Any = schema
    for step in loc:
        current = _strip_wrappers(current)
        if isinstance(current, type) and issubclass(current, BaseModel) and isinstance(step, str):
            fields = {(info.alias or name): info for name, info in current.model_fields.items()}
            if step not in fields:
                return None
            current = fields[step].annotation
        elif get_origin(current) is list and isinstance(step, int):
            current = get_args(current)[0]
        elif get_origin(current) is dict and isinstance(step, str):
            current = get_args(current)[1]
        else:
            return None
    current = _strip_wrappers(current)
    return current if isinstance(current, type) and issubclass(current, BaseModel) else None


def _shown(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a group of fields"
    return "nothing" if value is None else repr(value)


def _explain(error: Mapping[str, Any], schema: type[BaseModel]) -> tuple[Location, str, str]:
    """(location, message, hint) for one pydantic error."""
    kind = error["type"]
    loc = tuple(step for step in error["loc"] if step != "[key]")
    value = error.get("input")
    context = error.get("ctx") or {}
    if kind == "content":
        return loc + tuple(context.get("at", ())), error["msg"], context["hint"]
    if kind == "missing":
        return loc, f'"{loc[-1]}" is missing', f'add a line "{loc[-1]}: ..."; see content/README.md'
    if kind == "extra_forbidden":
        key = str(loc[-1])
        model = _model_at(schema, loc[:-1])
        allowed = [info.alias or name for name, info in model.model_fields.items()] if model else []
        return loc, f'unknown field "{key}"', _suggest(key, allowed, ", ".join(allowed)) if allowed else "remove it"
    if value is None:
        return loc, "is empty", "write a value after the colon, or remove the line"
    if kind == "string_too_short":
        return loc, "is empty", "write some text, or remove the line"
    if kind == "string_too_long":
        return loc, f"{_shown(value)} is too long", f"use at most {context.get('max_length')} characters"
    if kind == "string_type":
        if isinstance(value, bool):
            return loc, f"{_shown(value)} is read as yes/no, not as text", f'put it in quotes: "{_shown(value)}"'
        return loc, f"expected a text, found {_shown(value)}", "write the text on the same line, after the colon"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return loc, f"{_shown(value)} is not a whole number", "write a number like 2"
    if kind in ("float_parsing", "float_type"):
        hint = "use a dot for decimals, e.g. 45.4781" if isinstance(value, str) and "," in value else "write a number like 1.5"
        return loc, f"{_shown(value)} is not a number", hint
    if kind in ("bool_parsing", "bool_type"):
        return loc, f"{_shown(value)} is not yes/no", "write true or false"
    bounds = {"greater_than_equal": "at least {ge}", "greater_than": "more than {gt}", "less_than_equal": "at most {le}", "less_than": "less than {lt}"}
    if kind in bounds:
        comparison = bounds[kind].format(**context)
        return loc, f"{value} is out of range", f"it must be {comparison}"
    if kind == "too_short":
        return loc, "the list is empty", "add at least one item"
    if kind == "list_type":
        return loc, f"expected a list, found {_shown(value)}", 'write one item per line, each starting with "- "'
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        if not loc:
            return loc, f"expected key: value lines, found {_shown(value)}", "see the examples in content/README.md"
        return loc, f"expected a group of fields, found {_shown(value)}", 'write "key: value" lines indented under it'
    return loc, error["msg"], "see content/README.md"


# --------------------------------------------------------------------------------------------
# Loading


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
    from storage import events  # the programme's schema builds on this module's


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
        _cross_check(loading, space_files, categories, faq, estates, problems)
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
            contacts=Contacts(**contacts.schema.model_dump()),
            estates={
                item.id: Estate(
                    id=item.id, name=item.name, address=item.address, lat=item.lat, lon=item.lon, space_id=item.space,
                    buildings=[Building(id=building.id, name=building.name, staircases=list(building.staircases)) for building in item.buildings],
                )
                for item in estates.schema.estates
            },
            problems={item.id: _problem_category_from(item) for item in problems.schema.problems},
            version=loading.digest.hexdigest()[:16],
            directory=directory,
            _sources=MappingProxyType(loading.sources),
        )


# --------------------------------------------------------------------------------------------
# Translations


def _local_texts(content: Content) -> Iterator[tuple[str, Location, LocalText]]:
    """Every translatable text with its file and location."""

    def closure_reasons(prefix: Location, closures: list[Closure]) -> Iterator[tuple[Location, LocalText | None]]:
        for index, closure in enumerate(closures):
            yield (*prefix, index, "reason"), closure.reason

    for space in content.spaces.values():
        texts: list[tuple[Location, LocalText | None]] = [(("name",), space.name), (("description",), space.description)]
        texts.extend(closure_reasons(("closures",), space.closures))
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
    for index, entry in enumerate(content.faqs):
        yield faq, ("faq", index, "question"), entry.question
        yield faq, ("faq", index, "answer"), entry.answer
    for index, problem in enumerate(content.problems.values()):
        yield problems, ("problems", index, "name"), problem.name
        if problem.note is not None:
            yield problems, ("problems", index, "note"), problem.note
        for number, question in enumerate(problem.questions):
            yield problems, ("problems", index, "questions", number, "text"), question.text


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


# --------------------------------------------------------------------------------------------
# Keeping the current content, reloading after edits


class ContentStore:
    """The current content, reloaded after editors change the files."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)
        self._parsed_files: dict[str, _Parsed] = {}  # unchanged files are not parsed again on reload
        self._snapshot = self._disk_snapshot()
        self.current: Content = _load(self.directory, self._parsed_files)

    def reload(self) -> list[Problem]:
        """Load the files again. On problems, keep serving the last good content and return them."""
        self._snapshot = self._disk_snapshot()  # taken first: an edit during loading triggers another reload
        try:
            self.current = _load(self.directory, self._parsed_files)
        except ContentError as error:
            return error.problems
        return []

    def changed_on_disk(self) -> bool:
        """Whether any content file was added, removed or modified since the last (re)load attempt."""
        return self._disk_snapshot() != self._snapshot

    def _disk_snapshot(self) -> frozenset[tuple[str, int, int]]:
        entries = []
        for folder in (self.directory, self.directory / SPACES_FOLDER, self.directory / WHATS_ON_FOLDER):
            try:
                with os.scandir(folder) as listing:
                    for entry in listing:
                        if entry.name.endswith(_YAML_SUFFIXES) and entry.is_file():
                            status = entry.stat()
                            entries.append((entry.path, status.st_mtime_ns, status.st_size))
            except FileNotFoundError:
                continue
        return frozenset(entries)


# --------------------------------------------------------------------------------------------
# Synthetic content for load and search benchmarks

_SYNTHETIC_WORDS = {
    "it": "aiuto sportello laboratorio corso gruppo incontro riparazione lettura compiti cucito orto musica computer".split(),
    "en": "help desk workshop course group meeting repair reading homework sewing garden music computer".split(),
    "es": "ayuda taller curso grupo reunión reparación lectura deberes costura huerto música ordenador".split(),
    "ar": "مساعدة ورشة دورة مجموعة لقاء إصلاح قراءة واجبات خياطة حديقة موسيقى حاسوب".split(),
    "zh": "帮助 窗口 工作坊 课程 小组 聚会 修理 阅读 作业 缝纫 菜园 音乐 电脑".split(),
    "tl": "tulong kurso grupo pulong ayos pagbasa aralin tahi hardin musika kompyuter".split(),
    "fr": "aide atelier cours groupe réunion réparation lecture devoirs couture jardin musique ordinateur".split(),
}


def generate_large_content(directory: Path, spaces: int = 9, services_per_space: int = 200) -> None:
    """Write a valid synthetic content folder of the given size (for reload and search benchmarks).

    Services are shaped like the real ones in content/spaces: Italian and English texts, keywords in
    seven languages, a booking block on one service in four.
    """
    directory = Path(directory)
    (directory / SPACES_FOLDER).mkdir(parents=True, exist_ok=True)
    words = random.Random(20240601)  # fixed seed: the same folder every time
    category_ids = [f"category-{number}" for number in range(12)]
    space_ids = [f"space-{number}" for number in range(spaces)]

    def phrase(language: str, count: int) -> str:
        return " ".join(words.choice(_SYNTHETIC_WORDS[language]) for _ in range(count))

    def text(count: int) -> dict[str, str]:
        return {"it": phrase("it", count), "en": phrase("en", count)}

    def keywords() -> dict[str, list[str]]:
        return {language: [phrase(language, 1) for _ in range(3)] for language in _SYNTHETIC_WORDS}

    def dump(relative: str, data: Any) -> None:
        (directory / relative).write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=120), encoding="utf-8")

    dump(CATEGORIES_FILE, {"categories": [{"id": identifier, "name": text(2)} for identifier in category_ids]})
    dump(CONTACTS_FILE, {"free_phone": "800 000 000", "emergency_phone": "800 000 001", "emergency_number": "112"})
    dump(FAQ_FILE, {"faq": [
        {"id": f"faq-{number}", "question": text(8), "answer": text(30), "keywords": keywords()} for number in range(40)
    ]})
    dump(PROBLEMS_FILE, {"problems": [
        {"id": f"problem-{number}", "name": text(2), "urgency": URGENCIES[number % 3],
         "questions": [{"id": "others", "text": text(6)}], "keywords": keywords()}
        for number in range(15)
    ]})
    dump(ESTATES_FILE, {"estates": [
        {"id": f"estate-{number}", "name": f"Estate {number}", "address": f"Via Synthetic {number}", "lat": 45.40 + number * 0.005,
         "lon": 9.10 + number * 0.005, "space": space_ids[number % spaces],
         "buildings": [{"id": str(building), "name": f"Civico {building}", "staircases": ["A", "B"]} for building in range(3)]}
        for number in range(spaces * 3)
    ]})
    for space_number, space_id in enumerate(space_ids):
        services = []
        for number in range(services_per_space):
            service: dict[str, Any] = {
                "id": f"{space_id}-service-{number}", "title": text(3), "description": text(14),
                "category": category_ids[number % len(category_ids)], "cost": {"it": "Gratuito", "en": "Free"},
                "when": {"it": "Martedì 10-12", "en": "Tuesdays 10-12"}, "keywords": keywords(),
            }
            if number % 3 == 0:
                service["audience"] = text(3)
            if number % 4 == 0:
                service["booking"] = {"schedule": [{"days": ["tue", "thu"], "start": "10:00", "end": "12:00", "slot_minutes": 30, "seats": 2}]}
            services.append(service)
        dump(f"{SPACES_FOLDER}/{space_id}.yaml", {
            "id": space_id, "name": {"it": f"Spazio {space_number}", "en": f"Space {space_number}"},
            "neighbourhood": f"Quartiere {space_number}", "municipio": space_number % 9 + 1,
            "address": f"Via Synthetic {space_number}", "lat": 45.45 + space_number * 0.01, "lon": 9.15 + space_number * 0.01,
            "model": SERVICE_MODELS[space_number % 3], "operator": "Synthetic Cooperative",
            "hours": {"mon": ["09:00-12:30", "14:00-18:00"], "wed": ["09:00-12:30"], "fri": ["14:00-18:00"]},
            "closures": [{"from": "2027-08-02", "to": "2027-08-22", "reason": "Ferie estive"}],
            "services": services,
        })
