"""SQLite: the statements of read() and write() run inline on the loop's thread (no trip to aiosqlite's), long reads
one trip per statement; a committed transaction is not rolled back again when its connection goes back to the pool,
one left open (an exception) still is; a writer locked out by another process waits without freezing the loop."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Iterator

import aiosqlite
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError

import storage.db
from storage.db import Database


@pytest.fixture
def trips(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The name of every function sent to an aiosqlite thread."""
    sent: list[str] = []
    original = aiosqlite.Connection._execute

    async def counting(self, function, *args, **kwargs):  # type: ignore[no-untyped-def]
        sent.append(getattr(function, "__name__", repr(function)))
        return await original(self, function, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counting)
    yield sent


@pytest.fixture
async def sqlite_db(tmp_path) -> Database:  # type: ignore[no-untyped-def]
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'trips.sqlite3'}")
    async with database.write() as session:
        await session.execute(text("CREATE TABLE counters (name TEXT PRIMARY KEY, value INTEGER)"))
        await session.execute(text("INSERT INTO counters VALUES (:name, :value)"),
                              [{"name": "a", "value": 1}, {"name": "b", "value": 2}])
    yield database
    await database.dispose()


async def _warm(database: Database) -> None:
    """Open the pools' connections (connecting is a trip to aiosqlite's thread)."""
    for long in (False, True):
        async with database.read(long=long) as session:
            await session.execute(text("SELECT 1"))
    async with database.write() as session:
        await session.execute(text("SELECT 1"))


async def test_reads_and_writes_run_inline(sqlite_db: Database, trips: list[str]) -> None:
    await _warm(sqlite_db)
    trips.clear()
    async with sqlite_db.read() as session:
        rows = (await session.execute(text("SELECT name, value FROM counters ORDER BY name"))).all()
    async with sqlite_db.write() as session:
        await session.execute(text("UPDATE counters SET value = value + 1 WHERE name = 'a'"))
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 2)]
    assert trips == []


async def test_a_long_read_is_one_trip_per_statement(sqlite_db: Database, trips: list[str]) -> None:
    await _warm(sqlite_db)
    trips.clear()
    async with sqlite_db.read(long=True) as session:
        rows = (await session.execute(text("SELECT name, value FROM counters ORDER BY name"))).all()
    assert [tuple(row) for row in rows] == [("a", 1), ("b", 2)]
    assert len(trips) == 3  # BEGIN, the query, COMMIT


async def test_a_writer_locked_out_by_another_process_waits_without_freezing_the_loop(sqlite_db: Database, tmp_path) -> None:  # type: ignore[no-untyped-def]
    other_process = sqlite3.connect(tmp_path / "trips.sqlite3", isolation_level=None)
    other_process.execute("BEGIN IMMEDIATE")
    ticks = 0

    async def loop_keeps_turning() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.001)

    async def write() -> None:
        async with sqlite_db.write() as session:
            await session.execute(text("UPDATE counters SET value = 42 WHERE name = 'b'"))

    ticker = asyncio.create_task(loop_keeps_turning())
    writer = asyncio.create_task(write())
    await asyncio.sleep(0.05)
    assert not writer.done() and ticks > 5  # waiting for the lock, while other work goes on
    other_process.execute("COMMIT")
    await asyncio.wait_for(writer, 5)
    ticker.cancel()
    other_process.close()
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT value FROM counters WHERE name = 'b'"))).scalar() == 42


async def test_writes_report_rowcount_and_lastrowid(sqlite_db: Database) -> None:
    async with sqlite_db.write() as session:
        changed = await session.execute(text("UPDATE counters SET value = value + 1"))
        inserted = await session.execute(text("INSERT INTO counters VALUES ('c', 3)"))
    assert changed.rowcount == 2 and inserted.lastrowid == 3


async def test_a_failed_transaction_is_rolled_back_and_frees_the_write_lock(sqlite_db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with sqlite_db.write() as session:
            await session.execute(text("UPDATE counters SET value = 100"))
            raise RuntimeError("the handler failed half-way")
    async with sqlite_db.write() as session:  # fails or waits if the first were still open
        await session.execute(text("UPDATE counters SET value = value + 10 WHERE name = 'a'"))
    async with sqlite_db.read() as session:
        assert (await session.execute(text("SELECT value FROM counters WHERE name = 'a'"))).scalar() == 11


async def test_database_errors_keep_their_sqlalchemy_type(sqlite_db: Database) -> None:
    with pytest.raises(IntegrityError):
        async with sqlite_db.write() as session:
            await session.execute(text("INSERT INTO counters VALUES ('a', 5)"))


async def test_the_log_is_checkpointed_off_the_loop_once_it_is_large(sqlite_db: Database, monkeypatch, trips) -> None:  # type: ignore[no-untyped-def]
    async with sqlite_db.write() as session:
        assert (await session.execute(text("PRAGMA wal_autocheckpoint"))).scalar() == 0  # not in the writer
    monkeypatch.setattr(storage.db, "CHECKPOINT_AFTER_BYTES", 1)
    trips.clear()
    async with sqlite_db.write() as session:
        await session.execute(text("UPDATE counters SET value = value + 1"))
    await sqlite_db._checkpoint
    assert trips == ["execute"]  # the write inline; the checkpoint, one statement on aiosqlite's thread
