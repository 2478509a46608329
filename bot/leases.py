"""One instance at a time: the periodic jobs (bot/jobs.py) and long polling (bot/inbox.py) run only in the instance
holding their lease (storage/domain/leases.py). The holder renews it every LEASE/3; when it dies, another instance takes
it within LEASE + LEASE/3 (one minute). A clean stop releases it at once.

Owners are `<instance name>/<pid>`: two processes on one host never share a lease, and a process started again
after a crash on the same host takes at once the lease its dead predecessor held (its pid no longer runs)."""

from __future__ import annotations

import asyncio
import logging
import os
import time
from datetime import timedelta

from bot.runtime import Runtime
from storage.domain import leases

log = logging.getLogger(__name__)
LEASE = timedelta(seconds=45)
JOBS = "periodic-jobs"
POLLING = "long-polling"


def owner_name(instance: str) -> str:
    return f"{instance}/{os.getpid()}"


def _dead_on_this_host(owner: str | None, instance: str) -> bool:
    """True for a holder that was a process of this instance name, on this host, that no longer runs."""
    if not owner or "/" not in owner:
        return False
    name, _, pid = owner.rpartition("/")
    if name != instance or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class LeaseKeeper:
    """Holds the lease `name` whenever it can; `held` says whether this process may do the work now."""

    def __init__(self, rt: Runtime, name: str, instance: str, lease: timedelta = LEASE) -> None:
        self.rt = rt
        self.name = name
        self.instance = instance
        self.owner = owner_name(instance)
        self.lease = lease
        self._valid_until = 0.0  # monotonic: the lease is surely ours until then (renewal asked before it runs out)
        self._task: asyncio.Task | None = None
        self.changed = asyncio.Event()  # set whenever `held` may have changed

    @property
    def held(self) -> bool:
        return time.monotonic() < self._valid_until

    async def start(self) -> None:
        await self._try()
        self._task = asyncio.create_task(self._keep(), name=f"lease-{self.name}")

    async def _try(self) -> None:
        asked_at = time.monotonic()
        was_held = self.held
        try:
            now = self.rt.clock.now()
            current = await leases.holder(self.rt.db, self.name, now)
            stale = current if _dead_on_this_host(current, self.instance) else ""
            got = await leases.hold(self.rt.db, self.name, self.owner, now, self.lease, replacing=stale)
        except Exception:  # the database may be briefly unavailable: keep what we surely still hold, try again
            log.exception("lease %s: could not renew", self.name)
            got = None
        if got is True:
            # Counted from before the request: the database's expiry is at least this late.
            self._valid_until = asked_at + self.lease.total_seconds() * 0.9
        elif got is False:
            self._valid_until = 0.0
        if self.held != was_held:
            log.info("lease %s: %s by %s", self.name, "taken" if self.held else "lost", self.owner)
            self.changed.set()

    async def _keep(self) -> None:
        while True:
            await asyncio.sleep(self.lease.total_seconds() / 3)
            await self._try()

    async def wait_until_held(self) -> None:
        while not self.held:
            self.changed.clear()
            await self.changed.wait()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self.held:
            self._valid_until = 0.0
            try:
                await leases.release(self.rt.db, self.name, self.owner)
            except Exception:
                log.exception("lease %s: could not release; the others take it when it runs out", self.name)
