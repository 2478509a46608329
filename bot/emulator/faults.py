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


class FaultPlan:
    """Counted faults (first match wins, in order of injection) and an optional random fault rate."""

    def __init__(self) -> None:
        self._planned: list[_PlannedFault] = []
        self._random: _RandomFaults | None = None

    def add(self, method: str | None, fault: Fault, times: int) -> None:
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times}")
        self._planned.append(_PlannedFault(method.lower() if method else None, fault, times))

    def set_rate(
        self, method: str | None, rate: float, statuses: tuple[int, ...], seed: int, retry_after: int
    ) -> None:
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {rate}")
        for status in statuses:
            Fault(status=status)  # validates the status
        if rate == 0.0:
            self._random = None
            return
        self._random = _RandomFaults(
            method.lower() if method else None, rate, tuple(statuses), retry_after, random.Random(seed)
        )

    def clear(self) -> None:
        self._planned.clear()
        self._random = None

    def take(self, method: str) -> Fault | None:
        """The fault for this call of ``method`` (lower-case), consuming one planned use."""
        if self._planned:
            for planned in self._planned:
                if planned.method in (None, method):
                    planned.remaining -= 1
                    if planned.remaining == 0:
                        self._planned.remove(planned)
                    return planned.fault
        random_faults = self._random
        if random_faults is not None and random_faults.method in (None, method):
            if random_faults.rng.random() < random_faults.rate:
                status = random_faults.rng.choice(random_faults.statuses)
                return Fault(status=status, retry_after=random_faults.retry_after)
        return None
