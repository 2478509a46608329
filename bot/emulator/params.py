"""Reading Bot API call parameters the way Telegram does, from JSON, url-encoded or multipart bodies."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import BodyPartReader, web

from bot.emulator.models import ApiError, bad_request

_TRUE_STRINGS = frozenset({"true", "1", "yes", "on"})


@dataclass(frozen=True)
class UploadedFile:
    """A file sent by the bot in a multipart part."""

    filename: str
    content_type: str
    data: bytes


class Params:
    """Typed access to one call's parameters; every getter raises ApiError with Telegram's wording."""

    def __init__(self, values: dict[str, Any], uploads: dict[str, UploadedFile] | None = None) -> None:
        self.values = values
        self.uploads = uploads or {}

    @classmethod
    async def from_request(cls, request: web.Request) -> Params:
        """Merge query-string and body parameters; the body wins, like in Telegram."""
        values: dict[str, Any] = dict(request.query)
        uploads: dict[str, UploadedFile] = {}
        if request.method == "POST" and request.can_read_body:
            content_type = request.content_type
            if content_type == "application/json":
                values.update(await _read_json_body(request))
            elif content_type == "multipart/form-data":
                await _read_multipart(request, values, uploads)
            else:
                values.update(await request.post())
        return cls(values, uploads)

    def has(self, name: str) -> bool:
        return self.values.get(name) not in (None, "")

    def text(self, name: str) -> str | None:
        value = self.values.get(name)
        if value is None:
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, (dict, list)):
            return json.dumps(value, ensure_ascii=False)
        return str(value)

    def required_text(self, name: str, empty_error: str) -> str:
        value = self.text(name)
        if not value:
            raise bad_request(empty_error)
        return value

    def integer(self, name: str, default: int | None = None) -> int | None:
        value = self.values.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool):
            raise bad_request(f"{name} must be a valid Integer")
        if isinstance(value, int):
            return value
        try:
            return int(str(value).strip())
        except ValueError:
            raise bad_request(f"{name} must be a valid Integer") from None

    def required_integer(self, name: str, empty_error: str | None = None) -> int:
        value = self.integer(name)
        if value is None:
            raise bad_request(empty_error or f"{name} is empty")
        return value

    def number(self, name: str) -> float:
        value = self.values.get(name)
        if value is None or value == "":
            raise bad_request(f"{name} is empty")
        try:
            return float(value)
        except (TypeError, ValueError):
            raise bad_request(f"{name} must be a valid Number") from None

    def boolean(self, name: str) -> bool:
        value = self.values.get(name)
        if isinstance(value, bool):
            return value
        return str(value).strip().lower() in _TRUE_STRINGS if value is not None else False

    def json_value(self, name: str, what: str) -> Any:
        """A JSON parameter, given as a JSON-encoded string (forms) or a nested value (JSON bodies)."""
        value = self.values.get(name)
        if value is None or value == "":
            return None
        if not isinstance(value, str):
            return value
        try:
            return json.loads(value)
        except ValueError:
            raise bad_request(f"can't parse {what} JSON object") from None

    def chat_id(self) -> int | str:
        """An integer id, or an @username (which the emulator knows no chat by)."""
        value = self.text("chat_id")
        if not value:
            raise bad_request("chat_id is empty")
        if value.startswith("@"):
            return value
        try:
            return int(value)
        except ValueError:
            raise bad_request("chat not found") from None

    def input_file(self, name: str) -> UploadedFile | str | None:
        """An uploaded part (directly or via ``attach://``), or a string file_id/URL, or None."""
        if name in self.uploads:
            return self.uploads[name]
        value = self.text(name)
        if not value:
            return None
        if value.startswith("attach://"):
            attached = self.uploads.get(value.removeprefix("attach://"))
            if attached is None:
                raise bad_request(f"file {value} not found in the request")
            return attached
        return value

    def for_log(self) -> dict[str, Any]:
        """Parameters with uploads summarised, safe to keep and serialise."""
        logged = dict(self.values)
        for name, upload in self.uploads.items():
            logged[name] = f"<upload {upload.filename!r}, {len(upload.data)} bytes>"
        return logged


async def _read_json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ApiError(400, "Bad Request: can't parse JSON encoded request body") from None
    if not isinstance(body, dict):
        raise ApiError(400, "Bad Request: JSON request body must be an Object")
    return body


async def _read_multipart(request: web.Request, values: dict[str, Any], uploads: dict[str, UploadedFile]) -> None:
    reader = await request.multipart()
    async for part in reader:
        if not isinstance(part, BodyPartReader) or part.name is None:
            continue
        data = await part.read()
        if part.filename is not None:
            content_type = part.headers.get("Content-Type", "application/octet-stream")
            uploads[part.name] = UploadedFile(part.filename, content_type, bytes(data))
        else:
            values[part.name] = data.decode(part.get_charset(default="utf-8"))
