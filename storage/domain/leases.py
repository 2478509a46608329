"""Named leases in the database: what one instance at a time must do (the periodic jobs, long polling) is done by
the instance holding the lease. The holder renews it well before it runs out; another instance takes it only once
it has run out, so an instance that dies is replaced within one lease."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from sqlalchemy import or_, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from storage.db import Database
from storage.models import Lease


async def hold(db: Database, name: str, owner: str, now: datetime, lease: timedelta, *, replacing: str = "") -> bool:
    """Take or renew `name` for `owner` until now + lease; False while another owner's lease runs, unless that owner
    is `replacing` (known dead). One conditional statement, so two instances asking at once cannot both get it."""
    insert = sqlite_insert if db.is_sqlite else pg_insert
    statement = (
        insert(Lease).values(name=name, owner=owner, expires_at=now + lease)
        .on_conflict_do_update(
            index_elements=["name"],
            set_={"owner": owner, "expires_at": now + lease},
            where=or_(Lease.owner == owner, Lease.expires_at < now, Lease.owner == (replacing or owner)),
        )
        .returning(Lease.owner)
    )
    async with db.write() as session:
        return (await session.execute(statement)).scalar_one_or_none() == owner


async def release(db: Database, name: str, owner: str) -> None:
    """A clean stop: the others need not wait for the lease to run out."""
    async with db.write() as session:
        await session.execute(update(Lease).where(Lease.name == name, Lease.owner == owner)
                              .values(expires_at=datetime(2000, 1, 1, tzinfo=timezone.utc)))


async def holder(db: Database, name: str, now: datetime) -> str | None:
    """Who holds `name` now (None: nobody)."""
    async with db.read() as session:
        found = (await session.execute(select(Lease.owner, Lease.expires_at).where(Lease.name == name))).one_or_none()
    return found.owner if found is not None and found.expires_at >= now else None
