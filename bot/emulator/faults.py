"""Faults a test plants in the emulator: error statuses, dropped connections, late answers."""

from __future__ import annotations

import random
from dataclasses import dataclass

from bot.emulator.models import ApiError

FAULT_STATUSES = (429, 500, 502, 503)


@dataclass(frozen=True)
class Fault:
    status: int | None = None  # one of FAULT_STATUSES, or None to answer normally
    retry_after: int = 1  # seconds, for 429
    drop_connection: bool = False  # close the socket without answering (after doing nothing)
    delay: float = 0.0  # seconds to wait before answering (the call itself is carried out at once)

    def __post_init__(self) -> None:
        if self.status is not None and self.status not in FAULT_STATUSES:
            raise ValueError(f"fault status {self.status} is not one of {FAULT_STATUSES}")
        if self.status is None and not self.drop_connection and self.delay <= 0:
            raise ValueError("a fault needs a status, drop_connection=True or a positive delay")
        if self.drop_connection and self.status is not None:
            raise ValueError("a dropped connection has no status; give one or the other")
        if self.retry_after < 1:
            raise ValueError(f"retry_after must be at least 1 second, got {self.retry_after}")

    def error(self) -> ApiError | None:
        """The error answered instead of the call's result, or None when the call goes ahead."""
        if self.status == 429:
            return ApiError(429, f"Too Many Requests: retry after {self.retry_after}", self.retry_after)
        if self.status == 500:
            return ApiError(500, "Internal Server Error")
        if self.status is not None:
            return ApiError(self.status, "Bad Gateway" if self.status == 502 else "Service Unavailable")
        return None


@dataclass
class _PlannedFault:
    method: str | None  # lower-case method name, None for any method
    fault: Fault
    remaining: int


@dataclass
class _RandomFaults:
    method: str | None
    rate: float
    statuses: tuple[int, ...]
    retry_after: int
    rng: random.Random
    delay: float = 0.0  # > 0: the random fault is a late answer (the call is carried out) instead of a status
    drop_connection: bool = False  # the random fault is a dropped connection (nothing done) instead of a status

    def fault(self) -> Fault:
        if self.delay > 0:
            return Fault(delay=self.delay)
        if self.drop_connection:
            return Fault(drop_connection=True)
        return Fault(status=self.rng.choice(self.statuses), retry_after=self.retry_after)


class FaultPlan:
    """Counted faults (first match wins, in order of injection) and random fault rates, one per method (None: any
    method, used for methods without a rate of their own)."""

    def __init__(self) -> None:
        self._planned: list[_PlannedFault] = []
        self._random: dict[str | None, _RandomFaults] = {}

    def add(self, method: str | None, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._planned.append(_PlannedFault(method.lower() if method else None, fault, times))

    def set_rate(
        self, method: str | None, rate: float, statuses: tuple[int, ...], seed: int, retry_after: int,
        delay: float = 0.0, drop_connection: bool = False,
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        if delay < 0 or (delay > 0 and drop_connection):
            raise ValueError("a random fault is a late answer (delay > 0) or a dropped connection, not both")
        for status in statuses:
            Fault(status=status)  # validates the status
        key = method.lower() if method else None
        if rate == 0.0:  # off for that method; for None, off for every method
            if key is None:
                self._random.clear()
            self._random.pop(key, None)
            return
        self._random[key] = _RandomFaults(
            key, rate, tuple(statuses), retry_after, random.Random(seed), delay, drop_connection
        )

    def clear(self) -> None:
        self._planned.clear()
        self._random.clear()

    def take(self, method: str) -> Fault | None:
        """The fault for this call of ``method`` (lower-case), consuming one planned use."""
        if self._planned:
            for planned in self._planned:
                if planned.method in (None, method):
                    planned.remaining -= 1
                    if planned.remaining == 0:
                        self._planned.remove(planned)
                    return planned.fault
        random_faults = self._random.get(method) or self._random.get(None)
        if random_faults is not None and random_faults.rng.random() < random_faults.rate:
            return random_faults.fault()
        return None
