"""The emulator's mutable state: users, chats, message histories, files, updates and live events."""

from __future__ import annotations

import asyncio
import itertools
import random
from collections import OrderedDict, deque
from typing import Any

from bot.emulator.models import EmuGroup, EmuMessage, EmuUser, StoredFile, bad_request, forbidden
from bot.emulator.updates import UpdateQueue, WebhookDelivery

DEFAULT_HISTORY_LIMIT = 500
_SUBSCRIBER_BACKLOG = 1000
_FILE_FOLDERS = {"photo": "photos", "voice": "voice", "audio": "music", "document": "documents", "sticker": "stickers"}


class EmulatorState:
    """Everything the Bot API methods and the test API read and change.

    Work per call stays O(1) in the number of stored messages: histories are dicts keyed by
    message id, capped per chat, and listeners are woken through a swapped asyncio.Event.
    """

    def __init__(self, bot_user: dict[str, Any], history_limit: int = DEFAULT_HISTORY_LIMIT) -> None:
        self.bot_user = bot_user
        self.history_limit = history_limit
        self.users: dict[int, EmuUser] = {}
        self.groups: dict[int, EmuGroup] = {}
        self.histories: dict[int, OrderedDict[int, EmuMessage]] = {}
        self.recent_messages: deque[EmuMessage] = deque(maxlen=20)  # across chats, for failure dumps
        self.files: dict[str, StoredFile] = {}
        self.files_by_path: dict[str, StoredFile] = {}
        self.open_callback_queries: dict[str, int] = {}  # unanswered query id -> chat id
        self.callback_answers: dict[str, dict[str, Any]] = {}
        self.commands: dict[tuple[str, str], list[dict[str, str]]] = {}
        self.menu_buttons: dict[int | None, dict[str, Any]] = {}
        self.reply_keyboards: dict[int, dict[str, Any]] = {}  # the custom keyboard each chat shows now
        self.update_queue = UpdateQueue(on_waiting=self.notify_change)
        self.webhook: WebhookDelivery | None = None
        self.allowed_updates: frozenset[str] | None = None  # None: Telegram's default set
        self.last_update: dict[str, Any] | None = None  # the newest update injected by a user action
        self._last_message_id: dict[int, int] = {}
        # Like Telegram's after a quiet week: a new emulator (the sandbox started again on the same data) must not
        # hand the bot ids its inbox has already handled.
        self._update_ids = itertools.count(random.randint(100_001, 1_000_000_000))
        self._file_numbers = itertools.count(1)
        self._callback_query_ids = itertools.count(4_200_000_000_000_000_001)  # Telegram-sized numbers
        self._subscribers: set[asyncio.Queue[dict[str, Any]]] = set()
        self._changed = asyncio.Event()
        self._chat_changed: dict[int, asyncio.Event] = {}  # only for chats someone waits on

    # Chats ---------------------------------------------------------------------------------------

    def chat_object(self, chat_id: int) -> dict[str, Any]:
        if chat_id in self.users:
            return self.users[chat_id].private_chat()
        if chat_id in self.groups:
            return self.groups[chat_id].to_api()
        raise bad_request("chat not found")

    def require_writable_chat(self, chat_id: int | str) -> int:
        """The chat the bot may post to, or the error Telegram gives for it."""
        if isinstance(chat_id, str):
            raise bad_request("chat not found")
        if chat_id in self.groups:
            return chat_id
        user = self.users.get(chat_id)
        if user is None:
            raise bad_request("chat not found")
        if user.blocked:
            raise forbidden("bot was blocked by the user")
        if not user.started:
            raise forbidden("bot can't initiate conversation with a user")
        return chat_id

    def require_known_chat(self, chat_id: int | str) -> int:
        if isinstance(chat_id, str) or (chat_id not in self.users and chat_id not in self.groups):
            raise bad_request("chat not found")
        return chat_id

    # Messages ------------------------------------------------------------------------------------

    def add_message(
        self, chat_id: int, *, from_bot: bool, sender: dict[str, Any], kind: str, **fields: Any
    ) -> EmuMessage:
        message_id = self._last_message_id.get(chat_id, 0) + 1
        self._last_message_id[chat_id] = message_id
        message = EmuMessage(
            message_id=message_id,
            chat_id=chat_id,
            from_bot=from_bot,
            kind=kind,
            chat=self.chat_object(chat_id),
            sender=sender,
            **fields,
        )
        history = self.histories.setdefault(chat_id, OrderedDict())
        history[message_id] = message
        if len(history) > self.history_limit:
            history.popitem(last=False)
        self.recent_messages.append(message)
        if from_bot:
            self._track_reply_keyboard(chat_id, message.reply_markup)
        self.emit("message", message)
        return message

    def find_message(self, chat_id: int, message_id: int) -> EmuMessage | None:
        message = self.histories.get(chat_id, {}).get(message_id)
        return None if message is None or message.deleted else message

    def _track_reply_keyboard(self, chat_id: int, markup: dict[str, Any] | None) -> None:
        if not markup:
            return
        if "keyboard" in markup:
            self.reply_keyboards[chat_id] = markup
        elif "remove_keyboard" in markup:
            self.reply_keyboards.pop(chat_id, None)

    def user_used_keyboard(self, chat_id: int) -> None:
        """A one-time keyboard hides once the user sends something with it, as in the apps."""
        keyboard = self.reply_keyboards.get(chat_id)
        if keyboard and keyboard.get("one_time_keyboard"):
            del self.reply_keyboards[chat_id]

    # Files ---------------------------------------------------------------------------------------

    def store_file(self, kind: str, data: bytes, extension: str, metadata: dict[str, Any]) -> StoredFile:
        number = next(self._file_numbers)
        stored = StoredFile(
            file_id=f"emu-{kind}-{number}",
            file_unique_id=f"emu-unique-{number}",
            kind=kind,
            data=data,
            file_path=f"{_FILE_FOLDERS[kind]}/file_{number}.{extension}",
            metadata=metadata,
        )
        self.files[stored.file_id] = stored
        self.files_by_path[stored.file_path] = stored
        return stored

    # Updates -------------------------------------------------------------------------------------

    def new_callback_query_id(self) -> str:
        return str(next(self._callback_query_ids))

    def enqueue_update(self, kind: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Build an Update and hand it to getUpdates or the webhook (unless allowed_updates filters it)."""
        update = {"update_id": next(self._update_ids), kind: payload}
        self.last_update = update
        if self.allowed_updates is None or kind in self.allowed_updates:
            if self.webhook is not None:
                self.webhook.push(update)
            else:
                self.update_queue.push(update)
        self.notify_change()
        return update

    # Live events ---------------------------------------------------------------------------------

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        queue: asyncio.Queue[dict[str, Any]] = asyncio.Queue(maxsize=_SUBSCRIBER_BACKLOG)
        self._subscribers.add(queue)
        return queue

    @property
    def subscriber_count(self) -> int:
        return len(self._subscribers)

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self._subscribers.discard(queue)

    def emit(self, event_type: str, message: EmuMessage | None = None, **extra: Any) -> None:
        if self._subscribers:
            event: dict[str, Any] = {"type": event_type, **extra}
            if message is not None:
                event["chat_id"] = message.chat_id
                event["message"] = message.to_dict()
            for queue in self._subscribers:
                if queue.full():  # a stalled reader loses its oldest events, never blocks the emulator
                    queue.get_nowait()
                queue.put_nowait(event)
        if message is not None:
            chat_changed = self._chat_changed.pop(message.chat_id, None)
            if chat_changed is not None:
                chat_changed.set()
        self.notify_change()

    def notify_change(self) -> None:
        changed, self._changed = self._changed, asyncio.Event()
        changed.set()

    async def wait_for_change(self, timeout: float) -> None:
        """Return after the next change, or after timeout seconds, whichever is first."""
        await _wait_at_most(self._changed, timeout)

    async def wait_for_chat_change(self, chat_id: int, timeout: float) -> None:
        """Return after a message of this chat is added, edited or deleted, or after timeout seconds.

        Waiting per chat keeps many concurrent waiters (load tests) from all waking on every call.
        """
        await _wait_at_most(self._chat_changed.setdefault(chat_id, asyncio.Event()), timeout)


async def _wait_at_most(event: asyncio.Event, timeout: float) -> None:
    try:
        await asyncio.wait_for(event.wait(), timeout)
    except TimeoutError:
        pass
