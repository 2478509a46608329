"""`qcbot`: the one console command. Errors name the thing at fault and what to do, and exit with code 2."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from bot.config import LOG_DAYS_KEPT, PROJECT_ROOT, ConfigError, Settings, load_settings

EXIT_USAGE = 2


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"qcbot: {problem}", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def content_or_exit(directory: Path):  # type: ignore[no-untyped-def]
    from storage.content import ContentError, ContentStore

    try:
        return ContentStore(directory)
    except ContentError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"qcbot: the content in {directory} has problems; fix them, then start again", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def cmd_run(args: argparse.Namespace) -> None:
    settings = settings_or_exit()
    if not settings.telegram_token:
        print(
            "qcbot: QC_TELEGRAM_TOKEN is not set. To serve Telegram, create a bot with @BotFather "
            "(send /newbot), then: QC_TELEGRAM_TOKEN=123456:ABC... qcbot run\n"
            "To try the bot without Telegram: qcbot sandbox",
            file=sys.stderr,
        )
        sys.exit(EXIT_USAGE)
    content_or_exit(settings.content_dir)
    from bot.runners import BotService, serve_until_signalled

    asyncio.run(serve_until_signalled(BotService(settings)))


def cmd_content_check(args: argparse.Namespace) -> None:
    from storage.content import ContentError, load_content, translation_gaps

    directory = Path(args.directory)
    if not directory.is_dir():
        print(f"qcbot: {directory} is not a folder (give the content folder, e.g. content/)", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    try:
        # What's on may not be all in the past: checked against today in Milan.
        content = load_content(directory, today=datetime.now(ZoneInfo("Europe/Rome")).date())
    except ContentError as exc:
        for problem in exc.problems:
            print(problem)
        print(f"{len(exc.problems)} problem(s) found in {directory}", file=sys.stderr)
        sys.exit(1)
    services = sum(1 for key in content.services if key not in content.programme.items)
    print(f"{directory}: OK — {len(content.spaces)} spaces, {services} services, "
          f"{len(content.faqs)} FAQ entries, {len(content.estates)} estates, {len(content.problems)} problem categories, "
          f"{len(content.guides)} guides, {len(content.programme.items)} items in what's on")
    if args.translations:
        gaps = translation_gaps(content)
        for language, fields in gaps.items():
            if not fields:
                print(f"[{language}] complete")
                continue
            print(f"[{language}] {len(fields)} text(s) without a translation:")
            for field in fields:
                print(f"  {field}")


def cmd_db_upgrade(args: argparse.Namespace) -> None:
    from storage.db import upgrade

    settings = settings_or_exit()
    asyncio.run(upgrade(settings.database_url))
    print("database is up to date")


def cmd_invite(args: argparse.Namespace) -> None:
    from handlers.admin import invite_link
    from storage.domain import users
    from storage.db import Database, upgrade

    settings = settings_or_exit()
    store = content_or_exit(settings.content_dir)
    scope = args.estate or args.space or ""
    if args.role in users.ESTATE_ROLES and args.estate not in store.current.estates:
        known = ", ".join(store.current.estates) or "none"
        print(f"qcbot: --estate is required for {args.role} and must be one of: {known}", file=sys.stderr)
        sys.exit(EXIT_USAGE)
    if args.role in users.SPACE_ROLES and args.space not in store.current.spaces:
        print(f"qcbot: --space is required for {args.role} and must be one of: {', '.join(store.current.spaces)}", file=sys.stderr)
        sys.exit(EXIT_USAGE)

    async def make() -> tuple[str, str]:
        from bot.clock import Clock

        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        try:
            async with db.write() as session:
                invite = await users.create_invite(session, args.role, scope, Clock().now(), None)
            return invite.code, invite.expires_at.isoformat(timespec="minutes")
        finally:
            await db.dispose()

    code, expires = asyncio.run(make())
    bot_username = args.bot_username
    if bot_username is None and settings.telegram_token:
        bot_username = asyncio.run(_bot_username(settings))
    if bot_username:
        print(invite_link(bot_username, code))
    print(f"code: {code}  (send /start inv_{code} to the bot; single use, expires {expires})")


async def _bot_username(settings: Settings) -> str | None:
    from telegram import Bot

    try:
        async with Bot(settings.telegram_token, base_url=settings.api_url) as bot:
            return bot.username
    except Exception as exc:  # the link is a convenience; the code alone works too
        print(f"qcbot: could not ask Telegram for the bot's name ({exc}); use --bot-username", file=sys.stderr)
        return None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qcbot", description="Quartieri Connessi front desk bot")
    parser.add_argument("-v", "--verbose", action="store_true", help="more logging")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="serve Telegram (long polling, or webhook when QC_WEBHOOK_URL is set)")
    run.set_defaults(func=cmd_run)

    content = sub.add_parser("content", help="editors' content files")
    content_sub = content.add_subparsers(dest="content_command", required=True)
    check = content_sub.add_parser("check", help="validate the content files")
    check.add_argument("directory", nargs="?", default="content")
    check.add_argument("--translations", action="store_true", help="list texts not yet translated, per language")
    check.set_defaults(func=cmd_content_check)

    db = sub.add_parser("db", help="database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    db_sub.add_parser("upgrade", help="apply migrations").set_defaults(func=cmd_db_upgrade)

    invite = sub.add_parser("invite", help="make a single-use invite link that grants a role")
    invite.add_argument("--role", required=True, choices=["admin", "editor", "custodian", "committee", "operator"])
    invite.add_argument("--estate", help="estate id (custodian, committee)")
    invite.add_argument("--space", help="space id (operator)")
    invite.add_argument("--bot-username", help="the bot's @username, to print the t.me link without asking Telegram")
    invite.set_defaults(func=cmd_invite)

    for add in EXTRA_COMMANDS:
        add(sub)
    return parser


BENCH_MISSING = ("qcbot: the benchmarks live in a checkout's tests/bench/ and need the [bench] extra: "
                 "from a checkout, pip install -e '.[bench]'")


def _add_bench(sub: argparse._SubParsersAction) -> None:
    # Only a placeholder here: the benchmarks (tests/bench/, not shipped) are imported when `qcbot bench` runs,
    # so no other command, `qcbot run` above all, loads them or psutil.
    # No options of its own (a prefix no argument starts with): everything after `bench`, --help included, goes to
    # the benchmarks' own parser.
    bench = sub.add_parser("bench", help="benchmarks that print figures (from a checkout, with the [bench] extra)",
                           add_help=False, prefix_chars="\0")
    bench.add_argument("bench_args", nargs=argparse.REMAINDER)
    bench.set_defaults(func=cmd_bench)


def cmd_bench(args: argparse.Namespace) -> None:
    if (PROJECT_ROOT / "tests" / "bench").is_dir() and str(PROJECT_ROOT) not in sys.path:
        sys.path.insert(0, str(PROJECT_ROOT))  # a checkout: the console script's path does not include it
    try:
        from tests.bench import build_parser as build_bench_parser
    except ModuleNotFoundError as exc:
        if exc.name not in ("tests", "tests.bench", "psutil"):
            raise
        print(BENCH_MISSING, file=sys.stderr)
        sys.exit(EXIT_USAGE)
    bench_args = build_bench_parser().parse_args(args.bench_args)
    bench_args.func(bench_args)


def _add_sandbox(sub: argparse._SubParsersAction) -> None:
    from bot.emulator.sandbox.cli import add_sandbox_command

    add_sandbox_command(sub)


def _add_export(sub: argparse._SubParsersAction) -> None:
    from bot.export_cli import add_export_command

    add_export_command(sub)


# Subcommands that live beside their feature (sandbox, export, bench...): functions that add them to `sub`.
def _add_privacy(sub: argparse._SubParsersAction) -> None:
    from bot.privacy_cli import add_privacy_commands

    add_privacy_commands(sub)


EXTRA_COMMANDS: list = [_add_bench, _add_sandbox, _add_export, _add_privacy]


def log_handlers() -> list[logging.Handler] | None:
    """Standard error (journald or docker rotate it), or with QC_LOG_FILE a file rotated at midnight."""
    log_file = os.environ.get("QC_LOG_FILE", "").strip()
    if not log_file or not Path(log_file).parent.is_dir():  # a missing folder is reported by settings_or_exit
        return None
    from logging.handlers import TimedRotatingFileHandler

    return [TimedRotatingFileHandler(log_file, when="midnight", backupCount=LOG_DAYS_KEPT, encoding="utf-8")]


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        handlers=log_handlers(),
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("apscheduler").setLevel(logging.WARNING)  # one line per job at every start is noise
    args.func(args)


if __name__ == "__main__":
    main()
