"""Flood control as Telegram does it: a bot that sends over its limits gets 429 with the seconds to wait.

Telegram's published limits (core.telegram.org/bots/faq): about 30 messages a second in all, one a second to a
chat, 20 a minute to a group. Telegram answers 429 when a bot goes over them, not at random; so a bot that keeps
its pace never sees one. Only messages that go through count (a refused call sends nothing).
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from bot.emulator.models import ApiError

# The methods that put a message in a chat; edits, answers and chat actions are not limited here.
SENDING_METHODS = frozenset({
    "sendmessage", "sendphoto", "senddocument", "sendaudio", "sendvoice", "sendlocation", "sendvenue",
})


@dataclass(frozen=True)
class FloodLimits:
    per_second: int = 30  # messages a second, every chat together
    per_chat_second: int = 1  # messages a second to one chat
    per_group_minute: int = 20  # messages a minute to one group (chat id < 0)


class FloodControl:
    def __init__(self, limits: FloodLimits, now: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._now = now
        self._sent: deque[float] = deque()  # every chat, the last second
        self._per_chat: dict[int, deque[float]] = {}  # the last second (private) or minute (group)
        self.refused = 0

    def check(self, method: str, chat_id: int | None) -> ApiError | None:
        """None when the message may go (it is counted), else the 429 Telegram would answer."""
        if method not in SENDING_METHODS or chat_id is None:
            return None
        now = self._now()
        self._forget(now)
        waits = []
        if len(self._sent) >= self.limits.per_second:
            waits.append(self._sent[len(self._sent) - self.limits.per_second] + 1.0 - now)
        window, most = (60.0, self.limits.per_group_minute) if chat_id < 0 else (1.0, self.limits.per_chat_second)
        in_chat = self._per_chat.get(chat_id)
        if in_chat is not None:
            while in_chat and in_chat[0] <= now - window:
                in_chat.popleft()
            if len(in_chat) >= most:
                waits.append(in_chat[len(in_chat) - most] + window - now)
        if waits:
            self.refused += 1
            retry_after = max(1, math.ceil(max(waits)))  # whole seconds, as the Bot API gives them
            return ApiError(429, f"Too Many Requests: retry after {retry_after}", retry_after)
        self._sent.append(now)
        self._per_chat.setdefault(chat_id, deque()).append(now)
        return None

    def _forget(self, now: float) -> None:
        while self._sent and self._sent[0] <= now - 1.0:
            self._sent.popleft()
        if len(self._per_chat) > 1000:  # a broadcast touches every chat once: keep only those still limited
            self._per_chat = {chat: times for chat, times in self._per_chat.items()
                              if times and times[-1] > now - (60.0 if chat < 0 else 1.0)}
