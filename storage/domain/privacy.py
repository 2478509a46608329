"""Personal data: what is stored about a person, a copy of it, forgetting them, and retention.

Every table that holds a person's Telegram id (or a name, a phone number, their words) is covered by one
`PersonalDataSource`, registered in a module of `storage/personal_data/` (each module there is imported on first
use, so adding a file is all a new feature does). A source says:

- `person_columns`: per table, the columns holding a Telegram user id (`user_id`, `chat_id`, `*_by`, …). A unit
  test fails when a table has such a column that no source names, so a new table cannot be forgotten by accident;
- `personal_fields`: per table, the other columns that say something about a person (names, phones, free text);
- `export(connection, user_id)`: the person's records, as {section: [record, …]} for the copy of "My data", read
  with Core statements built once;
- `counts(user_id)`: how many records each of those sections holds, as count expressions of the bound id, for the
  "My data" screen (which shows only the numbers): required with an export, the same sections in the same order;
- `forget(connection, forgetting)`: delete or strip what the person left in these tables, with Core statements
  built once (`storage/personal_data/_helpers.py`);
- `retention`: rules that purge, in batches, what has been kept as long as the configured number of days.

The domain here knows nothing of Telegram: handlers and `qcbot` call `collect`, `forget`, `purge`, `due_counts`.
"""

from __future__ import annotations

import asyncio
import importlib
import logging
import pkgutil
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Connection, Select, bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database

if TYPE_CHECKING:  # the settings' numbers of days; storage does not import the bot at run time
    from bot.config import Retention

log = logging.getLogger(__name__)

PURGE_BATCH = 200  # rows per transaction: a backlog never holds the writer for long


@dataclass
class Forgetting:
    """One person being forgotten: what each source removed (for the dry run and the log) and the media files to
    delete from disk once the transaction has committed."""

    user_id: int
    now: datetime
    counts: dict[str, int] = field(default_factory=dict)
    media_paths: list[str] = field(default_factory=list)

    def count(self, what: str, rows: int) -> None:
        if rows:
            self.counts[what] = self.counts.get(what, 0) + rows


@dataclass(frozen=True)
class PurgeBatch:
    rows: int
    media_paths: tuple[str, ...] = ()


@dataclass(frozen=True)
class RetentionRule:
    """What is purged after `Retention.<days_setting>` days. `count` says how many rows are due; `purge` handles
    at most `limit` of them in the caller's transaction."""

    name: str
    days_setting: str  # a field of bot.config.Retention
    count: Callable[[AsyncSession, datetime], Awaitable[int]]
    purge: Callable[[AsyncSession, datetime, datetime, int], Awaitable[PurgeBatch]]  # (session, cutoff, now, limit)

    def cutoff(self, retention: "Retention", now: datetime) -> datetime:
        return now - timedelta(days=getattr(retention, self.days_setting))


# (connection, user_id) -> {section: [record, …]}: prebuilt Core reads of the person's rows.
Exporter = Callable[[Connection, int], dict[str, list[dict]]]
# The user id as a bound parameter -> {section: the number of its records (a scalar subquery)}.
SectionCounts = Callable[[ColumnElement[int]], dict[str, ColumnElement[int]]]
Forgetter = Callable[[Connection, Forgetting], None]


def nothing_to_export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    """The export of a source whose rows last seconds or hours and say nothing a copy should show."""
    return {}


@dataclass(frozen=True)
class PersonalDataSource:
    name: str
    person_columns: Mapping[str, tuple[str, ...]]
    forget: Forgetter
    export: Exporter = nothing_to_export
    counts: SectionCounts | None = None  # with an export: its sections, in its order
    personal_fields: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    retention: tuple[RetentionRule, ...] = ()
    forget_order: int = 50  # lower first; the user row itself goes last


_SOURCES: dict[str, PersonalDataSource] = {}
_loaded = False
_counting: tuple[Select, tuple[str, ...]] | None = None  # count_sections' statement, built on first use


def register(source: PersonalDataSource) -> PersonalDataSource:
    global _counting
    if source.name in _SOURCES:
        raise ValueError(f"personal data source {source.name!r} registered twice")
    if (source.export is nothing_to_export) != (source.counts is None):
        raise ValueError(f"personal data source {source.name!r}: an export needs the counts of its sections (and counts an export)")
    _SOURCES[source.name] = source
    _counting = None
    return source


def sources() -> list[PersonalDataSource]:
    """Every registered source, in forgetting order (importing storage/personal_data/* the first time)."""
    global _loaded
    if not _loaded:
        import storage.personal_data as package

        for module in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package.__name__}.{module.name}")
        _loaded = True
    return sorted(_SOURCES.values(), key=lambda source: (source.forget_order, source.name))


def covered_columns() -> set[tuple[str, str]]:
    return {(table, column) for source in sources() for table, columns in source.person_columns.items() for column in columns}


def retention_rules() -> list[RetentionRule]:
    return [rule for source in sources() for rule in source.retention]


# --------------------------------------------------------------------------------------------
# My data


async def collect(db: Database, user_id: int, *, long: bool = True) -> dict[str, list[dict]]:
    """Everything stored about the person, section by section (empty sections left out). `long=False` reads inline
    on SQLite (Database.read): for the copy "My data" sends, whose ~30 indexed reads of one person's rows each
    waited a turn of the busy loop on aiosqlite's thread (~1-2 s under load, docs/performance.md). Each source's
    prebuilt Core reads run on a plain Connection (as ORM statements they cost ~13 ms of CPU, now ~5): on SQLite all
    in one step on purpose (yielding between sources made the copy wait a turn of the busy loop per source, p50
    ~450 ms under the task mix, to spare the others ~5 ms once), on PostgreSQL on a few connections side by side."""
    exports = await db.read_side_by_side([lambda connection, export=source.export: export(connection, user_id)
                                          for source in sources() if source.export is not nothing_to_export], long=long)
    found: dict[str, list[dict]] = {}
    for exported in exports:
        for section, records in exported.items():
            if records:
                found.setdefault(section, []).extend(records)
    return found


# --------------------------------------------------------------------------------------------
# Forget me


async def forget(db: Database, user_id: int, now: datetime, media_dir: Path, *, dry_run: bool = False) -> dict[str, int]:
    """Delete the person's data in one transaction (rolled back for a dry run), then their media files. Returns
    what each source removed or stripped, e.g. {"bookings": 2, "tickets stripped": 1}. Every source's prebuilt
    statements run on one Connection (Database.write_now): through a session they cost ~45 ms of CPU, the loop held."""
    forgetting = Forgetting(user_id, now)

    class _DryRun(Exception):
        pass

    def forget_everywhere(connection: Connection) -> None:
        for source in sources():
            source.forget(connection, forgetting)
        if dry_run:
            raise _DryRun

    try:
        await db.write_now(forget_everywhere)
    except _DryRun:
        return forgetting.counts
    delete_media(media_dir, forgetting.media_paths)
    log.info("user %s forgotten: %s", user_id, forgetting.counts)
    return forgetting.counts


def delete_media(media_dir: Path, relative_paths: list[str] | tuple[str, ...]) -> int:
    """Remove stored photos and voice notes; a path that would leave the media folder is ignored."""
    root = media_dir.resolve()
    removed = 0
    for relative in relative_paths:
        target = (root / relative).resolve()
        if not target.is_relative_to(root):
            log.warning("not deleting %s: outside the media folder", relative)
            continue
        try:
            target.unlink()
            removed += 1
        except FileNotFoundError:
            pass
    return removed


# --------------------------------------------------------------------------------------------
# Retention


async def due_counts(db: Database, retention: "Retention", now: datetime) -> dict[str, int]:
    """How many rows each retention rule would purge now (`qcbot purge --dry-run`)."""
    counts: dict[str, int] = {}
    async with db.read(long=True) as session:
        for rule in retention_rules():
            counts[rule.name] = await rule.count(session, rule.cutoff(retention, now))
    return counts


async def purge(db: Database, retention: "Retention", now: datetime, media_dir: Path,
                progress: Callable[[str, int], None] | None = None, batch: int = PURGE_BATCH) -> dict[str, int]:
    """Apply every retention rule in short transactions of at most `batch` rows, deleting media files after each
    commit. Returns the rows purged per rule."""
    done: dict[str, int] = {}
    for rule in retention_rules():
        cutoff = rule.cutoff(retention, now)
        total = 0
        while True:
            async with db.write() as session:
                result = await rule.purge(session, cutoff, now, batch)
            delete_media(media_dir, result.media_paths)
            total += result.rows
            if result.rows and progress is not None:
                progress(rule.name, total)
            if result.rows < batch:
                break
            await asyncio.sleep(0)  # let the bot answer between batches
        done[rule.name] = total
    return done


def _counting_statement() -> tuple[Select, tuple[str, ...]]:
    global _counting
    if _counting is None:
        user_id = bindparam("user_id")
        counted = [(section, number) for source in sources() if source.counts is not None
                   for section, number in source.counts(user_id).items()]
        _counting = (select(*(number.label(f"section_{place}") for place, (_section, number) in enumerate(counted))),
                     tuple(section for section, _number in counted))
    return _counting


async def count_sections(db: Database, user_id: int) -> dict[str, int]:
    """How many records each section of `collect` would hold, in its order (empty sections left out): what the "my
    data" screen shows, in one statement on Database.read_now. collect() read and shaped every record in ~30 ORM
    statements, ~15 ms of CPU a press (tests/unit/test_privacy.py checks the numbers against collect's)."""
    statement, sections = _counting_statement()
    numbers = await db.read_now(lambda connection: connection.execute(statement, {"user_id": user_id}).one())
    found: dict[str, int] = {}
    for section, number in zip(sections, numbers, strict=True):
        if number:
            found[section] = found.get(section, 0) + number
    return found
