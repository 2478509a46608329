"""Webhook mode's HTTP server: Telegram's POSTs read by a small protocol of ours, every other request by aiohttp.

Under load nearly every request the bot serves is one of Telegram's webhook POSTs, and aiohttp's machinery around
one (its parser's objects, a request and a response object, the router, the middlewares, the response's writer) was
~10 % of the bot's CPU, as much as storing the update (docs/performance.md, "Tenth session"). `WebhookSite` listens
in place of aiohttp's TCPSite. Each connection reads its requests one at a time, in order; a request that is exactly
what Telegram sends — `POST` to the webhook's path, HTTP/1.1 or 1.0, a Content-Length body within the app's limit, no
Transfer-Encoding, Expect or Upgrade, every header line plain — goes straight to `take_update`. At the first request
that is anything else (the health check, Open311, a chunked body, an odd head) the connection, with every byte of it
not yet answered, is handed to aiohttp's request handler for the rest of its life: aiohttp's parser and the app's
routes (the webhook's among them) answer it exactly as they would without this site. So what this module parses is
only the plain case; anything it does not recognise is aiohttp's to accept or refuse.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from http import HTTPStatus

from aiohttp import web

log = logging.getLogger(__name__)
access_log = logging.getLogger("aiohttp.access")  # the line aiohttp writes for the requests it serves
# Its format, for both servers (bot/runners.AccessLogger): remote, method, target, version, status, bytes, seconds.
ACCESS_LOG_LINE = '%s "%s %s %s" %s %s %.3fs'

MAX_HEAD_BYTES = 16 * 1024  # a longer head goes to aiohttp, which refuses it
IDLE_TIMEOUT = 75.0  # seconds a connection may wait between requests, as aiohttp's keep-alive
SWEEP_EVERY = 15.0
STOP_WAIT = 10.0  # seconds `stop` waits for updates in hand; one still unanswered then is sent again by Telegram

_REQUEST_LINE = re.compile(rb"POST ([^ \x00-\x1f?]+)(?:\?[^ \x00-\x1f]*)? HTTP/1\.([01])")
_HEADER_LINE = re.compile(rb"([!#$%&'*+\-.^_`|~0-9A-Za-z]+):[ \t]*([^\r\n\x00]*?)[ \t]*")
_DIGITS = re.compile(rb"[0-9]{1,10}")
# Headers this protocol acts on; a request carrying any of them twice goes to aiohttp.
_CONTENT_LENGTH, _CONNECTION, _SECRET = b"content-length", b"connection", b"x-telegram-bot-api-secret-token"
_NOT_PLAIN = frozenset((b"transfer-encoding", b"expect", b"upgrade"))  # aiohttp's to handle


@dataclass(frozen=True, slots=True)
class WebhookReply:
    status: int
    body: bytes
    content_type: bytes = b"text/plain; charset=utf-8"


# (the secret token header's value, or b"" without one; the body; what to call, once, with the reply)
TakeUpdate = Callable[[bytes, bytes, Callable[[WebhookReply], None]], None]


class WebhookSite(web.BaseSite):
    """A TCP site of `runner` whose connections answer webhook POSTs to `path` through `take_update` themselves."""

    __slots__ = ("_host", "_port", "_path", "_take_update", "_max_body", "_connections", "_sweeper")

    def __init__(self, runner: web.AppRunner, host: str, port: int, *, path: str, take_update: TakeUpdate,
                 max_body: int) -> None:
        super().__init__(runner)
        self._host, self._port = host, port
        self._path = path.encode()
        self._take_update = take_update
        self._max_body = max_body  # the app's client_max_size: a longer body goes to aiohttp, which answers 413
        self._connections: set[_WebhookConnection] = set()
        self._sweeper: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(lambda: _WebhookConnection(self), self._host, self._port,
                                                reuse_address=True)
        self._sweeper = asyncio.create_task(self._close_idle_connections(), name="webhook-idle-connections")

    async def stop(self) -> None:
        """Stop listening, let the updates in hand be answered (at most STOP_WAIT), close the connections."""
        await super().stop()
        if self._sweeper is not None:
            self._sweeper.cancel()
            self._sweeper = None
        in_hand = [connection.answering for connection in self._connections if connection.answering is not None]
        if in_hand:
            await asyncio.wait(in_hand, timeout=STOP_WAIT)
        for connection in list(self._connections):
            connection.close()

    async def _close_idle_connections(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(SWEEP_EVERY)
            quiet_since = loop.time() - IDLE_TIMEOUT
            for connection in [c for c in self._connections if c.answering is None and c.last_read < quiet_since]:
                connection.close()


class _WebhookConnection(asyncio.Protocol):
    """One client connection while its requests are webhook POSTs (see the module's docstring)."""

    def __init__(self, site: WebhookSite) -> None:
        self._site = site
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self._buffer = bytearray()  # from the first byte of the request not yet answered
        self.answering: asyncio.Future[None] | None = None  # the request in hand, one at a time, till answered
        self.last_read = self._loop.time()
        # the request in hand's
        self._keep_alive, self._http11, self._request_line, self._started = True, True, b"", 0.0

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self._transport = transport
        self._site._connections.add(self)

    def connection_lost(self, exc: Exception | None) -> None:
        # An update in hand is still stored and handled; only its reply has nowhere to go (Telegram sends it again,
        # and the inbox knows it).
        self._site._connections.discard(self)
        self._transport = None

    def data_received(self, data: bytes) -> None:
        self._buffer += data
        self.last_read = self._loop.time()
        if self.answering is None:
            self._read_request()
        elif len(self._buffer) > MAX_HEAD_BYTES + self._site._max_body and self._transport is not None:
            self._transport.pause_reading()  # a client sending ahead of its answers waits for them

    def close(self) -> None:
        if self._transport is not None:
            self._transport.close()

    def _read_request(self) -> None:
        """The next request, if whole in the buffer: answered here if it is a plain webhook POST, else the
        connection goes to aiohttp."""
        buffer = self._buffer
        head_end = buffer.find(b"\r\n\r\n")
        if head_end < 0:
            if len(buffer) > MAX_HEAD_BYTES or (buffer and not buffer.startswith(b"POST "[:len(buffer)])):
                self._hand_to_aiohttp()
            return
        lines = bytes(buffer[:head_end]).split(b"\r\n")
        request_line = _REQUEST_LINE.fullmatch(lines[0])
        if request_line is None or request_line[1] != self._site._path:
            return self._hand_to_aiohttp()
        headers: dict[bytes, bytes] = {}
        for line in lines[1:]:
            header = _HEADER_LINE.fullmatch(line)
            if header is None:
                return self._hand_to_aiohttp()
            name = header[1].lower()
            if name in _NOT_PLAIN or (name in headers and name in (_CONTENT_LENGTH, _CONNECTION, _SECRET)):
                return self._hand_to_aiohttp()
            headers[name] = header[2]
        length = headers.get(_CONTENT_LENGTH)
        if length is None or not _DIGITS.fullmatch(length) or int(length) > self._site._max_body:
            return self._hand_to_aiohttp()
        body_start = head_end + 4
        body_end = body_start + int(length)
        if len(buffer) < body_end:
            return  # the rest of the body is on its way
        body = bytes(buffer[body_start:body_end])
        del buffer[:body_end]
        tokens = {token.strip().lower() for token in headers.get(_CONNECTION, b"").split(b",")}
        self._http11 = request_line[2] == b"1"
        self._keep_alive = b"close" not in tokens if self._http11 else b"keep-alive" in tokens
        self._request_line, self._started = lines[0], self._loop.time()
        self.answering = answering = self._loop.create_future()
        try:
            self._site._take_update(headers.get(_SECRET, b""), body, partial(self._reply, answering))
        except Exception:  # as aiohttp answers a handler's failure
            log.exception("webhook update not taken")
            self._keep_alive = False
            self._reply(answering, WebhookReply(500, b"internal error"))

    def _reply(self, answering: asyncio.Future[None], reply: WebhookReply) -> None:
        """The answer to the request in hand (the first only); then the next request, if one is waiting."""
        if answering is not self.answering:
            return
        answering.set_result(None)
        self.answering = None
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        transport.resume_reading()
        keep_alive = self._keep_alive
        connection = (b"" if keep_alive == self._http11 else
                      b"Connection: keep-alive\r\n" if keep_alive else b"Connection: close\r\n")
        transport.write(b"HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n%s\r\n%s" % (
            reply.status, HTTPStatus(reply.status).phrase.encode(), reply.content_type, len(reply.body), connection,
            reply.body))
        if access_log.isEnabledFor(logging.INFO):
            _log_access(transport, self._request_line, reply, self._loop.time() - self._started)
        if not keep_alive:
            transport.close()
        elif self._buffer:
            self._read_request()

    def _hand_to_aiohttp(self) -> None:
        """The rest of this connection, from the first byte not yet answered, is served by aiohttp."""
        transport = self._transport
        if transport is None:
            return
        self._site._connections.discard(self)
        self._transport = None
        handler = self._site._runner.server()  # an aiohttp RequestHandler, as aiohttp's own sites create
        transport.set_protocol(handler)
        handler.connection_made(transport)
        if self._buffer:
            handler.data_received(bytes(self._buffer))
            self._buffer.clear()


def _log_access(transport: asyncio.Transport, request_line: bytes, reply: WebhookReply, seconds: float) -> None:
    """The line aiohttp's access log writes (bot/runners.AccessLogger), for a webhook POST served here."""
    peer = transport.get_extra_info("peername")
    method, _, rest = request_line.decode("latin-1").partition(" ")
    target, _, version = rest.rpartition(" ")
    access_log.info(ACCESS_LOG_LINE, peer[0] if peer else "-", method, target, version, reply.status, len(reply.body),
                    seconds)
