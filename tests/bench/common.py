"""What the benchmarks share: the bot under test in its own process, its CPU time and peak memory, latency
percentiles, tables and progress lines.

The bot (the product or a bare reference bot) runs as `python -m tests.bench.common '<json spec>'`, so its CPU
seconds and RSS are its own and not those of the emulator and the simulated tenants in the parent process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil

from bot.config import PROJECT_ROOT

BENCH_TOKEN = "123456:BENCH-token-for-the-emulator"
BENCH_BOT_USERNAME = "qc_bench_bot"
WEBHOOK_SECRET = "bench-webhook-secret-" + "0" * 32  # QC_WEBHOOK_SECRET needs 32+ characters
WEBHOOK_PATH = "/telegram"
STOP_GRACE_SECONDS = 20.0
# A profiled bot writes its profile after it stops, and rendering a run's worth of samples takes a while.
PROFILED_STOP_GRACE_SECONDS = 300.0


# --------------------------------------------------------------------------------------------
# Figures


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (fraction 0.99 → p99); 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:,.1f} ms"


def mib(size_bytes: float) -> str:
    return f"{size_bytes / (1024 * 1024):,.1f} MB"


def print_table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> None:
    """A plain text table, columns right-aligned except the first."""
    rows = [list(header), *[list(row) for row in rows]]
    widths = [max(len(row[column]) for row in rows) for column in range(len(header))]
    for number, row in enumerate(rows):
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in zip(row[1:], widths[1:]))]
        print("  " + "  ".join(cells), flush=True)
        if number == 0:
            print("  " + "  ".join("-" * width for width in widths), flush=True)


class Progress:
    """Prints one line at most every `every` seconds, so long runs show they are alive."""

    def __init__(self, every: float = 2.0) -> None:
        self.every = every
        self._last = 0.0

    def maybe(self, line: Callable[[], str]) -> None:
        now = time.monotonic()
        if now - self._last >= self.every:
            self._last = now
            print(f"  … {line()}", flush=True)


def machine_line() -> str:
    """One line about where the figures come from."""
    import platform

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPU(s), "
            f"Python {platform.python_version()}, {platform.system()} {platform.release()}")


def choices(value: str, allowed: Sequence[str]) -> list[str]:
    """'both' → every allowed value; otherwise the one named."""
    return list(allowed) if value == "both" else [value]


def postgres_server_url() -> str | None:
    """The PostgreSQL server the benchmarks may use (QC_BENCH_POSTGRES_URL, else QC_TEST_POSTGRES_URL), if any."""
    from bot.config import normalise_database_url

    server = os.environ.get("QC_BENCH_POSTGRES_URL") or os.environ.get("QC_TEST_POSTGRES_URL")
    return normalise_database_url(server) if server else None


async def _postgres_admin(server_url: str, sql: str) -> None:
    import asyncpg
    from sqlalchemy.engine import make_url

    parsed = make_url(server_url)
    connection = await asyncpg.connect(host=parsed.host, port=parsed.port, user=parsed.username,
                                       password=parsed.password, database=parsed.database or "postgres")
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@asynccontextmanager
async def throwaway_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on that server for one run (its URL), dropped afterwards."""
    from sqlalchemy.engine import make_url

    name = f"qc_bench_{uuid.uuid4().hex[:8]}"
    await _postgres_admin(server_url, f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await _postgres_admin(server_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --------------------------------------------------------------------------------------------
# A process's CPU and memory


def peak_rss_bytes(process: psutil.Process) -> int:
    """The highest resident set size the process has had (Linux VmHWM), else its current RSS."""
    try:
        with open(f"/proc/{process.pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return process.memory_info().rss


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


# --------------------------------------------------------------------------------------------
# The bot under test, in its own process


@dataclass
class BotSpec:
    """What the child process runs. kind: "product", "product-no-inbox" (the product storing no update: what the
    inbox costs), "product-answer-by-call" (no button answers in the webhook's response), "bare-httpx" or
    "bare-aiohttp"; mode: "polling" or "webhook"."""

    kind: str
    mode: str
    api_url: str
    file_url: str
    env: dict[str, str] = field(default_factory=dict)  # the product's QC_* settings
    listen_port: int = 0  # webhook mode: where the bot receives updates
    profile_path: str = ""  # when set, the bot runs under pyinstrument and writes its profile (text) here
    tracemalloc_path: str = ""  # when set, the bot writes here every minute what grew since its first minute

    @property
    def webhook_url(self) -> str:
        return f"http://127.0.0.1:{self.listen_port}{WEBHOOK_PATH}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def product_env(api_url: str, file_url: str, database_url: str, data_dir: Path, content_dir: Path,
                mode: str, listen_port: int) -> dict[str, str]:
    env = {
        "QC_TELEGRAM_TOKEN": BENCH_TOKEN,
        "QC_TELEGRAM_API_URL": api_url,
        "QC_TELEGRAM_FILE_URL": file_url,
        "QC_DATABASE_URL": database_url,
        "QC_DATA_DIR": str(data_dir),
        "QC_CONTENT_DIR": str(content_dir),
        # Simulated tenants act at machine speed: the per-person burst limit (20 messages in 10 s) would silence
        # those sending photos and words in the task mix.
        "QC_BURST_UPDATES": "100000",
    }
    if mode == "webhook":
        env.update({
            "QC_WEBHOOK_URL": f"http://127.0.0.1:{listen_port}{WEBHOOK_PATH}",
            "QC_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "QC_LISTEN": f"127.0.0.1:{listen_port}",
        })
    return env


class BotProcess:
    """Starts the bot in a child process; measures it with psutil; stops it with SIGTERM like `qcbot run`."""

    def __init__(self, spec: BotSpec, log_path: Path) -> None:
        self.spec = spec
        self.log_path = log_path
        self.started_at = 0.0
        self._popen: subprocess.Popen[bytes] | None = None
        self.process: psutil.Process | None = None

    def start(self) -> None:
        payload = json.dumps(self.spec.__dict__)
        self._log = self.log_path.open("wb")
        self.started_at = time.perf_counter()
        self._popen = subprocess.Popen(
            [sys.executable, "-m", "tests.bench.common", payload], cwd=PROJECT_ROOT, stdout=self._log, stderr=self._log,
        )
        self.process = psutil.Process(self._popen.pid)

    def check_alive(self) -> None:
        if self._popen is not None and self._popen.poll() is not None:
            raise SystemExit(f"the bot process ({self.spec.kind}, {self.spec.mode}) exited with code "
                             f"{self._popen.returncode}; its log:\n{self.log_tail()}")

    def cpu_seconds(self) -> float:
        assert self.process is not None, "start() first"
        return cpu_seconds(self.process)

    def rss_bytes(self) -> int:
        assert self.process is not None, "start() first"
        return self.process.memory_info().rss

    def peak_rss_bytes(self) -> int:
        assert self.process is not None, "start() first"
        return peak_rss_bytes(self.process)

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    async def stop(self) -> None:
        if self._popen is None:
            return
        if self._popen.poll() is None:
            self._popen.send_signal(signal.SIGTERM)
            grace = PROFILED_STOP_GRACE_SECONDS if self.spec.profile_path else STOP_GRACE_SECONDS
            deadline = time.monotonic() + grace
            while self._popen.poll() is None and time.monotonic() < deadline:
                await asyncio.sleep(0.05)
            if self._popen.poll() is None:
                self._popen.kill()
                self._popen.wait()
                print(f"  (the {self.spec.kind} bot did not stop within {grace:.0f} s and was killed)")
        self._log.close()
        self._popen = None


async def _serve_product(spec: BotSpec, stop: asyncio.Event) -> None:
    from bot.config import load_settings
    from bot.runners import BotService, serve_until_signalled

    service = BotService(load_settings(spec.env), webhook=spec.mode == "webhook",
                         durable_inbox=spec.kind != "product-no-inbox",
                         answers_in_response=spec.kind != "product-answer-by-call")
    await serve_until_signalled(service, stop)  # what `qcbot run` serves with


async def _serve_bare(spec: BotSpec, stop: asyncio.Event) -> None:
    from aiohttp import web
    from telegram import Update

    from tests.bench.bare import build_bare_app

    application = build_bare_app(spec.api_url, spec.file_url, BENCH_TOKEN, spec.kind.removeprefix("bare-"))  # type: ignore[arg-type]
    await application.initialize()
    await application.start()
    runner: web.AppRunner | None = None
    if spec.mode == "webhook":
        # The same receiving code as the product's webhook (bot/runners.py), so only the bot itself differs.
        async def receive(request: web.Request) -> web.Response:
            if request.headers.get("X-Telegram-Bot-Api-Secret-Token") != WEBHOOK_SECRET:
                return web.Response(status=403, text="wrong secret token")
            await application.update_queue.put(Update.de_json(await request.json(), application.bot))
            return web.Response(text="ok")

        app = web.Application()
        app.router.add_post(WEBHOOK_PATH, receive)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", spec.listen_port).start()
        await application.bot.set_webhook(spec.webhook_url, secret_token=WEBHOOK_SECRET)
    else:
        await application.bot.delete_webhook()
        await application.updater.start_polling(timeout=20)
    try:
        await stop.wait()
    finally:
        if runner is not None:
            await runner.cleanup()
        if application.updater.running:
            await application.updater.stop()
        await application.stop()
        await application.shutdown()


async def _trace_growth(path: Path, stop: asyncio.Event, every: float = 60.0) -> None:
    """tracemalloc snapshots diffed: after the first minute (caches warm), what grew since, biggest first."""
    import tracemalloc

    tracemalloc.start()
    await asyncio.sleep(every)
    baseline = tracemalloc.take_snapshot()
    minutes = 1
    while not stop.is_set():
        await asyncio.sleep(every)
        minutes += 1
        snapshot = tracemalloc.take_snapshot().filter_traces([tracemalloc.Filter(False, tracemalloc.__file__)])
        growth = snapshot.compare_to(baseline, "lineno")
        current, _peak = tracemalloc.get_traced_memory()
        lines = [f"after {minutes} min: traced {current / 2**20:.1f} MiB; growth since minute 1, biggest first:"]
        lines += [f"  {stat}" for stat in growth[:25]]
        with path.open("a", encoding="utf-8") as out:
            out.write("\n".join(lines) + "\n\n")


async def _child_main(spec: BotSpec) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    # Kept in a variable: the event loop holds tasks only weakly.
    tracer = asyncio.create_task(_trace_growth(Path(spec.tracemalloc_path), stop)) if spec.tracemalloc_path else None
    if spec.kind in ("product", "product-no-inbox", "product-answer-by-call"):
        await _serve_product(spec, stop)
    elif spec.kind in ("bare-httpx", "bare-aiohttp"):
        await _serve_bare(spec, stop)
    elif spec.kind == "bare-aiogram":
        from tests.bench.aiogram_bot import serve_aiogram

        await serve_aiogram(spec.api_url, spec.file_url, BENCH_TOKEN, spec.mode, spec.webhook_url, WEBHOOK_PATH,
                            WEBHOOK_SECRET, spec.listen_port, stop)
    else:
        raise SystemExit(f"unknown bot kind {spec.kind!r}: use product, product-no-inbox, product-answer-by-call, "
                         "bare-httpx, bare-aiohttp or bare-aiogram")
    if tracer is not None:
        tracer.cancel()


def _child(argv: list[str]) -> None:
    if len(argv) != 1:
        raise SystemExit("usage: python -m tests.bench.common '<json BotSpec>' (started by the benchmarks)")
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    spec = BotSpec(**json.loads(argv[0]))
    if not spec.profile_path:
        asyncio.run(_child_main(spec))
        return
    from pyinstrument import Profiler

    profiler = Profiler(interval=0.001)
    with profiler:
        asyncio.run(_child_main(spec))
    print(f"writing the profile to {spec.profile_path}", file=sys.stderr, flush=True)
    tree, flat = profiler.output_text(unicode=True), profiler.output_text(unicode=True, flat=True)
    Path(spec.profile_path).write_text(tree + "\n\nFunctions by own time:\n" + flat, encoding="utf-8")


if __name__ == "__main__":
    _child(sys.argv[1:])

