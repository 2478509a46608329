"""Webhook mode: a pressed button is answered in the webhook's HTTP response (bot/webhook_answers.py), once, with no
answerCallbackQuery call; a handler slower than the hold answers with a call, still once."""

from __future__ import annotations

import asyncio
import json
import socket

import pytest

from bot import runners, webhook_answers
from tests.e2e.harness import settings_for, start_bot


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _press_first_button(emulator, running, person) -> str:  # type: ignore[no-untyped-def]
    message = person.screen
    data = next(data for row in message.buttons() for _text, data in row if data)
    query_id = emulator.press_button(person.user_id, message.message_id, data)
    await running.settle(emulator.last_update)
    for _ in range(200):  # the response's call is carried out once the 200 has arrived, maybe after the handler
        if query_id in emulator.callback_answers:
            break
        await asyncio.sleep(0.01)
    return query_id


@pytest.fixture
async def webhook_bot(emulator, sqlite_url, tmp_path, clock, content_dir):  # type: ignore[no-untyped-def]
    port = _free_port()
    settings = settings_for(
        emulator, sqlite_url, tmp_path, content_dir,
        QC_WEBHOOK_URL=f"http://127.0.0.1:{port}/telegram", QC_WEBHOOK_SECRET="s3cret-" + "x" * 32,
        QC_LISTEN=f"127.0.0.1:{port}",
    )
    running = await start_bot(emulator, settings, clock, webhook=True)
    yield running
    await running.service.stop()
    assert not [r for r in emulator.refusals if not r.injected], emulator.refusals


def _answers(emulator, query_id: str, calls) -> list[str]:  # type: ignore[no-untyped-def]
    return [method for method, params in calls
            if method == "answerCallbackQuery" and params.get("callback_query_id") == query_id]


async def test_a_pressed_button_is_answered_once_in_the_webhooks_response(emulator, webhook_bot):
    tenant = webhook_bot.person("Rosa", "it")
    await tenant.send("/start")
    for _ in range(3):  # the privacy notice, then whatever each press shows
        query_id = await _press_first_button(emulator, webhook_bot, tenant)
        assert query_id in emulator.callback_answers
        assert _answers(emulator, query_id, emulator.webhook_answer_calls) == ["answerCallbackQuery"]
        assert _answers(emulator, query_id, emulator.calls) == ["answerCallbackQuery"]  # no call besides


async def test_a_handler_slower_than_the_hold_answers_with_a_call_once(emulator, webhook_bot, monkeypatch):
    monkeypatch.setattr(webhook_answers, "CALLBACK_ANSWER_HOLD", 0.05)

    async def slow_start(_update) -> None:  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.3)  # e.g. a chat's older update still in hand

    webhook_bot.service.application.update_processor.before_turn = slow_start
    tenant = webhook_bot.person("Ivan", "uk")
    await tenant.send("/start")
    query_id = await _press_first_button(emulator, webhook_bot, tenant)
    assert query_id in emulator.callback_answers
    assert _answers(emulator, query_id, emulator.webhook_answer_calls) == []
    assert _answers(emulator, query_id, emulator.calls) == ["answerCallbackQuery"]


def _update(update_id: int, user_id: int, text: str = "/start") -> bytes:
    return json.dumps({"update_id": update_id, "message": {
        "message_id": update_id, "date": 1_800_000_000, "text": text,
        "chat": {"id": user_id, "type": "private", "first_name": "Test"},
        "from": {"id": user_id, "is_bot": False, "first_name": "Test", "language_code": "it"}}}).encode()


async def test_updates_taken_in_one_turn_are_stored_in_one_transaction_then_answered(webhook_bot, monkeypatch):
    service = webhook_bot.service
    received: list[list[int]] = []
    real_receive = service.inbox.receive

    async def spy(payloads, texts=None):  # type: ignore[no-untyped-def]
        received.append([payload["update_id"] for payload in payloads])
        return await real_receive(payloads, texts)

    monkeypatch.setattr(service.inbox, "receive", spy)
    secret = service.settings.webhook_secret.encode()
    replies: dict[int, list] = {number: [] for number in range(3)}
    people = [webhook_bot.person(name) for name in ("Ada", "Bea", "Cleo")]
    for person in people:
        await person.send("/start")  # the chat exists: the bot may answer in it
    received.clear()
    for number, person in enumerate(people):
        service.take_webhook_update(secret, _update(9_000_001 + number, person.user_id), replies[number].append)
    assert replies == {0: [], 1: [], 2: []}  # nothing is answered before it is stored
    for _ in range(100):
        if all(replies.values()):
            break
        await asyncio.sleep(0.01)
    assert received == [[9_000_001, 9_000_002, 9_000_003]]
    assert [reply for answered in replies.values() for reply in answered] == [runners.STORED] * 3
    for number in range(3):
        await webhook_bot.settle({"update_id": 9_000_001 + number})


async def test_updates_not_stored_are_a_503_and_their_answers_are_not_awaited(webhook_bot, monkeypatch):
    service = webhook_bot.service

    async def broken(payloads, texts=None):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(service.inbox, "receive", broken)
    secret = service.settings.webhook_secret.encode()
    press = json.dumps({"update_id": 9_100_001, "callback_query": {
        "id": "q-1", "chat_instance": "c", "data": "x",
        "from": {"id": 700_100, "is_bot": False, "first_name": "Test"}}}).encode()
    replies: list = []
    service.take_webhook_update(secret, press, replies.append)
    service.take_webhook_update(secret, _update(9_100_002, 700_101), replies.append)
    for _ in range(100):
        if len(replies) == 2:
            break
        await asyncio.sleep(0.01)
    assert [reply.status for reply in replies] == [503, 503]
    assert not service._answers.give("q-1", (), {})  # the handler, if it ever ran, would answer with a call


@pytest.mark.parametrize("secret, body, status", [
    (b"wrong", b"{}", 403),
    (None, b"not json", 400),
    (None, b"\xff\xfe", 400),
    (None, b'{"no_update_id": 1}', 400),
    (None, b"[1, 2]", 400),
])
async def test_what_is_refused_is_answered_at_once(webhook_bot, secret, body, status):
    service = webhook_bot.service
    replies: list = []
    service.take_webhook_update(secret or service.settings.webhook_secret.encode(), body, replies.append)
    assert [reply.status for reply in replies] == [status]
