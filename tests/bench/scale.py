"""`qcbot bench scale`: the bot over a big database: 100k users, 1M bookings, 100k tickets, a time bank of 10k
members with 1M ledger entries by default.

For SQLite (a file) and PostgreSQL (when QC_BENCH_POSTGRES_URL or QC_TEST_POSTGRES_URL names a server; a throwaway
database is created there and dropped afterwards):
1. seed the tables with bulk inserts (executemany on SQLite, COPY on PostgreSQL), showing progress;
2. time the heaviest screens straight on the domain and render functions (server time: queries + rendering):
   my bookings, my reports, the operator's agenda, the custodian's open tickets, the admin's monthly statistics,
   a time bank member's balance and history;
3. start the bot in its own process over that database, time the same screens through the emulator, crawl every
   screen a tenant and an admin can reach, and read the bot's RSS afterwards.
Finally, content reload time for 9 spaces × 200 services (tests/bench/content.py).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import tempfile
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

describe = ("scale: seed 100k users / 1M bookings / 100k tickets / 1M time bank entries, then screen times, RSS and "
            "content reload")

BATCH = 20_000
FIRST_USER_ID = 10_000_000
ADMIN_ID, OPERATOR_ID, CUSTODIAN_ID = 9_000_001, 9_000_002, 9_000_003
MANAGER_CHAT_ID = -1001234567890  # the manager's group, for escalations
# Buttons a crawl never presses: they change bookings, tickets, roles or drafts rather than show something.
CRAWL_SKIPS = ("CONFIRM", "CANCEL", "SEND", "MARK", "REJECT", "RESOLVE", "ACK", "START", "LEAVE", "ACCEPT", "JOIN",
               "DISCARD", "NEW", "REVOKE", "ME_TOO", "RATE", "REOPEN", "COMMENT", "NOTE", "SET_LANGUAGE", "CONSENT",
               "INVITE", "STARS", "ANONYMOUS", "ON_BEHALF", "BOOK_SLOT", "BOOK_PHONE", "CATEGORY", "NEAREST", "MAP",
               "FEEDBACK_TARGET", "FEEDBACK_SPACE", "TB_ASK", "ANSWER", "AGREE", "THANK", "DISPUTE", "ABUSE", "TB_END",
               "DIGEST", "MEMBER_DO", "ADJUST", "DECIDE", "REVERSE", "CLOSE", "RENEW", "PHOTO", "USERNAME", "TB_WRITE",
               "EXPORT", "SKIP")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--users", type=int, default=100_000, help="users to seed (default 100000)")
    parser.add_argument("--bookings", type=int, default=1_000_000, help="bookings to seed (default 1000000)")
    parser.add_argument("--tickets", type=int, default=100_000, help="tickets to seed (default 100000)")
    parser.add_argument("--tb-members", type=int, default=None,
                        help="time bank members to seed (default 10000, fewer when --users is smaller)")
    parser.add_argument("--tb-entries", type=int, default=None,
                        help="time bank ledger entries to seed, two per exchange (default: as many as --bookings)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--samples", type=int, default=100, help="timings per screen, straight on the domain (default 100)")
    parser.add_argument("--emulator-samples", type=int, default=30, help="timings per screen through the emulator (default 30)")
    parser.add_argument("--crawl", type=int, default=120, help="button presses per persona in the crawl (default 120)")


def run(args: argparse.Namespace) -> None:
    if args.users < 10 or min(args.bookings, args.tickets, args.crawl) < 0 or min(args.samples, args.emulator_samples) < 1:
        raise SystemExit("qcbot bench scale: --users must be at least 10; --bookings, --tickets, --crawl at least 0; "
                         "--samples and --emulator-samples at least 1")
    args.tb_members = min(10_000, args.users - 2) if args.tb_members is None else args.tb_members
    args.tb_entries = max(2, args.bookings) if args.tb_entries is None else args.tb_entries
    if not 2 <= args.tb_members <= args.users - 2 or args.tb_entries < 2:
        raise SystemExit("qcbot bench scale: --tb-members must be between 2 and --users minus 2; --tb-entries at least 2")
    asyncio.run(_main(args))


# --------------------------------------------------------------------------------------------
# Seeding


def _progress(table: str, done: int, total: int, began: float) -> None:
    elapsed = time.perf_counter() - began
    print(f"  … {table}: {done:,}/{total:,} rows, {done / max(elapsed, 1e-9):,.0f} rows/s", flush=True)


async def _insert(connection: Any, is_sqlite: bool, table: Any, rows: list[dict[str, Any]]) -> None:
    """executemany through SQLAlchemy on SQLite; COPY (asyncpg) on PostgreSQL."""
    if not rows:
        return
    if is_sqlite:
        await connection.execute(table.insert(), rows)
        return
    columns = list(rows[0])
    json_columns = {column.name for column in table.columns if column.type.__class__.__name__ == "JSON"}
    records = [tuple(json.dumps(row[c]) if c in json_columns else row[c] for c in columns) for row in rows]
    raw = await connection.get_raw_connection()
    await raw.driver_connection.copy_records_to_table(table.name, records=records, columns=columns)


async def _seed_table(db: Any, name: str, table: Any, total: int, make_rows: Any) -> None:
    began = time.perf_counter()
    async with db.write_engine.begin() as connection:
        for start in range(0, total, BATCH):
            end = min(total, start + BATCH)
            await _insert(connection, db.is_sqlite, table, make_rows(start, end))
            if end % (BATCH * 10) == 0 or end == total:
                _progress(name, end, total, began)


@dataclass
class Seeded:
    tenant_id: int  # a tenant with bookings and tickets, as most have
    busy_tenant_id: int  # a tenant with many of both
    operator_space: str
    bank_space: str = ""  # the time bank the members belong to (the tenant and the busy tenant among them)


async def seed_time_bank(db: Any, content: Any, args: argparse.Namespace, now: datetime, busy_tenant: int) -> str:
    """A time bank of --tb-members members with --tb-entries ledger entries (two per exchange) over the last year;
    the busy tenant takes part in one exchange in fifty. Balances are the entries' running sums, so the ledger
    adds up to zero as it does in real life."""
    from storage.models import LedgerEntry, LedgerTransaction, TimeBankAccount

    bank = next((space for space in content.spaces.values() if space.time_bank is not None), None)
    if bank is None:
        raise SystemExit("qcbot bench scale: the content has no space with a time bank")
    members = args.tb_members
    exchanges = args.tb_entries // 2
    member_ids = [busy_tenant] + [FIRST_USER_ID + 2 + index for index in range(members - 1)]
    step = timedelta(days=365) / exchanges

    def parties(number: int) -> tuple[int, int, int]:
        """(giver, receiver) as account ids (2.. members + 1), and the quarters: a pure function of the number."""
        giver = 0 if number % 50 == 0 else 1 + number * 7_919 % (members - 1)
        receiver = 1 + (number * 104_729 + 1) % (members - 1)
        if receiver == giver:
            receiver = 0 if giver != 0 else 1
        return giver + 2, receiver + 2, 1 + number % 8

    balances = [0] * (members + 2)
    for number in range(exchanges):
        giver, receiver, quarters = parties(number)
        balances[giver] += quarters
        balances[receiver] -= quarters

    def accounts(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for index in range(start, end):
            user_id = None if index == 0 else member_ids[index - 1]
            rows.append({"id": index + 1, "space_id": bank.id, "user_id": user_id, "status": "bank" if index == 0 else "active",
                         "balance": balances[index + 1], "first_name": "" if index == 0 else f"Inquilino {index}",
                         "estate_id": None, "languages": "it", "digest": False, "digest_sent_at": None,
                         "rules_accepted_at": now, "created_at": now - timedelta(days=366), "decided_at": None,
                         "decided_by": None})
        return rows

    def transactions(start: int, end: int) -> list[dict[str, Any]]:
        return [{"id": number + 1, "space_id": bank.id, "kind": "exchange", "exchange_id": None, "reverses_id": None,
                 "category": bank.time_bank.categories[number % len(bank.time_bank.categories)], "reason": None,
                 "created_by": None, "created_at": now - step * (exchanges - number)} for number in range(start, end)]

    running = [0] * (members + 2)

    def entries(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for number in range(start, end):
            giver, receiver, quarters = parties(number)
            at = now - step * (exchanges - number)
            for offset, (account, amount) in enumerate(sorted(((receiver, -quarters), (giver, quarters)))):
                running[account] += amount
                rows.append({"id": number * 2 + offset + 1, "transaction_id": number + 1, "account_id": account,
                             "amount": amount, "balance_after": running[account], "created_at": at})
        return rows

    await _seed_table(db, "tb_accounts", TimeBankAccount.__table__, members + 1, accounts)
    await _seed_table(db, "tb_transactions", LedgerTransaction.__table__, exchanges, transactions)
    await _seed_table(db, "tb_entries (by exchange)", LedgerEntry.__table__, exchanges, entries)
    return bank.id


async def seed(db: Any, content: Any, args: argparse.Namespace, now: datetime) -> Seeded:
    from storage.models import Booking, RoleGrant, Ticket, TicketEvent, TicketSubscriber, User
    from storage.domain.tickets import STATUSES

    rng = random.Random(2026)
    languages = ["it", "it", "it", "ar", "es", "zh", "en", "uk", "ro", "tl"]
    staff = [(ADMIN_ID, "Admin"), (OPERATOR_ID, "Operatrice"), (CUSTODIAN_ID, "Custode")]

    def users(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for number in range(start, end):
            language = languages[number % len(languages)]
            rows.append({"id": FIRST_USER_ID + number, "first_name": f"Inquilino {number}", "language": language,
                         "telegram_language": language, "consent_at": now - timedelta(days=number % 400),
                         "created_at": now - timedelta(days=number % 400), "last_seen_at": now,
                         "last_estate_id": None, "prompts_enabled": True, "blocked_at": None})
        if start == 0:
            rows.extend({"id": user_id, "first_name": name, "language": "it", "telegram_language": "it",
                         "consent_at": now, "created_at": now, "last_seen_at": now, "last_estate_id": None,
                         "prompts_enabled": True, "blocked_at": None} for user_id, name in staff)
        return rows

    await _seed_table(db, "users", User.__table__, args.users, users)
    bookable = [service for service in content.services.values() if service.booking]
    if not bookable:
        raise SystemExit("qcbot bench scale: the content has no bookable service to book")
    busy_tenant = FIRST_USER_ID + 1
    statuses = ["attended"] * 6 + ["active"] * 2 + ["cancelled", "no_show"]
    span = timedelta(minutes=10 * (args.bookings // len(bookable) + 1))
    first_slot = (now - span * 0.9).replace(minute=0, second=0, microsecond=0)

    def bookings(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for number in range(start, end):
            # One booking in 10,000 is the busy tenant's (100 of 1M); the others go to random tenants.
            user = busy_tenant if number % 10_000 == 0 else FIRST_USER_ID + 2 + rng.randrange(args.users - 2)
            service = bookable[number % len(bookable)]
            # Each (service, slot) is used once, so no tenant holds the same slot twice (the live-booking index);
            # 1M bookings over ~25 services every 10 minutes span the last 250 days and the next month.
            slot = first_slot + timedelta(minutes=10 * (number // len(bookable)))
            status = statuses[number % len(statuses)] if slot < now else ("active" if number % 7 else "cancelled")
            rows.append({"id": number + 1, "user_id": user, "chat_id": user, "service_id": service.id,
                         "space_id": service.space_id, "slot_start": slot, "slot_end": slot + timedelta(minutes=30),
                         "status": status, "name": "Inquilino", "phone": None, "language": "it",
                         "holds_quota": False, "created_at": slot - timedelta(days=3), "cancelled_at": None,
                         "cancelled_by": None, "cancel_reason": None, "marked_at": None, "marked_by": None})
        return rows

    if args.bookings:
        await _seed_table(db, "bookings", Booking.__table__, args.bookings, bookings)
    else:
        print("  bookings: none asked for (--bookings 0)")
    problems, estates = list(content.problems.values()), list(content.estates)
    ticket_statuses = list(STATUSES)

    # Every ticket has the history its status implies (acknowledged within 0-48 h against 24 h, resolved within
    # 1-11 days, half the closed ones rated), so the statistics read and compute what they would in real life.
    def history(number: int) -> dict[str, Any]:
        created = now - timedelta(minutes=5 * (args.tickets - number))
        status = ticket_statuses[number // len(estates) % len(ticket_statuses)]  # every estate has every status
        acknowledged = None if status == "new" else min(now, created + timedelta(minutes=number % 2_880))
        resolved = min(now, created + timedelta(hours=24 + number % 240)) if status in ("resolved", "closed") else None
        rated = status == "closed" and number % 2 == 0
        return {"created_at": created, "status": status, "acknowledged_at": acknowledged, "resolved_at": resolved,
                "closed_at": resolved if status == "closed" else None, "stars": 1 + number % 5 if rated else None,
                "rated_at": resolved if rated else None}

    def subscriber(number: int) -> int | None:
        """One ticket in ten has a neighbour who said "me too"; the busy tenant joined 100 of them."""
        if number % 10 != 5:
            return None
        return busy_tenant if number % 1_000 == 505 else FIRST_USER_ID + 2 + number * 7_919 % (args.users - 2)

    def tickets(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for number in range(start, end):
            problem, facts = problems[number % len(problems)], history(number)
            created, status = facts["created_at"], facts["status"]
            reporter = busy_tenant if number % 1_000 == 0 else FIRST_USER_ID + 2 + rng.randrange(args.users - 2)
            rows.append({"id": number + 1, "code": f"QC-{created.year}-{number + 1:06d}", "category_id": problem.id,
                         "urgency": problem.urgency, "ack_hours": 24.0, "estate_id": estates[number % len(estates)],
                         "building_id": None, "staircase": None, "floor": None, "area": "common", "flat": None,
                         "answers": {}, "description": "Perdita d'acqua", "reporter_id": reporter, "filed_by": None,
                         "tenant_name": None, "tenant_contact": None, "affected": 1 if subscriber(number) is None else 2,
                         "updated_at": created,
                         "escalate_at": created + timedelta(hours=24) if status in ("new", "reopened") else None,
                         "escalations": 0, "reject_reason": "unclear" if status == "rejected" else None,
                         "last_note": None, "last_note_at": None, **facts})
        return rows

    def events(start: int, end: int) -> list[dict[str, Any]]:
        rows = []
        for number in range(start, end):
            facts = history(number)
            created, status, acknowledged = facts["created_at"], facts["status"], facts["acknowledged_at"]
            steps = [(created, "created", "new")]
            if acknowledged is not None:
                steps.append((acknowledged, "acknowledged", "acknowledged"))
            if status in ("resolved", "closed", "reopened"):
                steps.append((min(now, acknowledged + timedelta(days=1)), "resolved", "resolved"))
            if status in ("closed", "reopened", "rejected"):
                kind = {"closed": "confirmed", "reopened": "reopened", "rejected": "rejected"}[status]
                steps.append((min(now, acknowledged + timedelta(days=2)), kind, status))
            rows.extend({"id": number * 4 + index + 1, "ticket_id": number + 1, "at": at, "actor_id": None,
                         "kind": kind, "status": after, "text": None}
                        for index, (at, kind, after) in enumerate(steps))
        return rows

    def subscribers(start: int, end: int) -> list[dict[str, Any]]:
        return [{"id": number + 1, "ticket_id": number + 1, "user_id": user, "created_at": now}
                for number in range(start, end) if (user := subscriber(number)) is not None]

    if args.tickets:
        await _seed_table(db, "tickets", Ticket.__table__, args.tickets, tickets)
        await _seed_table(db, "ticket_events (by ticket)", TicketEvent.__table__, args.tickets, events)
        await _seed_table(db, "ticket_subscribers (by ticket)", TicketSubscriber.__table__, args.tickets, subscribers)
    else:
        print("  tickets: none asked for (--tickets 0)")
    bank_space = await seed_time_bank(db, content, args, now, busy_tenant)
    operator_space = bookable[0].space_id
    custodian_estate = next(estate.id for estate in content.estates.values() if estate.space_id == operator_space) \
        if any(estate.space_id == operator_space for estate in content.estates.values()) else estates[0]
    async with db.write_engine.begin() as connection:
        await _insert(connection, db.is_sqlite, RoleGrant.__table__, [
            {"id": 1, "user_id": OPERATOR_ID, "role": "operator", "scope": operator_space, "granted_at": now, "granted_by": None},
            {"id": 2, "user_id": CUSTODIAN_ID, "role": "custodian", "scope": custodian_estate, "granted_at": now, "granted_by": None},
        ])
    if not db.is_sqlite:
        async with db.write_engine.begin() as connection:
            for table, column in (("bookings", "id"), ("tickets", "id"), ("ticket_events", "id"),
                                  ("ticket_subscribers", "id"), ("role_grants", "id"), ("tb_accounts", "id"),
                                  ("tb_transactions", "id"), ("tb_entries", "id")):
                await connection.exec_driver_sql(
                    f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), (SELECT COALESCE(MAX({column}), 1) FROM {table}))")
        # What autovacuum does soon after bulk inserts (PostgreSQL 13+ vacuums insert-only tables too): statistics
        # for the planner, and the visibility map that lets index-only scans skip the table.
        async with db.write_engine.connect() as connection:
            autocommit = await connection.execution_options(isolation_level="AUTOCOMMIT")
            for table in ("users", "bookings", "tickets", "ticket_events", "ticket_subscribers", "tb_accounts",
                          "tb_transactions", "tb_entries"):
                await autocommit.exec_driver_sql(f"VACUUM ANALYZE {table}")
    else:
        await db.checkpoint()  # what the bot does after its own writes: the seed's log into the database file
    return Seeded(FIRST_USER_ID + 2, busy_tenant, operator_space, bank_space)


# --------------------------------------------------------------------------------------------
# Server time of the heaviest screens, straight on the domain


async def time_screens(rt: Any, seeded: Seeded, samples: int) -> dict[str, list[float]]:
    from bot.i18n import translator
    from bot.runtime import Visitor
    from handlers import agenda, booking, custodian, reports, stats as stats_screens, timebank
    from storage.domain import stats, ticket_lists
    from storage.domain.users import Roles

    tr = translator("it", rt.settings.timezone.key)

    def person(user_id: int, roles: Roles) -> Visitor:
        return Visitor(user_id, user_id, "Bench", "it", tr, roles, True, None)

    tenant, busy = person(seeded.tenant_id, Roles()), person(seeded.busy_tenant_id, Roles())
    operator = person(OPERATOR_ID, Roles(operator_of=frozenset({seeded.operator_space})))
    custodian_roles = Roles(custodian_of=frozenset(estate.id for estate in rt.content.estates.values()
                                                    if estate.space_id == seeded.operator_space))
    custodian_person = person(CUSTODIAN_ID, custodian_roles)
    admin = person(ADMIN_ID, Roles(is_admin=True))

    async def my_reports(v: Visitor) -> None:
        async with rt.db.read() as session:
            total = await ticket_lists.count_tickets_of(session, v.user_id)
            items = await ticket_lists.tickets_of(session, v.user_id, limit=reports.REPORTS_PER_PAGE, offset=0)
        reports.render_my_reports(v, rt.content, items, total, 0)

    async def open_tickets(v: Visitor) -> None:
        estates = ticket_lists.estates_handled(v.roles)
        async with rt.db.read() as session:
            total = await ticket_lists.count_open_tickets(session, estates)
            items = await ticket_lists.open_tickets(session, estates, limit=custodian.TICKETS_PER_PAGE, offset=0)
        custodian.render_open_list(v, rt.content, items, total, 0)

    async def monthly_stats(v: Visitor) -> None:
        """As the stats screen reads them once the background job (bot.jobs.warm_statistics) has run: from memory."""
        scope = stats.scope_for(v.roles, rt.content)
        period = stats.Period.this_month(rt.clock.now().astimezone(rt.settings.timezone).date())
        summary = await rt.summaries.summary(rt.db, scope, period, rt.content, rt.settings.timezone, rt.clock.now())
        stats_screens.pages_of(stats_screens.summary_sections(v.tr, rt.content, summary))

    async def monthly_stats_counted(v: Visitor) -> None:
        """What the background job pays every minute: the whole city's month counted afresh."""
        scope = stats.scope_for(v.roles, rt.content)
        period = stats.Period.this_month(rt.clock.now().astimezone(rt.settings.timezone).date())
        async with rt.db.read(long=True) as session:
            await stats.summary(session, scope, period, rt.content, rt.settings.timezone, rt.clock.now())

    # What the statistics-warm job does seconds after a start; its summaries stay fresh for minutes, longer than
    # the samples below take.
    await rt.summaries.refresh(rt.db, rt.content, rt.settings.timezone, rt.clock.now())
    screens = {
        "my bookings": lambda: booking._my_bookings_screen(rt, tenant),
        "my bookings (busy tenant)": lambda: booking._my_bookings_screen(rt, busy),
        "my reports": lambda: my_reports(tenant),
        "my reports (busy tenant)": lambda: my_reports(busy),
        "agenda (operator, today)": lambda: agenda._agenda_screen(rt, operator, 0, 0),
        "open tickets (custodian)": lambda: open_tickets(custodian_person),
        "this month's stats (admin)": lambda: monthly_stats(admin),
        "counted afresh (background, every minute)": lambda: monthly_stats_counted(admin),
        "time bank balance": lambda: timebank.home_screen(rt, tenant, seeded.bank_space),
        "time bank balance (busy member)": lambda: timebank.home_screen(rt, busy, seeded.bank_space),
        "time bank history": lambda: timebank.ledger_screen(rt, tenant, seeded.bank_space, 0),
        "time bank history (busy member)": lambda: timebank.ledger_screen(rt, busy, seeded.bank_space, 0),
    }
    timings: dict[str, list[float]] = {}
    for name, screen in screens.items():
        await screen()  # warm: the first run compiles SQL and fills caches
        values = []
        for _ in range(samples):
            began = time.perf_counter()
            await screen()
            values.append(time.perf_counter() - began)
        timings[name] = values
    return timings


# --------------------------------------------------------------------------------------------
# Through the emulator: the same screens, a crawl, and the bot's RSS


async def time_jobs(rt: Any) -> dict[str, tuple[float, float, float]]:
    """Every periodic job twice: the first run finds the seed's backlog (tickets overdue for months, a month of
    attended bookings to ask about), the second what a job finds a minute later. Returns, per job, both durations
    and the longest the event loop went without a turn meanwhile: on SQLite a job's statements run inline (long
    reads excepted), so that is how long tenants would wait behind it."""
    from bot.app import PERIODIC_JOBS
    from bot.runners import tune_garbage_collector

    # The jobs run in the bot, whose collector `qcbot run` tunes; untuned, this process's full collections over the
    # seed's leftovers (~90 ms each) would be counted as the jobs' pauses. Put back afterwards (tests call this).
    thresholds = gc.get_threshold()
    tune_garbage_collector()
    try:
        return await _time_each_job(rt, PERIODIC_JOBS)
    finally:
        gc.unfreeze()
        gc.set_threshold(*thresholds)


async def _time_each_job(rt: Any, periodic_jobs: list) -> dict[str, tuple[float, float, float]]:  # type: ignore[type-arg]
    longest_pause = 0.0

    async def watch_the_loop() -> None:
        nonlocal longest_pause
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest_pause, last = max(longest_pause, now - last), now

    times = {}
    for job in periodic_jobs:
        longest_pause = 0.0
        watcher = asyncio.create_task(watch_the_loop())
        runs = []
        for _ in range(2):
            began = time.perf_counter()
            await job.run(rt)
            runs.append(time.perf_counter() - began)
        watcher.cancel()
        times[job.name] = (runs[0], runs[1], longest_pause)
    return times


async def through_emulator(url: str, content_dir: Path, data_dir: Path, seeded: Seeded, samples: int,
                           crawl: int) -> tuple[dict[str, list[float]], int, int, int]:
    """Returns (timings by screen, presses in the crawl, distinct actions reached, bot RSS after the crawl)."""
    from bot import callbacks
    from tests.bench.common import BENCH_BOT_USERNAME, BENCH_TOKEN, BotProcess, BotSpec, product_env
    from tests.bench.load import Chat
    from bot.emulator import BotApiEmulator

    emu = BotApiEmulator(token=BENCH_TOKEN, bot_username=BENCH_BOT_USERNAME, history_limit=50)
    await emu.start(host="127.0.0.1", port=0)
    env = product_env(emu.base_url, emu.base_file_url, url, data_dir, content_dir, "polling", 0)
    env["QC_ADMIN_IDS"] = str(ADMIN_ID)
    process = BotProcess(BotSpec("product", "polling", emu.base_url, emu.base_file_url, env), data_dir / "bot.log")
    names = {action: name for name, action in vars(callbacks).items() if isinstance(action, callbacks.Action)}
    chats = {}
    for user_id in (seeded.tenant_id, seeded.busy_tenant_id, OPERATOR_ID, CUSTODIAN_ID, ADMIN_ID):
        emu.add_user(user_id, "Bench", language_code="it")
        chats[user_id] = Chat(emu, user_id)
    timings: dict[str, list[float]] = {}
    try:
        process.start()
        began = time.perf_counter()
        while await chats[ADMIN_ID].send("/menu") is None:
            process.check_alive()
            if time.perf_counter() - began > 60:
                raise SystemExit(f"qcbot bench scale: the bot did not answer within 60 s; its log:\n{process.log_tail()}")

        async def timed(name: str, user_id: int, target: str) -> None:
            chat = chats[user_id]
            if emu.last_bot_message(user_id) is None:
                await chat.send("/menu")
            values = timings.setdefault(name, [])
            for _ in range(samples):
                message_id = emu.last_bot_message(user_id).message_id
                latency = await chat.reply_to(lambda: emu.press_button(user_id, message_id, target, force=True))
                if latency is not None:
                    values.append(latency)
                message_id = emu.last_bot_message(user_id).message_id
                await chat.reply_to(lambda: emu.press_button(user_id, message_id, callbacks.encode(callbacks.MENU), force=True))

        await timed("my bookings", seeded.tenant_id, callbacks.encode(callbacks.MY_BOOKINGS))
        await timed("my bookings (busy tenant)", seeded.busy_tenant_id, callbacks.encode(callbacks.MY_BOOKINGS))
        await timed("my reports", seeded.tenant_id, callbacks.encode(callbacks.MY_REPORTS, 0))
        await timed("my reports (busy tenant)", seeded.busy_tenant_id, callbacks.encode(callbacks.MY_REPORTS, 0))
        await timed("agenda (operator, today)", OPERATOR_ID, callbacks.encode(callbacks.AGENDA, 0, 0))
        await timed("open tickets (custodian)", CUSTODIAN_ID, callbacks.encode(callbacks.TICKETS_OPEN, 0))
        await timed("time bank balance", seeded.tenant_id, callbacks.encode(callbacks.TB_HOME, seeded.bank_space))
        await timed("time bank balance (busy member)", seeded.busy_tenant_id, callbacks.encode(callbacks.TB_HOME, seeded.bank_space))
        await timed("time bank history", seeded.tenant_id, callbacks.encode(callbacks.TB_LEDGER, seeded.bank_space, 0))
        await timed("time bank history (busy member)", seeded.busy_tenant_id,
                    callbacks.encode(callbacks.TB_LEDGER, seeded.bank_space, 0))
        # The statistics are not timed here: they may span several messages, and the first one (what this measures)
        # arrives before the rest, which would then be taken for the replies to the next presses.
        print("  crawling every screen a tenant and an admin can reach…", flush=True)
        presses, reached = 0, set()
        for user_id in (seeded.busy_tenant_id, ADMIN_ID):
            rng, pressed = random.Random(user_id), set()
            await chats[user_id].send("/menu")
            for _ in range(crawl):
                message = emu.last_bot_message(user_id)
                candidates = [button["callback_data"] for row in message.inline_keyboard for button in row
                              if "callback_data" in button]
                safe = [data for data in candidates if (decoded := callbacks.decode(data)) is not None
                        and not any(word in names.get(decoded.action, "") for word in CRAWL_SKIPS)]
                fresh = [data for data in safe if data not in pressed]
                if not (fresh or safe):
                    await chats[user_id].send("/menu")
                    continue
                data = rng.choice(fresh or safe)
                pressed.add(data)
                reached.add(callbacks.decode(data).action)
                presses += 1
                if await chats[user_id].press(message.message_id, data) is None:
                    await chats[user_id].send("/menu")  # a button that only answered: start again from the menu
        rss = process.rss_bytes()
    finally:
        await process.stop()
        await emu.stop()
    return timings, presses, len(reached), rss


# --------------------------------------------------------------------------------------------
# One backend, and the report


async def _bench_backend(name: str, url: str, folder: Path, args: argparse.Namespace) -> None:
    from tests.bench.common import mib, ms, percentile, print_table
    from bot.clock import Clock
    from bot.config import PROJECT_ROOT, load_settings
    from bot.runtime import Runtime
    from storage.content import ContentStore
    from storage.db import Database, upgrade

    print(f"{name}:", flush=True)
    content_dir = PROJECT_ROOT / "content"
    await upgrade(url)
    db = Database(url)
    store = ContentStore(content_dir)
    clock = Clock()
    began = time.perf_counter()
    try:
        seeded = await seed(db, store.current, args, clock.now())
        print(f"  seeded {args.users:,} users, {args.bookings:,} bookings, {args.tickets:,} tickets, "
              f"{args.tb_members:,} time bank members with {args.tb_entries // 2 * 2:,} ledger entries "
              f"in {time.perf_counter() - began:.0f} s", flush=True)
        # A manager chat, so escalations do their real work (a message to it) rather than log that there is none.
        settings = load_settings({"QC_DATABASE_URL": url, "QC_DATA_DIR": str(folder), "QC_CONTENT_DIR": str(content_dir),
                                  "QC_MANAGER_CHAT_ID": str(MANAGER_CHAT_ID)})
        direct = await time_screens(Runtime(settings, db, store, clock), seeded, args.samples)
    finally:
        await db.dispose()
    data_dir = folder / f"bot-{name}"
    data_dir.mkdir()
    emulated, presses, reached, rss = await through_emulator(url, content_dir, data_dir, seeded, args.emulator_samples,
                                                             args.crawl)
    # Last: the jobs change data (escalations, closings) and queue messages the crawl's bot would deliver.
    db = Database(url)
    try:
        job_times = await time_jobs(Runtime(settings, db, store, clock))
    finally:
        await db.dispose()
    print_table(
        ["screen", "server p50", "server p99", "via emulator p50", "via emulator p99"],
        [[screen, ms(percentile(values, 0.5)), ms(percentile(values, 0.99)),
          ms(percentile(emulated.get(screen, []), 0.5)) if screen in emulated else "n/a",
          ms(percentile(emulated.get(screen, []), 0.99)) if screen in emulated else "n/a"]
         for screen, values in direct.items()],
    )
    print(f"  bot RSS after {presses} presses crawling {reached} kinds of screens: {mib(rss)}", flush=True)
    print("  periodic jobs: first run on the seeded data / the next run / the longest the event loop waited meanwhile:\n    "
          + "; ".join(f"{name} {ms(first)} / {ms(again)} / {ms(pause)}" for name, (first, again, pause) in job_times.items()),
          flush=True)


async def _content_reload(folder: Path) -> tuple[float, float, int]:
    """A cold load of 9 spaces × 200 services, and a reload after one space file was saved again."""
    from storage.content import ContentStore
    from tests.bench.content import generate_large_content

    directory = folder / "large-content"
    generate_large_content(directory, spaces=9, services_per_space=200)
    began = time.perf_counter()
    store = ContentStore(directory)
    cold = time.perf_counter() - began
    space_file = directory / "spaces" / "space-0.yaml"
    space_file.write_text(space_file.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    os.utime(space_file, ns=(time.time_ns(), time.time_ns() + 1_000_000))
    began = time.perf_counter()
    problems = store.reload()
    reload = time.perf_counter() - began
    if problems:
        raise SystemExit(f"qcbot bench scale: the generated content has problems: {problems[0]}")
    return cold, reload, len(store.current.services)


async def _main(args: argparse.Namespace) -> None:
    from tests.bench.common import machine_line, ms, postgres_server_url, throwaway_postgres_database

    print(f"qcbot bench scale: {args.users:,} users, {args.bookings:,} bookings, {args.tickets:,} tickets; "
          f"{machine_line()}", flush=True)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="qc-bench-scale-") as temporary:
        folder = Path(temporary)
        if "sqlite" in backends:
            await _bench_backend("SQLite", f"sqlite+aiosqlite:///{folder / 'scale.sqlite3'}", folder, args)
        if "postgres" in backends:
            server = postgres_server_url()
            if server is None:
                print("PostgreSQL: SKIPPED — set QC_BENCH_POSTGRES_URL=postgresql://user@host/postgres to include it")
            else:
                async with throwaway_postgres_database(server) as url:
                    await _bench_backend("PostgreSQL", url, folder, args)
        cold, reload, services = await _content_reload(folder)
    print(f"content reload, 9 spaces × 200 services ({services:,} services): cold load {ms(cold)}, "
          f"reload after one space file changed {ms(reload)}", flush=True)
