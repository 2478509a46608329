"""bot/webhook_http.py: Telegram's webhook POSTs answered by the site's own protocol, one at a time and in order on a
kept connection; every other request, from its first byte, by aiohttp on the same connection."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Callable

import aiohttp
import pytest
from aiohttp import web

from bot import webhook_http
from bot.webhook_http import WebhookReply, WebhookSite

PATH = "/tg/hook"
MAX_BODY = 4096


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def _healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class Server:
    """A WebhookSite over an app with the health check and the webhook's own route (for handed-over connections),
    both taking updates through one recorder."""

    def __init__(self) -> None:
        self.taken: list[tuple[bytes, bytes]] = []
        self.by_aiohttp = 0
        self.hold: asyncio.Event | None = None  # set: take_update waits for it
        self.fail = False
        self.port = _free_port()

    def take_update(self, secret: bytes, body: bytes, reply: Callable[[WebhookReply], None]) -> None:
        self.taken.append((secret, body))
        if self.fail:
            raise RuntimeError("broken")
        if body.startswith(b"{"):
            answer = WebhookReply(200, b'{"method":"answerCallbackQuery"}', b"application/json")
        else:
            answer = WebhookReply(200, b"ok:" + body)
        if self.hold is None:
            reply(answer)
        else:
            asyncio.get_running_loop().create_task(self._later(reply, answer))

    async def _later(self, reply: Callable[[WebhookReply], None], answer: WebhookReply) -> None:
        await self.hold.wait()
        reply(answer)
        reply(WebhookReply(200, b"twice"))  # a second call changes nothing

    async def _route(self, request: web.Request) -> web.Response:
        self.by_aiohttp += 1
        replied: asyncio.Future[WebhookReply] = asyncio.get_running_loop().create_future()
        self.take_update(request.headers.get("X-Telegram-Bot-Api-Secret-Token", "").encode(), await request.read(),
                         replied.set_result)
        reply = await replied
        return web.Response(status=reply.status, body=reply.body)

    async def __aenter__(self) -> Server:
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_get("/healthz", _healthz)
        app.router.add_post(PATH, self._route)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        self.site = WebhookSite(self.runner, "127.0.0.1", self.port, path=PATH, take_update=self.take_update,
                                max_body=MAX_BODY)
        await self.site.start()
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.runner.cleanup()

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


def post(body: bytes, *, path: str = PATH, secret: bytes = b"s3cret", extra: bytes = b"", version: bytes = b"1.1") -> bytes:
    return (b"POST %s HTTP/%s\r\nHost: bot\r\nContent-Type: application/json\r\nX-Telegram-Bot-Api-Secret-Token: %s\r\n"
            b"Content-Length: %d\r\n%s\r\n%s" % (path.encode(), version, secret, len(body), extra, body))


async def read_response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    status_line, *lines = head.decode().split("\r\n")[:-2]
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    body = await asyncio.wait_for(reader.readexactly(int(headers["content-length"])), 5)
    return int(status_line.split()[1]), headers, body


async def test_a_webhook_post_is_taken_with_its_secret_and_answered_on_a_kept_connection():
    async with Server() as server:
        reader, writer = await server.connect()
        for number in range(3):
            writer.write(post(b"update %d" % number))
            status, headers, body = await read_response(reader)
            assert (status, body) == (200, b"ok:update %d" % number)
            assert headers["content-type"] == "text/plain; charset=utf-8" and "connection" not in headers
        writer.write(post(b'{"update_id": 1}'))
        status, headers, body = await read_response(reader)
        assert (status, headers["content-type"], body) == (200, "application/json", b'{"method":"answerCallbackQuery"}')
        assert server.taken == [(b"s3cret", b"update 0"), (b"s3cret", b"update 1"), (b"s3cret", b"update 2"),
                                (b"s3cret", b'{"update_id": 1}')]
        assert server.by_aiohttp == 0
        writer.close()


async def test_an_aiohttp_client_gets_the_same_answers():
    async with Server() as server, aiohttp.ClientSession() as http:
        for number in range(3):
            async with http.post(f"http://127.0.0.1:{server.port}{PATH}?x=1", data=b"n%d" % number,
                                 headers={"X-Telegram-Bot-Api-Secret-Token": "k"}) as response:
                assert response.status == 200 and await response.read() == b"ok:n%d" % number
        assert server.taken == [(b"k", b"n0"), (b"k", b"n1"), (b"k", b"n2")] and server.by_aiohttp == 0


async def test_requests_sent_ahead_are_answered_in_order_one_at_a_time():
    async with Server() as server:
        server.hold = asyncio.Event()
        reader, writer = await server.connect()
        writer.write(post(b"first") + post(b"second") + post(b"third"))
        await asyncio.sleep(0.05)
        assert server.taken == [(b"s3cret", b"first")]  # the next waits for this one's answer
        server.hold.set()
        assert [(await read_response(reader))[2] for _ in range(3)] == [b"ok:first", b"ok:second", b"ok:third"]
        writer.close()


async def test_a_request_arriving_byte_by_byte_is_answered_once():
    async with Server() as server:
        reader, writer = await server.connect()
        for byte in post(b"slow"):
            writer.write(bytes([byte]))
            await writer.drain()
        assert (await read_response(reader))[2] == b"ok:slow"
        assert server.taken == [(b"s3cret", b"slow")]
        writer.close()


async def test_other_requests_are_aiohttps_even_after_webhook_posts_on_the_same_connection():
    async with Server() as server:
        reader, writer = await server.connect()
        writer.write(post(b"mine"))
        assert (await read_response(reader))[2] == b"ok:mine"
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: bot\r\n\r\n" + post(b"after"))
        status, headers, body = await read_response(reader)
        assert (status, body) == (200, b'{"ok": true}') and "server" in headers  # aiohttp's answer
        assert (await read_response(reader))[2] == b"ok:after"
        assert server.by_aiohttp == 1  # the connection stays with aiohttp, through the app's own route
        writer.close()


@pytest.mark.parametrize("request_bytes, status", [
    # chunked: aiohttp reads it and the app's route takes the update
    (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: bot\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n", 200),
    (post(b"x" * (MAX_BODY + 1)), 413),  # over the app's limit
    (post(b"body", extra=b"Content-Length: 4\r\n"), 400),  # the length twice
    (post(b"body", extra=b"Bad Header : x\r\n"), 400),  # a space before the colon
    (b"DELETE " + PATH.encode() + b" HTTP/1.1\r\nHost: bot\r\n\r\n", 405),
    (post(b"body", path="/elsewhere"), 404),
    (b"POST " + PATH.encode() + b" HTTP/1.1\r\nHost: bot\r\nX-Big: " + b"y" * 20_000, 400),  # a head too long, not even ended
])
async def test_what_is_not_a_plain_webhook_post_is_answered_by_aiohttp(request_bytes: bytes, status: int):
    async with Server() as server:
        reader, writer = await server.connect()
        writer.write(request_bytes)
        assert (await read_response(reader))[0] == status
        assert server.taken == ([(b"", b"abc")] if status == 200 else [])
        writer.close()


async def test_expect_100_continue_goes_to_aiohttp():
    async with Server() as server, aiohttp.ClientSession() as http:
        async with http.post(f"http://127.0.0.1:{server.port}{PATH}", data=b"later", expect100=True) as response:
            assert response.status == 200 and await response.read() == b"ok:later"
        assert server.by_aiohttp == 1


@pytest.mark.parametrize("version, extra, kept, connection", [
    (b"1.1", b"Connection: close\r\n", False, "close"),
    (b"1.0", b"", False, None),
    (b"1.0", b"Connection: Keep-Alive\r\n", True, "keep-alive"),
])
async def test_connection_close_and_http_1_0(version: bytes, extra: bytes, kept: bool, connection: str | None):
    async with Server() as server:
        reader, writer = await server.connect()
        writer.write(post(b"one", version=version, extra=extra))
        status, headers, body = await read_response(reader)
        assert (status, body, headers.get("connection")) == (200, b"ok:one", connection)
        if kept:
            writer.write(post(b"two", version=version, extra=extra))
            assert (await read_response(reader))[2] == b"ok:two"
        else:
            assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_failing_take_is_a_500_and_the_connection_closes(caplog):
    async with Server() as server:
        server.fail = True
        reader, writer = await server.connect()
        writer.write(post(b"boom"))
        assert (await read_response(reader))[0] == 500
        assert await asyncio.wait_for(reader.read(), 5) == b""
        assert "webhook update not taken" in caplog.text
        writer.close()


async def test_stopping_answers_the_update_in_hand_then_closes(monkeypatch):
    async with Server() as server:
        server.hold = asyncio.Event()
        busy_reader, busy_writer = await server.connect()
        idle_reader, idle_writer = await server.connect()
        busy_writer.write(post(b"in hand"))
        await asyncio.sleep(0.05)
        stopping = asyncio.create_task(server.site.stop())
        await asyncio.sleep(0.05)
        assert not stopping.done()
        with pytest.raises(OSError):  # no longer listening
            await server.connect()
        server.hold.set()
        assert (await read_response(busy_reader))[2] == b"ok:in hand"
        await asyncio.wait_for(stopping, 5)
        assert await asyncio.wait_for(idle_reader.read(), 5) == b""
        busy_writer.close()
        idle_writer.close()


async def test_an_idle_connection_is_closed_after_the_keep_alive(monkeypatch):
    monkeypatch.setattr(webhook_http, "IDLE_TIMEOUT", 0.1)
    monkeypatch.setattr(webhook_http, "SWEEP_EVERY", 0.05)
    async with Server() as server:
        reader, writer = await server.connect()
        writer.write(post(b"once"))
        await read_response(reader)
        assert await asyncio.wait_for(reader.read(), 5) == b""
        writer.close()


async def test_a_client_far_ahead_of_its_answers_is_paused_and_resumed():
    async with Server() as server:
        server.hold = asyncio.Event()
        reader, writer = await server.connect()
        requests = [post(b"%05d" % number + b"z" * 1000) for number in range(40)]  # ~45 KB, over head + body limit
        writer.write(b"".join(requests))
        await asyncio.sleep(0.05)
        server.hold.set()
        bodies = [(await read_response(reader))[2] for _ in requests]
        assert bodies == [b"ok:" + request.rpartition(b"\r\n\r\n")[2] for request in requests]
        writer.close()


async def test_the_access_log_line_is_aiohttps(caplog):
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with Server() as server:
        reader, writer = await server.connect()
        writer.write(post(b"logged", path=PATH + "?q=1"))
        await read_response(reader)
        writer.close()
    lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert len(lines) == 1 and lines[0].startswith('127.0.0.1 "POST /tg/hook?q=1 HTTP/1.1" 200 9 '), lines
    assert "s3cret" not in lines[0]
