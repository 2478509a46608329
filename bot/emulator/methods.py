"""The Bot API methods the emulator implements, each checked the way Telegram checks it."""

from __future__ import annotations

import io
import ipaddress
import mimetypes
import re
import time
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from PIL import Image, UnidentifiedImageError

from bot.emulator.html_check import utf16_length
from bot.emulator.markup import MAX_CAPTION_LENGTH, MAX_TEXT_LENGTH, FormattedText, format_text, parse_reply_markup
from bot.emulator.models import MEDIA_KINDS, ApiError, EmuMessage, StoredFile, bad_request, forbidden
from bot.emulator.params import Params, UploadedFile
from bot.emulator.store import EmulatorState
from bot.emulator.updates import WebhookDelivery

MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_DOWNLOAD_BYTES = 20 * 1024 * 1024
MAX_CALLBACK_ANSWER_LENGTH = 200
LONG_POLL_MAX_TIMEOUT = 50
UPDATE_KINDS = frozenset({"message", "edited_message", "callback_query", "my_chat_member"})
CHAT_ACTIONS = frozenset(
    {
        "cancel", "typing", "record_video", "upload_video", "record_audio", "record_voice", "upload_audio",
        "upload_voice", "upload_photo", "upload_document", "choose_sticker", "pick_up_location",
        "find_location", "record_video_note", "upload_video_note",
    }
)
NOT_MODIFIED = (
    "message is not modified: specified new message content and reply markup are exactly the same "
    "as a current content and reply markup of the message"
)
_COMMAND_NAME = re.compile(r"^[a-z0-9_]{1,32}$")
_SECRET_TOKEN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_LANGUAGE_CODE = re.compile(r"^([a-z]{2})?$")
_EXTENSION = re.compile(r"^[a-z0-9]{1,5}$")
_DEFAULT_EXTENSIONS = {"photo": "jpg", "voice": "oga", "audio": "mp3", "document": "dat", "sticker": "webp"}
_DEFAULT_MIME_TYPES = {"voice": "audio/ogg", "audio": "audio/mpeg", "document": "application/octet-stream"}
_LOOPBACK_HOSTNAMES = frozenset({"localhost"})

Handler = Callable[[Params], Awaitable[Any]]



def _message_text(params: Params, *, too_long_error: str) -> FormattedText:
    """A message's text as Telegram checks it for sending and for editing: parsed, within the limit, not empty."""
    text = format_text(
        params.text("text"),
        params.text("parse_mode"),
        params.json_value("entities", "entities"),
        limit=MAX_TEXT_LENGTH,
        too_long_error=too_long_error,
    )
    if not text.text:
        raise bad_request("message text is empty")
    return text


def _message_caption(params: Params) -> FormattedText:
    """A media message's caption as Telegram checks it for sending and for editing (it may be empty)."""
    return format_text(
        params.text("caption"),
        params.text("parse_mode"),
        params.json_value("caption_entities", "caption entities"),
        limit=MAX_CAPTION_LENGTH,
        too_long_error="message caption is too long",
    )


class BotApiMethods:
    """Bot API methods by lower-case name; each returns the ``result`` or raises ApiError."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        # Carries out a method given in the bot's answer to a webhook POST (set by BotApiEmulator).
        self.on_webhook_answer: Callable[[Any], Awaitable[None]] | None = None
        handlers: list[tuple[str, Handler]] = [
            ("getMe", self.get_me),
            ("getUpdates", self.get_updates),
            ("setWebhook", self.set_webhook),
            ("deleteWebhook", self.delete_webhook),
            ("getWebhookInfo", self.get_webhook_info),
            ("sendMessage", self.send_message),
            ("sendPhoto", self.send_photo),
            ("sendDocument", self.send_document),
            ("sendAudio", self.send_audio),
            ("sendVoice", self.send_voice),
            ("sendLocation", self.send_location),
            ("sendVenue", self.send_venue),
            ("editMessageText", self.edit_message_text),
            ("editMessageCaption", self.edit_message_caption),
            ("editMessageReplyMarkup", self.edit_message_reply_markup),
            ("deleteMessage", self.delete_message),
            ("answerCallbackQuery", self.answer_callback_query),
            ("setMyCommands", self.set_my_commands),
            ("getMyCommands", self.get_my_commands),
            ("deleteMyCommands", self.delete_my_commands),
            ("setMyDescription", self.set_my_description),
            ("setMyShortDescription", self.set_my_short_description),
            ("getFile", self.get_file),
            ("getChat", self.get_chat),
            ("sendChatAction", self.send_chat_action),
            ("setChatMenuButton", self.set_chat_menu_button),
            ("getChatMenuButton", self.get_chat_menu_button),
            ("close", self.acknowledge),
            ("logOut", self.acknowledge),
        ]
        self.canonical_names = {name.lower(): name for name, _ in handlers}
        self._handlers = {name.lower(): handler for name, handler in handlers}

    def knows(self, method: str) -> bool:
        return method in self._handlers

    async def call(self, method: str, params: Params) -> Any:
        return await self._handlers[method](params)

    # Bot and updates -----------------------------------------------------------------------------

    async def get_me(self, params: Params) -> dict[str, Any]:
        return {
            **self.state.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def acknowledge(self, params: Params) -> bool:
        return True

    async def get_updates(self, params: Params) -> list[dict[str, Any]]:
        if self.state.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )
        offset = params.integer("offset", 0) or 0
        limit = _clamp(params.integer("limit", 100), 1, 100)
        timeout = _clamp(params.integer("timeout", 0), 0, LONG_POLL_MAX_TIMEOUT)
        self._set_allowed_updates(params)
        return await self.state.update_queue.get(offset, limit, timeout)

    async def set_webhook(self, params: Params) -> bool:
        url = params.text("url") or ""
        if not url:
            return await self.delete_webhook(params)
        _require_loopback_webhook(url)
        secret_token = params.text("secret_token") or None
        if secret_token is not None and not _SECRET_TOKEN.match(secret_token):
            raise bad_request("secret token contains unallowed characters")
        max_connections = _clamp(params.integer("max_connections", 40), 1, 100)
        self._set_allowed_updates(params)
        undelivered = await self._stop_webhook()
        self.state.update_queue.end_waiting_poll("Conflict: terminated by setWebhook request")
        pending = sorted(
            [*undelivered, *self.state.update_queue.take_all()], key=lambda update: update["update_id"]
        )
        if params.boolean("drop_pending_updates"):
            pending = []
        delivery = WebhookDelivery(url, secret_token, max_connections, self.on_webhook_answer)
        delivery.start(pending)
        self.state.webhook = delivery
        return True

    async def delete_webhook(self, params: Params) -> bool:
        undelivered = await self._stop_webhook()
        if params.boolean("drop_pending_updates"):
            self.state.update_queue.take_all()
        else:
            self.state.update_queue.push_all(undelivered)
        return True

    async def _stop_webhook(self) -> list[dict[str, Any]]:
        delivery, self.state.webhook = self.state.webhook, None
        return await delivery.stop() if delivery is not None else []

    async def get_webhook_info(self, params: Params) -> dict[str, Any]:
        delivery = self.state.webhook
        if delivery is None:
            return {"url": "", "has_custom_certificate": False, "pending_update_count": len(self.state.update_queue)}
        info: dict[str, Any] = {
            "url": delivery.url,
            "has_custom_certificate": False,
            "pending_update_count": delivery.pending_count,
            "max_connections": delivery.max_connections,
            "ip_address": "127.0.0.1",
        }
        if self.state.allowed_updates is not None:
            info["allowed_updates"] = sorted(self.state.allowed_updates)
        if delivery.last_error_date is not None:
            info["last_error_date"] = delivery.last_error_date
            info["last_error_message"] = delivery.last_error_message
        return info

    def _set_allowed_updates(self, params: Params) -> None:
        allowed = params.json_value("allowed_updates", "allowed updates")
        if allowed is None:
            return
        if not isinstance(allowed, list) or not all(isinstance(kind, str) for kind in allowed):
            raise bad_request("can't parse allowed updates: expected an Array of String")
        self.state.allowed_updates = frozenset(allowed) & UPDATE_KINDS if allowed else None

    # Sending -------------------------------------------------------------------------------------

    async def send_message(self, params: Params) -> dict[str, Any]:
        text = _message_text(params, too_long_error="message is too long")
        return self._post(params, "text", text=text.text, html=params.text("text"), entities=text.entities)

    async def send_photo(self, params: Params) -> dict[str, Any]:
        caption = self._caption(params)
        stored = self._input_file(params, "photo")
        return self._post(params, "photo", content={"photo": [stored.media_object()]}, **caption)

    async def send_document(self, params: Params) -> dict[str, Any]:
        caption = self._caption(params)
        stored = self._input_file(params, "document")
        return self._post(params, "document", content={"document": stored.media_object()}, **caption)

    async def send_audio(self, params: Params) -> dict[str, Any]:
        caption = self._caption(params)
        stored = self._input_file(params, "audio")
        audio = stored.media_object()
        audio["duration"] = params.integer("duration", audio.get("duration", 0))
        for name in ("title", "performer"):
            if params.has(name):
                audio[name] = params.text(name)
        return self._post(params, "audio", content={"audio": audio}, **caption)

    async def send_voice(self, params: Params) -> dict[str, Any]:
        caption = self._caption(params)
        stored = self._input_file(params, "voice")
        voice = stored.media_object()
        voice["duration"] = params.integer("duration", voice.get("duration", 0))
        return self._post(params, "voice", content={"voice": voice}, **caption)

    async def send_location(self, params: Params) -> dict[str, Any]:
        location = _location(params)
        return self._post(params, "location", content={"location": location})

    async def send_venue(self, params: Params) -> dict[str, Any]:
        location = _location(params)
        venue: dict[str, Any] = {
            "location": location,
            "title": params.required_text("title", "venue title is empty"),
            "address": params.required_text("address", "venue address is empty"),
        }
        for name in ("foursquare_id", "foursquare_type", "google_place_id", "google_place_type"):
            if params.has(name):
                venue[name] = params.text(name)
        return self._post(params, "venue", content={"venue": venue, "location": location})

    def _caption(self, params: Params) -> dict[str, Any]:
        caption = _message_caption(params)
        if not caption.text:
            return {}
        return {"caption": caption.text, "caption_entities": caption.entities, "html": params.text("caption")}

    def _post(self, params: Params, kind: str, **fields: Any) -> dict[str, Any]:
        markup = parse_reply_markup(params.json_value("reply_markup", "reply keyboard markup"))
        chat_id = self.state.require_writable_chat(params.chat_id())
        reply_to = self._reply_target(params, chat_id)
        message = self.state.add_message(
            chat_id,
            from_bot=True,
            sender=self.state.bot_user,
            kind=kind,
            reply_markup=markup,
            reply_to_message_id=reply_to.message_id if reply_to else None,
            **fields,
        )
        return message.to_api(with_reply_to=reply_to)

    def _reply_target(self, params: Params, chat_id: int) -> EmuMessage | None:
        reply = params.json_value("reply_parameters", "reply parameters")
        if reply is not None:
            if not isinstance(reply, dict) or not isinstance(reply.get("message_id"), int):
                raise bad_request('can\'t parse reply parameters: Field "message_id" must be of type Number')
            message_id, allow_missing = reply["message_id"], bool(reply.get("allow_sending_without_reply"))
        else:
            message_id = params.integer("reply_to_message_id")
            allow_missing = params.boolean("allow_sending_without_reply")
        if not message_id:
            return None
        target = self.state.find_message(chat_id, message_id)
        if target is None and not allow_missing:
            raise bad_request("message to be replied not found")
        return target

    def _input_file(self, params: Params, kind: str) -> StoredFile:
        """The file to send: a new upload, or a file_id the emulator knows of the same type."""
        value = params.input_file(kind)
        if value is None:
            raise bad_request(f"there is no {kind} in the request")
        if isinstance(value, UploadedFile):
            return self._store_upload(kind, value)
        if value.startswith(("http://", "https://")):
            raise bad_request(
                "failed to get HTTP URL content: the emulator never downloads URLs; "
                "upload the file or pass a file_id"
            )
        stored = self.state.files.get(value)
        if stored is None:
            raise bad_request("wrong file identifier/HTTP URL specified")
        if stored.kind != kind:
            raise bad_request("type of file mismatch")
        return stored

    def _store_upload(self, kind: str, upload: UploadedFile) -> StoredFile:
        if len(upload.data) > MAX_UPLOAD_BYTES:
            raise ApiError(413, "Request Entity Too Large")
        if not upload.data:
            raise bad_request("file must be non-empty")
        metadata: dict[str, Any] = {}
        if kind == "photo":  # Telegram re-encodes every photo as JPEG
            metadata["width"], metadata["height"] = _photo_dimensions(upload.data)
            extension = "jpg"
        else:
            extension = _file_extension(upload.filename) or _DEFAULT_EXTENSIONS[kind]
            metadata["mime_type"] = _mime_type(kind, upload)
            if kind in ("document", "audio"):
                metadata["file_name"] = upload.filename
        return self.state.store_file(kind, upload.data, extension, metadata)

    # Editing and deleting ------------------------------------------------------------------------

    async def edit_message_text(self, params: Params) -> dict[str, Any]:
        text = _message_text(params, too_long_error="MESSAGE_TOO_LONG")  # Telegram words it so for edits
        markup = parse_reply_markup(params.json_value("reply_markup", "reply keyboard markup"), inline_only=True)
        message = self._message_to_edit(params)
        if message.kind != "text":
            raise bad_request("there is no text in the message to edit")
        if (message.text, message.entities, _inline_markup(message)) == (text.text, text.entities, markup):
            raise bad_request(NOT_MODIFIED)
        message.text, message.entities, message.html = text.text, text.entities, params.text("text")
        return self._finish_edit(message, markup)

    async def edit_message_caption(self, params: Params) -> dict[str, Any]:
        caption = _message_caption(params)
        markup = parse_reply_markup(params.json_value("reply_markup", "reply keyboard markup"), inline_only=True)
        message = self._message_to_edit(params)
        if message.kind not in MEDIA_KINDS or message.kind == "sticker":
            raise bad_request("there is no caption in the message to edit")
        new_caption = caption.text or None
        current = (message.caption, message.caption_entities, _inline_markup(message))
        if current == (new_caption, caption.entities, markup):
            raise bad_request(NOT_MODIFIED)
        message.caption, message.caption_entities = new_caption, caption.entities
        message.html = params.text("caption") if new_caption else None
        return self._finish_edit(message, markup)

    async def edit_message_reply_markup(self, params: Params) -> dict[str, Any]:
        markup = parse_reply_markup(params.json_value("reply_markup", "reply keyboard markup"), inline_only=True)
        message = self._message_to_edit(params)
        if _inline_markup(message) == markup:
            raise bad_request(NOT_MODIFIED)
        return self._finish_edit(message, markup)

    def _message_to_edit(self, params: Params) -> EmuMessage:
        if not params.has("chat_id") and params.has("inline_message_id"):
            raise bad_request("message to edit not found (the emulator has no inline-mode messages)")
        chat_id = self.state.require_known_chat(params.chat_id())
        user = self.state.users.get(chat_id)
        if user is not None and user.blocked:
            raise forbidden("bot was blocked by the user")
        message_id = params.required_integer("message_id", "message identifier is not specified")
        message = self.state.find_message(chat_id, message_id)
        if message is None:
            raise bad_request("message to edit not found")
        if not message.from_bot:
            raise bad_request("message can't be edited")
        return message

    def _finish_edit(self, message: EmuMessage, markup: dict[str, Any] | None) -> dict[str, Any]:
        if markup is not None or message.inline_keyboard:  # a reply keyboard belongs to the chat, edits keep it
            message.reply_markup = markup
        message.edited = True
        message.edit_date = int(time.time())
        self.state.emit("edit", message)
        return message.to_api()

    async def delete_message(self, params: Params) -> bool:
        chat_id = self.state.require_known_chat(params.chat_id())
        message_id = params.required_integer("message_id", "message identifier is not specified")
        message = self.state.find_message(chat_id, message_id)
        if message is None:
            raise bad_request("message to delete not found")
        message.deleted = True
        self.state.emit("delete", message)
        return True

    # Callback queries, commands, chats, files ----------------------------------------------------

    async def answer_callback_query(self, params: Params) -> bool:
        query_id = params.text("callback_query_id") or ""
        text = params.text("text") or ""
        if utf16_length(text) > MAX_CALLBACK_ANSWER_LENGTH:
            raise bad_request("MESSAGE_TOO_LONG")
        chat_id = self.state.open_callback_queries.pop(query_id, None)
        if chat_id is None:
            raise bad_request("query is too old and response timeout expired or query ID is invalid")
        answer = {
            "text": text or None,
            "show_alert": params.boolean("show_alert"),
            "url": params.text("url"),
            "cache_time": params.integer("cache_time", 0),
        }
        self.state.callback_answers[query_id] = answer
        self.state.emit("callback_answer", chat_id=chat_id, callback_query_id=query_id, answer=answer)
        return True

    async def set_my_commands(self, params: Params) -> bool:
        commands = _bot_commands(params.json_value("commands", "commands"))
        key = (self._command_scope_key(params), _language_code(params))
        if commands:
            self.state.commands[key] = commands
        else:
            self.state.commands.pop(key, None)
        return True

    async def get_my_commands(self, params: Params) -> list[dict[str, str]]:
        key = (self._command_scope_key(params), _language_code(params))
        return self.state.commands.get(key, [])

    async def delete_my_commands(self, params: Params) -> bool:
        self.state.commands.pop((self._command_scope_key(params), _language_code(params)), None)
        return True

    def _command_scope_key(self, params: Params) -> str:
        """"default", "all_private_chats", …, "chat:<id>", "chat_member:<chat id>:<user id>"."""
        scope = params.json_value("scope", "BotCommandScope")
        if scope is None:
            return "default"
        prefix = "can't parse BotCommandScope: "
        if not isinstance(scope, dict):
            raise bad_request(prefix + "BotCommandScope must be an Object")
        scope_type = scope.get("type")
        if scope_type in ("default", "all_private_chats", "all_group_chats", "all_chat_administrators"):
            return scope_type
        if scope_type not in ("chat", "chat_administrators", "chat_member"):
            raise bad_request(prefix + "Unsupported type specified")
        if scope.get("chat_id") in (None, ""):
            raise bad_request(prefix + "Empty chat_id specified")
        chat_id = self.state.require_known_chat(_integer_or_name(scope["chat_id"]))
        if scope_type != "chat_member":
            return f"{scope_type}:{chat_id}"
        user_id = scope.get("user_id")
        if not isinstance(user_id, int) or user_id <= 0:
            raise bad_request(prefix + "Invalid user_id specified")
        return f"chat_member:{chat_id}:{user_id}"

    async def set_my_description(self, params: Params) -> bool:
        return _check_profile_text(params, "description", 512)

    async def set_my_short_description(self, params: Params) -> bool:
        return _check_profile_text(params, "short_description", 120)

    async def get_chat(self, params: Params) -> dict[str, Any]:
        chat_id = self.state.require_known_chat(params.chat_id())
        return {**self.state.chat_object(chat_id), "accent_color_id": 0, "max_reaction_count": 11}

    async def send_chat_action(self, params: Params) -> bool:
        action = (params.text("action") or "").lower()
        if action not in CHAT_ACTIONS:
            raise bad_request("wrong parameter action in request")
        chat_id = self.state.require_writable_chat(params.chat_id())
        self.state.emit("chat_action", chat_id=chat_id, action=action)
        return True

    async def set_chat_menu_button(self, params: Params) -> bool:
        chat_id = self.state.require_known_chat(params.chat_id()) if params.has("chat_id") else None
        button = params.json_value("menu_button", "menu button") or {"type": "default"}
        if not isinstance(button, dict) or button.get("type") not in ("commands", "default", "web_app"):
            raise bad_request("can't parse menu button: MenuButton has unsupported type")
        if button["type"] == "web_app" and (not button.get("text") or not (button.get("web_app") or {}).get("url")):
            raise bad_request("can't parse menu button: a web_app menu button needs text and web_app.url")
        self.state.menu_buttons[chat_id] = button
        return True

    async def get_chat_menu_button(self, params: Params) -> dict[str, Any]:
        chat_id = self.state.require_known_chat(params.chat_id()) if params.has("chat_id") else None
        return self.state.menu_buttons.get(chat_id) or self.state.menu_buttons.get(None) or {"type": "default"}

    async def get_file(self, params: Params) -> dict[str, Any]:
        file_id = params.text("file_id")
        if not file_id:
            raise bad_request("file_id not specified")
        stored = self.state.files.get(file_id)
        if stored is None:
            raise bad_request("invalid file_id")
        if len(stored.data) > MAX_DOWNLOAD_BYTES:
            raise bad_request("file is too big")
        return stored.file_object()


def _clamp(value: int | None, lowest: int, highest: int) -> int:
    return max(lowest, min(highest, value if value is not None else lowest))


def _inline_markup(message: EmuMessage) -> dict[str, Any] | None:
    return message.reply_markup if message.inline_keyboard else None


def _location(params: Params) -> dict[str, float]:
    latitude, longitude = params.number("latitude"), params.number("longitude")
    if not (-90.0 <= latitude <= 90.0 and -180.0 <= longitude <= 180.0):
        raise bad_request("wrong location: latitude must be in [-90, 90] and longitude in [-180, 180]")
    return {"latitude": latitude, "longitude": longitude}


def _mime_type(kind: str, upload: UploadedFile) -> str:
    if kind == "voice":  # voice notes are OGG/OPUS by definition
        return "audio/ogg"
    guessed = mimetypes.guess_type(upload.filename)[0]
    if guessed:
        return guessed
    if upload.content_type and upload.content_type != "application/octet-stream":
        return upload.content_type
    return _DEFAULT_MIME_TYPES[kind]


def _file_extension(filename: str) -> str | None:
    extension = filename.rsplit(".", 1)[-1].lower() if "." in filename else ""
    return extension if _EXTENSION.match(extension) else None


def _photo_dimensions(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except (UnidentifiedImageError, OSError):
        raise bad_request("IMAGE_PROCESS_FAILED") from None
    if width + height > 10_000 or max(width, height) > 20 * min(width, height):
        raise bad_request("PHOTO_INVALID_DIMENSIONS")
    return width, height


def _bot_commands(commands: Any) -> list[dict[str, str]]:
    if not isinstance(commands, list):
        raise bad_request("expected an Array of BotCommand")
    if len(commands) > 100:
        raise bad_request("BOT_COMMANDS_TOO_MUCH")
    checked = []
    for command in commands:
        if not isinstance(command, dict):
            raise bad_request("can't parse BotCommand: expected an Object")
        for field_name in ("command", "description"):
            if not isinstance(command.get(field_name), str):
                raise bad_request(f'can\'t parse BotCommand: Can\'t find field "{field_name}"')
        if not _COMMAND_NAME.match(command["command"]):
            raise bad_request("BOT_COMMAND_INVALID")
        if not 1 <= len(command["description"]) <= 256:
            raise bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        checked.append({"command": command["command"], "description": command["description"]})
    return checked


def _language_code(params: Params) -> str:
    code = params.text("language_code") or ""
    if not _LANGUAGE_CODE.match(code):
        raise bad_request(f"invalid language code {code!r}: use a two-letter ISO 639-1 code or none")
    return code


def _check_profile_text(params: Params, name: str, limit: int) -> bool:
    _language_code(params)
    if len(params.text(name) or "") > limit:
        raise bad_request(f"{name} is too long: at most {limit} characters")
    return True


def _integer_or_name(value: Any) -> int | str:
    try:
        return int(value)
    except (TypeError, ValueError):
        return str(value)


def _require_loopback_webhook(url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise bad_request("bad webhook: invalid webhook URL specified")
    host = parts.hostname
    try:
        is_loopback = ipaddress.ip_address(host).is_loopback
    except ValueError:
        is_loopback = host in _LOOPBACK_HOSTNAMES
    if not is_loopback:
        raise bad_request(
            f"bad webhook: the emulator delivers only to loopback addresses (127.0.0.1, ::1, localhost), "
            f"not {host!r}"
        )
