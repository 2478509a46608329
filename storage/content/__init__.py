"""Editors' content: the YAML files under content/ loaded into immutable objects.

Editors at the operators (not programmers) keep spaces, services, FAQs, estates, maintenance problem categories,
guides and the time bank's categories in YAML files. Loading checks them against a strict pydantic schema and
reports *every* mistake at once, each with file, line, field and a hint, so an editor can fix the files without
help. The bot only ever sees a fully valid `Content`; `ContentStore` keeps the last good one when an edit breaks
something.

The parts, from the bottom up: `model` (the objects, `LANGUAGES`, file names), `errors` (problems phrased for
editors), `schema` (what the files may contain), `reader` (YAML with line numbers), `guides` (a guide's schema,
checks and objects together), `loader` (a whole folder, cross-checks, translation gaps), `store` (reloading).
Everything outside the package imports the names below from `storage.content`.
"""

from storage.content.errors import ContentError, Location, Problem
from storage.content.loader import load_content, translation_gaps
from storage.content.model import (
    CATEGORIES_FILE, CONTACTS_FILE, DEFAULT_ACK_HOURS, ESTATES_FILE, FAQ_FILE, KEYWORD_LANGUAGES, LANGUAGES,
    MAX_ID_LENGTH, MILAN_LAT, MILAN_LON, PROBLEMS_FILE, SERVICE_MODELS, SPACES_FOLDER, WHATS_ON_FOLDER, URGENCIES,
    BookingRules, Building, Category, Closure, Contacts, Content, Estate, ExtraDate, Faq, LocalText,
    PrivacyContacts, ProblemCategory, Question, Service, Space, TimeBank, TimeBankCategory, WeeklySlotRule,
    base_language,
)
from storage.content.schema import parse_clock_time, weekday_number
from storage.content.store import ContentStore

__all__ = [
    "CATEGORIES_FILE",
    "CONTACTS_FILE",
    "DEFAULT_ACK_HOURS",
    "ESTATES_FILE",
    "FAQ_FILE",
    "KEYWORD_LANGUAGES",
    "LANGUAGES",
    "MAX_ID_LENGTH",
    "MILAN_LAT",
    "MILAN_LON",
    "PROBLEMS_FILE",
    "SERVICE_MODELS",
    "SPACES_FOLDER",
    "WHATS_ON_FOLDER",
    "URGENCIES",
    "BookingRules",
    "Building",
    "Category",
    "Closure",
    "Contacts",
    "Content",
    "ContentError",
    "ContentStore",
    "Estate",
    "ExtraDate",
    "Faq",
    "LocalText",
    "Location",
    "PrivacyContacts",
    "Problem",
    "ProblemCategory",
    "Question",
    "Service",
    "Space",
    "TimeBank",
    "TimeBankCategory",
    "WeeklySlotRule",
    "base_language",
    "load_content",
    "parse_clock_time",
    "translation_gaps",
    "weekday_number",
]
