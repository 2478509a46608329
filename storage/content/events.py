"""What's on: activities, courses and job offers the spaces publish in content/whats_on/<space>.yaml.

Parsed and checked with the rest of the content (storage/content/loader.py calls `parse_files` and `build`), so
`qcbot content check` reports their problems with file and line. Recurrences are RFC 5545 rules computed by
python-dateutil (rrule + exdate), never by hand. An item with a capacity becomes a bookable `Service` whose
slots are its occurrences, so sign-up, seats, waitlist, reminders and cancelling are the booking engine's
(storage/domain/bookings.py): a course's sign-up books a seat in every session in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import TYPE_CHECKING, Annotated, Any, Literal

from dateutil.rrule import DAILY, MONTHLY, WEEKLY, rrule, rruleset
from pydantic import BeforeValidator, Field, model_validator

from storage.content.errors import _invalid
from storage.content.model import WHATS_ON_FOLDER, BookingRules, ExtraDate, LocalText, Service, _LanguageCode
from storage.content.schema import _Date, _Offer, _one_or_many, _Schema, _Weekday, parse_clock_time

if TYPE_CHECKING:
    from storage.content.loader import _Loading, _Parsed

FOLDER = WHATS_ON_FOLDER
KINDS = ("activities", "courses", "jobs")
HORIZON_DAYS = 400  # occurrences of open-ended recurrences computed this far ahead
EVENT_BOOKING_DAYS = 60  # how far ahead a tenant may sign up for one occurrence
_FREQUENCIES = {"daily": DAILY, "weekly": WEEKLY, "monthly": MONTHLY}


# --------------------------------------------------------------------------------------------
# What the bot uses


@dataclass(frozen=True, slots=True)
class Occurrence:
    start: datetime  # naive local wall-clock time
    end: datetime


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    kind: str  # activities | courses | jobs
    space_id: str
    title: LocalText
    description: LocalText
    audience: LocalText | None
    cost: LocalText | None
    languages: tuple[str, ...]
    capacity: int | None
    occurrences: tuple[Occurrence, ...]  # [] for jobs
    recurrence: str | None  # the RFC 5545 RRULE text, for the .ics
    exceptions: tuple[date, ...]
    prerequisites: LocalText | None = None
    role: LocalText | None = None
    hours: LocalText | None = None
    requirements: LocalText | None = None
    closes: date | None = None
    offered_by: str | None = None

    def upcoming(self, after: datetime) -> list[Occurrence]:
        return [occurrence for occurrence in self.occurrences if occurrence.end > after]

    def is_open(self, today: date) -> bool:
        if self.kind == "jobs":
            return self.closes is None or self.closes >= today
        return any(occurrence.start.date() >= today for occurrence in self.occurrences)


@dataclass(frozen=True)
class Programme:
    items: dict[str, Item]  # in space order, then file order

    def of_space(self, space_id: str) -> list[Item]:
        return [item for item in self.items.values() if item.space_id == space_id]

    def of_kind(self, kind: str) -> list[Item]:
        return [item for item in self.items.values() if item.kind == kind]


def occurrences_between(programme: Programme, start: datetime, end: datetime, space_ids: set[str] | None = None) -> list[tuple[Occurrence, Item]]:
    """Every occurrence (sessions of courses included) starting in [start, end) local, in time order."""
    found = [
        (occurrence, item)
        for item in programme.items.values()
        if space_ids is None or item.space_id in space_ids
        for occurrence in item.occurrences
        if start <= occurrence.start < end
    ]
    return sorted(found, key=lambda pair: (pair[0].start, pair[1].id))


def to_service(item: Item) -> Service | None:
    """The booking engine's view of an item with a capacity: a service whose only slots are its occurrences."""
    if item.capacity is None or item.kind == "jobs" or not item.occurrences:
        return None
    extra = [
        ExtraDate(
            date=occurrence.start.date(), start=occurrence.start.time(), end=occurrence.end.time(),
            slot_minutes=int((occurrence.end - occurrence.start).total_seconds() // 60), seats=item.capacity,
        )
        for occurrence in item.occurrences
    ]
    rules = BookingRules(
        schedule=[], extra_dates=extra, closures=[], min_notice_hours=0.0,
        max_days_ahead=HORIZON_DAYS if item.kind == "courses" else EVENT_BOOKING_DAYS,
        cancel_deadline_hours=2.0,
        # a course's sign-up holds every session; an activity a few at a time
        max_active_per_tenant=len(item.occurrences) if item.kind == "courses" else 4,
        phone_required=False, reminders_hours=(24.0, 2.0),
    )
    return Service(
        id=item.id, space_id=item.space_id, title=item.title, description=item.description, category="",
        audience=item.audience, cost=item.cost, when=None, keywords={}, booking=rules,
    )


# --------------------------------------------------------------------------------------------
# Schema


class _Common(_Offer):
    languages: Annotated[list[_LanguageCode], BeforeValidator(_one_or_many)] = ["it"]
    capacity: int | None = None

    @model_validator(mode="after")
    def _capacity_positive(self) -> Any:
        if self.capacity is not None and self.capacity < 1:
            raise _invalid(f"capacity {self.capacity} lets nobody in", "write at least 1, or remove capacity for free entry", at=("capacity",))
        return self


class _ActivitySchema(_Common):
    date: _Date  # the first (or only) day
    time: str
    repeat: Literal["daily", "weekly", "monthly"] | None = None
    days: Annotated[list[_Weekday], BeforeValidator(_one_or_many)] = []
    until: _Date | None = None
    except_: Annotated[list[_Date], BeforeValidator(_one_or_many)] = Field(default=[], alias="except")

    @model_validator(mode="after")
    def _check(self) -> _ActivitySchema:
        _span_of(self.time)
        if self.repeat is None and (self.days or self.until or self.except_):
            raise _invalid('"days", "until" or "except" without "repeat"', 'add "repeat: weekly" (or daily, monthly), or remove them')
        if self.until is not None and self.until < self.date:
            raise _invalid(f"it repeats until {self.until}, before its first day {self.date}", 'check "date" and "until"', at=("until",))
        return self


class _SessionSchema(_Schema):
    date: _Date
    time: str

    @model_validator(mode="after")
    def _check(self) -> _SessionSchema:
        _span_of(self.time)
        return self


class _CourseSchema(_Common):
    prerequisites: LocalText | None = None
    sessions: Annotated[list[_SessionSchema], Field(min_length=1)]


class _JobSchema(_Offer):
    role: LocalText | None = None
    hours: LocalText | None = None
    requirements: LocalText | None = None
    languages: Annotated[list[_LanguageCode], BeforeValidator(_one_or_many)] = ["it"]
    closes: _Date
    offered_by: str


class _WhatsOnFile(_Schema):
    space: str
    activities: list[_ActivitySchema] = []
    courses: list[_CourseSchema] = []
    jobs: list[_JobSchema] = []


def _span_of(text: str) -> tuple[time, time]:

    parts = text.replace(" ", "").split("-")
    times = [parse_clock_time(part) for part in parts] if len(parts) == 2 else []
    if len(times) != 2 or None in times:
        raise _invalid(f'"{text}" is not a time span', 'write it as "15:00-17:00"', at=("time",))
    start, end = times
    if end <= start:  # type: ignore[operator]
        raise _invalid(f'"{text}" ends before it starts', 'write it as "15:00-17:00" (the same day)', at=("time",))
    return start, end  # type: ignore[return-value]


_RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")


def _recurrence(schema: _ActivitySchema) -> tuple[list[Occurrence], str | None]:
    start_time, end_time = _span_of(schema.time)
    first = datetime.combine(schema.date, start_time)
    length = datetime.combine(schema.date, end_time) - first
    if schema.repeat is None:
        return [Occurrence(first, first + length)], None
    until = datetime.combine(schema.until, start_time) if schema.until else first + timedelta(days=HORIZON_DAYS)
    rule = rrule(_FREQUENCIES[schema.repeat], dtstart=first, until=until, byweekday=schema.days or None)
    rules = rruleset()
    rules.rrule(rule)
    for day in schema.except_:
        rules.exdate(datetime.combine(day, start_time))
    text = f"FREQ={schema.repeat.upper()}"
    if schema.days:
        text += ";BYDAY=" + ",".join(_RRULE_DAYS[day] for day in sorted(set(schema.days)))
    if schema.until:
        text += f";UNTIL={until:%Y%m%dT%H%M%S}"
    return [Occurrence(at, at + length) for at in rules], text


# --------------------------------------------------------------------------------------------
# Loading (called by storage.content._load)


def parse_files(loading: _Loading) -> list[_Parsed]:
    folder = loading.directory / FOLDER
    if not folder.is_dir():
        return []  # the programme is optional
    names = sorted(entry.name for entry in folder.iterdir() if entry.suffix in (".yaml", ".yml"))
    return [loading.parse(f"{FOLDER}/{name}", _WhatsOnFile) for name in names]


def cross_check(loading: _Loading, files: list[_Parsed], space_ids: list[str], service_ids: set[str], today: date | None) -> None:
    """References, unique ids, recurrences that never occur; with `today` (the content check), items all past."""
    parsed_files = [parsed for parsed in files if parsed.schema is not None]
    for parsed in parsed_files:
        loading.check_reference(parsed, ("space",), parsed.schema.space, space_ids, "space")
    entries = [
        (parsed, (kind, index, "id"), item.id)
        for parsed in parsed_files for kind in KINDS for index, item in enumerate(getattr(parsed.schema, kind))
    ]
    loading.check_unique("programme item", entries)
    for parsed, loc, identifier in entries:
        if identifier in service_ids:
            loading.problem(parsed, loc, f'the id "{identifier}" is already a service\'s id', "choose another id")
    for parsed in parsed_files:
        for index, activity in enumerate(parsed.schema.activities):
            occurrences, _ = _recurrence(activity)
            if not occurrences:
                loading.problem(
                    parsed, ("activities", index, "repeat"), "this recurrence never occurs",
                    'check "days", "until" and "except": together they leave no day',
                )
            elif today is not None and max(occurrence.start.date() for occurrence in occurrences) < today:
                loading.problem(parsed, ("activities", index, "date"), "every date of this activity is in the past", "update the dates or remove it")
        for index, course in enumerate(parsed.schema.courses):
            if today is not None and min(session.date for session in course.sessions) < today:
                loading.problem(parsed, ("courses", index, "sessions"), "the course has started already (a session is in the past)", "update the dates or remove it")
        for index, job in enumerate(parsed.schema.jobs):
            if today is not None and job.closes < today:
                loading.problem(parsed, ("jobs", index, "closes"), f"the offer closed on {job.closes}", "update the closing date or remove it")


def build(files: list[_Parsed], space_order: list[str]) -> Programme:
    order = {space_id: position for position, space_id in enumerate(space_order)}
    items: list[Item] = []
    for parsed in sorted(files, key=lambda parsed: order.get(parsed.schema.space, len(order))):
        schema: _WhatsOnFile = parsed.schema
        space_id = schema.space
        for activity in schema.activities:
            occurrences, recurrence = _recurrence(activity)
            items.append(Item(
                id=activity.id, kind="activities", space_id=space_id, title=activity.title, description=activity.description,
                audience=activity.audience, cost=activity.cost, languages=tuple(activity.languages), capacity=activity.capacity,
                occurrences=tuple(occurrences), recurrence=recurrence, exceptions=tuple(activity.except_),
            ))
        for course in schema.courses:
            sessions = []
            for session in sorted(course.sessions, key=lambda session: session.date):
                start, end = _span_of(session.time)
                sessions.append(Occurrence(datetime.combine(session.date, start), datetime.combine(session.date, end)))
            items.append(Item(
                id=course.id, kind="courses", space_id=space_id, title=course.title, description=course.description,
                audience=course.audience, cost=course.cost, languages=tuple(course.languages), capacity=course.capacity,
                occurrences=tuple(sessions), recurrence=None, exceptions=(), prerequisites=course.prerequisites,
            ))
        for job in schema.jobs:
            items.append(Item(
                id=job.id, kind="jobs", space_id=space_id, title=job.title, description=job.description, audience=job.audience,
                cost=job.cost, languages=tuple(job.languages), capacity=None, occurrences=(), recurrence=None,
                exceptions=(), role=job.role, hours=job.hours, requirements=job.requirements, closes=job.closes,
                offered_by=job.offered_by,
            ))
    return Programme({item.id: item for item in items})
