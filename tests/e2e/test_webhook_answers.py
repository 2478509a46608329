"""Webhook mode: a pressed button is answered in the webhook's HTTP response (bot/webhook_answers.py), once, with no
answerCallbackQuery call; a handler slower than the hold answers with a call, still once."""

from __future__ import annotations

import asyncio
import socket

import pytest

from bot import webhook_answers
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
