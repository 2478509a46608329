"""Opening hours: whether a space is open, and when it opens next.

A space is closed on its own closures, on Italian public holidays and on Milan's patron saint's day
(Sant'Ambrogio, 7 December). Times are Milan local time: aware datetimes are converted to
Europe/Rome, naive ones are taken as already being Milan time.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from types import MappingProxyType
from zoneinfo import ZoneInfo

from storage.content import Closure, Space

ROME = ZoneInfo("Europe/Rome")
NEXT_OPENING_HORIZON = timedelta(days=30)
SAINT_FRANCIS_FIRST_YEAR = 2026  # 4 October became a national holiday again from 2026 (law of October 2025)

_FIXED_HOLIDAYS = {
    (1, 1): "Capodanno",
    (1, 6): "Epifania",
    (4, 25): "Festa della Liberazione",
    (5, 1): "Festa del Lavoro",
    (6, 2): "Festa della Repubblica",
    (8, 15): "Ferragosto",
    (11, 1): "Ognissanti",
    (12, 7): "Sant'Ambrogio, patrono di Milano",
    (12, 8): "Immacolata Concezione",
    (12, 25): "Natale",
    (12, 26): "Santo Stefano",
}


def easter_sunday(year: int) -> date:
    """Gregorian Easter Sunday (the anonymous Meeus/Jones/Butcher algorithm)."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    weekday_offset = (32 + 2 * e + 2 * i - h - k) % 7
    m = (a + 11 * h + 22 * weekday_offset) // 451
    month, day = divmod(h + weekday_offset - 7 * m + 114, 31)
    return date(year, month, day + 1)


@lru_cache(maxsize=32)
def public_holidays(year: int) -> Mapping[date, str]:
    """Italian public holidays in `year`, plus Milan's Sant'Ambrogio, with their Italian names."""
    holidays = {date(year, month, day): name for (month, day), name in _FIXED_HOLIDAYS.items()}
    if year >= SAINT_FRANCIS_FIRST_YEAR:
        holidays[date(year, 10, 4)] = "San Francesco d'Assisi, patrono d'Italia"
    easter = easter_sunday(year)
    holidays[easter] = "Pasqua"
    holidays[easter + timedelta(days=1)] = "Lunedì dell'Angelo"
    return MappingProxyType(holidays)


def is_public_holiday(day: date) -> bool:
    return day in public_holidays(day.year)


def closure_on(space: Space, day: date) -> Closure | None:
    """The space's own closure covering `day` (to show its reason), if any."""
    return next((closure for closure in space.closures if closure.covers(day)), None)


def opening_intervals(space: Space, day: date) -> list[tuple[time, time]]:
    """The opening times on `day`, earliest first; [] when closed all day."""
    if is_public_holiday(day) or closure_on(space, day) is not None:
        return []
    return list(space.hours.get(day.weekday(), []))


def milan_time(moment: datetime) -> datetime:
    """`moment` as an aware Europe/Rome datetime (naive datetimes are taken as Milan time)."""
    return moment.replace(tzinfo=ROME) if moment.tzinfo is None else moment.astimezone(ROME)


def is_open_at(space: Space, moment: datetime) -> bool:
    local = milan_time(moment)
    now = local.time()
    return any(start <= now < end for start, end in opening_intervals(space, local.date()))


def next_opening(space: Space, moment: datetime) -> datetime | None:
    """The first moment at or after `moment` when the space is open (`moment` itself when open now).

    None when it stays closed for the next 30 days, e.g. during a long summer closure.
    """
    local = milan_time(moment)
    if is_open_at(space, local):
        return local
    for offset in range(NEXT_OPENING_HORIZON.days + 1):
        day = local.date() + timedelta(days=offset)
        for start, _ in opening_intervals(space, day):
            opening = datetime.combine(day, start, tzinfo=ROME)
            if opening > local:
                return opening if opening - local <= NEXT_OPENING_HORIZON else None
    return None
