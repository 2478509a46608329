"""The background loop both senders run (bot/outbox_sender.py, bot/broadcast_sender.py): rounds of work one after
the other while there is work, a wait of at most a second for `wake()` when there is none, and a stop that lets the
round in hand finish."""

from __future__ import annotations

import asyncio
import logging

log = logging.getLogger(__name__)

IDLE_POLL_SECONDS = 1.0  # a row due later, or written by another instance, waits at most this long


class WakeableLoop:
    """Subclasses give `work_round()` (True when it did something, so the next round starts at once) and a `name`.
    With `round_after_stop`, stop() waits for one more round (the outbox delivers what is due before it stops)."""

    name = "loop"
    round_after_stop = False

    def __init__(self) -> None:
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._stopping = False

    async def work_round(self) -> bool:
        raise NotImplementedError

    def wake(self) -> None:
        """Called after a transaction that enqueued work, so it goes out now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while self.round_after_stop or not self._stopping:
            try:
                worked = await self.work_round()
            except Exception:  # the database may be briefly unavailable; never let the loop die
                log.exception("%s: a round failed", self.name)
                worked = False
            if self._stopping:
                return
            if worked:
                continue
            try:
                await asyncio.wait_for(self._wake.wait(), IDLE_POLL_SECONDS)
            except TimeoutError:
                pass
            self._wake.clear()
