"""The per-user burst window (QC_BURST_*): in memory, per process.

A burst is seconds long, so losing the window on a restart costs at most one extra burst, and several instances
each count their own share; the daily caps, which must hold, are in the database (storage/domain/limits.py).
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta

FORGET_AFTER = 10_000  # people tracked before idle ones are forgotten, so memory stays flat


class BurstLimiter:
    def __init__(self, max_updates: int, window_seconds: int, silence_seconds: int) -> None:
        self.max_updates = max_updates
        self.window = timedelta(seconds=window_seconds)
        self.silence = timedelta(seconds=silence_seconds)
        self._recent: dict[int, deque[datetime]] = {}
        self._silent_until: dict[int, datetime] = {}
        self._pruned_at: datetime | None = None

    def hit(self, user_id: int, now: datetime) -> str:
        """Count one update: "pass", "warn" (the one that starts the silence) or "silent"."""
        until = self._silent_until.get(user_id)
        if until is not None:
            if now < until:
                return "silent"
            del self._silent_until[user_id]
            self._recent.pop(user_id, None)
        recent = self._recent.setdefault(user_id, deque())
        recent.append(now)
        while recent and now - recent[0] > self.window:
            recent.popleft()
        if len(recent) > self.max_updates:
            self._silent_until[user_id] = now + self.silence
            recent.clear()
            return "warn"
        if len(self._recent) > FORGET_AFTER and (self._pruned_at is None or now - self._pruned_at > self.window):
            self._forget_idle(now)  # at most once a window, so a crowd of active people costs no scan per update
        return "pass"

    def _forget_idle(self, now: datetime) -> None:
        self._pruned_at = now
        for user_id in [u for u, times in self._recent.items() if not times or now - times[-1] > self.window]:
            del self._recent[user_id]
        for user_id in [u for u, until in self._silent_until.items() if until <= now]:
            del self._silent_until[user_id]
