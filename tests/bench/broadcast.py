"""`qcbot bench broadcast`: one notice to every tenant through the real bot and the emulator.

The product runs in its own process (its CPU and RSS are its own) on a database seeded with `--recipients`
consenting tenants (47,187 by default: every tenant of the ERP estates the spaces serve). A few tenants open the
bot and keep pressing buttons (their answers are timed); then one urgent notice to everyone is queued. The emulator
keeps Telegram's flood control (bot/emulator/flood.py: 429 to whatever goes over 30 messages a second, 1 a second to
a chat), which a correctly paced bot never trips, and with `--fault-rate` also answers that share of the sendMessage
calls with a random 429 and `retry_after` `--retry-after` seconds (the issue's literal "10 % 429s", each pausing the
whole broadcast). Halfway the bot is killed (SIGKILL, a crash, not a clean stop) and started again.

Prints: messages/s (average over the whole run, and over the time not spent in Telegram's pauses), the most
messages in any one-second window, the most messages to one chat in any second, lost recipients, recipients
served twice, the p99 of the interactive answers, and the bot's RSS across the run (peak of each process). The
bot's RSS (its process only: the emulator runs in the bench's) is sampled every second; for each process it prints
the RSS at its first message, after its warm-up (its first WARM_UP_MESSAGES messages), the peak, the end, and the
slope after the warm-up in MB per 10,000 messages (a least-squares line): "flat" when that slope is under
FLAT_MB_PER_10K.

At 29 messages a second, 47,187 recipients take ~27 minutes; `--recipients 3000` takes about two. `--tracemalloc`
has the bot write, every minute, what grew in its memory since its first minute (tracemalloc snapshots diffed).
PostgreSQL runs too when QC_BENCH_POSTGRES_URL (or QC_TEST_POSTGRES_URL) names a server.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import tempfile
import time
from collections import Counter
from pathlib import Path

describe = "broadcast: a notice to N tenants with 429s and a crash halfway; rate, losses, repeats, interactive p99"

INTERACTIVE_TENANTS = 4
PACE = 29.25  # the broadcast sender's pace (bot/pacing.py: 97.5 % of 30)
FIRST_RECIPIENT = 1_000_000
WARM_UP_MESSAGES = 5_000  # a process's first messages: caches, pools and the allocator find their size
# RSS after the warm-up growing by less than this per 10,000 messages counts as flat: under 5 MB over a whole
# 47,187-recipient broadcast (3 % of the bot's ~150 MB), above the noise of one-second samples over ~20k messages.
FLAT_MB_PER_10K = 1.0
# A message arriving this soon after the SIGKILL was the dead process's last call (the new one takes seconds to start).
LAST_CALL_SECONDS = 1.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--recipients", type=int, default=47_187, help="tenants the notice goes to (default 47187)")
    parser.add_argument("--fault-rate", type=float, default=0.0,
                        help="share of sendMessage calls answered with a random 429 besides flood control (e.g. 0.10; default 0)")
    parser.add_argument("--retry-after", type=int, default=1, help="retry_after of those 429s, in seconds (default 1)")
    parser.add_argument("--no-restart", action="store_true", help="do not kill and restart the bot halfway")
    parser.add_argument("--database", choices=("sqlite", "postgres", "both"), default="both")
    parser.add_argument("--tracemalloc", action="store_true", help="the bot writes what grows in its memory (slower)")


def run(args: argparse.Namespace) -> None:
    if args.recipients < 10 or not 0 <= args.fault_rate < 1 or args.retry_after < 1:
        raise SystemExit("qcbot bench broadcast: --recipients at least 10, --fault-rate in [0, 1), --retry-after at least 1")
    asyncio.run(_main(args))


async def _seed(url: str, recipients: int) -> None:
    """The tenants (consenting, a language each)."""
    from datetime import datetime, timezone

    from sqlalchemy import insert

    from storage.db import Database, upgrade
    from storage.models import Broadcast, User

    await upgrade(url)
    db = Database(url)
    now = datetime.now(timezone.utc)
    languages = ("it", "ar", "es", "zh", "tl", "si", "ro", "uk", "sq", "en")
    try:
        for first in range(0, recipients, 5000):
            async with db.write() as session:
                await session.execute(insert(User), [
                    dict(id=FIRST_RECIPIENT + number, first_name=f"T{number}", language=languages[number % len(languages)],
                         consent_at=now, created_at=now, last_seen_at=now, prompts_enabled=True)
                    for number in range(first, min(recipients, first + 5000))
                ])
    finally:
        await db.dispose()


async def _queue_notice(url: str) -> None:
    """One urgent notice to everyone, queued (the running bot's sender finds it within a second)."""
    from datetime import datetime, timezone

    from storage.db import Database
    from storage.models import Broadcast

    db = Database(url)
    now = datetime.now(timezone.utc)
    try:
        async with db.write() as session:
            # Urgent, so quiet hours do not hold it whenever the benchmark is run.
            session.add(Broadcast(kind="notice", status="queued", author_id=None, author_role="editor", audience="everyone",
                                  audience_ref="", text="Domani manca l'acqua dalle 9 alle 12.", language="it",
                                  translations={}, urgent=True, not_before=now, created_at=now, confirmed_at=now))
    finally:
        await db.dispose()


async def _counts(url: str) -> Counter:
    from sqlalchemy import func, select

    from storage.db import Database
    from storage.models import BroadcastRecipient

    db = Database(url)
    try:
        async with db.read() as session:
            rows = await session.execute(select(BroadcastRecipient.status, func.count()).group_by(BroadcastRecipient.status))
            return Counter(dict(rows.all()))
    finally:
        await db.dispose()


async def _one_backend(name: str, url: str, folder: Path, args: argparse.Namespace) -> None:
    from tests.bench.common import (
        BENCH_BOT_USERNAME, BENCH_TOKEN, BotProcess, BotSpec, mib, ms, percentile, product_env,
    )
    from bot.config import PROJECT_ROOT
    from bot.emulator import BotApiEmulator

    print(f"{name}: {args.recipients:,} recipients, Telegram's flood control on, {args.fault_rate:.0%} of sends answered "
          f"with a random 429 (retry_after {args.retry_after} s){'' if args.no_restart else ', a crash halfway'}", flush=True)
    await _seed(url, args.recipients)
    emu = BotApiEmulator(token=BENCH_TOKEN, bot_username=BENCH_BOT_USERNAME)
    await emu.start(host="127.0.0.1", port=0)
    for number in range(args.recipients):
        # Tenants who started the bot long ago (the emulator refuses a first message from the bot, as Telegram does).
        emu.add_user(user_id=FIRST_RECIPIENT + number, first_name=f"T{number}").started = True
    sent_at: list[float] = []
    per_chat: dict[int, list[float]] = {}
    add_message = emu.state.add_message

    def recording(chat_id, **fields):  # type: ignore[no-untyped-def]
        message = add_message(chat_id, **fields)
        if fields.get("from_bot") and chat_id >= FIRST_RECIPIENT:
            moment = time.monotonic()
            sent_at.append(moment)
            per_chat.setdefault(chat_id, []).append(moment)
        return message

    emu.state.add_message = recording  # type: ignore[method-assign]
    emu.flood_control()
    emu.fault_rate(method="sendMessage", rate=args.fault_rate, statuses=(429,), seed=15, retry_after=args.retry_after)
    env = product_env(emu.base_url, emu.base_file_url, url, folder / f"data-{name}", PROJECT_ROOT / "content", "polling", 0)
    processes: list[BotProcess] = []
    latencies: list[tuple[float, float]] = []  # (pressed at, seconds to the answer)
    down: list[tuple[float, float]] = []  # from the crash until the restarted bot's first message
    rss: list[tuple[int, int]] = []  # (messages so far, RSS), every second; the process's own count from crash_sample on
    stop = asyncio.Event()
    ready: list[int] = []  # interactive tenants with their first screen

    def start_bot() -> BotProcess:
        spec = BotSpec("product", "polling", emu.base_url, emu.base_file_url, env,
                       tracemalloc_path=str(Path(f"bench-broadcast-tracemalloc-{name}-{len(processes)}.txt").resolve())
                       if args.tracemalloc else "")
        process = BotProcess(spec, folder / f"bot-{name}-{len(processes)}.log")
        process.start()
        processes.append(process)
        return process

    async def interactive(user_id: int) -> None:
        """A tenant pressing about twice a second (menu ⇄ languages), timed from the press to the edited screen.
        Buttons are answered by editing the message, so the 429s planted on sendMessage do not hit them."""
        from bot import callbacks

        emu.add_user(user_id=user_id, first_name="Interattivo", language_code="it")
        emu.send_text(user_id, "/start")
        await emu.wait_for(lambda: emu.last_bot_message(user_id) is not None, timeout=180)  # slow under --tracemalloc
        screen = emu.last_bot_message(user_id)
        ready.append(user_id)
        taps = [callbacks.encode(callbacks.CONSENT)] + [callbacks.encode(action) for action in (callbacks.LANGUAGES, callbacks.MENU)] * 100_000
        for data in taps:
            if stop.is_set():
                return
            before = screen.text
            began = time.monotonic()
            emu.press_button(user_id, screen.message_id, data, force=True)
            try:
                await emu.wait_for(lambda: screen.text != before, timeout=10)
                latencies.append((began, time.monotonic() - began))
            except TimeoutError:
                latencies.append((began, 10.0))
            await asyncio.sleep(0.5)

    began = time.monotonic()
    bot = start_bot()
    restarted = args.no_restart
    crash_sample = 0
    sent_by_earlier: int | None = 0  # messages sent by the processes before the one running (None: not known yet)
    crashed_peak = 0
    crashed_at = 0.0
    tasks = []
    try:
        await asyncio.sleep(3)  # the bot starts; then tenants start pressing
        tasks = [asyncio.create_task(interactive(900 + number)) for number in range(INTERACTIVE_TENANTS)]
        # Their /start replies are messages too: they go first, so flood control counts only the broadcast's.
        while len(ready) < INTERACTIVE_TENANTS:
            bot.check_alive()
            if any(task.done() for task in tasks):
                await next(task for task in tasks if task.done())  # raises what stopped a tenant
            await asyncio.sleep(0.2)
        await asyncio.sleep(1)
        await _queue_notice(url)
        last_progress = last_sample = time.monotonic()
        while len(per_chat) < args.recipients:
            await asyncio.sleep(0.2)
            bot.check_alive()
            if sent_by_earlier is None and time.monotonic() > crashed_at + LAST_CALL_SECONDS:
                sent_by_earlier = bisect.bisect_right(sent_at, crashed_at + LAST_CALL_SECONDS)
            if time.monotonic() - last_sample >= 1 and sent_by_earlier is not None:
                last_sample = time.monotonic()
                if len(sent_at) > sent_by_earlier:  # from the process's first message
                    rss.append((len(sent_at) - sent_by_earlier, bot.rss_bytes()))
            if time.monotonic() - last_progress > 10:
                last_progress = time.monotonic()
                print(f"  {len(per_chat):,}/{args.recipients:,} served, {len(sent_at) / (time.monotonic() - began):.1f}/s so far", flush=True)
            if not restarted and len(per_chat) >= args.recipients // 2:
                restarted = True
                rss.append((len(sent_at) - sent_by_earlier, bot.rss_bytes()))
                crashed_peak = bot.peak_rss_bytes()
                crash_sample = len(rss)
                bot.process.kill()  # a crash: no clean stop, whatever was in flight stays in flight
                crashed_at = time.monotonic()
                sent_by_earlier = None  # the dead process's last call may still arrive
                await asyncio.sleep(0.5)
                print(f"  crashed the bot at {len(per_chat):,} served; starting it again", flush=True)
                bot = start_bot()
            if restarted and not down and not args.no_restart and sent_by_earlier is not None and len(sent_at) > sent_by_earlier:
                down.append((crashed_at, sent_at[sent_by_earlier]))
            if time.monotonic() - began > args.recipients / 5 + 60:
                raise SystemExit(f"qcbot bench broadcast: the broadcast did not finish in time; the bot's log:\n{bot.log_tail(400)}")
    finally:
        stop.set()
        for task in tasks:
            task.cancel()
        peaks = []
        for process in processes:
            if process._popen is not None and process._popen.poll() is None:
                peaks.append(process.peak_rss_bytes())
                await process.stop()
        await emu.stop()
    statuses = await _counts(url)
    pauses = sum(1 for refusal in emu.refusals
                 if refusal.injected and refusal.error_code == 429 and int(refusal.params.get("chat_id", 0)) >= FIRST_RECIPIENT)
    over_limits = emu.flood.refused if emu.flood is not None else 0
    ordered = sorted(sent_at)
    gaps = sorted(later - earlier for earlier, later in zip(ordered, ordered[1:]) if later - earlier < 0.5)
    pace = gaps[len(gaps) // 2] if gaps else 0.0  # the usual spacing between two messages, pauses left out
    windows = _max_in_window(ordered, 1.0)
    per_chat_max = max(_max_in_window(times, 1.0) for times in per_chat.values())
    twice = sum(1 for times in per_chat.values() if len(times) > 1)
    lost = args.recipients - len(per_chat)
    span = max(1e-9, ordered[-1] - ordered[0]) if ordered else 1e-9  # first to last message: the bot's start is not counted
    print(f"  messages: {len(sent_at):,} in {span:,.0f} s → {len(sent_at) / span:.1f}/s on average over the run "
          f"({'no crash' if args.no_restart else 'crash and restart included'}); "
          f"{1 / pace if pace else 0:.1f}/s between pauses (median spacing {pace * 1000:.1f} ms); "
          f"{pauses:,} random 429s on the broadcast, each pausing it {args.retry_after} s; "
          f"{over_limits:,} 429s from flood control (over 30/s or 1/s to a chat)")
    if args.fault_rate:
        # Each random 429 pauses everything for retry_after: per attempt 1/pace of sending plus, with chance f, a
        # pause; a share f of the attempts is answered 429 and sent again later.
        ceiling = (1 - args.fault_rate) / (1 / PACE + args.fault_rate * args.retry_after)
        print(f"  ceiling with {args.fault_rate:.0%} random 429s pausing {args.retry_after} s each at {PACE}/s: "
              f"(1 − {args.fault_rate}) / (1/{PACE} + {args.fault_rate} × {args.retry_after}) = {ceiling:.1f}/s")
    print(f"  most in any one second: {windows} (limit 30); most to one chat in any second: {per_chat_max} (limit 1)")
    print(f"  lost: {lost}; served twice: {twice} (the message in flight at the crash may be one); "
          f"rows: {dict(statuses)}")
    running = [seconds for pressed, seconds in latencies if not any(start - 10 <= pressed <= end + 10 for start, end in down)]
    every = [seconds for _pressed, seconds in latencies]
    slowest = sorted(latencies, key=lambda item: -item[1])[:3]
    if down:
        print("  slowest presses (s after the crash, seconds to answer): "
              + ", ".join(f"{pressed - down[0][0]:+.1f}: {seconds:.2f}" for pressed, seconds in slowest)
              + f"; the restarted bot's first message came {down[0][1] - down[0][0]:.1f} s after the crash")
    slowest_up = sorted(((pressed, seconds) for pressed, seconds in latencies
                         if not any(start - 10 <= pressed <= end + 10 for start, end in down)), key=lambda item: -item[1])[:3]
    print("  slowest presses while up (s after the bench began, seconds to answer): "
          + ", ".join(f"{pressed - began:.1f}: {seconds:.2f}" for pressed, seconds in slowest_up))
    # A press made while the bot was dead is answered after the restart, with the backlog: those and the presses
    # within 10 s of the crash and of the restart are reported apart (the tenants' screens flip back and forth).
    print(f"  interactive answers while the bot was up: {len(running)}, p50 {ms(percentile(running, 0.5))}, "
          f"p99 {ms(percentile(running, 0.99))} (target < 500 ms); with the crash window too: "
          f"p99 {ms(percentile(every, 0.99))}")
    segments = [("over the run", rss)] if args.no_restart else [("before the crash", rss[:crash_sample]),
                                                                  ("after the restart", rss[crash_sample:])]
    for label, samples in segments:
        if samples:
            print(f"  bot RSS {label} (every ~2,500 of its messages): "
                  + ", ".join(f"{mib(size)} after {count:,}" for count, size in _thinned(samples, 2500))
                  + f"; highest sample {mib(max(size for _count, size in samples))}")
            print(f"  bot RSS {label}: {_rss_story(samples)}")
    if crashed_peak:
        print(f"  peak RSS of the crashed process (VmHWM): {mib(crashed_peak)}")
    if peaks:
        print(f"  peak RSS of the last process (VmHWM): {mib(peaks[-1])}", flush=True)


def _rss_story(samples: list[tuple[int, int]], warm_up: int = WARM_UP_MESSAGES) -> str:
    """Start, after the warm-up, peak, end and the slope after the warm-up (MB per 10,000 messages), flat or not.
    `samples` are (messages the process has sent, its RSS in bytes), in order."""
    from tests.bench.common import mib

    start, end = samples[0], samples[-1]
    peak = max(samples, key=lambda sample: sample[1])
    settled = [sample for sample in samples if sample[0] >= warm_up]
    head = (f"{mib(start[1])} at its first message → {mib(settled[0][1])} after {settled[0][0]:,} (warm-up) → "
            f"peak {mib(peak[1])} after {peak[0]:,} → {mib(end[1])} after {end[0]:,}") if settled else \
           f"{mib(start[1])} at its first message → peak {mib(peak[1])} → {mib(end[1])} after {end[0]:,}"
    if len(settled) < 2 or settled[-1][0] - settled[0][0] < warm_up:
        return head + f"; no slope: fewer than {warm_up:,} messages after the warm-up"
    slope = _slope(settled) * 10_000 / (1024 * 1024)
    verdict = "flat" if slope < FLAT_MB_PER_10K else "NOT flat"
    return head + f"; after the warm-up {slope:+.2f} MB per 10k messages: {verdict} (threshold {FLAT_MB_PER_10K} MB per 10k)"


def _slope(samples: list[tuple[int, int]]) -> float:
    """Least-squares slope of RSS (bytes) against messages."""
    count = len(samples)
    mean_x = sum(x for x, _y in samples) / count
    mean_y = sum(y for _x, y in samples) / count
    spread = sum((x - mean_x) ** 2 for x, _y in samples)
    return sum((x - mean_x) * (y - mean_y) for x, y in samples) / spread if spread else 0.0


def _thinned(samples: list[tuple[int, int]], every: int) -> list[tuple[int, int]]:
    """One RSS sample per `every` messages (the first at or past each step), and the last; all of a short run's."""
    kept, step = [], 0
    for count, size in samples:
        if count >= step:
            kept.append((count, size))
            step = (count // every + 1) * every
    if samples and kept[-1] != samples[-1]:
        kept.append(samples[-1])
    return kept


def _max_in_window(times: list[float], width: float) -> int:
    """The most events within any window of `width` seconds (two pointers over sorted times)."""
    best, start = 0, 0
    for end, moment in enumerate(times):
        while moment - times[start] >= width:
            start += 1
        best = max(best, end - start + 1)
    return best


async def _main(args: argparse.Namespace) -> None:
    from tests.bench.common import postgres_server_url, throwaway_postgres_database

    with tempfile.TemporaryDirectory(prefix="qc-bench-broadcast-") as temporary:
        folder = Path(temporary)
        if args.database in ("sqlite", "both"):
            await _one_backend("SQLite", f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", folder, args)
        if args.database in ("postgres", "both"):
            server = postgres_server_url()
            if server is None:
                print("PostgreSQL: skipped (set QC_BENCH_POSTGRES_URL=postgresql://user@host/postgres to include it)")
                return
            async with throwaway_postgres_database(server) as url:
                await _one_backend("PostgreSQL", url, folder, args)
