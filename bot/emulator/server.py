"""BotApiEmulator: an in-process, strict Telegram Bot API server for tests, the sandbox and benchmarks.

The bot talks to it over HTTP exactly as to api.telegram.org (point python-telegram-bot's
``base_url``/``base_file_url`` at ``emu.base_url``/``emu.base_file_url``); tests drive the users
through Python methods, the sandbox page through the JSON control API under ``/_emu/``.
"""

from __future__ import annotations

import asyncio
import io
import json
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from aiohttp import web
from PIL import Image, UnidentifiedImageError

from bot.emulator.control import add_control_routes
from bot.emulator.faults import Fault, FaultPlan
from bot.emulator.flood import FloodControl, FloodLimits
from bot.emulator.html_check import utf16_length
from bot.emulator.markup import MAX_TEXT_LENGTH
from bot.emulator.methods import MAX_UPLOAD_BYTES, BotApiMethods
from bot.emulator.models import ApiError, EmuGroup, EmuMessage, EmuUser, Refusal, StoredFile
from bot.emulator.params import Params
from bot.emulator.store import DEFAULT_HISTORY_LIMIT, EmulatorState

T = TypeVar("T")

DEFAULT_TOKEN = "123456:TEST-token"
_TOKEN_FORMAT = re.compile(r"^(\d+):[A-Za-z0-9_-]+$")
_BOT_COMMAND = re.compile(r"(?<![\w/])/[A-Za-z0-9_]{1,32}(?:@[A-Za-z0-9_]{3,32})?")
_UNAUTHORIZED = ApiError(401, "Unauthorized")
_NOT_FOUND = ApiError(404, "Not Found")


class BotApiEmulator:
    """A fake Telegram that refuses what Telegram refuses, with the same descriptions."""

    def __init__(
        self,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "qc_test_bot",
        bot_name: str = "Quartieri Connessi",
        *,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
        log_limit: int = 10_000,
    ) -> None:
        token_match = _TOKEN_FORMAT.match(token)
        if token_match is None:
            raise ValueError(f"bot token {token!r} is not shaped like Telegram's '<digits>:<letters digits _ ->'")
        self.token = token
        self.bot_user: dict[str, Any] = {
            "id": int(token_match.group(1)),
            "is_bot": True,
            "first_name": bot_name,
            "username": bot_username,
        }
        self.state = EmulatorState(self.bot_user, history_limit)
        self.methods = BotApiMethods(self.state)
        self.methods.on_webhook_answer = self._call_from_webhook_answer
        self.faults = FaultPlan()
        self.flood: FloodControl | None = None  # Telegram's limits, answered with 429 when on (flood_control())
        self.calls: list[tuple[str, dict[str, Any]]] = []  # the last ``log_limit`` calls, oldest first
        # The last ``log_limit`` 4xx answers, oldest first (not those whose client had gone away).
        self.refusals: list[Refusal] = []
        # Calls the bot made in its answers to webhook POSTs (also in ``calls``), oldest first.
        self.webhook_answer_calls: list[tuple[str, dict[str, Any]]] = []
        self._log_limit = log_limit
        self._read_cursors: dict[int, int] = {}
        self._runner: web.AppRunner | None = None
        self.host: str | None = None
        self.port: int | None = None

    # Serving -------------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on host:port in this event loop; port 0 picks a free port (read it from ``emu.port``)."""
        if self._runner is not None:
            raise RuntimeError(f"the emulator is already serving on {self.host}:{self.port}")
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024)
        self.add_routes(app)
        # handler_cancellation: like Telegram, stop serving a request whose client went away (a
        # cancelled long poll must not linger and then fail a later getUpdates with 409).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await runner.setup()
        site = web.TCPSite(runner, host, port)
        await site.start()
        self._runner = runner
        self.host = host
        self.port = runner.addresses[0][1]

    async def stop(self) -> None:
        """Stop webhook delivery, end waiting long polls and live streams, stop serving if started here."""
        self.state.update_queue.end_waiting_poll(None)
        if self.state.webhook is not None:
            await self.state.webhook.stop()
            self.state.webhook = None
        self.state.emit("shutdown")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def add_routes(self, app: web.Application) -> None:
        """Mount the Bot API, file download and ``/_emu/`` control routes on an existing app.

        Give that app ``client_max_size`` of at least 51 MB if the bot uploads large files, and call
        ``set_origin`` once it listens so that ``base_url`` and ``base_file_url`` point at it.
        """
        app.router.add_route("*", "/bot{token}/{method}", self._handle_bot_call)
        app.router.add_get("/file/bot{token}/{file_path:.+}", self._handle_file_download)
        add_control_routes(app, self)

    def set_origin(self, host: str, port: int) -> None:
        """Where an app carrying ``add_routes`` listens (``start`` sets this itself)."""
        self.host, self.port = host, port

    @property
    def base_url(self) -> str:
        return f"{self._origin()}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self._origin()}/file/bot"

    def _origin(self) -> str:
        if self.port is None:
            raise RuntimeError("the emulator has no address: await emu.start(), or call emu.set_origin()")
        return f"http://{self.host}:{self.port}"

    # Users and chats -----------------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str = "Utente",
        language_code: str | None = None,
        username: str | None = None,
        last_name: str | None = None,
    ) -> EmuUser:
        """Register a user (or update the profile of a known one, keeping their chat state)."""
        if user_id <= 0:
            raise ValueError(f"user ids are positive in Telegram, got {user_id}")
        user = self.state.users.get(user_id)
        if user is None:
            user = EmuUser(user_id, first_name, language_code, username, last_name)
            self.state.users[user_id] = user
        else:
            user.first_name, user.language_code = first_name, language_code
            user.username, user.last_name = username, last_name
        return user

    def add_group(self, chat_id: int, title: str = "Gruppo") -> EmuGroup:
        """Register a group the bot is a member of and may post to."""
        if chat_id >= 0:
            raise ValueError(f"group chat ids are negative in Telegram, got {chat_id}")
        group = EmuGroup(chat_id, title)
        self.state.groups[chat_id] = group
        return group

    @property
    def users(self) -> dict[int, EmuUser]:
        return self.state.users

    def block(self, user_id: int) -> dict[str, Any] | None:
        """The user blocks the bot: sends to them get 403; the bot gets a my_chat_member update."""
        user = self._user(user_id)
        user.blocked = True
        return self._member_status_update(user, old="member", new="kicked")

    def unblock(self, user_id: int) -> dict[str, Any] | None:
        user = self._user(user_id)
        user.blocked = False
        return self._member_status_update(user, old="kicked", new="member")

    def _member_status_update(self, user: EmuUser, old: str, new: str) -> dict[str, Any] | None:
        if not user.started:
            return None
        payload = {
            "chat": user.private_chat(),
            "from": user.to_api(),
            "date": int(time.time()),
            "old_chat_member": {"user": self.bot_user, "status": old},
            "new_chat_member": {"user": self.bot_user, "status": new, **({"until_date": 0} if new == "kicked" else {})},
        }
        return self.state.enqueue_update("my_chat_member", payload)

    def _user(self, user_id: int) -> EmuUser:
        user = self.state.users.get(user_id)
        if user is None:
            raise LookupError(f"unknown user {user_id}: call emu.add_user({user_id}, ...) first")
        return user

    # What users do -------------------------------------------------------------------------------

    def send_text(self, user_id: int, text: str, chat_id: int | None = None) -> dict[str, Any]:
        """The user writes ``text``; commands get bot_command entities like in the Telegram apps."""
        user, chat_id = self._sender(user_id, chat_id)
        if not text.strip() or utf16_length(text) > MAX_TEXT_LENGTH:
            raise ValueError(f"Telegram apps send texts of 1..{MAX_TEXT_LENGTH} characters, got {len(text)}")
        entities = [
            {
                "type": "bot_command",
                "offset": utf16_length(text[: match.start()]),
                "length": utf16_length(match.group()),
            }
            for match in _BOT_COMMAND.finditer(text)
        ]
        return self._user_message(user, chat_id, "text", text=text, entities=entities)

    def send_location(
        self, user_id: int, latitude: float, longitude: float, chat_id: int | None = None
    ) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        location = {"latitude": latitude, "longitude": longitude}
        return self._user_message(user, chat_id, "location", content={"location": location})

    def send_photo(
        self, user_id: int, data: bytes, caption: str | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        width, height = _image_size_or_zero(data)
        stored = self.state.store_file("photo", data, "jpg", {"width": width, "height": height})
        photo = {"photo": [stored.media_object()]}
        return self._user_message(user, chat_id, "photo", content=photo, caption=caption)

    def send_voice(self, user_id: int, data: bytes, duration: int = 3, chat_id: int | None = None) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        stored = self.state.store_file("voice", data, "oga", {"duration": duration, "mime_type": "audio/ogg"})
        return self._user_message(user, chat_id, "voice", content={"voice": stored.media_object()})

    def send_document(
        self,
        user_id: int,
        data: bytes,
        filename: str,
        mime_type: str = "application/octet-stream",
        chat_id: int | None = None,
    ) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        extension = filename.rsplit(".", 1)[-1] if "." in filename else "dat"
        stored = self.state.store_file("document", data, extension, {"file_name": filename, "mime_type": mime_type})
        return self._user_message(user, chat_id, "document", content={"document": stored.media_object()})

    def send_sticker(self, user_id: int, emoji: str = "👍", chat_id: int | None = None) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        metadata = {
            "type": "regular", "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": emoji
        }
        stored = self.state.store_file("sticker", b"RIFF\x00\x00\x00\x00WEBP", "webp", metadata)
        return self._user_message(user, chat_id, "sticker", content={"sticker": stored.media_object()})

    def send_contact(
        self, user_id: int, phone_number: str, first_name: str | None = None, chat_id: int | None = None
    ) -> dict[str, Any]:
        user, chat_id = self._sender(user_id, chat_id)
        contact = {"phone_number": phone_number, "first_name": first_name or user.first_name, "user_id": user_id}
        return self._user_message(user, chat_id, "contact", content={"contact": contact})

    def press_button(
        self, user_id: int, message_id: int, callback_data: str, *, chat_id: int | None = None, force: bool = False
    ) -> str:
        """The user taps an inline button; returns the callback_query id the bot must answer.

        The button must be on that message unless ``force=True`` (for forged-data tests).
        """
        user, chat_id = self._sender(user_id, chat_id)
        message = self.state.find_message(chat_id, message_id)
        if message is None:
            raise LookupError(f"message {message_id} is not in chat {chat_id} (never sent, deleted, or too old)")
        if not force and not any(
            button.get("callback_data") == callback_data for row in message.inline_keyboard for button in row
        ):
            raise LookupError(
                f"message {message_id} in chat {chat_id} has no button with callback_data {callback_data!r}; "
                f"its buttons are {message.buttons()}"
            )
        query_id = self.state.new_callback_query_id()
        self.state.open_callback_queries[query_id] = chat_id
        payload = {
            "id": query_id,
            "from": user.to_api(),
            "message": message.to_api(),
            "chat_instance": f"instance-{chat_id}",
            "data": callback_data,
        }
        self.state.enqueue_update("callback_query", payload)
        return query_id

    def _sender(self, user_id: int, chat_id: int | None) -> tuple[EmuUser, int]:
        """The user and the chat they write in (their private chat unless a group is given)."""
        user = self._user(user_id)
        if user.blocked:
            raise RuntimeError(f"user {user_id} has blocked the bot; call emu.unblock({user_id}) first")
        chat_id = user_id if chat_id is None else chat_id
        if chat_id < 0 and chat_id not in self.state.groups:
            raise LookupError(f"unknown group {chat_id}: call emu.add_group({chat_id}, ...) first")
        if chat_id > 0 and chat_id != user_id:
            raise ValueError(f"user {user_id} cannot write in the private chat of user {chat_id}")
        return user, chat_id

    def _user_message(self, user: EmuUser, chat_id: int, kind: str, **fields: Any) -> dict[str, Any]:
        if chat_id == user.user_id:
            user.started = True
        message = self.state.add_message(chat_id, from_bot=False, sender=user.to_api(), kind=kind, **fields)
        self.state.user_used_keyboard(chat_id)
        return self.state.enqueue_update("message", message.to_api())

    # What the bot did ----------------------------------------------------------------------------

    def chat_messages(self, chat_id: int) -> list[EmuMessage]:
        """Bot and user messages of the chat in order, in their current state (deleted ones flagged)."""
        return list(self.state.histories.get(chat_id, {}).values())

    def last_bot_message(self, chat_id: int) -> EmuMessage | None:
        for message in reversed(self.state.histories.get(chat_id, {}).values()):
            if message.from_bot and not message.deleted:
                return message
        return None

    def reply_keyboard(self, chat_id: int) -> dict[str, Any] | None:
        """The custom (reply) keyboard the chat currently shows, if any."""
        return self.state.reply_keyboards.get(chat_id)

    def visible_commands(self, chat_id: int | None = None, language_code: str = "") -> list[dict[str, str]]:
        """The command menu a user would see, resolved through scopes and languages like Telegram."""
        language_code = language_code or ""
        scopes = [f"chat:{chat_id}"] if chat_id is not None else []
        scopes.append("all_group_chats" if chat_id is not None and chat_id < 0 else "all_private_chats")
        scopes.append("default")
        for scope in scopes:
            for language in dict.fromkeys((language_code, "")):
                commands = self.state.commands.get((scope, language))
                if commands:
                    return commands
        return []

    @property
    def last_update(self) -> dict[str, Any] | None:
        """The newest update a user action produced (e.g. the callback_query of press_button)."""
        return self.state.last_update

    @property
    def commands(self) -> dict[tuple[str, str], list[dict[str, str]]]:
        """Stored commands by (scope key, language_code); scope keys: "default", "chat:<id>", …"""
        return self.state.commands

    @property
    def callback_answers(self) -> dict[str, dict[str, Any]]:
        return self.state.callback_answers

    @property
    def unanswered_callback_queries(self) -> set[str]:
        return set(self.state.open_callback_queries)

    @property
    def uploaded_files(self) -> dict[str, bytes]:
        return {file_id: stored.data for file_id, stored in self.state.files.items()}

    @property
    def files(self) -> dict[str, StoredFile]:
        return self.state.files

    async def wait_for(self, predicate: Callable[[], T], timeout: float = 5.0) -> T:
        """Wait until ``predicate()`` is truthy (re-checked after every change) and return its value."""
        return await self._wait_until(predicate, timeout, self.state.wait_for_change)

    async def next_bot_message(self, chat_id: int, timeout: float = 5.0, after: int | None = None) -> EmuMessage:
        """The oldest bot message in the chat not yet returned by this method (or newer than ``after``)."""
        cursor = self._read_cursors.get(chat_id, 0) if after is None else after

        def first_unread() -> EmuMessage | None:
            unread = None
            for message in reversed(self.state.histories.get(chat_id, {}).values()):
                if message.message_id <= cursor:
                    break
                if message.from_bot and not message.deleted:
                    unread = message
            return unread

        async def chat_change(remaining: float) -> None:
            await self.state.wait_for_chat_change(chat_id, remaining)

        try:
            message = await self._wait_until(first_unread, timeout, chat_change)
        except TimeoutError as error:
            raise TimeoutError(f"no new bot message in chat {chat_id} after message {cursor}: {error}") from None
        self._read_cursors[chat_id] = max(self._read_cursors.get(chat_id, 0), message.message_id)
        return message

    async def _wait_until(
        self, predicate: Callable[[], T], timeout: float, next_change: Callable[[float], Awaitable[None]]
    ) -> T:
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            result = predicate()
            if result:
                return result
            remaining = deadline - asyncio.get_running_loop().time()
            if remaining <= 0:
                raise TimeoutError(f"condition still false after {timeout} s\n{self.describe_recent()}")
            await next_change(remaining)

    def describe_recent(self) -> str:
        """The last messages and refusals, for failure reports."""
        lines = ["last messages (oldest first):"]
        for message in self.state.recent_messages:
            who = "bot " if message.from_bot else "user"
            flags = " [edited]" * message.edited + " [deleted]" * message.deleted
            body = message.text if message.text is not None else message.caption or message.kind
            buttons = f" buttons={message.buttons()}" if message.reply_markup else ""
            lines.append(f"  chat {message.chat_id} #{message.message_id} {who}: {body!r}{buttons}{flags}")
        if self.refusals:
            lines.append("last refusals:")
            lines.extend(
                f"  {refusal.method}: {refusal.error_code} {refusal.description}" for refusal in self.refusals[-5:]
            )
        return "\n".join(lines)

    # Faults and events ---------------------------------------------------------------------------

    def inject_fault(
        self,
        method: str | None = None,
        status: int | None = None,
        *,
        retry_after: int = 1,
        times: int = 1,
        drop_connection: bool = False,
        delay: float = 0.0,
    ) -> None:
        """Make the next ``times`` calls of ``method`` (any method if None) fail or answer late."""
        fault = Fault(status=status, retry_after=retry_after, drop_connection=drop_connection, delay=delay)
        self.faults.add(method, fault, times)

    def fault_rate(
        self,
        method: str | None = None,
        rate: float = 0.3,
        statuses: tuple[int, ...] = (429, 502),
        seed: int = 1,
        retry_after: int = 1,
        *,
        delay: float = 0.0,
        drop_connection: bool = False,
    ) -> None:
        """Fail a random share of calls of ``method`` (reproducibly, from ``seed``); rate=0 turns it off. Each method
        keeps its own rate. With ``delay`` the fault is a late answer (the call is carried out, the answer comes
        ``delay`` seconds later: a time-out for a client that waits less), with ``drop_connection`` a connection
        closed without doing anything; otherwise one of ``statuses``."""
        self.faults.set_rate(method, rate, statuses, seed, retry_after, delay, drop_connection)

    def flood_control(self, limits: FloodLimits | None = FloodLimits()) -> None:
        """Answer 429 (with Telegram's retry_after) to messages over Telegram's limits, as Telegram does; None: off."""
        self.flood = FloodControl(limits) if limits is not None else None

    def clear_faults(self) -> None:
        self.faults.clear()

    def subscribe(self) -> asyncio.Queue[dict[str, Any]]:
        """Live events: message, edit, delete, callback_answer, chat_action, refusal, shutdown."""
        return self.state.subscribe()

    def unsubscribe(self, queue: asyncio.Queue[dict[str, Any]]) -> None:
        self.state.unsubscribe(queue)

    # HTTP handlers -------------------------------------------------------------------------------

    async def _handle_bot_call(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"].lower()
        if request.match_info["token"] != self.token:
            return self._refuse(request, request.match_info["method"], {}, _UNAUTHORIZED, injected=False)
        if not self.methods.knows(method):
            return self._refuse(request, request.match_info["method"], {}, _NOT_FOUND, injected=False)
        method_name = self.methods.canonical_names[method]
        fault = self.faults.take(method)
        if fault is not None and fault.drop_connection:
            self._log_call(method_name, {})
            return await _drop_connection(request)
        try:
            params = await Params.from_request(request)
        except ApiError as error:
            return self._refuse(request, method_name, {}, error, injected=False)
        logged_params = params.for_log()
        self._log_call(method_name, logged_params)
        injected_error = fault.error() if fault is not None else None
        if injected_error is not None:
            response = self._refuse(request, method_name, logged_params, injected_error, injected=True)
        elif self.flood is not None and (over_limit := self.flood.check(method, _chat_id_or_none(logged_params))):
            response = self._refuse(request, method_name, logged_params, over_limit, injected=False)
        else:
            try:
                result = await self.methods.call(method, params)
            except ApiError as error:
                response = self._refuse(request, method_name, logged_params, error, injected=False)
            else:
                response = _json_response({"ok": True, "result": result}, 200)
        self.state.notify_change()
        if fault is not None and fault.delay > 0:
            await asyncio.sleep(fault.delay)  # the call took effect; only the answer is late
        return response

    async def _call_from_webhook_answer(self, answer: Any) -> None:
        """A method call in the bot's answer to a webhook POST ("Making requests when getting updates"): carried
        out as strictly as a call and refused the same way (the refusal is recorded), though the bot never learns
        the outcome. An answer without a method asks for nothing."""
        if not isinstance(answer, dict) or "method" not in answer:
            return
        name = str(answer["method"])
        values = {key: value for key, value in answer.items() if key != "method"}
        method = name.lower()
        if not self.methods.knows(method):
            self._record_refusal(name, values, _NOT_FOUND, injected=False)
            return
        method_name = self.methods.canonical_names[method]
        params = Params(values)
        logged_params = params.for_log()
        self._log_call(method_name, logged_params)
        self.webhook_answer_calls.append((method_name, logged_params))
        _trim(self.webhook_answer_calls, self._log_limit)
        try:
            await self.methods.call(method, params)
        except ApiError as error:
            self._record_refusal(method_name, logged_params, error, injected=False)
        self.state.notify_change()

    def _refuse(
        self, request: web.Request, method: str, params: dict[str, Any], error: ApiError, *, injected: bool
    ) -> web.Response:
        client_still_there = request.transport is not None and not request.transport.is_closing()
        if 400 <= error.error_code < 500 and client_still_there:
            self._record_refusal(method, params, error, injected=injected)
        return _json_response(error.to_response(), error.error_code)

    def _record_refusal(self, method: str, params: dict[str, Any], error: ApiError, *, injected: bool) -> None:
        refusal = Refusal(method, params, error.error_code, error.description, time.time(), injected)
        self.refusals.append(refusal)
        _trim(self.refusals, self._log_limit)
        self.state.emit("refusal", chat_id=_chat_id_or_none(params), refusal=refusal.to_dict())

    def _log_call(self, method: str, params: dict[str, Any]) -> None:
        self.calls.append((method, params))
        _trim(self.calls, self._log_limit)

    async def _handle_file_download(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _json_response(_UNAUTHORIZED.to_response(), 401)
        stored = self.state.files_by_path.get(request.match_info["file_path"])
        if stored is None:
            return _json_response(_NOT_FOUND.to_response(), 404)
        return web.Response(body=stored.data, content_type="application/octet-stream")


def _json_response(body: dict[str, Any], status: int) -> web.Response:
    return web.Response(
        status=status, body=json.dumps(body, ensure_ascii=False).encode("utf-8"), content_type="application/json"
    )


async def _drop_connection(request: web.Request) -> web.StreamResponse:
    """Close the socket without a response, like a network failure between the bot and Telegram."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response(status=500)  # never reaches the client: the connection is gone


def _chat_id_or_none(params: dict[str, Any]) -> int | None:
    try:
        return int(params["chat_id"])
    except (KeyError, TypeError, ValueError):
        return None


def _trim(log: list[Any], limit: int) -> None:
    if len(log) > limit:
        del log[: len(log) - limit + limit // 10]  # drop a batch so trimming stays amortised O(1)


def _image_size_or_zero(data: bytes) -> tuple[int, int]:
    """Users' photos are whatever bytes a test passes; real images get their real size."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError):
        return 0, 0
