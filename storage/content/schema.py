"""What the YAML files may contain: strict pydantic schemas, each custom check raising `_invalid` so that the editor
gets a sentence and a hint."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, time
from itertools import pairwise
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainValidator, model_validator

from storage.content.errors import _invalid, _shown, _suggest
from storage.content.model import (
    MAX_ID_LENGTH,
    MILAN_LAT,
    MILAN_LON,
    SERVICE_MODELS,
    URGENCIES,
    Closure,
    LocalText,
    _check_keyword_language,
)

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


_SlotMinutes = Annotated[int, Field(ge=5, le=480)]
_Seats = Annotated[int, Field(ge=1)]


class _SlotsSchema(_Schema):
    """Bookable times, weekly or on one date: start, end and slot_minutes must make whole slots. Each kind declares
    the fields itself, in the order the editor's "allowed: ..." hint lists them (pydantic puts a base's first)."""

    if TYPE_CHECKING:
        start: time
        end: time
        slot_minutes: int

    @model_validator(mode="after")
    def _slots_fit(self) -> _SlotsSchema:
        _check_slots(self.start, self.end, self.slot_minutes)
        return self


class _SlotRuleSchema(_SlotsSchema):
    days: Annotated[list[_Weekday], BeforeValidator(_one_or_many), Field(min_length=1)]
    start: _ClockTime
    end: _ClockTime
    slot_minutes: _SlotMinutes
    seats: _Seats = 1


class _ExtraDateSchema(_SlotsSchema):
    date: _Date
    start: _ClockTime
    end: _ClockTime
    slot_minutes: _SlotMinutes
    seats: _Seats = 1


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


class _Offer(_Schema):
    """What every offer says, a space's service as well as an activity, a course or a job in what's on: its id, title
    and description, and for whom and at what cost when that needs saying."""

    id: _Identifier
    title: LocalText
    description: LocalText
    audience: LocalText | None = None
    cost: LocalText | None = None


class _ServiceSchema(_Offer):
    category: str
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
    time_bank: _TimeBankSchema | None = None


class _CategorySchema(_Schema):
    id: _Identifier
    name: LocalText
    emoji: str | None = None


class _TimeBankCategorySchema(_Schema):
    id: _Identifier
    name: LocalText
    emoji: str | None = None
    keywords: _Keywords = {}
    advice: LocalText | None = None


class _CategoriesFile(_Schema):
    categories: list[_CategorySchema]
    time_bank: list[_TimeBankCategorySchema] = []


def _quarter_hours(value: float) -> float:
    if round(value * 4) != value * 4:
        raise _invalid(f"{value} is not a whole number of quarter hours", "write hours as 0.25, 0.5, 0.75, 1, 1.5 ...")
    return value


_QuarterHours = Annotated[float, AfterValidator(_quarter_hours)]


class _TimeBankSchema(_Schema):
    enabled: bool = True
    rules: LocalText
    categories: list[_Identifier] = Field(min_length=1)
    operator_present: list[_Identifier] = []
    join: Annotated[str, PlainValidator(_choice(("free", "approval"), "way of joining"))] = "approval"
    starting_hours: Annotated[_QuarterHours, Field(ge=0, le=100)] = 0
    lowest_balance_hours: Annotated[_QuarterHours, Field(ge=-100, le=0)] = -10
    max_hours_per_exchange: Annotated[_QuarterHours, Field(ge=0.25, le=24)] = 4
    post_days: Annotated[int, Field(ge=1, le=365)] = 30


class _FaqSchema(_Schema):
    id: _Identifier
    question: LocalText
    answer: LocalText
    keywords: _Keywords = {}
    space: str | None = None


class _FaqFile(_Schema):
    faq: list[_FaqSchema]


class _PrivacySchema(_Schema):
    controller: str
    controller_address: str
    controller_email: _Email
    dpo: str
    dpo_email: _Email


class _ContactsFile(_Schema):
    free_phone: _Phone
    emergency_phone: _Phone
    emergency_number: _Phone = "112"
    website: _Website | None = None
    privacy: _PrivacySchema | None = None


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
