"""Engine, sessions and transactions.

`write()` opens a transaction meant to change data and `read()` one that only reads. On SQLite the writer starts
with BEGIN IMMEDIATE so concurrent writers queue on the file lock instead of failing half-way with "database is
locked"; readers never take that lock. Writers of this process also queue on an asyncio lock first: SQLite admits
one writer at a time anyway, and its busy handler polls with sleeps of up to 100 ms, so under load writers that
waited on the file lock took seconds; queued here, each starts the moment the previous one commits. On PostgreSQL
both are ordinary transactions.

`write_alone(statement)` runs one data-changing statement as a transaction of its own; on SQLite that is one trip
to the database thread instead of about five (see there).

On SQLite every statement is one trip to aiosqlite's thread (`_OneTripCursor`), and a connection returned to the pool
is rolled back only if a transaction is still open: a one-query read is three trips (BEGIN, the query, COMMIT) where
it was seven.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.sql.dml import UpdateBase
from sqlalchemy.util import await_only

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Deleted rows (a dropped draft, an anonymous comment's draft) are overwritten, not left in free pages.
    "PRAGMA secure_delete=ON",
    "PRAGMA busy_timeout=60000",
)


_Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


def _run_statement(connection: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """On aiosqlite's thread: open a cursor, execute, fetch every row, close."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return cursor.description, cursor.rowcount, cursor.lastrowid, rows
    finally:
        cursor.close()


class _OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor makes four trips to the database thread per statement (open a cursor, execute,
    fetch, close), and under load each waits a turn of the busy event loop; this one does all four in one trip.
    Rows are fetched whole, as SQLAlchemy's adapter already did."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # opened and closed on the database thread
        self._soft_closed_memoized = {}
        self._rows = deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None
        self._arraysize = 1

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    @property
    def arraysize(self) -> int:
        return self._arraysize

    @arraysize.setter
    def arraysize(self, value: int) -> None:
        self._arraysize = value

    async def _run(self, many: bool, operation: str, parameters: Any) -> None:
        async with self._adapt_connection._execute_mutex:
            outcome = await self._connection._execute(
                _run_statement, self._connection._conn, many, operation, () if parameters is None else parameters
            )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(False, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(True, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed on the database thread."""

    def close(self) -> None:
        self._rows.clear()


class _OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _OneTripCursor


class _OneTripDbapi(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy's dialect sees it, with connections that hand out `_OneTripCursor`s."""

    def connect(self, *args: Any, **kwargs: Any) -> _OneTripConnection:
        return _OneTripConnection(self, super().connect(*args, **kwargs)._connection)


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(
        url, connect_args={"timeout": 60}, module=_OneTripDbapi(aiosqlite, sqlite3), pool_reset_on_return=None
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection, _record, state) -> None:  # type: ignore[no-untyped-def]
        # The pool's default reset is a ROLLBACK on every return, one more trip to the database thread even after a
        # COMMIT; sqlite3 knows without a trip whether a transaction is still open. A connection that cannot be used
        # from here (garbage-collected, or being discarded) is closed by the pool without a reset.
        if state.asyncio_safe and not state.terminate_only and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        # Straight to aiosqlite: one trip to its thread, where exec_driver_sql takes three (open a cursor,
        # execute, close it). Under load every trip waits for a turn of the event loop, and a writer holds the
        # one SQLite write lock through all of its trips.
        await_only(connection.connection.driver_connection.execute(begin))

    return engine


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sqlite_path: str | None = None  # a file, so a second connection sees the same database
        self._lone_writer: aiosqlite.Connection | None = None
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._sqlite_path = path
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE")
            self.read_engine = _sqlite_engine(url, "BEGIN")
        else:
            self.write_engine = create_async_engine(url, pool_size=pool_size, max_overflow=20, pool_pre_ping=True)
            self.read_engine = self.write_engine
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._sqlite_writer_turn = asyncio.Lock() if self.is_sqlite else None
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends, rolls back on any exception."""
        if self._sqlite_writer_turn is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer_turn, self._writer() as session, session.begin():
            yield session

    async def write_alone(self, statement: UpdateBase) -> int:
        """Run one UPDATE/INSERT/DELETE as a transaction of its own; returns how many rows it changed.

        On a SQLite file it is one trip to the database thread, on a connection kept for it in autocommit mode (one
        statement is its own transaction there): through a session it is about five (BEGIN; cursor, execute, close;
        COMMIT), and under load each trip waits a turn of the busy event loop while holding the one write lock, so
        writers queued behind each other for seconds. It still takes its turn among this process's writers."""
        compiled = statement.compile(dialect=self.write_engine.dialect) if self._sqlite_path is not None else None
        if compiled is None or compiled.post_compile_params:  # IN lists are expanded by SQLAlchemy's execution
            async with self.write() as session:
                return (await session.execute(statement)).rowcount
        values = compiled.construct_params()
        processors = compiled._bind_processors  # the column types' conversions, e.g. an aware datetime to text
        parameters = [
            processors[name](values[name]) if name in processors else values[name] for name in compiled.positiontup or ()
        ]
        assert self._sqlite_writer_turn is not None
        async with self._sqlite_writer_turn:
            if self._lone_writer is None:
                self._lone_writer = await self._connect_lone_writer()
            # The cursor is not closed (another trip): sqlite3 finalises it when it is collected.
            cursor = await self._lone_writer.execute(compiled.string, parameters)
            return cursor.rowcount

    async def _connect_lone_writer(self) -> aiosqlite.Connection:
        assert self._sqlite_path is not None
        connection = await aiosqlite.connect(self._sqlite_path, timeout=60, isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await connection.execute(pragma)
        return connection

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncSession]:
        async with self._reader() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        if self._lone_writer is not None:
            await self._lone_writer.close()
            self._lone_writer = None
        await self.write_engine.dispose()
        if self.read_engine is not self.write_engine:
            await self.read_engine.dispose()


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


async def upgrade(database_url: str) -> None:
    """Bring the schema to the newest migration (what `qcbot db upgrade` and `qcbot run` do)."""
    if make_url(database_url).get_backend_name() == "sqlite":
        path = make_url(database_url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
    # Alembic's env.py runs its own event loop work through a sync facade; keep it off ours.
    await asyncio.to_thread(command.upgrade, alembic_config(database_url), "head")
