"""`qcbot bench load`: the real bot against the emulator with N tenants at once, beside two bare reference bots.

For each bot (the product; the product storing no update, whose difference from the product is what the inbox
costs; a bare PTB bot on httpx; the same bare bot on our aiohttp backend) and each mode
(polling, webhook), in a fresh emulator:
1. the bot starts in its own process and a tenant sends /start at once: "start to first answer";
2. N tenants open a chat (the product: /start and the privacy notice);
3. for --warmup seconds (not counted), then for --seconds, every tenant acts, waits for the bot's reply (a new
   message or an edit), and acts again, like a person would: the product's tenants walk menu → spaces → a space →
   a service → search → booking → reports → language; the bare bots' tenants send a text, then press their buttons.
Latency is injected update → reply seen in the emulator. CPU seconds and peak RSS are the bot process's alone.
With --rounds N the bots take turns N times, in reverse order every other round (A B, B A, …: a machine getting
busier or quieter favours neither), and the product is compared with each other bot per round and over all
rounds' latencies pooled (docs/performance.md, "Method").
The product runs on a fresh SQLite file, or with --database postgres on a throwaway database of the server named by
QC_BENCH_POSTGRES_URL or QC_TEST_POSTGRES_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

describe = "load: replies/s, latency, CPU and memory of the bot vs bare PTB bots, polling and webhook"

# product-no-inbox: the product storing no update, beside which the product's figures are the inbox's cost.
# product-answer-by-call: the product answering pressed buttons with a call in webhook mode, not in the webhook's
# response (bot/webhook_answers.py).
BOTS = ("product", "product-no-inbox", "product-answer-by-call", "bare-httpx", "bare-aiohttp", "bare-aiogram")
PRODUCTS = ("product", "product-no-inbox", "product-answer-by-call")
MODES = ("polling", "webhook")
MIXES = ("walk", "tasks")
REPLY_TIMEOUT = 15.0  # a tenant who waits longer gives up on that step and says /menu
START_TIMEOUT = 60.0
SEARCH_WORDS = ("computer", "riparazioni", "pacchi", "SPID", "lavoro", "compiti", "caf", "bollette", "italiano")
# The languages simulated tenants' phones are set to: a sample of the shipped ones.
TENANT_LANGUAGES = ("it", "en", "ar", "es", "zh", "uk", "ro")
TENANT_IDS_FROM = 700_000
# The inbox's target (issue 13): product / product-no-inbox p99 at most this.
INBOX_P99_TARGET = 1.10
RESAMPLES = 400  # of the rounds, for the interval around a pooled ratio


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--tenants", type=int, default=100, help="simulated tenants acting at once (default 100)")
    parser.add_argument("--seconds", type=float, default=20.0, help="measured seconds per bot and mode (default 20)")
    parser.add_argument("--mode", choices=[*MODES, "both"], default="both", help="how updates reach the bots")
    parser.add_argument("--bots", default=None, help=f"which bots, comma separated (default {','.join(BOTS)}; "
                                                     "bare-aiogram only with the bench extra installed)")
    parser.add_argument("--database", choices=["sqlite", "postgres"], default="sqlite",
                        help="the product's database: a fresh SQLite file (default) or a throwaway PostgreSQL database "
                             "on the server named by QC_BENCH_POSTGRES_URL or QC_TEST_POSTGRES_URL")
    parser.add_argument("--mix", choices=MIXES, default="walk",
                        help="what the product's tenants do: walk the menus (mostly reading screens; default) or "
                             "complete tasks (book and cancel, rate, feedback, reports with a photo, the notice, "
                             "the language: mostly writes); latency is printed per action")
    parser.add_argument("--profile", metavar="FILE", help="run the product under pyinstrument and write its profile here")
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every bot and mode this many times, in turn (reversed every other round), and "
                             "print each ratio over all rounds pooled and as the median of the rounds' (a shared "
                             "machine's speed drifts between runs; default 1)")
    parser.add_argument("--warmup", type=float, default=2.0,
                        help="seconds the tenants act before anything is counted (default 2)")


def run(args: argparse.Namespace) -> None:
    if args.bots is None:
        import importlib.util

        args.bots = ",".join(bot for bot in BOTS if bot != "bare-aiogram" or importlib.util.find_spec("aiogram"))
    bots = [name.strip() for name in args.bots.split(",") if name.strip()]
    unknown = [name for name in bots if name not in BOTS]
    if unknown or not bots:
        raise SystemExit(f"qcbot bench load: --bots takes names among {', '.join(BOTS)}; got {args.bots!r}")
    if args.tenants < 1 or args.seconds <= 0 or args.rounds < 1 or args.warmup < 0:
        raise SystemExit("qcbot bench load: --tenants and --rounds must be at least 1, --seconds more than 0 and "
                         "--warmup not negative")
    if args.database == "postgres" and any(bot in PRODUCTS for bot in bots):
        from tests.bench.common import postgres_server_url

        if postgres_server_url() is None:
            raise SystemExit("qcbot bench load: --database postgres needs a server: set QC_BENCH_POSTGRES_URL="
                             "postgresql://user@host/postgres (or QC_TEST_POSTGRES_URL)")
    asyncio.run(_main(args, bots))


# --------------------------------------------------------------------------------------------
# What one run measured


@dataclass
class Figures:
    bot: str
    mode: str
    round: int = 1
    first_answer: float = 0.0
    latencies: list[float] = field(default_factory=list)
    seconds: float = 0.0
    cpu: float = 0.0
    peak_rss: int = 0
    timeouts: int = 0
    refusals: int = 0
    by_step: dict[str, list[float]] = field(default_factory=dict)  # latencies per kind of action
    timeouts_by_step: dict[str, int] = field(default_factory=dict)
    # Presses answered only by a note on the button (a toast over the same screen): the bot answered, the chat did
    # not change; not counted as replies (no latency) nor as timeouts.
    notes_only_by_step: dict[str, int] = field(default_factory=dict)
    load: tuple[float, float] = (0.0, 0.0)  # the machine's 1-minute load average as the count began and ended
    # The share of the machine's CPU time its hypervisor gave to others while counting (/proc/stat's "steal"):
    # on a shared virtual machine the rounds' speed follows it; None where the kernel does not say.
    steal: float | None = None

    @property
    def replies_per_second(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    @property
    def cpu_per_thousand(self) -> float:
        return self.cpu / len(self.latencies) * 1000 if self.latencies else 0.0


def _machine_cpu_times() -> list[int] | None:
    """The machine's CPU time so far by kind (/proc/stat's first line: user … steal), or None off Linux."""
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
    except OSError:
        return None
    return [int(value) for value in fields[1:9]] if fields[:1] == ["cpu"] and len(fields) >= 9 else None


def _stolen_share(before: list[int] | None, after: list[int] | None) -> float | None:
    if before is None or after is None:
        return None
    spent = [late - early for early, late in zip(before, after)]
    return spent[7] / sum(spent) if sum(spent) > 0 else None


# --------------------------------------------------------------------------------------------
# Simulated tenants


class Chat:
    """One tenant's chat in the emulator: act, then wait until the bot's latest message is new or changed."""

    def __init__(self, emu: Any, user_id: int) -> None:
        self.emu = emu
        self.user_id = user_id
        self.note_only = False  # the last press got no change within REPLY_TIMEOUT, but a note on the button

    def _seen(self) -> tuple[Any, ...] | None:
        message = self.emu.last_bot_message(self.user_id)
        return None if message is None else (message.message_id, message.text, message.caption, message.reply_markup)

    async def reply_to(self, act: Any) -> float | None:
        """Seconds from the action to the bot's reply; None if none came within REPLY_TIMEOUT."""
        before = self._seen()
        self.note_only = False
        began = time.perf_counter()
        act()
        deadline = began + REPLY_TIMEOUT
        while self._seen() == before:
            remaining = deadline - time.perf_counter()
            if remaining <= 0:
                return None
            await self.emu.state.wait_for_chat_change(self.user_id, remaining)
        return time.perf_counter() - began

    async def send(self, text: str) -> float | None:
        return await self.reply_to(lambda: self.emu.send_text(self.user_id, text))

    async def press(self, message_id: int, data: str) -> float | None:
        queries: list[str] = []
        latency = await self.reply_to(lambda: queries.append(self.emu.press_button(self.user_id, message_id, data)))
        self.note_only = latency is None and bool(self.emu.callback_answers.get(queries[0], {}).get("text"))
        return latency

    def buttons(self) -> tuple[int, list[str]]:
        message = self.emu.last_bot_message(self.user_id)
        if message is None:
            return 0, []
        return message.message_id, [
            button["callback_data"] for row in message.inline_keyboard for button in row if "callback_data" in button
        ]


class ProductTenant:
    """Walks the product's main flows in a loop, choosing among the buttons each screen offers."""

    def __init__(self, chat: Chat, rng: random.Random) -> None:
        from bot import callbacks

        self.chat, self.rng, self.callbacks = chat, rng, callbacks
        c = callbacks
        # One walk: each step taps a button of that action on the current screen, or (None) writes a search.
        self.walk = [c.SPACES, c.SPACE, c.SERVICE, c.MENU, None, c.SERVICE, c.MENU, c.BOOK, c.BOOK_SPACE,
                     c.BOOK_DAYS, c.MENU, c.REPORT, c.MENU, c.HELP, c.FAQ, c.MENU, c.LANGUAGES, c.SET_LANGUAGE]
        self.step = rng.randrange(len(self.walk))  # people are at different points, not marching in step
        self.names = {action: name for name, action in vars(callbacks).items() if isinstance(action, callbacks.Action)}

    async def open_chat(self) -> float | None:
        first = await self.chat.send("/start")
        message_id, data = self.chat.buttons()
        consent = [item for item in data if self.callbacks.decode(item).action is self.callbacks.CONSENT]
        if consent:
            await self.chat.press(message_id, consent[0])
        return first

    async def act(self) -> tuple[str, float | None]:
        action = self.walk[self.step]
        self.step = (self.step + 1) % len(self.walk)
        if action is None:
            return "search", await self.chat.send(self.rng.choice(SEARCH_WORDS))
        message_id, data = self.chat.buttons()
        matching = [item for item in data if (decoded := self.callbacks.decode(item)) and decoded.action is action]
        if not matching:  # an unexpected screen (e.g. a search with no results): back to the menu, as people do
            self.step = 0
            return "/menu", await self.chat.send("/menu")
        return self.names[action], await self.chat.press(message_id, self.rng.choice(matching))


# The task mix: a tenant presses any button of the screen they are on, the buttons that change something (book,
# cancel, rate, feedback, report, accept the notice, language) more often, as people completing tasks do; they write
# when a screen asks for words and send a photo when a report asks for one.
TASK_WEIGHT = 4
TASK_PREFIXES = ("BOOK", "BOOKING", "WAITLIST", "MY_BOOKINGS", "FEEDBACK", "REPORT", "CONSENT", "SET_LANGUAGE",
                 "LANGUAGES", "MY_REPORTS")
TASK_TEXTS = ("la luce delle scale non funziona da ieri sera", "tutto bene, grazie", "il portone non si chiude",
              "3331234567", "molto utile")


def _tiny_jpeg() -> bytes:
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 140, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


class TaskTenant(ProductTenant):
    """Completes tasks rather than walking: each action is a button of the current screen (writes weighted up), a
    text every so often (descriptions, comments, phone numbers), a photo where a report asks for one."""

    photo = b""

    async def open_chat(self) -> float | None:
        return await self.chat.send("/start")  # the notice is accepted as one of the tasks

    async def act(self) -> tuple[str, float | None]:
        message_id, data = self.chat.buttons()
        message = self.chat.emu.last_bot_message(self.chat.user_id)
        chosen = {button.get("callback_data") for row in (message.inline_keyboard if message else [])
                  for button in row if button.get("text", "").startswith("✅ ") and len(row) > 1}
        data = [item for item in data if item not in chosen]  # the language already chosen changes nothing
        decoded = [(item, self.callbacks.decode(item)) for item in data]
        choices = [(item, self.names.get(found.action, "?")) for item, found in decoded if found is not None]
        asks_photo = any(name == "REPORT_PHOTOS_DONE" for _item, name in choices)
        if asks_photo and self.rng.random() < 0.5:
            if not TaskTenant.photo:
                TaskTenant.photo = _tiny_jpeg()
            return "photo", await self.chat.reply_to(
                lambda: self.chat.emu.send_photo(self.chat.user_id, TaskTenant.photo))
        if not choices:
            return "/menu", await self.chat.send("/menu")
        in_draft = any(name in ("REPORT_DISCARD", "FEEDBACK_DISCARD") for _item, name in choices)
        if in_draft and self.rng.random() < 0.3:  # a draft waits for words: a description, a comment
            return "text", await self.chat.send(self.rng.choice(TASK_TEXTS))
        by_action: dict[str, list[str]] = {}
        for item, name in choices:
            by_action.setdefault(name, []).append(item)
        names = list(by_action)  # an action first, then one of its buttons: nine languages are one choice
        weights = [TASK_WEIGHT if name.startswith(TASK_PREFIXES) or name.endswith("RATE") else 1 for name in names]
        name = self.rng.choices(names, weights)[0]
        return name, await self.chat.press(message_id, self.rng.choice(by_action[name]))


class BareTenant:
    """Writes to the bare bot, then presses its buttons; writes again every tenth action."""

    def __init__(self, chat: Chat, rng: random.Random) -> None:
        self.chat, self.rng, self.count = chat, rng, rng.randrange(10)

    async def open_chat(self) -> float | None:
        return await self.chat.send("ciao")

    async def act(self) -> tuple[str, float | None]:
        self.count += 1
        message_id, data = self.chat.buttons()
        if self.count % 10 == 0 or not data:
            return "text", await self.chat.send("ciao")
        return "button", await self.chat.press(message_id, self.rng.choice(data))


# --------------------------------------------------------------------------------------------
# One bot in one mode


async def bench_one(bot: str, mode: str, tenants: int, seconds: float, folder: Path, profile: str = "",
                    database_url: str = "", mix: str = "walk", warmup: float = 0.0) -> Figures:
    """database_url: the product's database; empty for a fresh SQLite file in the run's folder. The first `warmup`
    seconds of acting are not counted: replies, latency and CPU from then on."""
    from tests.bench.common import (
        BENCH_BOT_USERNAME, BENCH_TOKEN, BotProcess, BotSpec, Progress, free_port, ms, product_env,
    )
    from bot.config import PROJECT_ROOT
    from bot.emulator import BotApiEmulator

    figures = Figures(bot, mode)
    emu = BotApiEmulator(token=BENCH_TOKEN, bot_username=BENCH_BOT_USERNAME, history_limit=50)
    await emu.start(host="127.0.0.1", port=0)
    port = free_port()
    run_dir = folder / f"{bot}-{mode}"
    run_dir.mkdir()
    database_url = database_url or f"sqlite+aiosqlite:///{run_dir / 'bench.sqlite3'}"
    env = product_env(emu.base_url, emu.base_file_url, database_url, run_dir,
                      PROJECT_ROOT / "content", mode, port) if bot in PRODUCTS else {}
    spec = BotSpec(bot, mode, emu.base_url, emu.base_file_url, env, port, profile if bot == "product" else "")
    process = BotProcess(spec, run_dir / "bot.log")
    make_tenant = (TaskTenant if mix == "tasks" else ProductTenant) if bot in PRODUCTS else BareTenant
    rng = random.Random(7)
    people = []
    for number in range(tenants):
        user_id = TENANT_IDS_FROM + number
        emu.add_user(user_id, f"Tenant {number}", language_code=rng.choice(TENANT_LANGUAGES))
        people.append(make_tenant(Chat(emu, user_id), random.Random(number)))
    try:
        process.start()
        first = await _first_answer(people[0], process)
        figures.first_answer = first
        await asyncio.gather(*(person.open_chat() for person in people[1:]))
        progress = Progress()
        latencies = figures.latencies
        began = time.perf_counter() + warmup  # counting begins
        deadline = began + seconds

        async def keep_acting(person: ProductTenant | BareTenant) -> None:
            while time.perf_counter() < deadline:
                acted = time.perf_counter()
                step, latency = await person.act()
                if acted < began:
                    continue  # warming up
                if latency is None and person.chat.note_only:
                    figures.notes_only_by_step[step] = figures.notes_only_by_step.get(step, 0) + 1
                elif latency is None:
                    figures.timeouts += 1
                    figures.timeouts_by_step[step] = figures.timeouts_by_step.get(step, 0) + 1
                elif time.perf_counter() <= deadline:
                    latencies.append(latency)
                    figures.by_step.setdefault(step, []).append(latency)
                progress.maybe(lambda: f"{bot}/{mode}: {time.perf_counter() - began:4.0f}/{seconds:.0f} s, "
                                       f"{len(latencies):,} replies, {len(latencies) / max(time.perf_counter() - began, 1e-9):,.0f}/s")

        workers = [asyncio.create_task(keep_acting(person)) for person in people]
        while time.perf_counter() < began:
            await asyncio.sleep(min(0.25, max(began - time.perf_counter(), 0)))
            process.check_alive()
        cpu_before = process.cpu_seconds()
        load_before = os.getloadavg()[0]
        machine_before = _machine_cpu_times()
        while time.perf_counter() < deadline:
            await asyncio.sleep(min(0.25, max(deadline - time.perf_counter(), 0)))
            process.check_alive()
        figures.cpu = process.cpu_seconds() - cpu_before
        figures.seconds = time.perf_counter() - began
        figures.load = (load_before, os.getloadavg()[0])
        figures.steal = _stolen_share(machine_before, _machine_cpu_times())
        await asyncio.gather(*workers)  # let the replies in flight arrive before the bot stops
        figures.peak_rss = process.peak_rss_bytes()
        figures.refusals = len([refusal for refusal in emu.refusals if not refusal.injected])
        print(f"  {bot}/{mode}: first answer {ms(first)}, {len(latencies):,} replies", flush=True)
    finally:
        await process.stop()
        await emu.stop()
    return figures


async def _first_answer(person: ProductTenant | BareTenant, process: Any) -> float:
    """Process start → the first reply to /start (the message waits in the emulator while the bot starts)."""
    while await person.chat.send("/start") is None:
        process.check_alive()
        if time.perf_counter() - process.started_at > START_TIMEOUT:
            raise SystemExit(f"qcbot bench load: no answer to /start within {START_TIMEOUT:.0f} s; the bot's log:\n"
                             f"{process.log_tail()}")
    answered = time.perf_counter() - process.started_at
    await person.open_chat()
    return answered


async def _content_reload() -> tuple[float, float]:
    """The sample content: a cold load, and a reload after one space file was saved again (what editors do)."""
    from bot.config import PROJECT_ROOT
    from storage.content import ContentStore

    began = time.perf_counter()
    store = ContentStore(PROJECT_ROOT / "content")
    cold = time.perf_counter() - began
    store._parsed_files.pop(next(name for name in store._parsed_files if name.startswith("spaces")))
    began = time.perf_counter()
    problems = store.reload()
    reload = time.perf_counter() - began
    if problems:
        raise SystemExit(f"qcbot bench load: the sample content has problems: {problems[0]}")
    return cold, reload


# --------------------------------------------------------------------------------------------
# The report


async def _main(args: argparse.Namespace, bots: list[str]) -> None:
    from tests.bench.common import (
        choices, machine_line, mib, ms, percentile, postgres_server_url, print_table, throwaway_postgres_database,
    )

    modes = choices(args.mode, MODES)
    print(f"qcbot bench load: {args.tenants} tenants, the {args.mix} mix, {args.seconds:g} s per bot and mode, the product on "
          f"{'PostgreSQL' if args.database == 'postgres' else 'SQLite'}; {machine_line()}", flush=True)
    results: list[Figures] = []
    with tempfile.TemporaryDirectory(prefix="qc-bench-load-") as temporary:
        for round_number in range(1, args.rounds + 1):
            for mode in modes:
                for bot in (bots if round_number % 2 else bots[::-1]):
                    print(f"{bot}, {mode}" + (f", round {round_number}:" if args.rounds > 1 else ":"), flush=True)
                    profile = f"{args.profile}.{mode}.txt" if args.profile else ""
                    folder = Path(temporary) / f"round-{round_number}"
                    folder.mkdir(exist_ok=True)
                    if bot in PRODUCTS and args.database == "postgres":
                        async with throwaway_postgres_database(postgres_server_url() or "") as database_url:
                            figures = await bench_one(bot, mode, args.tenants, args.seconds, folder, profile, database_url,
                                                        args.mix, args.warmup)
                    else:
                        figures = await bench_one(bot, mode, args.tenants, args.seconds, folder, profile,
                                                  mix=args.mix, warmup=args.warmup)
                    figures.round = round_number
                    results.append(figures)
    cold, reload = await _content_reload()

    print()
    print_table(
        ["bot / mode", "replies/s", "p50", "p95", "p99", "CPU s/1k upd", "peak RSS", "1st answer", "timeouts",
         "load avg", "steal"],
        [[f"{f.bot} / {f.mode}" + (f" #{f.round}" if args.rounds > 1 else ""), f"{f.replies_per_second:,.0f}",
          ms(_p(f, 0.5)), ms(_p(f, 0.95)), ms(_p(f, 0.99)), f"{f.cpu_per_thousand:.2f}", mib(f.peak_rss),
          ms(f.first_answer), str(f.timeouts), f"{f.load[0]:.1f} → {f.load[1]:.1f}",
          "—" if f.steal is None else f"{f.steal:.0%}"] for f in results],
    )
    for mode in modes:
        for reference_bot in (bot for bot in bots if bot != "product"):
            pairs = [(product, reference) for product in results for reference in results
                     if product.bot == "product" and reference.bot == reference_bot
                     and product.mode == reference.mode == mode and product.round == reference.round]
            if pairs:
                label = " (the inbox's cost)" if reference_bot == "product-no-inbox" else ""
                print(f"  {mode}: product / {reference_bot}{label}: " + _ratios(pairs))
                if len(pairs) > 1:
                    print(f"  {mode}: product / {reference_bot}, all rounds pooled: " + _pooled(pairs))
                if reference_bot == "product-no-inbox":
                    print(f"  {mode}: " + _inbox_verdict(pairs))
    for mode in modes:
        by_step: dict[str, list[float]] = {}
        for f in results:
            if f.bot == "product" and f.mode == mode:
                for step, values in f.by_step.items():
                    by_step.setdefault(step, []).extend(values)
        if by_step:
            slowest = sorted(by_step.items(), key=lambda item: -percentile(item[1], 0.99))
            print(f"  product/{mode}, slowest steps by p99: " + "; ".join(
                f"{step} {ms(percentile(values, 0.5))}/{ms(percentile(values, 0.99))}" for step, values in slowest[:6]))
    for mode in modes:
        by_action: dict[str, list[float]] = {}
        timed_out: dict[str, int] = {}
        noted: dict[str, int] = {}
        for f in results:
            if f.bot == "product" and f.mode == mode:
                for step, values in f.by_step.items():
                    by_action.setdefault(step, []).extend(values)
                for step, count in f.timeouts_by_step.items():
                    timed_out[step] = timed_out.get(step, 0) + count
                for step, count in f.notes_only_by_step.items():
                    noted[step] = noted.get(step, 0) + count
        if by_action and args.mix == "tasks":
            print(f"\nproduct / {mode}, latency per action ({args.mix} mix, all rounds):")
            print_table(["action", "count", "p50", "p95", "note only", "no reply"],
                        [[step, str(len(values)), ms(percentile(values, 0.5)), ms(percentile(values, 0.95)),
                          str(noted.get(step, 0)), str(timed_out.get(step, 0))]
                         for step, values in sorted(by_action.items(), key=lambda item: -percentile(item[1], 0.95))])
    refused = [f for f in results if f.refusals]
    for f in refused:
        print(f"  warning: the emulator refused {f.refusals} call(s) of {f.bot}/{f.mode}")
    print(f"  content reload (sample content): cold load {ms(cold)}, reload after one file changed {ms(reload)}")


def _p(figures: Figures, fraction: float) -> float:
    from tests.bench.common import percentile

    return percentile(figures.latencies, fraction)


def _ratios(pairs: list[tuple[Figures, Figures]]) -> str:
    """product / reference for each measure; with several rounds, the median of the rounds' ratios and each one."""
    import statistics

    measures = (
        ("replies/s", lambda f: f.replies_per_second), ("p99", lambda f: _p(f, 0.99)),
        ("CPU per update", lambda f: f.cpu_per_thousand), ("peak RSS", lambda f: float(f.peak_rss)),
    )
    parts = []
    for name, measure in measures:
        ratios = [measure(product) / measure(reference) for product, reference in pairs if measure(reference)]
        if not ratios:
            parts.append(f"{name} n/a")
        elif len(ratios) == 1:
            parts.append(f"{name} ×{ratios[0]:.2f}")
        else:
            each = ", ".join(f"{ratio:.2f}" for ratio in ratios)
            parts.append(f"{name} ×{statistics.median(ratios):.2f} (median of {each})")
    return ", ".join(parts)


def _pooled_p99s(pairs: list[tuple[Figures, Figures]]) -> tuple[float, float]:
    """p99 of every reply of every round, the product's and the reference's, each round's latencies divided by that
    round's median over both bots: rounds run while the machine was twice as busy would otherwise make the whole
    tail, and one bot's bad luck in one round would decide the ratio. Within a round the two bots keep their ratio."""
    from tests.bench.common import percentile

    products: list[float] = []
    references: list[float] = []
    for product, reference in pairs:
        scale = percentile([*product.latencies, *reference.latencies], 0.5) or 1.0
        products += [latency / scale for latency in product.latencies]
        references += [latency / scale for latency in reference.latencies]
    return percentile(products, 0.99), percentile(references, 0.99)


def _pooled_ratios(pairs: list[tuple[Figures, Figures]]) -> tuple[float, float, float]:
    """replies/s, p99 (scaled per round, _pooled_p99s), CPU per update of the product over the reference, every
    round's replies pooled."""
    products, references = [product for product, _ in pairs], [reference for _, reference in pairs]

    def rate(figures: list[Figures]) -> float:
        return sum(len(f.latencies) for f in figures) / max(sum(f.seconds for f in figures), 1e-9)

    def cpu(figures: list[Figures]) -> float:
        return sum(f.cpu for f in figures) / max(sum(len(f.latencies) for f in figures), 1)

    product_p99, reference_p99 = _pooled_p99s(pairs)
    return (rate(products) / max(rate(references), 1e-9), product_p99 / max(reference_p99, 1e-9),
            cpu(products) / max(cpu(references), 1e-9))


def _p99_interval(pairs: list[tuple[Figures, Figures]]) -> tuple[float, float]:
    """90 % of the pooled p99 ratio when the rounds themselves are drawn again (with replacement, a round's two
    bots together): how far the verdict could move with other rounds on the same machine."""
    import random as chance

    draw = chance.Random(13)
    ratios = sorted(_pooled_ratios([draw.choice(pairs) for _ in pairs])[1] for _ in range(RESAMPLES))
    return ratios[int(0.05 * len(ratios))], ratios[int(0.95 * len(ratios)) - 1]


def _pooled(pairs: list[tuple[Figures, Figures]]) -> str:
    rate, p99, cpu = _pooled_ratios(pairs)
    low, high = _p99_interval(pairs)
    return (f"replies/s ×{rate:.2f}, p99 ×{p99:.2f} (each round scaled by its median; rounds drawn again: "
            f"×{low:.2f}–{high:.2f} for 90 %), CPU per update ×{cpu:.2f}")


def _inbox_verdict(pairs: list[tuple[Figures, Figures]]) -> str:
    """Whether the inbox keeps p99 within the target, on the pooled ratio (the median of the rounds' beside it)."""
    import statistics

    pooled = _pooled_ratios(pairs)[1]
    median = statistics.median(_p(p, 0.99) / _p(r, 0.99) for p, r in pairs if _p(r, 0.99))
    if pooled <= INBOX_P99_TARGET:
        verdict = f"within the target (≤ ×{INBOX_P99_TARGET:.2f})"
    else:
        verdict = f"OVER the target (≤ ×{INBOX_P99_TARGET:.2f}) by {(pooled / INBOX_P99_TARGET - 1) * 100:.0f} %"
    rounds = f"{len(pairs)} round{'s' if len(pairs) > 1 else ''}"
    return (f"the inbox's p99 cost: ×{pooled:.2f} pooled, ×{median:.2f} median of the rounds ({rounds}): {verdict}")
