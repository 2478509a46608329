"""What's on: recurrences (dateutil rrule with exceptions) against a day-by-day count, the checks editors get,
the booking engine's view of an item, and the .ics built by the icalendar library."""

from __future__ import annotations

import shutil
from datetime import date, datetime, timedelta
from pathlib import Path

import pytest
from dateutil.rrule import rrulestr
from hypothesis import given, settings
from hypothesis import strategies as st
from icalendar import Calendar

from handlers.whats_on import calendar_file
from storage.domain import bookings
from storage.content import ContentError, load_content
from storage.content.events import _ActivitySchema, _recurrence, occurrences_between, to_service
from tests.conftest import SAMPLE_CONTENT

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@settings(max_examples=200, deadline=None)
@given(
    first=st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)),
    days=st.sets(st.integers(0, 6), min_size=1, max_size=7),
    length=st.integers(0, 200),
    exception_offsets=st.sets(st.integers(0, 200), max_size=10),
)
def test_weekly_recurrences_match_a_day_by_day_count(first, days, length, exception_offsets):
    until = first + timedelta(days=length)
    exceptions = sorted({first + timedelta(days=offset) for offset in exception_offsets})
    schema = _ActivitySchema.model_validate({
        "id": "x", "title": "T", "description": "D", "date": first.isoformat(), "time": "15:00-17:00", "repeat": "weekly",
        "days": [WEEKDAYS[day] for day in sorted(days)], "until": until.isoformat(), "except": [day.isoformat() for day in exceptions],
    })
    occurrences, rule = _recurrence(schema)
    expected = [first + timedelta(days=offset) for offset in range(length + 1)]
    expected = [day for day in expected if day.weekday() in days and day not in exceptions]
    assert [occurrence.start.date() for occurrence in occurrences] == expected
    assert all(occurrence.end - occurrence.start == timedelta(hours=2) for occurrence in occurrences)
    # The RRULE text given to calendars describes the same days (before exceptions).
    again = rrulestr(rule, dtstart=datetime.combine(first, occurrences[0].start.time() if occurrences else datetime.min.time().replace(hour=15)))
    assert [moment.date() for moment in again if moment.date() not in exceptions] == expected


def _write_programme(tmp_path: Path, body: str) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, folder)
    (folder / "whats_on" / "omero.yaml").write_text("space: omero\n" + body, encoding="utf-8")
    return folder


@pytest.mark.parametrize("body, message", [
    ("activities:\n- {id: a, title: T, description: D, date: 2027-03-01, time: '15:00-17:00', repeat: weekly, days: [tue], until: 2027-03-01}\n",
     "never occurs"),
    ("activities:\n- {id: a, title: T, description: D, date: 2027-03-01, time: '15:00-17:00', capacity: 0}\n", "lets nobody in"),
    ("activities:\n- {id: a, title: T, description: D, date: 2027-03-01, time: '17:00-15:00'}\n", "ends before it starts"),
    ("activities:\n- {id: a, title: T, description: D, date: 2027-03-01, time: '15:00-17:00', days: [tue]}\n", 'without "repeat"'),
    ("activities:\n- {id: a, title: T, description: D, date: 2020-03-01, time: '15:00-17:00'}\n", "in the past"),
    ("jobs:\n- {id: j, title: T, description: D, closes: 2020-01-31, offered_by: X}\n", "closed on"),
    ("activities:\n- {id: omero-parcels, title: T, description: D, date: 2027-03-01, time: '15:00-17:00'}\n", "already a service"),
])
def test_editors_get_a_clear_problem_with_file_and_line(tmp_path, body, message):
    folder = _write_programme(tmp_path, body)
    with pytest.raises(ContentError) as error:
        load_content(folder, today=date(2026, 12, 6))
    problems = [str(problem) for problem in error.value.problems]
    assert any(message in problem and "whats_on/omero.yaml:" in problem for problem in problems), problems


def test_a_space_that_does_not_exist_is_named(tmp_path):
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, folder)
    (folder / "whats_on" / "nowhere.yaml").write_text("space: omer\nactivities: []\n", encoding="utf-8")
    with pytest.raises(ContentError) as error:
        load_content(folder)
    assert any('there is no space "omer"' in str(problem) for problem in error.value.problems)


def test_the_sample_programme_loads_with_every_kind():
    content = load_content(SAMPLE_CONTENT, today=date(2026, 12, 6))
    programme = content.programme
    assert {space for item in programme.items.values() for space in [item.space_id]} == set(content.spaces)
    assert len(programme.of_kind("courses")) == 2 and len(programme.of_kind("jobs")) == 3
    # items are not listed among a space's everyday services, but the booking engine finds them
    assert "omero-italiano-a1" in content.services and all(s.id != "omero-italiano-a1" for s in content.services_of("omero"))
    assert occurrences_between(programme, datetime(2026, 12, 7), datetime(2026, 12, 14))


def test_an_item_with_capacity_is_a_service_whose_slots_are_its_occurrences(sample_content):
    from zoneinfo import ZoneInfo

    tz = ZoneInfo("Europe/Rome")
    course = sample_content.programme.items["omero-italiano-a1"]
    service = to_service(course)
    space = sample_content.spaces["omero"]
    now = datetime(2027, 1, 1, 9, 0, tzinfo=tz)
    slots = bookings.bookable_slots(service.booking, space, now, tz)
    assert [slot.start.astimezone(tz).replace(tzinfo=None) for slot in slots] == [o.start for o in course.occurrences]
    assert all(slot.seats == 15 for slot in slots)
    assert service.booking.max_active_per_tenant == len(course.occurrences)
    assert to_service(sample_content.programme.items["zoia-pulizie-cortili"]) is None  # a job is not booked


def test_the_ics_of_a_recurring_activity_carries_its_rule_and_exceptions(sample_content):
    item = sample_content.programme.items["omero-te"]
    data = calendar_file(item, sample_content, "Europe/Rome", "en", datetime(2026, 12, 7, 9, 0))
    calendar = Calendar.from_ical(data)
    [event] = calendar.walk("VEVENT")
    assert str(event["summary"]) == "Tea and a chat"
    assert event["rrule"]["FREQ"] == ["WEEKLY"] and event["rrule"]["BYDAY"] == ["TU"]
    assert len(event["exdate"]) == len(item.exceptions) if isinstance(event["exdate"], list) else True
    assert calendar.walk("VTIMEZONE"), "the time zone travels with the file"



def test_the_ics_is_the_file_the_library_makes_with_its_own_timezones(sample_content, monkeypatch):
    import handlers.whats_on as whats_on

    now = datetime(2026, 12, 7, 9, 0)
    items = [item for item in sample_content.programme.items.values() if item.kind != "jobs"]
    ours = [calendar_file(item, sample_content, "Europe/Rome", "it", now) for item in items]

    class AddsItsOwnTimezones(Calendar):
        def to_ical(self, sorted: bool = True) -> bytes:
            assert self.subcomponents.pop(0).name == "VTIMEZONE"  # the cached one, put first by calendar_file
            self.add_missing_timezones()  # built again by the library, in the same place
            return super().to_ical(sorted)

    monkeypatch.setattr(whats_on, "Calendar", AddsItsOwnTimezones)
    assert [calendar_file(item, sample_content, "Europe/Rome", "it", now) for item in items] == ours
