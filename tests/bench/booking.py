"""`qcbot bench booking`: how booking holds up, on SQLite and (when a server is given) PostgreSQL.

1. Contention: rounds of N tenants confirming the same S-seat slot at once, straight on the domain; prints
   confirmations handled per second and checks that exactly S won each round.
2. Through the emulator: tenants walk service → Prenota → day → time → Conferma against the real bot; prints the
   p50/p99 latency of the confirmation tap and of the whole walk, and their ratio to opening a service screen.

PostgreSQL runs only when QC_BENCH_POSTGRES_URL (or QC_TEST_POSTGRES_URL) names a server; a throwaway database
is created there and dropped afterwards.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

describe = "booking: confirmations per second under contention, booking latency through the emulator vs browsing"

BENCH_SPACE = "bench-space"
BENCH_SERVICE = "bench-desk"  # plenty of seats: every walk through the emulator books
CONTENDED_SERVICE = "bench-contended"  # --seats seats per slot: every contention round fights for them
TOKEN = "123456:BENCH-token-for-the-emulator"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=200, help="tenants confirming the same slot at once (default 200)")
    parser.add_argument("--seats", type=int, default=5, help="seats in the contended slot (default 5)")
    parser.add_argument("--rounds", type=int, default=5, help="contention rounds per database (default 5)")
    parser.add_argument("--journeys", type=int, default=40, help="booking walks through the emulator (default 40)")


def run(args: argparse.Namespace) -> None:
    if args.tenants < 1 or args.seats < 1 or args.rounds < 1 or args.journeys < 1:
        raise SystemExit("qcbot bench booking: --tenants, --seats, --rounds and --journeys must be at least 1")
    asyncio.run(_main(args))


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _write_bench_content(folder: Path, seats: int) -> Path:
    """The sample content plus one space whose services have a slot every half hour, every day."""
    from bot.config import PROJECT_ROOT

    content = folder / "content"
    shutil.copytree(PROJECT_ROOT / "content", content)
    (content / "spaces" / f"{BENCH_SPACE}.yaml").write_text(
        f"""id: {BENCH_SPACE}
name: Spazio del benchmark
neighbourhood: Benchmark
municipio: 1
address: via del Benchmark 1
lat: 45.46
lon: 9.19
model: animation
operator: Benchmark
hours:
  mon: ["08:00-20:00"]
services:
  - id: {BENCH_SERVICE}
    title: Sportello del benchmark
    description: Un servizio con molti posti per misurare le prenotazioni.
    category: digital
    booking:
      schedule:
        - {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:30", slot_minutes: 30, seats: 100000}}
      min_notice_hours: 0
      max_days_ahead: 30
      max_active_per_tenant: 1000
  - id: {CONTENDED_SERVICE}
    title: Sportello conteso
    description: Pochi posti e tante persone che confermano insieme.
    category: digital
    booking:
      schedule:
        - {{days: [mon, tue, wed, thu, fri, sat, sun], start: "00:00", end: "23:30", slot_minutes: 30, seats: {seats}}}
      min_notice_hours: 0
      max_days_ahead: 30
      max_active_per_tenant: 1000
""",
        encoding="utf-8",
    )
    return content


async def _contention(url: str, content_dir: Path, args: argparse.Namespace) -> None:
    from datetime import datetime, timedelta, timezone

    from bot.config import load_settings
    from storage.domain import booking_intents, bookings, users
    from storage.domain.booking_intents import Booked, SlotRequest
    from storage.content import load_content
    from storage.db import Database

    tz = load_settings({"QC_CONTENT_DIR": str(content_dir)}).timezone
    content = load_content(content_dir)
    service, space = content.services[CONTENDED_SERVICE], content.spaces[BENCH_SPACE]
    db = Database(url, pool_size=20)
    try:
        now = datetime.now(timezone.utc)
        tenants = range(10_000, 10_000 + args.tenants)
        async with db.write() as session:
            for tenant in tenants:
                await users.touch_user(session, tenant, f"Tenant {tenant}", "it", now)
        slots = bookings.bookable_slots(service.booking, space, now + timedelta(hours=1), tz)
        rates = []
        for round_number in range(args.rounds):
            start = slots[round_number].start
            began = time.perf_counter()
            outcomes = await asyncio.gather(*(
                booking_intents.confirm_booking(db, SlotRequest(service, space, start, tenant, tenant, "Bench", "it"),
                                                now=now, tz=tz, reminder_params=lambda booking: {"text": "⏰"})
                for tenant in tenants
            ))
            elapsed = time.perf_counter() - began
            won = sum(isinstance(outcome, Booked) and outcome.fresh for outcome in outcomes)
            if won != args.seats:
                raise SystemExit(f"qcbot bench booking: {won} bookings for {args.seats} seats — capacity is broken")
            rates.append(len(outcomes) / elapsed)
            print(f"  round {round_number + 1}/{args.rounds}: {len(outcomes)} confirmations in {elapsed * 1000:.0f} ms, "
                  f"{won} booked, {len(outcomes) - won} told 'just taken'", flush=True)
        print(f"  contention: {statistics.median(rates):,.0f} confirmations/s (median of {args.rounds} rounds, "
              f"{args.tenants} tenants for {args.seats} seats)", flush=True)
    finally:
        await db.dispose()


async def _through_emulator(url: str, content_dir: Path, data_dir: Path, args: argparse.Namespace) -> None:
    from bot import callbacks
    from bot.config import load_settings
    from bot.emulator import BotApiEmulator
    from bot.runners import BotService

    emu = BotApiEmulator(token=TOKEN, bot_username="qc_bench_bot")
    await emu.start(host="127.0.0.1", port=0)
    settings = load_settings({
        "QC_TELEGRAM_TOKEN": TOKEN, "QC_TELEGRAM_API_URL": emu.base_url, "QC_TELEGRAM_FILE_URL": emu.base_file_url,
        "QC_DATABASE_URL": url, "QC_DATA_DIR": str(data_dir), "QC_CONTENT_DIR": str(content_dir),
    })
    service = BotService(settings, webhook=False)
    done: dict[int, asyncio.Event] = {}

    def finished(update: object) -> None:
        update_id = getattr(update, "update_id", None)
        if update_id in done:
            done[update_id].set()

    async def handled(update: dict | None) -> None:
        assert update is not None, "the emulator produced no update"
        event = done.setdefault(update["update_id"], asyncio.Event())
        await asyncio.wait_for(event.wait(), 30)

    def button_data(user_id: int, action: callbacks.Action) -> tuple[int, str]:
        message = emu.last_bot_message(user_id)
        for row in message.inline_keyboard:
            for button in row:
                data = button.get("callback_data", "")
                decoded = callbacks.decode(data)
                if decoded is not None and decoded.action is action:
                    return message.message_id, data
        raise SystemExit(f"qcbot bench booking: no {action.code!r} button on the bot's screen: {message.buttons()}")

    async def tap(user_id: int, action: callbacks.Action) -> float:
        message_id, data = button_data(user_id, action)
        began = time.perf_counter()
        emu.press_button(user_id, message_id, data)
        await handled(emu.last_update)
        return time.perf_counter() - began

    await service.start()
    service.application.update_processor.on_done = finished
    browse, confirm, walk = [], [], []
    try:
        for journey in range(args.journeys):
            user_id = 50_000 + journey
            emu.add_user(user_id=user_id, first_name=f"Tenant {journey}", language_code="it")
            await handled(emu.send_text(user_id, "/start"))
            await tap(user_id, callbacks.CONSENT)
            # The service as if found by a search: its button pressed on the main menu's message.
            menu = emu.last_bot_message(user_id)
            began = time.perf_counter()
            emu.press_button(user_id, menu.message_id, callbacks.encode(callbacks.SERVICE, BENCH_SERVICE), force=True)
            await handled(emu.last_update)
            browse.append(time.perf_counter() - began)
            steps = [await tap(user_id, action) for action in (callbacks.BOOK_DAYS, callbacks.BOOK_TIMES, callbacks.BOOK_SLOT)]
            confirm.append(await tap(user_id, callbacks.BOOK_CONFIRM))
            walk.append(sum(steps) + confirm[-1])
            if "PR-" not in emu.last_bot_message(user_id).text:
                raise SystemExit("qcbot bench booking: a walk through the emulator did not end with a booking code")
            if (journey + 1) % 10 == 0 or journey + 1 == args.journeys:
                print(f"  emulator: {journey + 1}/{args.journeys} bookings", flush=True)
    finally:
        await service.stop()
        await emu.stop()

    def ms(values: list[float], fraction: float) -> str:
        return f"{_percentile(values, fraction) * 1000:.1f} ms"

    base = statistics.median(browse)
    print(f"  open a service screen: p50 {ms(browse, 0.5)}, p99 {ms(browse, 0.99)}")
    print(f"  confirm a booking:     p50 {ms(confirm, 0.5)}, p99 {ms(confirm, 0.99)}  "
          f"({statistics.median(confirm) / base:.1f}× browsing)")
    print(f"  whole booking (4 taps): p50 {ms(walk, 0.5)}, p99 {ms(walk, 0.99)}  "
          f"({statistics.median(walk) / base:.1f}× browsing)", flush=True)


async def _bench_backend(name: str, url: str, folder: Path, content_dir: Path, args: argparse.Namespace) -> None:
    from storage.db import upgrade

    print(f"{name}:", flush=True)
    await upgrade(url)
    await _contention(url, content_dir, args)
    await _through_emulator(url, content_dir, folder / f"data-{name}", args)


async def _main(args: argparse.Namespace) -> None:
    from tests.bench.common import postgres_server_url, throwaway_postgres_database

    with tempfile.TemporaryDirectory(prefix="qc-bench-booking-") as temporary:
        folder = Path(temporary)
        content_dir = _write_bench_content(folder, args.seats)
        await _bench_backend("SQLite", f"sqlite+aiosqlite:///{folder / 'bench.sqlite3'}", folder, content_dir, args)
        server = postgres_server_url()
        if server is None:
            print("PostgreSQL: skipped (set QC_BENCH_POSTGRES_URL=postgresql://user@host/postgres to include it)")
            return
        async with throwaway_postgres_database(server) as url:
            await _bench_backend("PostgreSQL", url, folder, content_dir, args)
