"""Opening hours, closures, Italian public holidays and the next opening."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from storage.content import Closure, LocalText, Space
from storage.domain.hours import (
    ROME,
    closure_on,
    easter_sunday,
    is_open_at,
    is_public_holiday,
    milan_time,
    next_opening,
    opening_intervals,
    public_holidays,
)

Hours = dict[int, list[tuple[time, time]]]
WEEKDAY_HOURS: Hours = {weekday: [(time(9), time(12, 30)), (time(14), time(18))] for weekday in range(5)}


def make_space(hours: Hours | None = None, closures: list[Closure] | None = None) -> Space:
    return Space(
        id="test", name=LocalText("Spazio di prova"), neighbourhood="Corvetto", municipio=4, address="viale Omero 15",
        lat=45.4378, lon=9.2259, model="social_portineria",
        hours={weekday: [] for weekday in range(7)} | (WEEKDAY_HOURS if hours is None else hours),
        closures=closures or [], phone=None, email=None, website=None, operator="Cooperativa Esempio",
        description=None, file="content/spaces/test.yaml",
    )


def rome(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=ROME)


# --- Holidays --------------------------------------------------------------------------------


def test_easter_dates() -> None:
    assert [easter_sunday(year) for year in (2024, 2025, 2026, 2027, 2038)] == [
        date(2024, 3, 31), date(2025, 4, 20), date(2026, 4, 5), date(2027, 3, 28), date(2038, 4, 25),
    ]


@given(st.integers(min_value=1583, max_value=4000))
def test_easter_is_a_sunday_between_march_22_and_april_25(year: int) -> None:
    easter = easter_sunday(year)
    assert easter.weekday() == 6
    assert date(year, 3, 22) <= easter <= date(year, 4, 25)
    assert is_public_holiday(easter + timedelta(days=1))  # Easter Monday


def test_public_holidays() -> None:
    for day in (date(2026, 1, 1), date(2026, 1, 6), date(2026, 4, 6), date(2026, 4, 25), date(2026, 5, 1),
                date(2026, 6, 2), date(2026, 8, 15), date(2026, 11, 1), date(2026, 12, 7), date(2026, 12, 8),
                date(2026, 12, 25), date(2026, 12, 26), date(2027, 10, 4)):
        assert is_public_holiday(day), day
    assert public_holidays(2026)[date(2026, 12, 7)] == "Sant'Ambrogio, patrono di Milano"
    assert not is_public_holiday(date(2025, 10, 4))  # San Francesco is a holiday again only from 2026
    assert not is_public_holiday(date(2026, 11, 26))
    assert not is_public_holiday(date(2026, 12, 24))


# --- Opening intervals and open-now ------------------------------------------------------------


def test_regular_week() -> None:
    space = make_space()
    assert opening_intervals(space, date(2026, 11, 26)) == [(time(9), time(12, 30)), (time(14), time(18))]  # Thursday
    assert opening_intervals(space, date(2026, 11, 28)) == []  # Saturday


def test_open_now_boundaries() -> None:
    space = make_space()
    assert not is_open_at(space, rome(2026, 11, 26, 8, 59))
    assert is_open_at(space, rome(2026, 11, 26, 9, 0))
    assert is_open_at(space, rome(2026, 11, 26, 12, 29))
    assert not is_open_at(space, rome(2026, 11, 26, 12, 30))  # closing time is already closed
    assert not is_open_at(space, rome(2026, 11, 26, 13, 0))


def test_time_zones() -> None:
    space = make_space()
    assert is_open_at(space, datetime(2026, 11, 26, 8, 30, tzinfo=UTC))  # 09:30 in Milan (UTC+1)
    assert is_open_at(space, datetime(2026, 7, 2, 7, 30, tzinfo=UTC))  # 09:30 in Milan (UTC+2)
    assert not is_open_at(space, datetime(2026, 7, 2, 10, 45, tzinfo=UTC))  # 12:45 in Milan: lunch break
    assert is_open_at(space, datetime(2026, 11, 26, 9, 30))  # naive: already Milan time
    assert milan_time(datetime(2026, 11, 26, 9, 30)).tzinfo is ROME


def test_closures_and_holidays_close_the_whole_day() -> None:
    summer = Closure(date(2027, 8, 9), date(2027, 8, 27), LocalText({"it": "Ferie estive", "en": "Summer holidays"}))
    space = make_space(closures=[summer])
    assert opening_intervals(space, date(2027, 8, 9)) == []
    assert opening_intervals(space, date(2027, 8, 27)) == []
    assert opening_intervals(space, date(2027, 8, 30)) != []
    assert closure_on(space, date(2027, 8, 16)) is summer
    assert closure_on(space, date(2027, 8, 30)) is None
    assert opening_intervals(space, date(2027, 3, 29)) == []  # Easter Monday
    assert not is_open_at(space, rome(2026, 12, 7, 10, 0))  # Sant'Ambrogio, a Monday


def test_next_opening() -> None:
    space = make_space(closures=[Closure(date(2027, 8, 2), date(2027, 8, 20))])
    assert next_opening(space, rome(2026, 11, 26, 10, 0)) == rome(2026, 11, 26, 10, 0)  # open now
    assert next_opening(space, rome(2026, 11, 26, 13, 0)) == rome(2026, 11, 26, 14, 0)  # lunch break
    assert next_opening(space, rome(2026, 11, 27, 18, 0)) == rome(2026, 11, 30, 9, 0)  # Friday evening
    assert next_opening(space, rome(2026, 12, 4, 19, 0)) == rome(2026, 12, 9, 9, 0)  # 7 and 8 December
    assert next_opening(space, rome(2027, 7, 30, 19, 0)) == rome(2027, 8, 23, 9, 0)  # summer closure


def test_next_opening_is_none_beyond_thirty_days() -> None:
    closed_two_months = make_space(closures=[Closure(date(2027, 7, 1), date(2027, 8, 31))])
    assert next_opening(closed_two_months, rome(2027, 7, 1, 8, 0)) is None
    assert next_opening(make_space(hours={}), rome(2027, 7, 1, 8, 0)) is None


def test_next_opening_across_daylight_saving_change() -> None:
    space = make_space()
    # Clocks go forward on Sunday 28 March 2027 (also Easter); Monday 29 is Easter Monday, so the
    # space opens on Tuesday at 09:00 summer time, 07:00 UTC, while Friday 09:00 was 08:00 UTC.
    opening = next_opening(space, datetime(2027, 3, 26, 20, 0, tzinfo=UTC))
    assert opening == datetime(2027, 3, 30, 7, 0, tzinfo=UTC)


# --- Properties over many schedules ------------------------------------------------------------

_QUARTERS = st.integers(min_value=0, max_value=95).map(lambda quarter: time(quarter // 4, quarter % 4 * 15))


@st.composite
def weekly_hours(draw: st.DrawFn) -> Hours:
    hours: Hours = {}
    for weekday in range(7):
        bounds = sorted(draw(st.sets(_QUARTERS, max_size=4)))
        if len(bounds) % 2:
            bounds = bounds[:-1]
        hours[weekday] = list(zip(bounds[::2], bounds[1::2], strict=True))
    return hours


@st.composite
def closures(draw: st.DrawFn) -> list[Closure]:
    result = []
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        start = draw(st.dates(min_value=date(2026, 1, 1), max_value=date(2028, 12, 31)))
        result.append(Closure(start, start + timedelta(days=draw(st.integers(min_value=0, max_value=40)))))
    return result


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2028, 12, 31), timezones=st.just(ROME), allow_imaginary=False
)


@settings(max_examples=150, deadline=None)
@given(weekly_hours(), closures(), moments, st.data())
def test_next_opening_is_the_first_open_moment(hours: Hours, space_closures: list[Closure], moment: datetime, data: st.DataObject) -> None:
    space = make_space(hours, space_closures)
    opening = next_opening(space, moment)
    if opening is None:
        later = data.draw(st.integers(min_value=0, max_value=30 * 24 * 60), label="minutes later")
        assert not is_open_at(space, moment + timedelta(minutes=later))
        return
    assert moment <= opening <= moment + timedelta(days=30)
    assert is_open_at(space, opening)
    if opening > moment:
        gap_minutes = int((opening - moment).total_seconds() // 60)
        sample = data.draw(st.integers(min_value=0, max_value=max(gap_minutes - 1, 0)), label="minutes before opening")
        assert not is_open_at(space, moment + timedelta(minutes=sample))


@given(weekly_hours(), closures(), st.data())
def test_closed_all_day_on_closures(hours: Hours, space_closures: list[Closure], data: st.DataObject) -> None:
    if not space_closures:
        return
    space = make_space(hours, space_closures)
    closure = data.draw(st.sampled_from(space_closures))
    day = closure.start + timedelta(days=data.draw(st.integers(min_value=0, max_value=(closure.end - closure.start).days)))
    assert opening_intervals(space, day) == []
    assert not is_open_at(space, datetime.combine(day, data.draw(_QUARTERS), tzinfo=ROME))


@given(weekly_hours(), st.integers(min_value=2020, max_value=2040), st.data())
def test_closed_on_every_public_holiday(hours: Hours, year: int, data: st.DataObject) -> None:
    holiday = data.draw(st.sampled_from(sorted(public_holidays(year))))
    assert opening_intervals(make_space(hours), holiday) == []


@given(weekly_hours(), moments)
def test_open_now_does_not_depend_on_the_time_zone_of_the_question(hours: Hours, moment: datetime) -> None:
    space = make_space(hours)
    assert is_open_at(space, moment) == is_open_at(space, moment.astimezone(UTC))
    assert is_open_at(space, moment) == is_open_at(space, moment.replace(tzinfo=None))
