"""Engine, sessions and transactions.

`write()` opens a transaction meant to change data and `read()` one that only reads. On PostgreSQL writes are
ordinary transactions and reads run in autocommit mode (no BEGIN and COMMIT round trips).

On SQLite (an embedded database: an indexed query takes microseconds) the statements of `read()` and `write()` run
**inline, on the event loop's thread**. Sending each one to aiosqlite's thread cost more than the query itself, and
under load every trip waited a turn of the busy event loop: a screen of five statements waited five turns, and a
writer held SQLite's one write lock through all of its turns, so writers queued behind each other for seconds.
Inline, a transaction that awaits nothing but the database runs without letting the loop go. `read(long=True)` is
for reads that may take tens of milliseconds (statistics, exports, the chart): those still run on aiosqlite's thread,
so the bot keeps answering meanwhile.

A writer starts with BEGIN IMMEDIATE so concurrent writers queue for the file lock instead of failing half-way with
"database is locked"; writers of this process also queue on an asyncio lock first. Another process (a second
instance, `qcbot invite`) may hold the lock: BEGIN IMMEDIATE then does not wait in SQLite's busy handler, which
would freeze the loop, but is tried again after an asyncio sleep, for up to WRITE_LOCK_TIMEOUT. Once it holds the
lock, nothing in the transaction waits for another connection (WAL mode: readers never block the writer).
Checkpoints (copying the write-ahead log into the database file, which waits for the disk) run on aiosqlite's
thread once the log passes CHECKPOINT_AFTER_BYTES, not in the committing writer as SQLite would do by itself.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite
from alembic import command
from alembic.config import Config
from sqlalchemy import Row, Table, bindparam, event, insert, update
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import await_only, greenlet_spawn

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    # Deleted rows (a dropped draft, an anonymous comment's draft) are overwritten, not left in free pages.
    "PRAGMA secure_delete=ON",
    # When a checkpoint has copied the whole log and the log starts again, the file is cut back to this: its size
    # is then the log's, which is what `_checkpoint_if_due` looks at. Left at its largest, every commit after the
    # first 4 MB started another checkpoint (~10 a second under load; docs/performance.md, the inbox's cost, final).
    "PRAGMA journal_size_limit=1048576",
)
WRITE_LOCK_TIMEOUT = 60.0  # seconds a writer waits for another process to release SQLite's write lock
# SQLite's busy handler blocks the calling thread. Inline readers get a short one: in WAL mode a reader waits only
# in rare moments (another connection recovering the log after a crash); long reads on aiosqlite's thread may wait.
INLINE_READ_BUSY_TIMEOUT = 1.0
THREAD_BUSY_TIMEOUT = 60.0
# PostgreSQL: connections per instance (two instances stay well under the server's default 100), and the statements
# each keeps prepared (the bot has a few hundred distinct ones).
POSTGRES_POOL_SIZE = 30
PREPARED_STATEMENTS_PER_CONNECTION = 1000
# PostgreSQL: pooled connections one Database.read_side_by_side may hold at once (of the pool's 30).
READS_SIDE_BY_SIDE = 5
# The write-ahead log is copied into the database file once it holds this much (SQLite's own default: 1,000 pages).
CHECKPOINT_AFTER_BYTES = 4 * 1024 * 1024


_T = TypeVar("_T")
_Outcome = tuple[Any, int, int | None, list[Any]]  # description, rowcount, lastrowid, rows


def _run_statement(connection: sqlite3.Connection, many: bool, operation: str, parameters: Any) -> _Outcome:
    """Open a cursor, execute, fetch every row, close: inline, or as one trip on aiosqlite's thread."""
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


def _is_locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


def _begin_inline(connection: sqlite3.Connection, begin: str) -> None:
    """BEGIN on the loop's thread; if another process holds the write lock, try again after an asyncio sleep
    (called inside SQLAlchemy's greenlet, hence await_only) instead of blocking the loop in SQLite's busy handler."""
    deadline = time.monotonic() + WRITE_LOCK_TIMEOUT
    pause = 0.002
    while True:
        try:
            connection.execute(begin)
            return
        except sqlite3.OperationalError as error:
            if not _is_locked(error) or time.monotonic() > deadline:
                raise
        await_only(asyncio.sleep(pause))
        pause = min(pause * 2, 0.1)


class _SqliteCursor(AsyncAdapt_aiosqlite_cursor):
    """SQLAlchemy's aiosqlite cursor makes four trips to the database thread per statement (open a cursor, execute,
    fetch, close). This one runs the four inline on the loop's thread, or, for long reads, as one trip. Rows are
    fetched whole, as SQLAlchemy's adapter already did."""

    __slots__ = ("_arraysize", "_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: AsyncAdapt_aiosqlite_connection) -> None:
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]  # opened and closed by _run_statement
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
        parameters = () if parameters is None else parameters
        if self._adapt_connection.dbapi.inline:
            outcome = _run_statement(self._connection._conn, many, operation, parameters)
        else:
            async with self._adapt_connection._execute_mutex:
                outcome = await self._connection._execute(
                    _run_statement, self._connection._conn, many, operation, parameters
                )
        self._description, self._rowcount, self._lastrowid, rows = outcome
        self._rows = deque(rows)

    async def _execute_async(self, operation: Any, parameters: Any) -> None:
        await self._run(False, operation, parameters)

    async def _executemany_async(self, operation: Any, seq_of_parameters: Sequence[Any]) -> None:
        await self._run(True, operation, seq_of_parameters)

    async def _async_soft_close(self) -> None:
        """Nothing to close: the sqlite3 cursor was closed by _run_statement."""

    def close(self) -> None:
        self._rows.clear()


class _SqliteConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = _SqliteCursor

    def commit(self) -> None:
        self._end_transaction("commit")

    def rollback(self) -> None:
        self._end_transaction("rollback")

    def _end_transaction(self, how: str) -> None:
        """`commit` or `rollback`: through the adapter's thread, or inline on sqlite3's connection."""
        if not self.dbapi.inline:
            getattr(super(), how)()
        elif self._connection._connection is not None:
            try:
                getattr(self._connection._conn, how)()
            except Exception as error:
                self._handle_exception(error)


class _SqliteDbapi(AsyncAdapt_aiosqlite_dbapi):
    """aiosqlite as SQLAlchemy's dialect sees it, with connections that run statements inline (`inline`) or as one
    trip each to aiosqlite's thread. Connecting and closing always go through aiosqlite's thread."""

    def __init__(self, *, inline: bool) -> None:
        super().__init__(aiosqlite, sqlite3)
        self.inline = inline

    def connect(self, *args: Any, **kwargs: Any) -> _SqliteConnection:
        return _SqliteConnection(self, super().connect(*args, **kwargs)._connection)


def _sqlite_engine(url: str, begin: str, *, inline: bool, busy_timeout: float) -> AsyncEngine:
    engine = create_async_engine(
        url,
        # sqlite3 serialises calls on a connection; it is used from aiosqlite's thread (connect, close) and the loop's.
        connect_args={"timeout": busy_timeout, "check_same_thread": False},
        module=_SqliteDbapi(inline=inline),
        pool_reset_on_return=None,
    )

    @event.listens_for(engine.sync_engine, "reset")
    def _on_reset(dbapi_connection, _record, state) -> None:  # type: ignore[no-untyped-def]
        # The pool's default reset is a ROLLBACK on every return, even after a COMMIT; sqlite3 knows whether a
        # transaction is still open. A connection that cannot be used from here (garbage-collected, or being
        # discarded) is closed by the pool without a reset.
        if state.asyncio_safe and not state.terminate_only and dbapi_connection.driver_connection.in_transaction:
            dbapi_connection.rollback()

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # type: ignore[no-untyped-def]
        # Let SQLAlchemy, not the driver, decide when transactions begin (the pysqlite recipe).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in SQLITE_PRAGMAS:
            cursor.execute(pragma)
        if inline:
            # A checkpoint copies the log into the database file and waits for the disk: in the committing writer,
            # that was the loop waiting 50-100 ms now and then. Database.write() starts one on aiosqlite's thread.
            cursor.execute("PRAGMA wal_autocheckpoint=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection) -> None:  # type: ignore[no-untyped-def]
        driver_connection = connection.connection.driver_connection
        if inline:
            _begin_inline(driver_connection._conn, begin)
        else:
            # Straight to aiosqlite: one trip, where exec_driver_sql takes three (open a cursor, execute, close).
            await_only(driver_connection.execute(begin))

    return engine


def _report_failed_checkpoint(task: asyncio.Task) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("SQLite checkpoint failed; the next write past the threshold tries again: %s", task.exception())


def _in_transaction(connection: Connection, work: Callable[[Connection], _T]) -> _T:
    with connection.begin():
        return work(connection)


@asynccontextmanager
async def _inline_session(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """A session closed in place. AsyncSession's own `async with` closes it in a task of its own (so that a
    cancellation cannot interrupt the close), which costs a turn of the event loop: under load ~100 ms in which a
    writer still held the write lock. Inline on SQLite the close never waits, so nothing can interrupt it."""
    session = maker()
    try:
        yield session
    finally:
        await session.close()


class Database:
    def __init__(self, url: str, *, pool_size: int = POSTGRES_POOL_SIZE) -> None:
        self.url = url
        self.is_sqlite = make_url(url).get_backend_name() == "sqlite"
        self._sqlite_file: Path | None = None  # None for an in-memory database
        self._checkpointer: aiosqlite.Connection | None = None
        self._checkpoint: asyncio.Task | None = None
        if self.is_sqlite:
            path = make_url(url).database
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                self._sqlite_file = Path(path)
                self._sqlite_log = f"{path}-wal"
            # Busy timeout 0: a writer locked out by another process is retried by _begin_inline, off the loop.
            self.write_engine = _sqlite_engine(url, "BEGIN IMMEDIATE", inline=True, busy_timeout=0)
            self.read_engine = _sqlite_engine(url, "BEGIN", inline=True, busy_timeout=INLINE_READ_BUSY_TIMEOUT)
            self.long_read_engine = _sqlite_engine(url, "BEGIN", inline=False, busy_timeout=THREAD_BUSY_TIMEOUT)
        else:
            # No ping before each use of a pooled connection: a round trip per transaction (p99 under load 317 ->
            # 269 ms). After a database restart the first statement on a dead connection fails, the update gets the
            # error handler's kind message, and SQLAlchemy invalidates the whole pool so the next ones reconnect.
            # The pool keeps every connection it opens (no overflow): under load, connections opened beyond a
            # smaller pool were closed as soon as they came back and opened again for the next update (a TCP
            # connection, a TLS attempt, authentication, and every statement prepared again on the new connection:
            # a second round trip; docs/performance.md, issue 18). The cache of prepared statements holds all of
            # the bot's (asyncpg's default of 100 would let the few hundred push each other out).
            connect_args = {"prepared_statement_cache_size": PREPARED_STATEMENTS_PER_CONNECTION} \
                if make_url(url).get_driver_name() == "asyncpg" else {}
            self.write_engine = create_async_engine(url, pool_size=pool_size, max_overflow=0, connect_args=connect_args)
            # Reads run without BEGIN and COMMIT, two round trips fewer: each statement sees what was committed when
            # it ran, enough for a screen; what must hold together is read and written in one write().
            self.read_engine = self.long_read_engine = self.write_engine.execution_options(isolation_level="AUTOCOMMIT")
        self._writer = async_sessionmaker(self.write_engine, expire_on_commit=False)
        self._sqlite_writer_turn = asyncio.Lock() if self.is_sqlite else None
        self._kept_writer: Any = None  # the AsyncConnection behind _kept_writer_raw (SQLite)
        self._kept_writer_raw: sqlite3.Connection | None = None
        self._reader = async_sessionmaker(self.read_engine, expire_on_commit=False)
        self._long_reader = async_sessionmaker(self.long_read_engine, expire_on_commit=False)
        # SQLite: the connections read_now() and write_now() keep, and whether one is running work now.
        self._kept: dict[str, AsyncConnection] = {}
        self._kept_in_use: set[str] = set()

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncSession]:
        """One transaction: commits when the block ends, rolls back on any exception."""
        if self._sqlite_writer_turn is None:
            async with self._writer() as session, session.begin():
                yield session
            return
        async with self._sqlite_writer_turn, _inline_session(self._writer) as session, session.begin():
            yield session
        self._checkpoint_if_due()

    async def read_now(self, work: Callable[[Connection], _T]) -> _T:
        """`work(connection)` in one read transaction: Core statements on a plain (sync) SQLAlchemy Connection, for
        the hottest short reads (the user cache's miss). A session costs a pool checkout, the session's and the
        transaction's objects and a greenlet switch per call around an indexed read of ~50 µs: one row read
        through a session took 434 µs of CPU, here 162 µs (docs/performance.md, writes under load, third pass).
        On SQLite the connection is kept and the work runs inline, in one greenlet, without letting the loop go,
        so no other task finds it in use (one that does gets a pooled connection). On PostgreSQL a pooled one."""
        if not self.is_sqlite:
            return await self._in_autocommit(work)
        return await self._now_on_kept("read", self.read_engine, work)

    async def read_side_by_side(self, works: Sequence[Callable[[Connection], _T]], *, long: bool = False) -> list[_T]:
        """Each of `works` (Core reads on a Connection), the results in their order: one person's many small reads
        (the copy of "My data"). On SQLite in one read transaction, inline unless `long`. On PostgreSQL spread over
        up to READS_SIDE_BY_SIDE pooled connections at once: there every statement is a round trip that waits a turn
        of the busy loop (~10 ms under load), so ~30 one after another took ~350 ms (docs/performance.md, eleventh
        session). Nothing is lost by it: reads there run in autocommit, each statement seeing what was committed when
        it ran, on one connection as on several."""
        if self.is_sqlite:
            async with self.read(long=long) as session:
                return await core_in_session(session, lambda connection: [work(connection) for work in works])
        lanes = min(READS_SIDE_BY_SIDE, len(works))
        by_lane = await asyncio.gather(*(
            self.read_now(lambda connection, share=works[lane::lanes]: [work(connection) for work in share])
            for lane in range(lanes)))
        results: list[Any] = [None] * len(works)
        for lane, lane_results in enumerate(by_lane):
            results[lane::lanes] = lane_results
        return results

    async def write_now(self, work: Callable[[Connection], _T]) -> _T:
        """As read_now, one write transaction (committed when `work` returns, rolled back if it raises): for the
        one-statement writes of the hottest buttons (the language, the notice). On SQLite it waits for the
        writer's turn like write()."""
        if self._sqlite_writer_turn is None:
            async with self.write_engine.connect() as connection:
                return await connection.run_sync(_in_transaction, work)
        async with self._sqlite_writer_turn:
            result = await self._now_on_kept("write", self.write_engine, work)
        self._checkpoint_if_due()
        return result

    async def write_one(self, work: Callable[[Connection], _T]) -> _T:
        """As write_now, for `work` that runs exactly ONE statement (the language, the notice, a draft dropped). On
        PostgreSQL it runs in autocommit: a single statement is atomic by itself, and BEGIN and COMMIT were two
        round trips more than the statement (docs/performance.md, tenth session). On SQLite it is write_now."""
        if self.is_sqlite:
            return await self.write_now(work)
        return await self._in_autocommit(work)

    async def _in_autocommit(self, work: Callable[[Connection], _T]) -> _T:
        """PostgreSQL: `work` on a pooled connection in autocommit (the read engine is the pool with that option)."""
        async with self.read_engine.connect() as connection:
            return await connection.run_sync(work)

    async def _now_on_kept(self, name: str, engine: AsyncEngine, work: Callable[[Connection], _T]) -> _T:
        if name not in self._kept:
            connection = await engine.connect()
            if name in self._kept:  # another caller was first while this one connected
                await connection.close()
            else:
                self._kept[name] = connection
        if name in self._kept_in_use:  # only if work ever let the loop go (another process's write lock)
            async with engine.connect() as connection:
                return await connection.run_sync(_in_transaction, work)
        self._kept_in_use.add(name)
        try:
            return await greenlet_spawn(_in_transaction, self._kept[name].sync_connection, work)
        finally:
            self._kept_in_use.discard(name)

    async def _kept_sqlite_writer(self) -> sqlite3.Connection:
        """SQLite's own connection for the inbox's writes, checked out of the write pool once and kept until
        dispose(). A checkout and a close for each write cost turns of the event loop (SQLAlchemy closes an
        AsyncConnection in a task of its own, behind asyncio.shield): under load each turn waits for everything
        else the loop has to do, and those turns were most of a webhook's wait for its 200 (docs/performance.md,
        the webhook's 200)."""
        if self._kept_writer_raw is None:
            connection = await self.write_engine.connect()
            if self._kept_writer_raw is not None:  # another caller was first while this one connected
                await connection.close()
                return self._kept_writer_raw
            self._kept_writer = connection
            self._kept_writer_raw = (await connection.get_raw_connection()).driver_connection._conn
        return self._kept_writer_raw

    @asynccontextmanager
    async def sqlite_write_connection(self) -> AsyncIterator[sqlite3.Connection]:
        """A write transaction on SQLite's own connection (BEGIN IMMEDIATE … COMMIT), in the same turn as write():
        for the few hottest small writes (the inbox), where SQLAlchemy's session cost three times the statements.
        Values must be bound as SQLAlchemy would (the column types' bind processors). `sqlite_write_now` does
        the same without waiting, when it can."""
        assert self._sqlite_writer_turn is not None, "SQLite only"
        # The connection is at hand BEFORE taking the writer's turn: an await while holding the turn let handlers'
        # writes queue behind it; asyncio.Lock then hands the turn from waiter to waiter one loop turn apiece, and
        # every newcomer queued too (a convoy: handlers' writes waited 34-60 ms p50, 150-375 ms p95 for a turn
        # held ~1 ms; docs/performance.md, writes under load).
        raw = await self._kept_sqlite_writer()
        async with self._sqlite_writer_turn:
            deadline, pause = time.monotonic() + WRITE_LOCK_TIMEOUT, 0.002
            while True:  # as _begin_inline: another process holding the lock is waited for, the loop going on
                try:
                    raw.execute("BEGIN IMMEDIATE")
                    break
                except sqlite3.OperationalError as error:
                    if not _is_locked(error) or time.monotonic() > deadline:
                        raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.1)
            try:
                yield raw
                raw.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:  # a failed COMMIT too: the kept connection must not stay in a transaction
                    raw.execute("ROLLBACK")
                raise
        self._checkpoint_if_due()

    def sqlite_write_now(self, work: Callable[[sqlite3.Connection], _T]) -> tuple[bool, _T | None]:
        """`work` in a write transaction on the inbox's connection, committed before this returns, without letting
        the event loop go — if it can run now: no write transaction of this process is open (the writer's turn is
        free; one whose next holder has been woken but not yet run has not begun), the connection is at hand, and
        no other process holds SQLite's write lock. Returns (True, what work returned), or (False, None) with
        nothing written: then `sqlite_write_connection` waits for the turn."""
        raw = self._kept_writer_raw
        if raw is None or self._sqlite_writer_turn is None or self._sqlite_writer_turn.locked():
            return False, None
        try:
            raw.execute("BEGIN IMMEDIATE")  # busy timeout 0: fails at once if another process writes
        except sqlite3.OperationalError as error:
            if _is_locked(error):
                return False, None
            raise
        try:
            result = work(raw)
            raw.execute("COMMIT")
        except BaseException:
            if raw.in_transaction:
                raw.execute("ROLLBACK")
            raise
        self._checkpoint_if_due()
        return True, result

    def _checkpoint_if_due(self) -> None:
        """After a commit: once the log has grown past CHECKPOINT_AFTER_BYTES, copy it into the database file on
        aiosqlite's thread (PASSIVE: readers and writers go on meanwhile), one checkpoint at a time."""
        if self._sqlite_file is None or (self._checkpoint is not None and not self._checkpoint.done()):
            return
        try:
            # os.stat on a string kept: building a Path for every commit cost more than the stat (the inbox
            # commits once per update; docs/performance.md, the inbox's cost, final)
            if os.stat(self._sqlite_log).st_size < CHECKPOINT_AFTER_BYTES:
                return
        except FileNotFoundError:
            return
        self._checkpoint = asyncio.create_task(self.checkpoint(), name="sqlite-checkpoint")
        self._checkpoint.add_done_callback(_report_failed_checkpoint)

    async def checkpoint(self) -> None:
        """Copy the write-ahead log into the database file, off the event loop."""
        if self._sqlite_file is None:
            return
        if self._checkpointer is None:
            self._checkpointer = await aiosqlite.connect(self._sqlite_file, timeout=THREAD_BUSY_TIMEOUT, isolation_level=None)
        await self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)")

    @asynccontextmanager
    async def read(self, *, long: bool = False) -> AsyncIterator[AsyncSession]:
        """One read-only transaction. `long=True` for reads that may take tens of milliseconds (statistics,
        exports): on SQLite they run on aiosqlite's thread instead of inline on the loop's."""
        if self.is_sqlite and not long:
            async with _inline_session(self._reader) as session, session.begin():
                yield session
            return
        async with (self._long_reader if long else self._reader)() as session, session.begin():
            yield session

    async def dispose(self) -> None:
        for connection in self._kept.values():
            await connection.close()
        self._kept.clear()
        if self._kept_writer is not None:
            self._kept_writer_raw = None
            await self._kept_writer.close()
            self._kept_writer = None
        if self._checkpoint is not None:
            await asyncio.gather(self._checkpoint, return_exceptions=True)
        if self._checkpointer is not None:
            await self._checkpointer.close()
            self._checkpointer = None
        # On PostgreSQL the read engine is the write engine with other options: one pool.
        engines = (self.write_engine, self.read_engine, self.long_read_engine) if self.is_sqlite else (self.write_engine,)
        for engine in engines:
            await engine.dispose()


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


def dialect_insert(session: Any):  # type: ignore[no-untyped-def]
    """The INSERT of the session's (or a read_now/write_now Connection's) database, for ON CONFLICT clauses
    (PostgreSQL's and SQLite's are different classes with the same methods). Imported here, not at the top, to
    keep this addition self-contained."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    dialect = session.dialect if isinstance(session, Connection) else session.bind.dialect
    return pg_insert if dialect.name == "postgresql" else sqlite_insert


async def core_in_session(session: AsyncSession, work: Callable[[Connection], _T]) -> _T:
    """`work(connection)`, prebuilt Core statements, on the session's connection in its transaction (one greenlet
    for all of them). Nothing the session holds is flushed first: callers have nothing pending."""
    return await session.run_sync(lambda sync_session: work(sync_session.connection()))


class DetachedRows:
    """A table's rows as the hottest flows write them without a session (Database.write_now): an entity built from
    a row read as Core (`Model(**row._mapping)`), changed by the domain's own functions, then inserted, or written
    back with only the columns it changed. The statements are built once."""

    def __init__(self, table: Table, key: str) -> None:
        self._columns = tuple(column.key for column in table.columns)
        self._key = key
        self._insert = insert(table)
        # The SET clause is the parameters given besides detached_key: the columns that changed.
        self._update = update(table).where(table.c[key] == bindparam("detached_key"))

    def values(self, entity: Any) -> dict[str, Any]:
        return {name: getattr(entity, name) for name in self._columns}

    def insert(self, connection: Connection, entity: Any) -> None:
        connection.execute(self._insert, self.values(entity))

    def write_changes(self, connection: Connection, entity: Any, before: Row) -> None:
        """UPDATE the columns whose value differs from `before` (the row the entity was built from), if any."""
        was = before._mapping
        changed = {name: value for name, value in self.values(entity).items() if value != was[name]}
        if changed:
            connection.execute(self._update, {"detached_key": getattr(entity, self._key), **changed})
