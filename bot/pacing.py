"""When the broadcast sender may start its next Telegram call: a token bucket for the pace, a sliding window for
the hard limit.

- Pace: tokens flow in at `pace` a second (97.5 % of the limit: 29.25/s for Telegram's 30) and a start takes one.
  Up to BURST tokens are kept, so a timer that fires late is made up by the next starts instead of lost (spacing
  starts 1/rate apart and never catching up cost 1–2.5 % of the pace).
- Hard limit: Telegram receives a call at some moment between its start and its answer. A call therefore counts
  against every one-second window its [start, answer] interval touches: the ones in flight and the ones answered
  less than a window ago. A start is allowed only while fewer than `limit` calls count, so no one-second window at
  Telegram's end can ever hold more than `limit` arrivals, whatever the latencies, the in-flight calls or the late
  timers (a window holding n arrivals: at the last start before its end all n were in flight or answered inside it).
  The price: a call counts for a window plus its latency, so the pace holds up to latencies of ~25 ms (30/1.025
  a second); slower answers lower it, never the limit.

Pure bookkeeping over a `now` function, so tests drive it with a fake clock (tests/unit/test_pacing.py).
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections import deque
from collections.abc import Callable

PACE_SHARE = 0.975  # of the limit: 29.25/s for 30, room for the odd reply the outbox sends meanwhile
BURST = 10  # tokens kept for catching up after a late timer (~340 ms at 29.25/s); the window caps the catch-up
POLL_SECONDS = 0.005  # when every counted call is still in flight, look again this soon
MIN_WAIT_SECONDS = 0.0001


class SendPacer:
    def __init__(self, limit: int, *, window: float = 1.0, pace: float | None = None, burst: float | None = None,
                 now: Callable[[], float] = time.monotonic) -> None:
        if limit < 1 or window <= 0:
            raise ValueError("a pacer needs a limit of at least 1 call per positive window")
        self.limit = limit
        self.window = window
        self.pace = pace if pace is not None else limit * PACE_SHARE / window
        self.burst = burst if burst is not None else BURST
        self._now = now
        self._tokens = 1.0  # the first call goes at once, then the pace
        self._filled_at = now()
        self._in_flight: set[int] = set()
        self._answered: deque[float] = deque()  # answer times, oldest first, dropped after a window
        self._handles = itertools.count()

    def counted(self) -> int:
        """Calls that may reach Telegram within the window ending now: in flight, or answered less than a window ago."""
        horizon = self._now() - self.window
        while self._answered and self._answered[0] <= horizon:
            self._answered.popleft()
        return len(self._in_flight) + len(self._answered)

    def delay(self) -> float:
        """Seconds until a start is allowed; 0 when it is allowed now."""
        now = self._now()
        self._tokens = min(self.burst, self._tokens + (now - self._filled_at) * self.pace)
        self._filled_at = now
        waits = [0.0]
        if self._tokens < 1:
            waits.append((1 - self._tokens) / self.pace)
        excess = self.counted() - self.limit + 1
        if excess > 0:
            if excess <= len(self._answered):
                waits.append(self._answered[excess - 1] + self.window - now)
            else:  # calls still in flight hold the window: their answers will free it
                waits.append(POLL_SECONDS)
        wait = max(waits)
        # A wait too short to move the clock (rounding) would be asked for again and again: round it up.
        return max(wait, MIN_WAIT_SECONDS) if wait > 0 else 0.0

    def begin(self) -> int:
        """Record a start (call it right before the call, after delay() said 0); the handle goes to end()."""
        self.delay()  # brings the tokens up to now
        self._tokens -= 1
        handle = next(self._handles)
        self._in_flight.add(handle)
        return handle

    def end(self, handle: int) -> None:
        """Record the answer (or the failure) of a started call; again for the same call does nothing."""
        if handle in self._in_flight:
            self._in_flight.remove(handle)
            self._answered.append(self._now())

    async def start(self) -> int:
        """Wait until a start is allowed and record it (begin()) in the same step, so that no other start slips in
        between; always yields once, so answers already on their way are taken in first."""
        await asyncio.sleep(0)
        while (delay := self.delay()) > 0:
            await asyncio.sleep(delay)
        return self.begin()
