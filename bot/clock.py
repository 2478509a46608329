"""The one source of "now", so tests and the sandbox can move time instead of sleeping."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone


class Clock:
    def __init__(self) -> None:
        self._offset = timedelta()

    def now(self) -> datetime:
        """Aware UTC time; the database stores UTC, screens convert to the configured zone."""
        return datetime.now(timezone.utc) + self._offset

    def advance(self, delta: timedelta) -> None:
        self._offset += delta

    def set(self, moment: datetime) -> None:
        self._offset = moment - datetime.now(timezone.utc)
