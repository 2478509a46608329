"""Webhook mode: the answer to a pressed button goes back in the webhook's HTTP response, one request fewer per press
(the Bot API's "Making requests when getting updates": the response to a webhook POST may carry one method call).

The webhook answers only once the update is stored (bot/inbox.py), before any handler has run; for a callback query
it then waits, at most CALLBACK_ANSWER_HOLD, for the handler's answerCallbackQuery (`FrontDeskBot` hands it here
instead of calling) and puts it in the response. A handler slower than that answers with an ordinary call. Either
way the query is answered once. Telegram tells nobody whether a call in a response succeeded, so what is lost is
only the retry of a failed answer; the handler no longer waits for that call's round trip before showing its screen
(docs/performance.md, "The callback answer in the webhook's response").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import orjson

# Seconds the 200 of a pressed button waits for the handler's answer: one of Telegram's 40 connections is held
# meanwhile, so not much longer than a handler takes under load.
CALLBACK_ANSWER_HOLD = 1.0
JSON_CONTENT_TYPE = b"application/json"
ANSWER_FIELDS = ("text", "show_alert", "url", "cache_time")  # answerCallbackQuery's, in PTB's positional order


class AnswersInResponse:
    def __init__(self) -> None:
        self._expected: dict[str, asyncio.Future[dict[str, Any]]] = {}

    def expect(self, query_id: str) -> asyncio.Future[dict[str, Any]]:
        """Before the update is stored: its handler's answer is to come here."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._expected[query_id] = future
        return future

    def forget(self, query_id: str) -> None:
        self._expected.pop(query_id, None)

    def give(self, query_id: str, args: tuple, kwargs: dict[str, Any]) -> bool:
        """The handler answers: True if the answer goes in the webhook's response (the caller then makes no call)."""
        future = self._expected.pop(query_id, None)
        if future is None or future.done():
            return False
        values = dict(zip(ANSWER_FIELDS, args))
        values.update({name: kwargs[name] for name in ANSWER_FIELDS if name in kwargs})
        future.set_result({name: value for name, value in values.items() if value is not None})
        return True

    def when_answered(self, query_id: str, future: asyncio.Future[dict[str, Any]],
                      deliver: Callable[[bytes | None], None]) -> None:
        """Once the update is stored: `deliver` is called with the response's body (JSON) carrying the handler's
        answer, or with None if none came within CALLBACK_ANSWER_HOLD (the handler will answer with a call)."""
        if future.done():
            return deliver(_carried(query_id, future))
        too_late = asyncio.get_running_loop().call_later(CALLBACK_ANSWER_HOLD, self._too_late, query_id, future)
        future.add_done_callback(lambda done: (too_late.cancel(), deliver(_carried(query_id, done))))

    def _too_late(self, query_id: str, future: asyncio.Future[dict[str, Any]]) -> None:
        self.forget(query_id)
        future.cancel()  # `give` finds no answer awaited: the handler calls


def _carried(query_id: str, future: asyncio.Future[dict[str, Any]]) -> bytes | None:
    if future.cancelled():
        return None
    return orjson.dumps({"method": "answerCallbackQuery", "callback_query_id": query_id, **future.result()})
