"""The JSON control API under /_emu/ that lets the sandbox page act as users and watch the chat.

It has no authentication: serve it only on loopback or behind the sandbox's own access control.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

if TYPE_CHECKING:
    from bot.emulator.server import BotApiEmulator

_KEEP_ALIVE_SECONDS = 15.0
_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ControlError(ValueError):
    """A control request the emulator cannot carry out; answered as 400 with the reason."""


def add_control_routes(app: web.Application, emulator: BotApiEmulator) -> None:
    def handler(action: Callable[[web.Request], Awaitable[Any]]) -> _Handler:
        """Wrap an action: its result becomes {"ok": true, "result": …}, its error a 400 with the reason."""

        async def handle(request: web.Request) -> web.StreamResponse:
            try:
                result = await action(request)
            except (ControlError, LookupError, ValueError, RuntimeError) as error:
                return web.json_response({"ok": False, "error": str(error)}, status=400)
            if isinstance(result, web.StreamResponse):
                return result
            return web.json_response({"ok": True, "result": result}, dumps=_dumps)

        return handle

    async def add_user(request: web.Request) -> dict[str, Any]:
        body = await _json_body(request)
        user = emulator.add_user(
            user_id=_required_int(body, "user_id"),
            first_name=str(body.get("first_name") or "Utente"),
            language_code=body.get("language_code"),
            username=body.get("username"),
            last_name=body.get("last_name"),
        )
        return user.to_api()

    async def send(request: web.Request) -> dict[str, Any]:
        body = await _json_body(request)
        user_id = _required_int(body, "user_id")
        chat_id = int(body["chat_id"]) if body.get("chat_id") is not None else None
        kind = body.get("type")
        if kind == "text":
            return emulator.send_text(user_id, str(body.get("text", "")), chat_id=chat_id)
        if kind == "location":
            latitude, longitude = _required_float(body, "latitude"), _required_float(body, "longitude")
            return emulator.send_location(user_id, latitude, longitude, chat_id=chat_id)
        if kind == "photo":
            caption = body.get("caption") or None
            return emulator.send_photo(user_id, _base64_data(body), caption=caption, chat_id=chat_id)
        if kind == "voice":
            duration = int(body.get("duration") or 3)
            return emulator.send_voice(user_id, _base64_data(body), duration=duration, chat_id=chat_id)
        if kind == "document":
            filename = str(body.get("filename") or "document.dat")
            return emulator.send_document(user_id, _base64_data(body), filename, chat_id=chat_id)
        if kind == "contact":
            return emulator.send_contact(user_id, str(body.get("phone_number", "")), chat_id=chat_id)
        if kind == "sticker":
            return emulator.send_sticker(user_id, chat_id=chat_id)
        if kind == "button":
            query_id = emulator.press_button(
                user_id, _required_int(body, "message_id"), str(body.get("callback_data", "")), chat_id=chat_id
            )
            return {"callback_query_id": query_id}
        raise ControlError(
            f"unknown type {kind!r}: use text, location, photo, voice, document, contact, sticker or button"
        )

    async def chat(request: web.Request) -> dict[str, Any]:
        chat_id = _int_from_path(request, "chat_id")
        return {
            "chat_id": chat_id,
            "messages": [message.to_dict() for message in emulator.chat_messages(chat_id)],
            "reply_keyboard": emulator.reply_keyboard(chat_id),
        }

    async def refusals(request: web.Request) -> list[dict[str, Any]]:
        return [refusal.to_dict() for refusal in emulator.refusals]

    async def commands(request: web.Request) -> list[dict[str, str]]:
        chat_id = request.query.get("chat_id")
        return emulator.visible_commands(
            int(chat_id) if chat_id else None, request.query.get("language_code", "")
        )

    async def file(request: web.Request) -> web.Response:
        stored = emulator.files.get(request.match_info["file_id"])
        if stored is None:
            raise LookupError(f"no file with id {request.match_info['file_id']!r}")
        default_type = "image/jpeg" if stored.kind == "photo" else "application/octet-stream"
        return web.Response(body=stored.data, content_type=stored.metadata.get("mime_type", default_type))

    async def events(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        queue = emulator.subscribe()
        try:
            while True:
                try:
                    event = await asyncio.wait_for(queue.get(), _KEEP_ALIVE_SECONDS)
                except TimeoutError:
                    await response.write(b": keep-alive\n\n")
                    continue
                await response.write(f"data: {_dumps(event)}\n\n".encode("utf-8"))
                if event["type"] == "shutdown":
                    break
        except ConnectionResetError:
            pass  # the page went away
        finally:
            emulator.unsubscribe(queue)
        return response

    app.router.add_post("/_emu/users", handler(add_user))
    app.router.add_post("/_emu/send", handler(send))
    app.router.add_get("/_emu/chats/{chat_id}", handler(chat))
    app.router.add_get("/_emu/refusals", handler(refusals))
    app.router.add_get("/_emu/commands", handler(commands))
    app.router.add_get("/_emu/files/{file_id}", handler(file))
    app.router.add_get("/_emu/events", handler(events))


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


async def _json_body(request: web.Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError:
        raise ControlError("the request body must be a JSON object") from None
    if not isinstance(body, dict):
        raise ControlError("the request body must be a JSON object")
    return body


def _required_number(body: dict[str, Any], name: str, kind: type[int] | type[float]) -> Any:
    try:
        return kind(body[name])
    except KeyError:
        raise ControlError(f"{name} is required") from None
    except (TypeError, ValueError):
        what = "an integer" if kind is int else "a number"
        raise ControlError(f"{name} must be {what}, got {body[name]!r}") from None


def _required_int(body: dict[str, Any], name: str) -> int:
    return _required_number(body, name, int)


def _required_float(body: dict[str, Any], name: str) -> float:
    return _required_number(body, name, float)


def _int_from_path(request: web.Request, name: str) -> int:
    try:
        return int(request.match_info[name])
    except ValueError:
        raise ControlError(f"{name} must be an integer, got {request.match_info[name]!r}") from None


def _base64_data(body: dict[str, Any]) -> bytes:
    try:
        return base64.b64decode(body.get("data") or "", validate=True)
    except (binascii.Error, ValueError):
        raise ControlError("data must be base64-encoded file content") from None
