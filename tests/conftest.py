"""Shared fixtures: databases on SQLite and PostgreSQL, the sample content, a movable clock."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from concurrent.futures import ThreadPoolExecutor
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from bot.app import wire
from bot.clock import Clock
from storage.content import Content, load_content
from storage.db import Database, upgrade

ROOT = Path(__file__).resolve().parent.parent
SAMPLE_CONTENT = ROOT / "content"
POSTGRES_URL = os.environ.get("QC_TEST_POSTGRES_URL")
BACKENDS = ["sqlite", "postgres"]

wire()  # what bot/app.py registers when it builds the Application, for the tests of the domain alone


@pytest.fixture(scope="session")
def sample_content() -> Content:
    return load_content(SAMPLE_CONTENT)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def run_blocking(coroutine):  # type: ignore[no-untyped-def]
    """Run a coroutine to completion from sync code that may itself be called inside a running loop."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrated once per session; each test gets a copy, which is much faster than migrating again."""
    path = tmp_path_factory.mktemp("db-template") / "template.sqlite3"
    run_blocking(upgrade(f"sqlite+aiosqlite:///{path}"))
    return path


async def _postgres_admin(sql: str) -> None:
    import asyncpg

    url = make_url(POSTGRES_URL)
    connection = await asyncpg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password, database=url.database or "postgres"
    )
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_template() -> str:
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL not available: install postgresql or set QC_TEST_POSTGRES_URL (tests/run_suite.py does)")
    name = f"qc_template_{uuid.uuid4().hex[:8]}"
    run_blocking(_postgres_admin(f'CREATE DATABASE "{name}"'))
    run_blocking(upgrade(make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)))
    yield name
    run_blocking(_postgres_admin(f'DROP DATABASE IF EXISTS "{name}"'))


async def fresh_database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if backend == "sqlite":
        path = tmp_path / "qc.sqlite3"
        shutil.copy(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    template = request.getfixturevalue("postgres_template")
    name = f"qc_test_{uuid.uuid4().hex[:10]}"
    await _postgres_admin(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        await _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """A migrated, empty database; tests using it run once on SQLite and once on PostgreSQL."""
    async for url in fresh_database_url(request.param, request, tmp_path):
        yield url


@pytest.fixture
async def sqlite_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    async for url in fresh_database_url("sqlite", request, tmp_path):
        yield url


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url)
    yield database
    await database.dispose()
