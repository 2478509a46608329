"""Engine, sessions and transactions.

`write()` opens a transaction meant to change data and `read()` one that only reads. On SQLite the writer starts
with BEGIN IMMEDIATE so concurrent writers queue on the file lock instead of failing half-way with "database is
locked"; readers never take that lock. Writers of this process also queue on an asyncio lock first: SQLite admits
one writer at a time anyway, and its busy handler polls with sleeps of up to 100 ms, so under load writers that
waited on the file lock took seconds; queued here, each starts the moment the previous one commits. On PostgreSQL
both are ordinary transactions.

`write_alone(statement)` runs one data-changing statement as a transaction of its own; on SQLite that is one trip
to the database thread instead of about five (see there).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import event
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


def _sqlite_engine(url: str, begin: str) -> AsyncEngine:
    engine = create_async_engine(url, connect_args={"timeout": 60})

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
