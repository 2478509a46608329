"""How answers to the person are tried again (bot.app._answering): edits and callback answers until they go
through, a new message only when it surely did not arrive, and once."""

from __future__ import annotations

import pytest
from telegram.error import BadRequest, NetworkError, TimedOut

from bot import app


@pytest.fixture(autouse=True)
def no_pauses(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(app, "ANSWER_RETRY_PAUSES", (0, 0, 0, 0))


def failing(*errors: Exception):  # type: ignore[no-untyped-def]
    """A call that raises these errors in turn, then succeeds; `calls` counts attempts."""
    remaining = list(errors)

    async def call():  # type: ignore[no-untyped-def]
        call.calls += 1
        if remaining:
            raise remaining.pop(0)
        return {"ok": True}

    call.calls = 0
    return call


async def test_an_edit_is_retried_through_502s_and_late_answers():
    call = failing(NetworkError("Bad Gateway"), TimedOut(), NetworkError("Bad Gateway"))
    assert await app._answering("editMessageText", call) == {"ok": True}
    assert call.calls == 4


async def test_not_modified_after_a_retry_means_the_first_attempt_went_through():
    call = failing(TimedOut(), BadRequest("Message is not modified: specified new message content..."))
    assert await app._answering("editMessageText", call) is True


async def test_a_callback_too_old_to_answer_does_not_stop_the_work():
    call = failing(BadRequest("Query is too old and response timeout expired or query ID is invalid"))
    assert await app._answering("answerCallbackQuery", call) is True


async def test_a_new_message_is_sent_again_once_when_it_surely_did_not_arrive():
    call = failing(NetworkError("Server disconnected"))
    assert await app._answering("sendMessage", call) == {"ok": True}
    twice = failing(NetworkError("Bad Gateway"), NetworkError("Bad Gateway"))
    with pytest.raises(NetworkError):
        await app._answering("sendMessage", twice)
    assert twice.calls == 2


async def test_a_new_message_whose_answer_came_late_is_not_sent_again():
    call = failing(TimedOut())
    with pytest.raises(TimedOut):
        await app._answering("sendMessage", call)
    assert call.calls == 1


async def test_a_new_message_that_never_left_for_want_of_a_connection_is_sent_again_once():
    call = failing(TimedOut("Pool timeout: All connections in the connection pool are occupied."))
    assert await app._answering("sendMessage", call) == {"ok": True}


async def test_other_refusals_are_not_retried():
    call = failing(BadRequest("Bad Request: chat not found"))
    with pytest.raises(BadRequest):
        await app._answering("editMessageText", call)
    assert call.calls == 1
