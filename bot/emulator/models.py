"""Plain data kept by the emulator: users, chats, messages, refusals, and the API error type."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any

MEDIA_KINDS = ("photo", "voice", "audio", "document", "sticker")


class ApiError(Exception):
    """A Bot API refusal; turned into ``{"ok": false, ...}`` with Telegram's exact description."""

    def __init__(self, error_code: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.error_code = error_code
        self.description = description
        self.retry_after = retry_after

    def to_response(self) -> dict[str, Any]:
        body: dict[str, Any] = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return body


def bad_request(reason: str) -> ApiError:
    return ApiError(400, f"Bad Request: {reason}")


def forbidden(reason: str) -> ApiError:
    return ApiError(403, f"Forbidden: {reason}")


@dataclass
class EmuUser:
    """A Telegram user who may talk to the bot."""

    user_id: int
    first_name: str
    language_code: str | None = None
    username: str | None = None
    last_name: str | None = None
    started: bool = False  # wrote to the bot at least once, so the bot may write back
    blocked: bool = False

    def to_api(self) -> dict[str, Any]:
        user: dict[str, Any] = {"id": self.user_id, "is_bot": False, "first_name": self.first_name}
        if self.last_name:
            user["last_name"] = self.last_name
        if self.username:
            user["username"] = self.username
        if self.language_code:
            user["language_code"] = self.language_code
        return user

    def private_chat(self) -> dict[str, Any]:
        chat: dict[str, Any] = {"id": self.user_id, "type": "private", "first_name": self.first_name}
        if self.last_name:
            chat["last_name"] = self.last_name
        if self.username:
            chat["username"] = self.username
        return chat


@dataclass
class EmuGroup:
    """A group the bot is a member of; ids starting with -100 are supergroups, as in Telegram."""

    chat_id: int
    title: str

    def to_api(self) -> dict[str, Any]:
        chat_type = "supergroup" if str(self.chat_id).startswith("-100") else "group"
        return {"id": self.chat_id, "type": chat_type, "title": self.title}


@dataclass(eq=False)
class EmuMessage:
    """One message in its current state (edits change it in place, deletion only flags it)."""

    message_id: int
    chat_id: int
    from_bot: bool
    kind: str  # "text", "photo", "location", "venue", "voice", "document", "audio", "sticker", "contact"
    chat: dict[str, Any]  # Telegram Chat object
    sender: dict[str, Any]  # Telegram User object
    date: int = field(default_factory=lambda: int(time.time()))
    text: str | None = None  # plain text as displayed, after entity parsing
    html: str | None = None  # the text or caption exactly as the bot sent it
    entities: list[dict[str, Any]] = field(default_factory=list)
    caption: str | None = None
    caption_entities: list[dict[str, Any]] = field(default_factory=list)
    content: dict[str, Any] = field(default_factory=dict)  # kind-specific Telegram fields, e.g. {"venue": {...}}
    reply_markup: dict[str, Any] | None = None  # as sent: inline keyboard, reply keyboard, remove, force reply
    reply_to_message_id: int | None = None
    edited: bool = False
    edit_date: int | None = None
    deleted: bool = False

    @property
    def location(self) -> dict[str, Any] | None:
        return self.content.get("location")

    @property
    def venue(self) -> dict[str, Any] | None:
        return self.content.get("venue")

    @property
    def file_id(self) -> str | None:
        if self.kind == "photo":
            return self.content["photo"][-1]["file_id"]
        if self.kind in MEDIA_KINDS:
            return self.content[self.kind]["file_id"]
        return None

    @property
    def inline_keyboard(self) -> list[list[dict[str, Any]]]:
        return (self.reply_markup or {}).get("inline_keyboard") or []

    def buttons(self) -> list[list[tuple[str, str | None]]]:
        """Rows of (text, callback_data or url) for inline keyboards, (text, None) for reply keyboards."""
        markup = self.reply_markup or {}
        if "inline_keyboard" in markup:
            return [
                [(button["text"], button.get("callback_data", button.get("url"))) for button in row]
                for row in markup["inline_keyboard"]
            ]
        return [
            [(button if isinstance(button, str) else button["text"], None) for button in row]
            for row in markup.get("keyboard", [])
        ]

    def button_texts(self) -> list[str]:
        return [text for row in self.buttons() for text, _ in row]

    def callback_data_for(self, button_text: str) -> str:
        """The callback_data of the inline button showing ``button_text``, for press_button."""
        for row in self.inline_keyboard:
            for button in row:
                if button["text"] == button_text and "callback_data" in button:
                    return button["callback_data"]
        raise LookupError(f"message {self.message_id} has no callback button {button_text!r}: {self.buttons()}")

    def to_api(self, with_reply_to: EmuMessage | None = None) -> dict[str, Any]:
        """The Telegram Message object, as returned to the bot and embedded in updates."""
        message: dict[str, Any] = {
            "message_id": self.message_id,
            "from": self.sender,
            "chat": self.chat,
            "date": self.date,
        }
        if self.edit_date is not None:
            message["edit_date"] = self.edit_date
        if with_reply_to is not None:
            message["reply_to_message"] = with_reply_to.to_api()
        if self.text is not None:
            message["text"] = self.text
            if self.entities:
                message["entities"] = self.entities
        message.update(self.content)
        if self.caption is not None:
            message["caption"] = self.caption
            if self.caption_entities:
                message["caption_entities"] = self.caption_entities
        if self.inline_keyboard:  # Telegram only echoes inline keyboards back
            message["reply_markup"] = {"inline_keyboard": self.inline_keyboard}
        return message

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe view for the sandbox page and event subscribers."""
        return {
            "message_id": self.message_id,
            "chat_id": self.chat_id,
            "from_bot": self.from_bot,
            "kind": self.kind,
            "date": self.date,
            "text": self.text,
            "html": self.html,
            "entities": self.entities,
            "caption": self.caption,
            "caption_entities": self.caption_entities,
            "content": self.content,
            "reply_markup": self.reply_markup,
            "reply_to_message_id": self.reply_to_message_id,
            "edited": self.edited,
            "deleted": self.deleted,
        }


@dataclass(frozen=True)
class Refusal:
    """A bot call answered with a 4xx error; ``injected`` marks faults planted by a test."""

    method: str
    params: dict[str, Any]
    error_code: int
    description: str
    at: float
    injected: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class StoredFile:
    """A file known to the emulator: uploaded by the bot or sent by a user."""

    file_id: str
    file_unique_id: str
    kind: str  # "photo", "voice", "document", "audio", "sticker"
    data: bytes
    file_path: str
    metadata: dict[str, Any] = field(default_factory=dict)  # width/height, duration, mime_type, file_name

    def media_object(self) -> dict[str, Any]:
        """The PhotoSize, Voice, Document, … object embedded in messages."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            **self.metadata,
        }

    def file_object(self) -> dict[str, Any]:
        """The File object getFile returns."""
        return {
            "file_id": self.file_id,
            "file_unique_id": self.file_unique_id,
            "file_size": len(self.data),
            "file_path": self.file_path,
        }
