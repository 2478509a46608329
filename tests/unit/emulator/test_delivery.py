"""How the Bot API emulator delivers updates (long polling, webhook) and the faults a test can plant."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
import telegram
from aiohttp import web
from telegram import Update
from telegram.error import BadRequest, Conflict, NetworkError, RetryAfter, TimedOut

from bot.emulator import BotApiEmulator
from tests.unit.emulator.support import OTHER_USER, USER, started_chat, until

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


# Long polling -----------------------------------------------------------------------------------


async def test_long_poll_waits_for_updates_and_offsets_confirm_them(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    poll = asyncio.create_task(bot.get_updates(timeout=10))
    await until(lambda: emu.state.update_queue.has_waiting_poll)
    first = emu.send_text(USER, "ciao")
    (update,) = await poll
    assert update.update_id == first["update_id"] and update.message.text == "ciao"
    second = emu.send_text(USER, "ancora")
    assert [u.update_id for u in await bot.get_updates()] == [first["update_id"], second["update_id"]]
    assert [u.update_id for u in await bot.get_updates(offset=second["update_id"])] == [second["update_id"]]
    assert await bot.get_updates(offset=second["update_id"] + 1) == ()
    for text in ("a", "b", "c"):
        emu.send_text(USER, text)
    assert [u.message.text for u in await bot.get_updates(offset=-2)] == ["b", "c"]
    assert [u.message.text for u in await bot.get_updates(limit=1)] == ["b"]


async def test_a_newer_get_updates_ends_the_waiting_one_with_conflict(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    await until(lambda: emu.state.update_queue.has_waiting_poll)
    async with telegram.Bot(emu.token, base_url=emu.base_url) as second_instance:
        assert await second_instance.get_updates(timeout=0) == ()
    with pytest.raises(Conflict, match="(?i)terminated by other getUpdates request"):
        await first


async def test_allowed_updates_filter_later_updates(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await bot.get_updates(allowed_updates=["callback_query"])
    emu.send_text(USER, "ignorato")
    assert await bot.get_updates() == ()
    await bot.get_updates(allowed_updates=[])
    emu.send_text(USER, "ricevuto")
    assert [u.message.text for u in await bot.get_updates()] == ["ricevuto"]


# Webhook ----------------------------------------------------------------------------------------


class WebhookReceiver:
    """A tiny bot-side webhook server that records deliveries and can fail the first ones."""

    def __init__(self, failures: int = 0, answers: list[dict[str, Any]] | None = None) -> None:
        self.failures = failures
        self.answers = list(answers or [])  # method calls to put in the responses, one per delivery
        self.received: list[dict[str, Any]] = []
        self.secrets: list[str | None] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        if self.failures:
            self.failures -= 1
            return web.Response(status=500)
        self.secrets.append(request.headers.get("X-Telegram-Bot-Api-Secret-Token"))
        self.received.append(await request.json())
        if self.answers:
            return web.json_response(self.answers.pop(0))
        return web.Response()

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app, access_log=None)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self.runner.addresses[0][1]}/hook"
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


async def test_webhook_delivers_in_order_with_secret_and_retries(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    queued_before = emu.send_text(USER, "prima del webhook")
    async with WebhookReceiver(failures=2) as receiver:
        assert await bot.set_webhook(receiver.url, secret_token="s3cret_token")
        with pytest.raises(Conflict, match="(?i)can't use getUpdates method while webhook is active"):
            await bot.get_updates()
        sent = [emu.send_text(USER, f"messaggio {n}") for n in range(5)]
        sent.append(emu.send_text(OTHER_USER, "altro utente"))
        await until(lambda: len(receiver.received) == 7)
        assert [u["update_id"] for u in receiver.received if u["message"]["chat"]["id"] == USER] == [
            queued_before["update_id"], *(u["update_id"] for u in sent[:5])
        ]
        assert set(receiver.secrets) == {"s3cret_token"}
        assert all(Update.de_json(update, bot).message for update in receiver.received)
        info = await bot.get_webhook_info()
        assert info.url == receiver.url and info.pending_update_count == 0
        assert info.last_error_message == "Wrong response from the webhook: 500 Internal Server Error"
        assert await bot.delete_webhook()
    emu.send_text(USER, "di nuovo in coda")
    assert [u.message.text for u in await bot.get_updates()] == ["di nuovo in coda"]


async def test_undelivered_webhook_updates_return_to_the_queue(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    async with WebhookReceiver(failures=10**6) as receiver:
        await bot.set_webhook(receiver.url)
        emu.send_text(USER, "non consegnato")
        await until(lambda: receiver.failures < 10**6)
        await bot.delete_webhook()
    assert [u.message.text for u in await bot.get_updates()] == ["non consegnato"]


async def test_a_method_in_the_webhooks_response_is_carried_out_as_strictly_as_a_call(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    """The Bot API's "Making requests when getting updates": the bot never sees the outcome, the emulator records
    it (the call, or the refusal Telegram would make)."""
    answers = [
        {"method": "sendMessage", "chat_id": USER, "text": "risposta nella risposta"},
        {"method": "sendMessage", "chat_id": USER, "text": ""},
        {"method": "sendTelepathy", "chat_id": USER},
        {"ok": True},  # no method: nothing asked
    ]
    async with WebhookReceiver(answers=answers) as receiver:
        await bot.set_webhook(receiver.url)
        for n in range(4):
            emu.send_text(USER, f"messaggio {n}")
        await until(lambda: len(receiver.received) == 4 and len(emu.refusals) == 2)
        await bot.delete_webhook()
    assert emu.last_bot_message(USER).text == "risposta nella risposta"
    assert [method for method, _params in emu.webhook_answer_calls] == ["sendMessage", "sendMessage"]
    assert [(r.method, r.error_code) for r in emu.refusals] == [("sendMessage", 400), ("sendTelepathy", 404)]


async def test_webhook_must_be_loopback(bot: telegram.Bot) -> None:
    with pytest.raises(BadRequest, match="(?i)loopback"):
        await bot.set_webhook("https://example.org/hook")


# Faults -----------------------------------------------------------------------------------------


async def test_injected_faults(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.inject_fault("sendMessage", 429, retry_after=7, times=2)
    for _ in range(2):
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "x")
        assert caught.value.retry_after in (7, timedelta(seconds=7))  # int, or timedelta once PTB_TIMEDELTA is on
    assert emu.refusals[-1].injected and emu.refusals[-1].description == "Too Many Requests: retry after 7"
    assert (await bot.send_message(USER, "passa")).text == "passa"
    emu.inject_fault(None, 502)
    with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
        await bot.get_me()
    emu.inject_fault("sendmessage", drop_connection=True)
    with pytest.raises(NetworkError):
        await bot.send_message(USER, "perso")
    assert emu.last_bot_message(USER).text == "passa"  # a dropped call does nothing
    with pytest.raises(ValueError, match="not one of"):
        emu.inject_fault("sendMessage", 418)


async def test_delayed_answer_times_out_but_the_message_was_sent(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.inject_fault("sendMessage", delay=0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "in ritardo", read_timeout=0.05)
    assert emu.last_bot_message(USER).text == "in ritardo"


async def test_fault_rate_is_reproducible(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    async def outcomes() -> list[str]:
        emu.fault_rate("getMe", rate=0.5, statuses=(429, 500), seed=7)
        results = []
        for _ in range(20):
            try:
                await bot.get_me()
                results.append("ok")
            except RetryAfter:
                results.append("429")
            except NetworkError:
                results.append("500")
        return results

    first, second = await outcomes(), await outcomes()
    assert first == second and {"ok", "429", "500"} == set(first)
    emu.fault_rate(rate=0)
    assert await bot.get_me()


