"""bot.app.FrontDeskBot keeps the ids of answered callback queries a minute, and at most ANSWERED_KEPT."""

import asyncio

import pytest

from bot import app
from bot.app import ANSWERED_KEPT_SECONDS, FrontDeskBot


@pytest.fixture
def bot(monkeypatch: pytest.MonkeyPatch) -> FrontDeskBot:
    async def answered(self, callback_query_id, *args, **kwargs):  # type: ignore[no-untyped-def]
        return True  # Telegram's side: nothing is sent

    monkeypatch.setattr(app.ExtBot, "answer_callback_query", answered)
    return FrontDeskBot(token="123:TEST")


def test_an_answer_is_remembered_for_a_minute_then_forgotten(bot: FrontDeskBot, monkeypatch: pytest.MonkeyPatch) -> None:
    now = [1000.0]
    monkeypatch.setattr(app.time, "monotonic", lambda: now[0])
    asyncio.run(bot.answer_callback_query("first"))
    now[0] += ANSWERED_KEPT_SECONDS - 1
    asyncio.run(bot.answer_callback_query("second"))
    assert bot.was_answered("first") and bot.was_answered("second")
    now[0] += 2  # "first" is now older than a minute
    asyncio.run(bot.answer_callback_query("third"))
    assert not bot.was_answered("first")
    assert bot.was_answered("second") and bot.was_answered("third")
    assert len(bot._answered) == 2


def test_at_most_answered_kept_under_any_load(bot: FrontDeskBot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(app, "ANSWERED_KEPT", 50)
    monkeypatch.setattr(app.time, "monotonic", lambda: 5.0)  # all within the same moment

    async def press_many() -> None:
        for number in range(120):
            await bot.answer_callback_query(str(number))

    asyncio.run(press_many())
    assert len(bot._answered) == 50
    assert bot.was_answered("119") and not bot.was_answered("69")
