"""The per-process user cache across instances: a role revoked on one instance stops working on another at its next
poll (every USER_CHANGES_POLL_SECONDS), while a cached visitor still costs no database statement."""

from __future__ import annotations

from contextlib import asynccontextmanager

import pytest

from bot.app import PERIODIC_JOBS
from bot.config import Settings
from bot.runtime import USER_CHANGES_POLL_SECONDS, Runtime
from storage.domain import users
from storage.content import ContentStore
from storage.db import Database
from storage.models import RoleGrant
from tests.conftest import SAMPLE_CONTENT

CUSTODIAN = 7
ESTATE = "omero-mompiani"


@pytest.fixture
async def two_instances(database_url, clock):  # type: ignore[no-untyped-def]
    settings = Settings(database_url=database_url, content_dir=SAMPLE_CONTENT)
    content = ContentStore(SAMPLE_CONTENT)
    instances = [Runtime(settings, Database(database_url), content, clock) for _ in range(2)]
    yield instances
    for rt in instances:
        await rt.db.dispose()


async def _roles(rt: Runtime):  # type: ignore[no-untyped-def]
    return (await rt.cached_user(CUSTODIAN, "Carla", "it")).roles


async def test_a_role_revoked_on_one_instance_stops_working_on_the_other_at_its_next_poll(two_instances, clock):
    here, there = two_instances
    for rt in two_instances:
        assert await rt.drop_changed_users() == 0  # the first poll only learns where the changes stand
    async with here.db.write() as session:
        await users.touch_user(session, CUSTODIAN, "Carla", "it", clock.now())
        await users.grant_role(session, CUSTODIAN, "custodian", ESTATE, clock.now(), None)
    assert await there.drop_changed_users() == 1  # the grant
    assert ESTATE in (await _roles(there)).custodian_of
    assert ESTATE in (await _roles(here)).custodian_of

    async with here.db.write() as session:
        grant_id = await session.scalar(RoleGrant.__table__.select().with_only_columns(RoleGrant.id))
        assert await users.revoke_role(session, grant_id, clock.now())
    assert ESTATE in (await _roles(there)).custodian_of  # still cached: what the poll is for
    assert await there.drop_changed_users() == 1
    assert not (await _roles(there)).custodian_of
    assert await there.drop_changed_users() == 0  # nothing new: nothing dropped


async def test_a_cached_visitor_costs_no_statement_and_the_poll_runs_off_the_update_path(two_instances, clock):
    rt = two_instances[0]
    await rt.drop_changed_users()
    await _roles(rt)

    @asynccontextmanager
    async def no_database():  # type: ignore[no-untyped-def]
        raise AssertionError("a cached visitor must not touch the database")
        yield

    rt.db.read = no_database  # type: ignore[method-assign]
    rt.db.write = no_database  # type: ignore[method-assign]
    for _ in range(100):
        await _roles(rt)
    job = next(job for job in PERIODIC_JOBS if job.name == "user-changes")
    assert job.run == Runtime.drop_changed_users and job.every_seconds == USER_CHANGES_POLL_SECONDS <= 2.0


async def test_old_change_notes_are_pruned_when_a_new_one_is_written(db, clock):
    from datetime import timedelta

    from sqlalchemy import func, select

    from storage.models import UserChange

    async with db.write() as session:
        await users.touch_user(session, CUSTODIAN, "Carla", "it", clock.now())
        await users.grant_role(session, CUSTODIAN, "custodian", ESTATE, clock.now(), None)
    clock.advance(users.USER_CHANGES_KEPT + timedelta(minutes=1))
    async with db.write() as session:
        await users.grant_role(session, CUSTODIAN, "editor", "", clock.now(), None)
    async with db.read() as session:
        assert await session.scalar(select(func.count()).select_from(UserChange)) == 1
