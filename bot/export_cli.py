"""`qcbot export`: CSV files for Excel from the command line (the same files editors download in Telegram)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import date
from pathlib import Path
from typing import TextIO

from bot.cli import EXIT_USAGE, content_or_exit, settings_or_exit
from storage.db import Database
from bot.clock import Clock
from storage.domain import audit
from storage.domain.export import WHAT, ExportRequest, file_name, write_csv
from storage.domain.stats import Period



def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (write YYYY-MM-DD, e.g. 2027-03-01)") from None


def add_export_command(sub: argparse._SubParsersAction) -> None:
    export = sub.add_parser(
        "export", help="write bookings, tickets, feedback, guide runs or time bank exchanges of a period as CSV for Excel")
    export.add_argument("--from", dest="start", required=True, type=_day, help="first day, YYYY-MM-DD")
    export.add_argument("--to", dest="end", required=True, type=_day, help="last day (included), YYYY-MM-DD")
    export.add_argument("--what", required=True, choices=WHAT)
    export.add_argument("--with-personal-data", action="store_true",
                        help="add names, phone numbers and Telegram ids (admins only: give --admin-id)")
    export.add_argument("--admin-id", type=int, help="your Telegram user id, one of QC_ADMIN_IDS")
    export.add_argument("--output", help="the file to write (default: the standard output)")
    export.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    if args.end < args.start:
        print(f"qcbot: --to {args.end} is before --from {args.start}; swap them", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    if args.with_personal_data and (args.admin_id is None or args.admin_id not in settings.admin_ids):
        print(
            "qcbot: --with-personal-data is for admins: add --admin-id with your Telegram user id, which must be "
            "listed in QC_ADMIN_IDS (or leave out --with-personal-data for a file without personal data)",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    content = content_or_exit(settings.content_dir).current
    request = ExportRequest(args.what, Period(args.start, args.end), args.with_personal_data)

    def progress(rows: int) -> None:
        print(f"qcbot: {rows:,} rows written…".replace(",", "."), file=sys.stderr)

    async def run(out: TextIO) -> int:
        from storage.db import upgrade

        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            rows = await write_csv(db, request, out, content, settings.timezone, progress)
            if request.with_personal_data:  # who took personal data out, and which (storage/domain/audit.py)
                await audit.record_now(db, args.admin_id, "export", f"{file_name(request)} with personal data", Clock().now())
            return rows
        finally:
            await db.dispose()

    if args.output:
        path = Path(args.output)
        if not path.parent.is_dir():
            print(f"qcbot: folder {str(path.parent)!r} does not exist (create it or choose another --output)", file=sys.stderr)
            sys.exit(EXIT_USAGE)
        with path.open("w", encoding="utf-8", newline="") as out:
            rows = asyncio.run(run(out))
        print(f"qcbot: {rows} row(s) written to {path}", file=sys.stderr)
    else:
        sys.stdout.reconfigure(newline="")  # the CSV writer ends lines with \r\n itself
        asyncio.run(run(sys.stdout))
