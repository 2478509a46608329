"""Two real `qcbot run` processes in webhook mode on one PostgreSQL, behind a small round-robin proxy, as an
operator runs them for zero-downtime deploys. Updates of one chat alternate between the instances; one instance is
killed with SIGKILL in the middle of the work, later both are restarted one at a time. Every message is answered,
once, in each chat's order; the periodic jobs run on one instance at a time; reminders go out once."""

from __future__ import annotations

import asyncio
import itertools
import re
import signal
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web

from storage.domain import outbox
from storage.db import Database
from tests.conftest import fresh_database_url
from tests.e2e.test_crash_recovery import REPEAT, QcbotProcess, free_port

pytestmark = pytest.mark.postgres
TENANTS = 12
REMINDERS = 30
# The search's answer quotes the word, bidi-isolated (bot.i18n).
ANSWER = re.compile("«\u2068?(w\\d+x[a-z]\\d+)\u2069?»")
JOBS_TAKEN = re.compile(r"lease periodic-jobs: (taken|lost) by (\S+)")


@pytest.fixture
async def postgres_url(request: pytest.FixtureRequest, tmp_path: Path):  # type: ignore[no-untyped-def]
    async for url in fresh_database_url("postgres", request, tmp_path):
        yield url


class RoundRobinProxy:
    """What nginx does in front of the instances: each request to the next instance in turn; one that cannot be
    reached (stopped, killed) is skipped for the next (nginx's proxy_next_upstream error)."""

    def __init__(self, ports: list[int]) -> None:
        self.upstreams = [f"http://127.0.0.1:{port}" for port in ports]
        self._turn = itertools.cycle(range(len(ports)))
        self.port = free_port()
        self.served: dict[str, int] = {upstream: 0 for upstream in self.upstreams}
        self._runner: web.AppRunner | None = None
        self._session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
        app = web.Application()
        app.router.add_route("*", "/{path:.*}", self._forward)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def _forward(self, request: web.Request) -> web.Response:
        body = await request.read()
        headers = {name: value for name, value in request.headers.items() if name.lower() not in ("host", "content-length")}
        for _ in self.upstreams:
            upstream = self.upstreams[next(self._turn)]
            try:
                async with self._session.request(request.method, upstream + request.path_qs, data=body,
                                                 headers=headers) as response:
                    answer = await response.read()
                    self.served[upstream] += 1
                    # With its content type: a pressed button's answer may travel in the body (bot/webhook_answers.py).
                    return web.Response(status=response.status, body=answer,
                                        headers={"Content-Type": response.headers.get("Content-Type", "text/plain")})
            except aiohttp.ClientConnectionError:
                continue
        return web.Response(status=502, text="no instance")

    async def stop(self) -> None:
        await self._runner.cleanup()
        await self._session.close()


class Instance(QcbotProcess):
    """`qcbot run` listening on its own port; Telegram is told the proxy's address."""

    def __init__(self, emulator, database_url: str, data_dir: Path, port: int, proxy_port: int) -> None:  # type: ignore[no-untyped-def]
        data_dir.mkdir(exist_ok=True)
        super().__init__(emulator, database_url, data_dir, "webhook", port)
        self.env["QC_WEBHOOK_URL"] = f"http://127.0.0.1:{proxy_port}/telegram"
        self.env["QC_WEBHOOK_SECRET"] = "two-instances-behind-one-proxy-0123456789"
        self.port = port

    async def start(self) -> None:
        await super().start()
        async with aiohttp.ClientSession() as session:
            for _ in range(600):
                try:
                    async with session.get(f"http://127.0.0.1:{self.port}/healthz") as response:
                        if response.status == 200:
                            return
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError(f"instance on port {self.port} never answered /healthz:\n{self.log.read_text()[-2000:]}")

    def job_lease_events(self) -> list[tuple[str, str]]:
        return JOBS_TAKEN.findall(self.log.read_text())


def answers_by_chat(emulator, tenants: list[int]) -> dict[int, list[tuple[str, bool]]]:  # type: ignore[no-untyped-def]
    """Each tenant's answers in the order they arrived: (the word answered, marked as a repeat)."""
    return {tenant: [(match.group(1), REPEAT in message.text) for message in emulator.chat_messages(tenant)
                     if message.from_bot and (match := ANSWER.search(message.text or ""))]
            for tenant in tenants}


def check_every_word_once_in_order(emulator, tenants: list[int], sent: dict[int, list[str]]) -> None:  # type: ignore[no-untyped-def]
    for tenant, answered in answers_by_chat(emulator, tenants).items():
        plain = [word for word, repeat in answered if not repeat]
        repeats = [word for word, repeat in answered if repeat]
        # Each message answered; a plain answer never twice; at most one answer "sent again after an
        # interruption" per chat (the update in hand when its instance was killed, bot/inbox.py RepeatNote).
        assert set(plain) | set(repeats) == set(sent[tenant]), (tenant, answered)
        assert len(plain) == len(set(plain)), (tenant, answered)
        assert len(repeats) <= 1, (tenant, answered)
        order = [word for word, _repeat in answered]
        assert sorted(set(order), key=order.index) == sent[tenant], f"chat {tenant} out of order: {order}"


async def test_two_instances_keep_each_chat_in_order_survive_a_kill_and_a_rolling_restart(emulator, postgres_url, tmp_path):
    tenants = [emulator.add_user(user_id=810_000 + n, first_name=f"Inquilino {n}", language_code="it").user_id
               for n in range(TENANTS)]
    ports = [free_port(), free_port()]
    proxy = RoundRobinProxy(ports)
    await proxy.start()
    first, second = (Instance(emulator, postgres_url, tmp_path / name, port, proxy.port)
                     for name, port in zip(("a", "b"), ports, strict=True))
    sent: dict[int, list[str]] = {tenant: [] for tenant in tenants}

    def burst(label: str, each: int) -> list[str]:
        words = []
        for i in range(each):
            for n, tenant in enumerate(tenants):
                word = f"w{n}x{label}{i}"
                emulator.send_text(tenant, word)
                sent[tenant].append(word)
                words.append(word)
        return words

    def answered_count() -> int:
        return sum(len({word for word, _ in answers}) for answers in answers_by_chat(emulator, tenants).values())

    try:
        await first.start()
        await second.start()
        # Tenants who have accepted the privacy notice: their words are searched and quoted back.
        for tenant in tenants:
            emulator.send_text(tenant, "/start")
        for tenant in tenants:
            welcome = await emulator.wait_for(lambda tenant=tenant: next(
                (m for m in emulator.chat_messages(tenant) if m.from_bot and any(
                    b.get("callback_data") == "1|ok" for row in m.inline_keyboard for b in row)), None), timeout=60)
            emulator.press_button(tenant, welcome.message_id, "1|ok")
        # Reminders due now, as bookings leave them in the outbox: both instances' senders compete for them.
        db = Database(postgres_url)
        try:
            now = datetime.now(timezone.utc)
            async with db.write() as session:
                for n in range(REMINDERS):
                    await outbox.enqueue(session, chat_id=tenants[n % TENANTS], method="sendMessage",
                                         params={"text": f"promemoria {n}"}, dedupe_key=f"reminder-{n}",
                                         now=now, not_before=now + timedelta(seconds=n % 5))
        finally:
            await db.dispose()

        # 1. A burst whose updates alternate between the instances, chat by chat; one instance killed half way.
        words = burst("a", 8)
        await emulator.wait_for(lambda: answered_count() >= len(words) // 3, timeout=120)
        first.kill()
        assert await first.wait() == -signal.SIGKILL
        assert answered_count() < len(words), "the burst was over before the kill: nothing to prove"
        # What the dead instance had stored and not handled is taken over once its lease runs out (one minute).
        await emulator.wait_for(lambda: answered_count() == len(words), timeout=150)
        check_every_word_once_in_order(emulator, tenants, sent)
        assert all(served for served in proxy.served.values()), proxy.served

        # 2. A rolling restart while tenants write: the killed one comes back, then each is stopped and started
        # again in turn; the proxy sends each update to whichever instance is up.
        await first.start()
        more = burst("b", 3)
        await second.stop()
        more += burst("c", 3)
        await second.start()
        await first.stop()
        more += burst("d", 3)
        await first.start()
        await emulator.wait_for(lambda: answered_count() == len(words) + len(more), timeout=120)
        await asyncio.sleep(2.0)  # anything answered twice would show by now
        check_every_word_once_in_order(emulator, tenants, sent)

        # Reminders: each sent once, whichever instance's sender claimed it. The one a chat had in flight when its
        # instance was killed may have reached Telegram unmarked: the survivor sends it again marked as a repeat
        # (bot/outbox_sender.py, _mark_as_repeat) — Telegram offers no way to ask, so that is the promise.
        for tenant in tenants:
            copies = [(match.group(0), REPEAT in message.text) for message in emulator.chat_messages(tenant)
                      if message.from_bot and (match := re.search(r"promemoria \d+", message.text or ""))]
            plain = [text for text, repeat in copies if not repeat]
            assert len(plain) == len(set(plain)), (tenant, copies)
            assert len(copies) - len(plain) <= 1, (tenant, copies)
            assert {text for text, _repeat in copies} == {
                f"promemoria {n}" for n in range(REMINDERS) if tenants[n % TENANTS] == tenant}, (tenant, copies)
    finally:
        await first.stop()
        await second.stop()
        await proxy.stop()

    # The periodic jobs ran on one instance at a time: the lease passed from one holder to the next only when the
    # holder died or stopped, never held by two live processes at once.
    events = first.job_lease_events() + second.job_lease_events()
    holders = [owner for event, owner in events if event == "taken"]
    assert len(holders) >= 2, events  # the killed holder was replaced
    for log in (first.log, second.log):
        text = log.read_text()
        assert "Traceback" not in text, text[-3000:]
