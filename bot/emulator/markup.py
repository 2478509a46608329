"""Validation of formatted text and reply markup, with Telegram's error descriptions."""

from __future__ import annotations

import re
from typing import Any

from bot.emulator.html_check import EntityParseError, FormattedText, parse_html, strip_formatted, utf16_length
from bot.emulator.models import bad_request

MAX_TEXT_LENGTH = 4096
MAX_CAPTION_LENGTH = 1024
MAX_CALLBACK_DATA_BYTES = 64
MAX_SOURCE_BYTES = 1 << 15  # the Bot API refuses longer text or caption sources before parsing them
MAX_KEYBOARD_BUTTONS = 100  # Telegram answers "reply markup is too long" past about this many

_INLINE_ACTIONS = (
    "url", "callback_data", "web_app", "login_url", "switch_inline_query",
    "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "copy_text", "callback_game", "pay",
)
_BUTTON_URL = re.compile(r"^(https?|tg)://\S+$", re.IGNORECASE)
_ENTITY_TYPES = frozenset(
    {
        "mention", "hashtag", "cashtag", "bot_command", "url", "email", "phone_number", "bold", "italic",
        "underline", "strikethrough", "spoiler", "blockquote", "expandable_blockquote", "code", "pre",
        "text_link", "text_mention", "custom_emoji",
    }
)


def format_text(
    source: str | None,
    parse_mode: str | None,
    entities: Any,
    *,
    limit: int,
    too_long_error: str,
) -> FormattedText:
    """Parse text or caption per parse_mode, strip it like Telegram and enforce the length limit.

    Returns an empty FormattedText for empty input; callers decide whether empty is allowed.
    """
    if not source:
        return FormattedText("")
    _require_valid_utf8(source)
    if len(source.encode("utf-8")) > MAX_SOURCE_BYTES:
        raise bad_request("text is too long")
    mode = (parse_mode or "").lower()
    if mode in ("", "none"):
        formatted = FormattedText(source, _validated_entities(entities, source))
    elif mode == "html":
        try:
            formatted = parse_html(source)
        except EntityParseError as error:
            raise bad_request(f"can't parse entities: {error.description}") from None
    elif mode in ("markdown", "markdownv2"):
        raise bad_request(
            f"unsupported parse_mode {parse_mode!r} in the emulator, which checks only HTML "
            "(the bot sends HTML); use parse_mode=HTML"
        )
    else:
        raise bad_request("unsupported parse_mode")
    formatted = strip_formatted(formatted)
    if utf16_length(formatted.text) > limit:
        raise bad_request(too_long_error)
    return formatted


def _require_valid_utf8(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request("strings must be encoded in UTF-8") from None


def _validated_entities(entities: Any, text: str) -> list[dict[str, Any]]:
    if entities is None:
        return []
    if not isinstance(entities, list):
        raise bad_request("can't parse MessageEntity: expected an Array")
    text_length = utf16_length(text)
    checked = []
    for entity in entities:
        if not isinstance(entity, dict):
            raise bad_request("can't parse MessageEntity: expected an Object")
        offset, length = entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            raise bad_request('can\'t parse MessageEntity: Field "offset" and "length" must be of type Number')
        if entity.get("type") not in _ENTITY_TYPES:
            raise bad_request(f"can't parse MessageEntity: unsupported entity type {entity.get('type')!r}")
        if offset < 0 or length <= 0 or offset + length > text_length:
            raise bad_request("entity beginning or end is out of the text")
        checked.append(entity)
    return checked


def parse_reply_markup(markup: Any, *, inline_only: bool = False) -> dict[str, Any] | None:
    """Validate reply_markup; returns it normalised (inline buttons keep only their action field)."""
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise bad_request("object expected as reply markup")
    if "inline_keyboard" in markup:
        rows = _inline_keyboard(markup["inline_keyboard"])
        return {"inline_keyboard": rows} if any(rows) else None  # no buttons means no markup
    if inline_only:
        raise bad_request("inline keyboard expected")
    if "keyboard" in markup:
        return _reply_keyboard(markup)
    if markup.get("remove_keyboard"):
        return {"remove_keyboard": True}
    if markup.get("force_reply"):
        return {key: markup[key] for key in ("force_reply", "input_field_placeholder") if key in markup}
    return None


def _inline_keyboard(rows: Any) -> list[list[dict[str, Any]]]:
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('Field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_KEYBOARD_BUTTONS:
        raise bad_request("reply markup is too long")
    return [[_inline_button(button) for button in row] for row in rows]


def _inline_button(button: Any) -> dict[str, Any]:
    prefix = "can't parse inline keyboard button: "
    if not isinstance(button, dict):
        raise bad_request(prefix + "InlineKeyboardButton must be an Object")
    text = button.get("text")
    if text is None:
        raise bad_request(prefix + 'Can\'t find field "text"')
    if not isinstance(text, str):
        raise bad_request(prefix + 'Field "text" must be of type String')
    action = next((name for name in _INLINE_ACTIONS if button.get(name) not in (None, "")), None)
    if action is None:
        raise bad_request(prefix + "Text buttons are unallowed in the inline keyboard")
    if not text:
        raise bad_request("inline keyboard button text must be non-empty")
    value = button[action]
    if action == "callback_data":
        if not isinstance(value, str) or len(value.encode("utf-8")) > MAX_CALLBACK_DATA_BYTES:
            raise bad_request("BUTTON_DATA_INVALID")
    elif action == "url" and (not isinstance(value, str) or not _BUTTON_URL.match(value)):
        raise bad_request("BUTTON_URL_INVALID")
    return {"text": text, action: value}


def _reply_keyboard(markup: dict[str, Any]) -> dict[str, Any] | None:
    rows = markup["keyboard"]
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        raise bad_request('Field "keyboard" must be an Array of Arrays')
    if sum(len(row) for row in rows) > MAX_KEYBOARD_BUTTONS:
        raise bad_request("reply markup is too long")
    for row in rows:
        for button in row:
            if isinstance(button, dict):
                if "text" not in button:
                    raise bad_request('can\'t parse keyboard button: Can\'t find field "text"')
                text = button["text"]
            elif isinstance(button, str):
                text = button
            else:
                raise bad_request("can't parse keyboard button: KeyboardButton must be a String or an Object")
            if not text:
                raise bad_request("keyboard button text must be non-empty")
    if not any(rows):
        return None  # Telegram treats a keyboard without buttons as no markup at all
    options = ("resize_keyboard", "one_time_keyboard", "is_persistent", "input_field_placeholder", "selective")
    return {"keyboard": rows, **{key: markup[key] for key in options if key in markup}}
