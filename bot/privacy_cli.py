"""`qcbot forget`, `qcbot purge` and `qcbot audit`: the privacy rights and retention from the command line, for
requests that come by phone or letter and for the deploy's own checks."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TypeVar

from bot.cli import EXIT_USAGE, settings_or_exit
from bot.clock import Clock
from bot.config import Settings
from storage.domain import audit, privacy
from storage.db import Database, upgrade

T = TypeVar("T")


def add_privacy_commands(sub: argparse._SubParsersAction) -> None:
    forget = sub.add_parser("forget", help="delete everything stored about a person (a tenant or staff, on request)")
    forget.add_argument("--telegram-id", type=int, required=True, help="the person's Telegram user id")
    forget.add_argument("--dry-run", action="store_true", help="print what would go, change nothing")
    forget.set_defaults(func=cmd_forget)

    purge = sub.add_parser("purge", help="apply the retention rules now (the bot does it every night)")
    purge.add_argument("--dry-run", action="store_true", help="print how many rows each rule would purge")
    purge.set_defaults(func=cmd_purge)

    record = sub.add_parser("audit", help="list who read or exported personal data")
    record.add_argument("--days", type=int, default=30, help="how far back (default 30 days)")
    record.add_argument("--actor", type=int, help="only what this Telegram user id did")
    record.set_defaults(func=cmd_audit)


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    async def run() -> T:
        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            return await work(db)
        finally:
            await db.dispose()

    return asyncio.run(run())


def cmd_forget(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    if args.telegram_id <= 0:
        print("qcbot: --telegram-id must be a person's id (a positive number)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    now = Clock().now()

    async def work(db: Database) -> dict[str, int]:
        counts = await privacy.forget(db, args.telegram_id, now, settings.media_dir, dry_run=args.dry_run)
        if not args.dry_run and counts:
            await audit.record_now(db, None, "forget", "a person, on request (qcbot forget)", now)
        return counts

    counts = _with_database(settings, work)
    if not counts:
        print(f"nothing is stored about {args.telegram_id}")
        return
    print(("would remove" if args.dry_run else "removed") + f" for {args.telegram_id}:")
    for what, rows in counts.items():
        print(f"  {what}: {rows}")
    if args.dry_run:
        print("(dry run: nothing was changed)")


def cmd_purge(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    now = Clock().now()
    retention = settings.retention
    if args.dry_run:
        counts = _with_database(settings, lambda db: privacy.due_counts(db, retention, now))
        for rule, rows in counts.items():
            print(f"{rule}: {rows}")
        print("(dry run: nothing was changed)")
        return

    def progress(rule: str, rows: int) -> None:
        print(f"qcbot: {rule}: {rows} so far…", file=sys.stderr)

    async def work(db: Database) -> dict[str, int]:
        done = await privacy.purge(db, retention, now, settings.media_dir, progress)
        if any(done.values()):
            await audit.record_now(db, None, "purge", f"{sum(done.values())} rows (qcbot purge)", now)
        return done

    for rule, rows in _with_database(settings, work).items():
        print(f"{rule}: {rows} purged")


def cmd_audit(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    if args.days < 1:
        print("qcbot: --days must be 1 or more", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    since = Clock().now() - timedelta(days=args.days)
    found = _with_database(settings, lambda db: audit.records(db, since=since, actor_id=args.actor))
    tz = settings.timezone
    for item in found:
        who = str(item.actor_id) if item.actor_id is not None else "command line"
        print(f"{item.at.astimezone(tz):%Y-%m-%d %H:%M}  {who:>14}  {item.action:<12}  {item.subject}")
    print(f"{len(found)} record(s) in the last {args.days} day(s)", file=sys.stderr)
