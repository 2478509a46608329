"""`qcbot sandbox`: start the bot against the built-in emulator and serve the web chat until Ctrl-C."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
import tempfile
from pathlib import Path

from bot.config import PROJECT_ROOT

EXIT_USAGE = 2
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def add_sandbox_command(sub: argparse._SubParsersAction) -> None:
    sandbox = sub.add_parser(
        "sandbox",
        help="try the bot in your browser: no Telegram, no token (a local stand-in for Telegram and a web chat)",
    )
    sandbox.add_argument("--content", type=Path, default=PROJECT_ROOT / "content",
                         help="content folder to run on, e.g. a draft copy (default: the sample content/)")
    sandbox.add_argument("--port", type=int, default=8080, help="port of the web page (default: 8080)")
    sandbox.add_argument("--host", default="127.0.0.1",
                         help="address to listen on (default 127.0.0.1: only this computer can open the page)")
    sandbox.add_argument("--data", type=Path,
                         help="folder for the sandbox's database, kept between runs (default: a temporary folder)")
    sandbox.set_defaults(func=cmd_sandbox)


def _check_content(directory: Path) -> None:
    from storage.content import ContentError, load_content

    if not directory.is_dir():
        _fail(f"--content: {directory} is not a folder (give the content folder, e.g. content/)")
    try:
        load_content(directory)
    except ContentError as error:
        for problem in error.problems:
            print(problem, file=sys.stderr)
        _fail(f"the content in {directory} has {len(error.problems)} problem(s); fix them, then start the sandbox again")


def _check_database_url() -> None:
    """The sandbox keeps its own SQLite file (in --data or a temporary folder), but a QC_DATABASE_URL set in the
    environment is still checked like every setting, so a mistake in it shows here and not later in `qcbot run`."""
    from sqlalchemy.exc import ArgumentError

    from bot.config import normalise_database_url

    raw = os.environ.get("QC_DATABASE_URL", "").strip()
    if not raw:
        return
    try:
        normalise_database_url(raw)
    except (ArgumentError, ValueError):
        _fail(f"QC_DATABASE_URL: {raw!r} is not a usable database URL "
              "(write sqlite:///path/to/file.sqlite3 or postgresql://user:password@host/dbname)")
    print("qcbot: note: the sandbox uses its own SQLite database (see --data), not QC_DATABASE_URL", file=sys.stderr)


def _fail(message: str) -> None:
    print(f"qcbot: {message}", file=sys.stderr)
    sys.exit(EXIT_USAGE)


def cmd_sandbox(args: argparse.Namespace) -> None:
    if not 0 < args.port < 65536:
        _fail(f"--port: {args.port} is not a port (write a number from 1 to 65535, e.g. 8080)")
    _check_content(args.content)
    _check_database_url()
    if args.host not in LOOPBACK_HOSTS:
        print(
            f"qcbot: warning: listening on {args.host}; anyone who can reach it can act as any persona, "
            "and nothing asks for a password",
            file=sys.stderr,
        )
    if args.data is not None:
        asyncio.run(_serve(args, args.data))
        return
    with tempfile.TemporaryDirectory(prefix="qcbot-sandbox-") as folder:
        asyncio.run(_serve(args, Path(folder)))


async def _serve(args: argparse.Namespace, data_dir: Path) -> None:
    from bot.emulator.sandbox.server import (  # the whole bot: imported only when it runs
        Sandbox,
        SandboxError,
    )

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    sandbox = Sandbox(data_dir, args.content, host=args.host, port=args.port)
    try:
        await sandbox.start()
    except SandboxError as error:
        _fail(str(error))
    print(
        f"\nThe sandbox is running. Open {sandbox.url} in your browser.\n"
        "  Pick a persona on the left (tenants, a custodian, an editor, an admin) and tap AVVIA to start their chat.\n"
        f"  Content: {args.content} (edit the files, then press «Ricarica i contenuti» in the page).\n"
        f"  Database: {data_dir / 'sandbox.sqlite3'}{'' if args.data else ' (temporary: deleted when you stop)'}\n"
        f"  Open311 GeoReport v2 API: {sandbox.open311_url}/discovery.xml (services, requests: {sandbox.open311_url}/v2/)\n"
        f"    demo key for this run: {sandbox.open311_key}\n"
        f"    send it on every GET, e.g. curl '{sandbox.open311_url}/v2/requests.xml?api_key={sandbox.open311_key}'\n"
        "  Nothing is sent to Telegram or anywhere else. Press Ctrl-C to stop.\n",
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print("Stopping the sandbox…", flush=True)
        await sandbox.stop()
