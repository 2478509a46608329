"""The objects the bot uses (immutable: frozen data classes), the languages content may be written in, and the
file names of a content folder. The lowest layer: everything else in the bot that needs `LANGUAGES` imports it
from here."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path
from types import MappingProxyType
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator
from pydantic_core import core_schema

from storage.content.errors import _invalid, _suggest

if TYPE_CHECKING:
    from storage.content.guides import Guide

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
WHATS_ON_FOLDER = "whats_on"  # storage/content/events.py
CATEGORIES_FILE = "categories.yaml"
FAQ_FILE = "faq.yaml"
CONTACTS_FILE = "contacts.yaml"
ESTATES_FILE = "estates.yaml"
PROBLEMS_FILE = "problems.yaml"
_YAML_SUFFIXES = (".yaml", ".yml")
_WHOLE_FILE = "(file)"  # the field shown for problems with a file as a whole


# --------------------------------------------------------------------------------------------
# Language codes as the schema checks them (LocalText's keys, keywords' languages)


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
class TimeBankCategory:
    """What neighbours exchange in a time bank (accompanying, shopping, forms...), from categories.yaml."""

    id: str
    name: LocalText
    emoji: str | None
    keywords: dict[str, list[str]]
    advice: LocalText | None  # shown before posting and answering in a category where an operator must approve


@dataclass(frozen=True, slots=True)
class TimeBank:
    """A space's time bank (the `time_bank:` section of its file). Hours are whole quarters of an hour."""

    rules: LocalText
    categories: tuple[str, ...]
    operator_present: frozenset[str]  # categories whose posts an operator approves, with the advice shown
    join: str  # "free" or "approval"
    starting_quarters: int
    lowest_quarters: int  # a balance below this blocks new requests (never offers)
    max_quarters: int  # per exchange
    post_days: int  # a post expires after this many days unless renewed


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
    time_bank: TimeBank | None = None


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
class PrivacyContacts:
    """Who answers for tenants' data, named in the privacy notice (GDPR art. 13)."""

    controller: str  # the data controller, e.g. the manager of the housing stock
    controller_address: str
    controller_email: str
    dpo: str  # the data protection officer
    dpo_email: str


@dataclass(frozen=True, slots=True)
class Contacts:
    free_phone: str
    emergency_phone: str
    emergency_number: str = "112"
    website: str | None = None
    privacy: PrivacyContacts | None = None  # None: the notice points to the free phone number instead


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
    guides: dict[str, Guide] = field(default_factory=dict)  # by title (storage/content/guides.py)
    timebank_categories: dict[str, TimeBankCategory] = field(default_factory=dict)
    # What's on (storage/content/events.py): its items with a capacity are in `services` too, for the booking
    # engine, but not in services_of(), which lists what a space offers every day.
    programme: Any = None
    _services_by_space: dict[str, list[Service]] = field(init=False, repr=False)

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
