"""The emulator's flood control: 429 to what goes over Telegram's limits, nothing to what keeps them."""

from __future__ import annotations

import pytest
import telegram
from telegram.error import RetryAfter

from bot.emulator import BotApiEmulator
from bot.emulator.flood import FloodControl, FloodLimits
from tests.unit.emulator.support import USER, started_chat

pytestmark = pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_thirty_a_second_in_all_one_a_second_to_a_chat_twenty_a_minute_to_a_group():
    clock = Clock()
    flood = FloodControl(FloodLimits(), now=clock)
    for chat in range(30):
        assert flood.check("sendmessage", 1000 + chat) is None
        clock.now += 0.03
    refused = flood.check("sendmessage", 2000)  # the 31st within a second
    assert refused is not None and refused.error_code == 429 and refused.retry_after == 1
    clock.now += 0.2  # the first message left the window
    assert flood.check("sendmessage", 2000) is None
    assert flood.check("sendmessage", 2000).retry_after == 1, "a second message to the chat within a second"
    assert flood.check("editmessagetext", 2000) is None, "edits are not limited here"
    clock.now += 1.0
    for _ in range(20):
        assert flood.check("sendmessage", -5) is None
        clock.now += 1.0
    assert flood.check("sendmessage", -5).retry_after == 40  # 20 s after the first: it leaves the minute in 40 s
    assert flood.refused == 3


async def test_the_emulator_answers_429_over_the_limit_and_keeps_what_was_sent(emu: BotApiEmulator, bot: telegram.Bot) -> None:
    await started_chat(emu, bot)
    emu.flood_control()
    assert (await bot.send_message(USER, "uno")).text == "uno"
    with pytest.raises(RetryAfter):
        await bot.send_message(USER, "due")  # the same chat within a second
    assert emu.last_bot_message(USER).text == "uno"
    assert not emu.refusals[-1].injected
    emu.flood_control(None)
    assert (await bot.send_message(USER, "tre")).text == "tre"
