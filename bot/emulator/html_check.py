"""Telegram's HTML parse mode, reproduced closely enough to reject what Telegram rejects.

The algorithm follows tdlib's ``parse_html`` (the code behind ``parse_mode="HTML"``): the same tags,
the same attribute grammar, the same error texts and byte offsets. One deliberate difference makes it
stricter: an unknown named entity such as ``&nbsp;`` is an error here, while Telegram shows it
literally, which is never what the author meant.

Offsets and lengths of the produced entities are in UTF-16 code units, like Telegram's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

KNOWN_NAMED_ENTITIES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
SUPPORTED_TAGS = frozenset(
    {
        "a", "b", "strong", "i", "em", "s", "strike", "del", "u", "ins",
        "tg-spoiler", "tg-emoji", "span", "pre", "code", "blockquote",
    }
)
_SIMPLE_ENTITY_TYPES = {
    "b": "bold", "strong": "bold",
    "i": "italic", "em": "italic",
    "u": "underline", "ins": "underline",
    "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler",
}
_MAX_CODE_POINT = 0x10FFFF
_SPECIAL_CHARACTER = re.compile(r"[<&]")
# tdlib's is_space: the C string terminator counts as a space, so "" (our end of text) does too.
_SPACES = frozenset(" \t\r\n\v\f\0") | {""}
_ASCII_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DECIMAL_DIGITS = frozenset("0123456789")
_HEX_DIGITS = _DECIMAL_DIGITS | frozenset("abcdefABCDEF")
_NAME_TOKEN_CHARACTERS = _ASCII_LETTERS | _DECIMAL_DIGITS | {".", "-"}
_TG_USER_LINK = re.compile(r"^tg://user\?id=(\d+)$", re.IGNORECASE)
_URL_WITH_SCHEME = re.compile(r"^(https?|tg|ton)://\S+$", re.IGNORECASE)
_BARE_DOMAIN_URL = re.compile(r"^[\w-]+(\.[\w-]+)+(:\d+)?([/?#]\S*)?$")


class EntityParseError(ValueError):
    """The text is not valid Telegram HTML; ``description`` is Telegram's wording without prefixes."""

    def __init__(self, description: str) -> None:
        super().__init__(description)
        self.description = description


@dataclass(frozen=True)
class FormattedText:
    """Plain text as the user sees it, plus Telegram MessageEntity dicts (UTF-16 offsets)."""

    text: str
    entities: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class _OpenTag:
    name: str
    argument: str
    utf16_start: int
    text_start: int  # index into the list of produced characters, for <a> without href


def utf16_length(text: str) -> int:
    """Length in UTF-16 code units, the unit of every Telegram length limit and entity offset."""
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def parse_html(source: str) -> FormattedText:
    """Parse Telegram HTML into plain text and entities, or raise EntityParseError like Telegram."""
    parser = _HtmlParser(source)
    return parser.parse()


def html_error(source: str) -> str | None:
    """The error Telegram would give for ``source`` (e.g. for linting translations), or None."""
    try:
        parse_html(source)
    except EntityParseError as error:
        return error.description
    return None


def strip_formatted(formatted: FormattedText) -> FormattedText:
    """Trim surrounding whitespace like Telegram does before storing a message, moving the entities."""
    text = formatted.text
    stripped = text.strip()
    if stripped == text:
        return formatted
    leading_units = utf16_length(text[: len(text) - len(text.lstrip())])
    kept_units = utf16_length(stripped)
    entities = []
    for entity in formatted.entities:
        start = max(entity["offset"] - leading_units, 0)
        end = min(entity["offset"] + entity["length"] - leading_units, kept_units)
        if end > start:
            entities.append({**entity, "offset": start, "length": end - start})
    return FormattedText(stripped, entities)


class _HtmlParser:
    """One pass over the source, mirroring tdlib's parse_html loop."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.produced: list[str] = []
        self.utf16_position = 0
        self.open_tags: list[_OpenTag] = []
        self.entities: list[dict[str, Any]] = []

    def char_at(self, index: int) -> str:
        """The character at index, or "" past the end (tdlib reads the terminating NUL there)."""
        return self.source[index] if index < len(self.source) else ""

    def byte_offset(self, index: int) -> int:
        return len(self.source[:index].encode("utf-8", "surrogatepass"))

    def emit(self, chunk: str) -> None:
        self.produced.append(chunk)
        self.utf16_position += utf16_length(chunk)

    def parse(self) -> FormattedText:
        source = self.source
        index = 0
        while index < len(source):
            match = _SPECIAL_CHARACTER.search(source, index)
            special_at = match.start() if match else len(source)
            if special_at > index:
                self.emit(source[index:special_at])
                index = special_at
                if index == len(source):
                    break
            if source[index] == "&":
                index = self.parse_entity(index)
            elif self.char_at(index + 1) == "/":
                index = self.parse_end_tag(index)
            else:
                index = self.parse_start_tag(index)
        if self.open_tags:
            raise EntityParseError(
                f'Can\'t find end tag corresponding to start tag "{self.open_tags[-1].name}"'
            )
        self.entities.sort(key=lambda entity: (entity["offset"], -entity["length"]))
        return FormattedText("".join(self.produced), self.entities)

    def parse_entity(self, index: int) -> int:
        decoded, end = self.decode_entity(index)
        if decoded is None:
            self.emit("&")
            return index + 1
        self.emit(decoded)
        return end

    def decode_entity(self, index: int) -> tuple[str | None, int]:
        """Decode the character reference at index; (None, index) when it is a literal '&'."""
        end = index + 1
        if self.char_at(end) == "#":
            end += 1
            code_point = 0
            if self.char_at(end) == "x":
                end += 1
                digits, base = _HEX_DIGITS, 16
            else:
                digits, base = _DECIMAL_DIGITS, 10
            while self.char_at(end) in digits:
                code_point = code_point * base + int(self.char_at(end), 16)
                end += 1
                if code_point >= _MAX_CODE_POINT:
                    return None, index
            if code_point == 0 or end - index >= 10:
                return None, index
            if 0xD800 <= code_point <= 0xDFFF:
                raise EntityParseError(
                    "Text contains invalid Unicode characters after decoding HTML entities, "
                    "check for unmatched surrogate code units"
                )
            decoded = chr(code_point)
        else:
            while self.char_at(end) in _ASCII_LETTERS:
                end += 1
            name = self.source[index + 1 : end]
            if name not in KNOWN_NAMED_ENTITIES:
                if name and self.char_at(end) == ";":
                    raise EntityParseError(
                        f'Unsupported HTML entity "&{name};" at byte offset {self.byte_offset(index)}; '
                        "only &lt; &gt; &amp; &quot; and numeric entities are supported"
                    )
                return None, index
            decoded = KNOWN_NAMED_ENTITIES[name]
        if self.char_at(end) == ";":
            end += 1
        return decoded, end

    def parse_start_tag(self, begin: int) -> int:
        index = begin + 1
        while self.char_at(index) not in _SPACES and self.char_at(index) != ">":
            index += 1
        if self.char_at(index) == "":
            raise EntityParseError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        tag_name = self.source[begin + 1 : index].lower()
        if tag_name not in SUPPORTED_TAGS:
            raise EntityParseError(
                f'Unsupported start tag "{tag_name}" at byte offset {self.byte_offset(begin)}'
            )
        argument = ""
        while self.char_at(index) != ">":
            index, attribute_name, value = self.parse_attribute(begin, index, tag_name)
            if attribute_name is None:
                break
            argument = _tag_argument(tag_name, attribute_name, value, argument)
        if tag_name == "span" and argument != "spoiler":
            raise EntityParseError(
                f'Tag "span" must have class "tg-spoiler" at byte offset {self.byte_offset(begin)}'
            )
        self.open_tags.append(_OpenTag(tag_name, argument, self.utf16_position, len(self.produced)))
        return index + 1

    def parse_attribute(self, begin: int, index: int, tag_name: str) -> tuple[int, str | None, str]:
        """Parse one ``name=value`` pair; the name is None when the tag ends instead."""
        while self.char_at(index) in _SPACES and self.char_at(index) != "":
            index += 1
        if self.char_at(index) == ">":
            return index, None, ""
        name_start = index
        while self.char_at(index) not in _SPACES and self.char_at(index) not in ("=", ">"):
            index += 1
        attribute_name = self.source[name_start:index]
        where = f'the tag "{tag_name}" at byte offset {self.byte_offset(begin)}'
        if not attribute_name:
            raise EntityParseError(f"Empty attribute name in {where}")
        while self.char_at(index) in _SPACES and self.char_at(index) != "":
            index += 1
        if self.char_at(index) != "=":
            if tag_name == "blockquote" and attribute_name == "expandable":
                return index, attribute_name, ""  # the one documented attribute without a value
            raise EntityParseError(f"Expected equal sign in declaration of an attribute of {where}")
        index += 1
        while self.char_at(index) in _SPACES and self.char_at(index) != "":
            index += 1
        if self.char_at(index) == "":
            raise EntityParseError(f'Unclosed start tag "{tag_name}" at byte offset {self.byte_offset(begin)}')
        if self.char_at(index) in ("'", '"'):
            index, value = self.parse_quoted_value(index)
        else:
            token_start = index
            while self.char_at(index) in _NAME_TOKEN_CHARACTERS:
                index += 1
            value = self.source[token_start:index].lower()
            if self.char_at(index) not in _SPACES and self.char_at(index) != ">":
                raise EntityParseError(
                    f"Unexpected end of name token at byte offset {self.byte_offset(token_start)}"
                )
        if self.char_at(index) == "":
            raise EntityParseError(f"Unclosed start tag at byte offset {self.byte_offset(begin)}")
        return index, attribute_name, value

    def parse_quoted_value(self, index: int) -> tuple[int, str]:
        quote = self.source[index]
        index += 1
        value: list[str] = []
        while self.char_at(index) not in (quote, ""):
            if self.char_at(index) == "&":
                decoded, end = self.decode_entity(index)
                if decoded is not None:
                    value.append(decoded)
                    index = end
                    continue
            value.append(self.source[index])
            index += 1
        if self.char_at(index) == quote:
            index += 1
        return index, "".join(value)

    def parse_end_tag(self, begin: int) -> int:
        if not self.open_tags:
            raise EntityParseError(f"Unexpected end tag at byte offset {self.byte_offset(begin)}")
        index = begin + 2
        while self.char_at(index) not in _SPACES and self.char_at(index) != ">":
            index += 1
        end_tag_name = self.source[begin + 2 : index]
        while self.char_at(index) in _SPACES and self.char_at(index) != "":
            index += 1
        if self.char_at(index) != ">":
            raise EntityParseError(f"Unclosed end tag at byte offset {self.byte_offset(begin)}")
        open_tag = self.open_tags[-1]
        if end_tag_name and end_tag_name != open_tag.name:
            raise EntityParseError(
                f"Unmatched end tag at byte offset {self.byte_offset(begin)}, "
                f'expected "</{open_tag.name}>", found "</{end_tag_name}>"'
            )
        if self.utf16_position > open_tag.utf16_start:
            self.close_entity(open_tag)
        self.open_tags.pop()
        return index + 1

    def close_entity(self, tag: _OpenTag) -> None:
        offset, length = tag.utf16_start, self.utf16_position - tag.utf16_start
        if tag.name in _SIMPLE_ENTITY_TYPES:
            self.entities.append({"type": _SIMPLE_ENTITY_TYPES[tag.name], "offset": offset, "length": length})
        elif tag.name == "a":
            link = tag.argument or "".join(self.produced[tag.text_start :])
            entity = _link_entity(link)
            if entity is not None:
                self.entities.append({**entity, "offset": offset, "length": length})
        elif tag.name == "code":
            parent = self.open_tags[-2] if len(self.open_tags) >= 2 else None
            if parent is not None and parent.name == "pre" and parent.utf16_start == offset and tag.argument:
                parent.argument = tag.argument  # <pre><code class="language-x"> is one pre entity
            else:
                self.entities.append({"type": "code", "offset": offset, "length": length})
        elif tag.name == "pre":
            entity = {"type": "pre", "offset": offset, "length": length}
            if tag.argument:
                entity["language"] = tag.argument
            self.entities.append(entity)
        elif tag.name == "blockquote":
            kind = "expandable_blockquote" if tag.argument else "blockquote"
            self.entities.append({"type": kind, "offset": offset, "length": length})
        elif tag.name == "tg-emoji":
            if not tag.argument.isdigit() or int(tag.argument) == 0:
                raise EntityParseError("Invalid custom emoji identifier specified")
            self.entities.append(
                {"type": "custom_emoji", "offset": offset, "length": length, "custom_emoji_id": tag.argument}
            )


def _tag_argument(tag_name: str, attribute_name: str, value: str, current: str) -> str:
    """The one attribute each tag cares about; other attributes are ignored, as by Telegram."""
    if tag_name == "a" and attribute_name == "href":
        return value
    if tag_name == "code" and attribute_name == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag_name == "span" and attribute_name == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    if tag_name == "tg-emoji" and attribute_name == "emoji-id":
        return value
    if tag_name == "blockquote" and attribute_name == "expandable":
        return "1"
    return current


def _link_entity(link: str) -> dict[str, Any] | None:
    """text_mention for tg://user links, text_link for valid URLs; invalid links get no entity."""
    user_link = _TG_USER_LINK.match(link)
    if user_link:
        return {"type": "text_mention", "user": {"id": int(user_link.group(1)), "is_bot": False, "first_name": ""}}
    if _URL_WITH_SCHEME.match(link):
        return {"type": "text_link", "url": link}
    if _BARE_DOMAIN_URL.match(link):
        return {"type": "text_link", "url": f"http://{link}"}
    return None
