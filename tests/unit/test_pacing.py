"""The broadcast pacer (bot/pacing.py) on a fake clock: whatever the latencies and however late the timers wake,
no one-second window at Telegram's end holds more than 30 calls, and the long-run pace stays at or above 28/s."""

from __future__ import annotations

import heapq
from bisect import bisect_left

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pacing import SendPacer

LIMIT = 30
IN_FLIGHT = 4


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def simulate(latencies: list[float], late_wakes: list[float], seconds: float) -> list[tuple[float, float]]:
    """The sender's loop, as discrete events: wait for the pacer (the timer wakes late by the next late_wakes
    entry), wait for a free slot of IN_FLIGHT, start, and the call is answered `latency` later. Returns every
    call's (start, answer)."""
    clock = FakeClock()
    pacer = SendPacer(LIMIT, now=clock)
    answers: list[tuple[float, int, int]] = []  # (answer time, call number, handle)
    calls: list[tuple[float, float]] = []
    end = clock.now + seconds

    def advance_to(moment: float) -> None:
        while answers and answers[0][0] <= moment:
            at, _number, handle = heapq.heappop(answers)
            clock.now = max(clock.now, at)
            pacer.end(handle)
        clock.now = max(clock.now, moment)

    wake = 0
    while clock.now < end:
        delay = pacer.delay()
        if delay > 0:
            advance_to(clock.now + delay + late_wakes[wake % len(late_wakes)])
            wake += 1
            continue
        if len(answers) >= IN_FLIGHT:
            advance_to(answers[0][0])
            continue
        handle = pacer.begin()
        latency = latencies[len(calls) % len(latencies)]
        heapq.heappush(answers, (clock.now + latency, len(calls), handle))
        calls.append((clock.now, clock.now + latency))
    return calls


def most_in_any_window(calls: list[tuple[float, float]], width: float = 1.0) -> int:
    """The most calls whose [start, answer] touches one window [a, a + width): the worst case for arrivals. The count
    only changes where a passes an answer or a + width passes a start, so those are the windows to try."""
    starts = sorted(start for start, _answer in calls)
    answers = sorted(answer for _start, answer in calls)
    candidates = answers + [start - width + 1e-9 for start in starts]
    return max((bisect_left(starts, a + width) - bisect_left(answers, a) for a in candidates), default=0)


@settings(max_examples=200, deadline=None)
@given(
    # Answers within 20 ms (a local emulator; Telegram itself from a nearby server). A call counts for a window plus
    # its latency, so slower answers lower the ceiling to 30/(1 + latency), never the limit.
    latencies=st.lists(st.floats(min_value=0.001, max_value=0.02), min_size=1, max_size=40),
    # Timers fire up to 4 ms late, and one wake in 30 (about one a second) up to 200 ms late: a busy, shared machine.
    punctual=st.lists(st.floats(min_value=0.0, max_value=0.004), min_size=29, max_size=29),
    spike=st.floats(min_value=0.0, max_value=0.2),
    spike_at=st.integers(min_value=0, max_value=29),
)
def test_no_window_over_30_and_at_least_28_a_second(latencies, punctual, spike, spike_at):
    seconds = 12.0
    calls = simulate(latencies, punctual[:spike_at] + [spike] + punctual[spike_at:], seconds)
    assert most_in_any_window(calls) <= LIMIT
    assert len(calls) / seconds >= 28


@settings(max_examples=100, deadline=None)
@given(latencies=st.lists(st.floats(min_value=0.001, max_value=3.0), min_size=1, max_size=20),
       late_wakes=st.lists(st.floats(min_value=0.0, max_value=2.0), min_size=1, max_size=20))
def test_slow_answers_and_very_late_timers_never_break_the_limit(latencies, late_wakes):
    # Any latencies (4 calls of up to 3 s) and any lateness: the rate drops, the limit still holds. (Every wake 125 ms
    # late makes ~26/s: a slot of the window freed is taken up only at the next, late, wake.)
    assert most_in_any_window(simulate(latencies, late_wakes, 10.0)) <= LIMIT


def test_the_pace_is_29_25_a_second_with_instant_answers_and_punctual_timers():
    calls = simulate([0.005], [0.0], 20.0)
    assert 29.0 <= len(calls) / 20.0 <= 29.6
    assert most_in_any_window(calls) <= LIMIT


def test_a_late_timer_is_made_up_by_the_next_starts():
    # Every wake 20 ms late: starts spaced 1/rate from the wake would give 1/(34.2 + 20 ms) = 18/s.
    calls = simulate([0.01], [0.02], 20.0)
    assert len(calls) / 20.0 >= 29.0
