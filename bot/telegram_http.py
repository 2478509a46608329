"""The product's request backends for python-telegram-bot.

``TelegramRequest`` (the product's, at the end of this module) sends the small JSON calls that are almost every
call a bot makes (answers to buttons, screens, messages) over kept HTTP/1.1 connections with a lean client of its
own, and everything else (uploads, downloads, bodies over 32 KiB) the way ``AiohttpRequest`` does. The bare
benchmark bot keeps ``AiohttpRequest``: PTB on aiohttp, nothing of ours.

PTB's default backend (``HTTPXRequest``) is the largest CPU cost of a bare bot;
``AiohttpRequest`` does the same job with aiohttp and mirrors HTTPXRequest's behaviour:
the same constructor defaults, the same meaning of the four timeouts and the same error
mapping (timeouts -> ``TimedOut``, transport failures -> ``NetworkError``). Calls without
files are sent as JSON bodies (which the Bot API accepts like form fields, and which cost
far less to encode than HTTPXRequest's url-encoded JSON strings); uploads are multipart.

aiohttp has no write timeout and counts waiting for a free connection as part of its
connect timeout, so this module adds both: a semaphore sized like the connection pool
gives PTB's pool timeout, and request bodies large enough to wait on the socket are
wrapped so that each chunk must be accepted within the write timeout (httpx applies its
write timeout to each socket write in the same way).
"""

import asyncio
import functools
import io
import ssl
from collections import deque
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.abc import AbstractStreamWriter
from aiohttp.payload import BytesPayload, Payload
from multidict import CIMultiDict
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import JSONDict, ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

# Telegram's API host rarely changes address; re-resolving every few minutes is plenty.
_DNS_CACHE_SECONDS = 300
# Idle connections stay open this long so bursts of updates reuse them.
_KEEPALIVE_SECONDS = 15.0
# Bodies are handed to the socket in slices of this size, each under the write timeout.
# It matches aiohttp's buffer limit, above which a write waits for the socket to drain.
_WRITE_CHUNK_BYTES = 64 * 1024
# Bodies up to this size (most Bot API calls) fit in that buffer together with the headers,
# so writing them never waits for the socket and they skip the timing wrapper's cost.
_NEVER_BLOCKING_BODY_BYTES = 32 * 1024

_JSON_CONTENT_TYPE = "application/json"
_POOL_TIMEOUT_MESSAGE = (
    "Pool timeout: All connections in the connection pool are occupied. Request was *not* "
    "sent to Telegram. Consider adjusting the connection pool size or the pool timeout."
)


class _WriteTimeoutError(TimeoutError):
    """A body chunk was not accepted by the socket within the write timeout.

    It derives from TimeoutError without an errno, which aiohttp's body writer passes
    through unchanged, so ``do_request`` can tell it apart from aiohttp's own errors.
    """


class _TimedChunkWriter(AbstractStreamWriter):
    """Forwards to aiohttp's stream writer, splitting every body write into chunks that
    must each complete within ``write_timeout`` seconds."""

    def __init__(self, writer: AbstractStreamWriter, write_timeout: float) -> None:
        self._writer = writer
        self._write_timeout = write_timeout

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        data = memoryview(chunk).cast("B")
        for start in range(0, len(data), _WRITE_CHUNK_BYTES):
            try:
                async with asyncio.timeout(self._write_timeout):
                    await self._writer.write(data[start : start + _WRITE_CHUNK_BYTES])
            except TimeoutError as exc:
                raise _WriteTimeoutError(
                    f"the socket accepted no data for {self._write_timeout} s"
                ) from exc

    async def write_eof(self, chunk: bytes = b"") -> None:
        await self._writer.write_eof(chunk)

    async def drain(self) -> None:
        await self._writer.drain()

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        self._writer.enable_compression(encoding, strategy)

    def enable_chunking(self) -> None:
        self._writer.enable_chunking()

    async def write_headers(self, status_line: str, headers: "CIMultiDict[str]") -> None:
        await self._writer.write_headers(status_line, headers)


class _WriteTimeoutPayload(Payload):
    """A request body (JSON or multipart) whose writes are bounded by a write timeout."""

    _value: Payload

    def __init__(self, body: Payload, write_timeout: float) -> None:
        super().__init__(body, headers=body.headers)
        self._size = body.size
        self._write_timeout = write_timeout

    @property
    def consumed(self) -> bool:
        return self._value.consumed

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return self._value.decode(encoding, errors)

    async def as_bytes(self, encoding: str = "utf-8", errors: str = "strict") -> bytes:
        return await self._value.as_bytes(encoding, errors)

    async def write(self, writer: AbstractStreamWriter) -> None:
        await self.write_with_length(writer, None)

    async def write_with_length(
        self, writer: AbstractStreamWriter, content_length: int | None
    ) -> None:
        timed_writer = _TimedChunkWriter(writer, self._write_timeout)
        await self._value.write_with_length(timed_writer, content_length)

    async def close(self) -> None:
        await self._value.close()


def _never_blocks(body: Payload) -> bool:
    return body.size is not None and body.size <= _NEVER_BLOCKING_BODY_BYTES


def _escape_filename(filename: str) -> str:
    """Escapes a file name as browsers and httpx do (HTML5 form encoding): double quotes and
    control characters are percent-encoded, everything else is sent as UTF-8."""
    return "".join(
        f"%{ord(char):02X}" if char == '"' or (char < " " and char != "\x1b") else char
        for char in filename
    )


def _encode_body(request_data: RequestData | None) -> Payload | None:
    """Encodes the parameters as one JSON object, or as multipart/form-data (JSON-encoded
    fields, like HTTPXRequest) when files are uploaded. Returns None when there is nothing
    to send."""
    if request_data is None:
        return None
    if request_data.contains_files:
        # quote_fields=False keeps UTF-8 file names; _escape_filename does httpx's escaping.
        form = aiohttp.FormData(quote_fields=False)
        for name, value in request_data.json_parameters.items():
            form.add_field(name, value)
        for part_name, (filename, content, mimetype) in request_data.multipart_data.items():
            # aiohttp streams a BytesIO in chunks; raw bytes above 1 MiB trigger its
            # "large body" ResourceWarning.
            stream = io.BytesIO(content) if isinstance(content, bytes) else content
            form.add_field(
                part_name, stream, filename=_escape_filename(filename), content_type=mimetype
            )
        return form()
    parameters = request_data.parameters
    if not parameters:
        return None
    # Nested values (keyboards, entities) stay objects: a JSON body needs no string-in-string. orjson writes the
    # same bytes as json.dumps(ensure_ascii=False, separators=(",", ":")) in a tenth of the time (~40 µs saved on a
    # screen with a keyboard, every request).
    return BytesPayload(orjson.dumps(parameters), content_type=_JSON_CONTENT_TYPE)


async def _take_pool_slot(pool_slots: asyncio.Semaphore, pool_timeout: float | None) -> None:
    """A slot of the pool, or TimedOut (nothing sent) after pool_timeout. A timer only when all slots are taken:
    one for every request was ~3 % of a reply's CPU."""
    if not pool_slots.locked():
        await pool_slots.acquire()
        return
    try:
        async with asyncio.timeout(pool_timeout):
            await pool_slots.acquire()
    except TimeoutError as exc:
        raise TimedOut(message=_POOL_TIMEOUT_MESSAGE) from exc


@functools.lru_cache(maxsize=32)
def _client_timeout(connect: float | None, read: float | None) -> aiohttp.ClientTimeout:
    """The same few pairs come back on every request."""
    return aiohttp.ClientTimeout(total=None, connect=connect, sock_read=read)


class AiohttpRequest(BaseRequest):
    """A :class:`telegram.request.BaseRequest` implemented with one shared
    :class:`aiohttp.ClientSession`.

    Args:
        connection_pool_size: Maximum number of simultaneous connections (and requests).
        read_timeout: Seconds to wait for data from the server; None waits forever.
        write_timeout: Seconds the socket may take to accept each chunk of a request body.
        connect_timeout: Seconds to resolve and connect to the server.
        pool_timeout: Seconds to wait for a free connection when all are busy.
        media_write_timeout: Like ``write_timeout``, for requests that upload files.
    """

    __slots__ = (
        "_connect_timeout",
        "_connection_pool_size",
        "_is_shut_down",
        "_media_write_timeout",
        "_pool_slots",
        "_pool_timeout",
        "_read_timeout",
        "_session",
        "_write_timeout",
    )

    def __init__(
        self,
        connection_pool_size: int = 256,
        read_timeout: float | None = 5.0,
        write_timeout: float | None = 5.0,
        connect_timeout: float | None = 5.0,
        pool_timeout: float | None = 1.0,
        media_write_timeout: float | None = 20.0,
    ) -> None:
        if connection_pool_size < 1:
            raise ValueError(
                f"connection_pool_size must be at least 1, got {connection_pool_size}"
            )
        self._connection_pool_size = connection_pool_size
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._connect_timeout = connect_timeout
        self._pool_timeout = pool_timeout
        self._media_write_timeout = media_write_timeout
        # Both are bound to the running event loop, so they are created on first use.
        self._session: aiohttp.ClientSession | None = None
        self._pool_slots: asyncio.Semaphore | None = None
        self._is_shut_down = False

    @staticmethod
    def parse_json_payload(payload: bytes) -> JSONDict:
        """See :meth:`BaseRequest.parse_json_payload`: orjson parses a reply ~3 times faster than json.loads; what
        it refuses (bytes that are not UTF-8, or not JSON) goes to PTB's own parser, which replaces undecodable
        bytes and raises PTB's error for the rest."""
        try:
            return orjson.loads(payload)
        except orjson.JSONDecodeError:
            return BaseRequest.parse_json_payload(payload)

    @property
    def read_timeout(self) -> float | None:
        """See :attr:`BaseRequest.read_timeout`."""
        return self._read_timeout

    async def initialize(self) -> None:
        """See :meth:`BaseRequest.initialize`. Opens the session, also after a shutdown."""
        self._is_shut_down = False
        self._open_session()

    async def shutdown(self) -> None:
        """See :meth:`BaseRequest.shutdown`. Closes the session; calling it again is a no-op."""
        self._is_shut_down = True
        session, self._session = self._session, None
        self._pool_slots = None
        if session is not None and not session.closed:
            await session.close()

    def _open_session(self) -> tuple[aiohttp.ClientSession, asyncio.Semaphore]:
        # Like HTTPXRequest, requests work before initialize() but not after shutdown():
        # silently reopening would leave a session nobody closes.
        if self._is_shut_down:
            raise RuntimeError("This AiohttpRequest is shut down; call initialize() to reuse it.")
        if self._session is None or self._pool_slots is None:
            connector = aiohttp.TCPConnector(
                limit=self._connection_pool_size,
                limit_per_host=0,
                ttl_dns_cache=_DNS_CACHE_SECONDS,
                keepalive_timeout=_KEEPALIVE_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": self.USER_AGENT},
                # Telegram sets no cookies; skipping the jar saves work on every response.
                cookie_jar=aiohttp.DummyCookieJar(),
            )
            # The semaphore is the pool: with one slot per connection the connector never
            # queues, so aiohttp's connect timeout measures only the connection attempt.
            self._pool_slots = asyncio.Semaphore(self._connection_pool_size)
        return self._session, self._pool_slots

    def _given_or_own(self, read_timeout: ODVInput[float], connect_timeout: ODVInput[float],
                      pool_timeout: ODVInput[float]) -> tuple[float | None, float | None, float | None]:
        """The call's read, connect and pool timeouts, this instance's where the call leaves PTB's default."""
        return (self._read_timeout if isinstance(read_timeout, DefaultValue) else read_timeout,
                self._connect_timeout if isinstance(connect_timeout, DefaultValue) else connect_timeout,
                self._pool_timeout if isinstance(pool_timeout, DefaultValue) else pool_timeout)

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`BaseRequest.do_request`. Returns the status code and the body."""
        session, pool_slots = self._open_session()
        uploads_files = request_data is not None and request_data.contains_files

        read_timeout, connect_timeout, pool_timeout = self._given_or_own(read_timeout, connect_timeout, pool_timeout)
        if isinstance(write_timeout, DefaultValue):
            write_timeout = self._media_write_timeout if uploads_files else self._write_timeout

        body = _encode_body(request_data)
        if body is not None and write_timeout is not None and not _never_blocks(body):
            body = _WriteTimeoutPayload(body, write_timeout)
        timeout = _client_timeout(connect_timeout, read_timeout)

        await _take_pool_slot(pool_slots, pool_timeout)
        try:
            async with session.request(
                method, url, data=body, timeout=timeout, allow_redirects=False
            ) as response:
                return response.status, await response.read()
        except aiohttp.ConnectionTimeoutError as exc:
            raise TimedOut(
                message=f"Connect timeout: no connection to the server within {connect_timeout} s"
            ) from exc
        except aiohttp.SocketTimeoutError as exc:
            raise TimedOut(
                message=f"Read timeout: the server sent nothing for {read_timeout} s"
            ) from exc
        except _WriteTimeoutError as exc:
            raise TimedOut(message=f"Write timeout: {exc}") from exc
        except aiohttp.ClientError as exc:
            # The class name helps when aiohttp's message is empty (e.g. a bare disconnect).
            raise NetworkError(f"aiohttp.{type(exc).__name__}: {exc}") from exc
        finally:
            pool_slots.release()


# --- The replies' path: a lean HTTP/1.1 keep-alive client for small JSON calls ---------------------------------------

# Bodies up to this size are written in one go: the transport buffers them, so no write can wait on the socket.
_LEAN_BODY_BYTES = _NEVER_BLOCKING_BODY_BYTES
# An answer's head larger than this is not a Bot API server's: the connection is dropped.
_MAX_HEAD_BYTES = 64 * 1024


class _BrokenAnswer(Exception):
    """The server's bytes were not an HTTP/1.1 answer this client understands (or the connection ended inside one)."""


@functools.lru_cache(maxsize=64)
def _lean_target(url: str, user_agent: str) -> tuple[tuple[str, str, int], bytes]:
    """(scheme, host, port) and the request's fixed head lines, for each Bot API address (a handful per bot)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) address: {parts.scheme}://{parts.hostname}")
    port = parts.port or (443 if scheme == "https" else 80)
    host = parts.hostname
    host_header = host if parts.port is None else f"{host}:{parts.port}"
    if ":" in host and not host.startswith("["):  # an IPv6 literal keeps its brackets in Host
        host_header = f"[{host}]" if parts.port is None else f"[{host}]:{parts.port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    head = (f"POST {path} HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: {user_agent}\r\n"
            f"Accept: */*\r\nContent-Type: {_JSON_CONTENT_TYPE}\r\n").encode("latin-1")
    return (scheme, host, port), head


class _KeptConnection(asyncio.Protocol):
    """One keep-alive connection to the Bot API: one call at a time, its answer parsed as the bytes arrive."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._buffer = bytearray()
        self._status = 0
        self._head_read = False
        self._length = -1  # the body's Content-Length; -1 while unknown (chunked, or up to the connection's end)
        self._chunked = False
        self._body = bytearray()
        self.keep_alive = True

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():
            self._fail(_BrokenAnswer("bytes arrived with no call waiting"))
            return
        self._buffer += data
        try:
            self._parse()
        except (_BrokenAnswer, ValueError, UnicodeDecodeError) as exc:
            self._fail(exc if isinstance(exc, _BrokenAnswer) else _BrokenAnswer(f"unreadable answer: {exc}"))

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        answer = self._answer
        if answer is None or answer.done():
            return
        if self._head_read and self._length < 0 and not self._chunked:
            answer.set_result((self._status, bytes(self._buffer)))  # a body delimited by the connection's end
        else:
            answer.set_exception(_BrokenAnswer("the server closed the connection before answering in full"))

    # the call

    def send(self, request: bytes, answer: "asyncio.Future[tuple[int, bytes]]") -> None:
        self._answer = answer
        self._buffer.clear()
        self._body.clear()
        self._status, self._head_read, self._length, self._chunked, self.keep_alive = 0, False, -1, False, True
        assert self.transport is not None
        self.transport.write(request)

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _fail(self, exc: Exception) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_exception(exc)
        self.close()

    def _parse(self) -> None:
        buffer = self._buffer
        while not self._head_read:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                if len(buffer) > _MAX_HEAD_BYTES:
                    raise _BrokenAnswer("the answer's head is too long")
                return
            self._read_head(bytes(buffer[:end]).decode("latin-1"))
            del buffer[: end + 4]
        if self._chunked:
            self._read_chunks()
        elif self._length >= 0 and len(buffer) >= self._length:
            if len(buffer) > self._length:
                self.keep_alive = False  # bytes beyond the answer belong to no call: the connection is not reused
            self._finish(bytes(buffer[: self._length]))

    def _read_head(self, head: str) -> None:
        status_line, *lines = head.split("\r\n")
        version, _, rest = status_line.partition(" ")
        if not version.startswith("HTTP/1."):
            raise _BrokenAnswer(f"not an HTTP/1.x answer: {status_line[:40]!r}")
        status = int(rest[:3])
        if 100 <= status < 200:
            return  # an interim answer (100 Continue): the real one follows
        self._status, self._head_read = status, True
        connection = ""
        for line in lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                self._length = int(value)
            elif name == "transfer-encoding":
                self._chunked = "chunked" in value.lower()
            elif name == "connection":
                connection = value.strip().lower()
        self.keep_alive = connection != "close" if version == "HTTP/1.1" else connection == "keep-alive"
        if self._chunked:
            self._length = -1
        elif status in (204, 304):
            self._length = 0
        if self._length < 0 and not self._chunked:
            self.keep_alive = False  # the body ends with the connection

    def _read_chunks(self) -> None:
        buffer = self._buffer
        while True:
            line_end = buffer.find(b"\r\n")
            if line_end < 0:
                return
            size = int(bytes(buffer[:line_end]).split(b";", 1)[0], 16)
            if size == 0:
                if buffer.find(b"\r\n\r\n", line_end) < 0:
                    return  # the trailers' end (no trailers: "0\r\n\r\n") is still to come
                self._finish(bytes(self._body))
                return
            if len(buffer) < line_end + 2 + size + 2:
                return
            self._body += buffer[line_end + 2 : line_end + 2 + size]
            del buffer[: line_end + 2 + size + 2]

    def _finish(self, body: bytes) -> None:
        answer = self._answer
        if answer is not None and not answer.done():
            answer.set_result((self._status, body))


class _KeptConnections:
    """Idle keep-alive connections by origin, oldest first: a call takes the most recently used (the least likely
    to be closed), and each connection given back closes those idle for _KEEPALIVE_SECONDS, so a burst's
    connections do not stay open for ever once the load is back to a few calls at a time."""

    def __init__(self, ssl_context: ssl.SSLContext | None) -> None:
        self._idle: dict[tuple[str, str, int], deque[_KeptConnection]] = {}
        self._ssl_context = ssl_context

    async def call(self, origin: tuple[str, str, int], request: bytes, connect_timeout: float | None,
                   read_timeout: float | None) -> tuple[int, bytes]:
        loop = asyncio.get_running_loop()
        connection = self._take_idle(origin, loop.time())
        if connection is None:
            connection = await self._connect(loop, origin, connect_timeout)
        answer: asyncio.Future[tuple[int, bytes]] = loop.create_future()
        timer = None if read_timeout is None else loop.call_later(read_timeout, self._late, answer, read_timeout)
        answered = False
        try:
            connection.send(request, answer)
            result = await answer
            answered = True
            return result
        finally:
            if timer is not None:
                timer.cancel()
            if answered and connection.keep_alive and not connection.closed:
                now = connection.idle_since = loop.time()
                idle = self._idle.setdefault(origin, deque())
                idle.append(connection)
                while idle[0].closed or now - idle[0].idle_since >= _KEEPALIVE_SECONDS:
                    idle.popleft().close()
            else:  # late, cancelled, broken or closing: whatever arrives next would belong to no call
                connection.close()

    def _take_idle(self, origin: tuple[str, str, int], now: float) -> _KeptConnection | None:
        idle = self._idle.get(origin)
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < _KEEPALIVE_SECONDS:
                return connection
            connection.close()
        return None

    async def _connect(self, loop: asyncio.AbstractEventLoop, origin: tuple[str, str, int],
                       connect_timeout: float | None) -> _KeptConnection:
        scheme, host, port = origin
        secure = scheme == "https"
        if secure and self._ssl_context is None:
            self._ssl_context = ssl.create_default_context()
        try:
            async with asyncio.timeout(connect_timeout):
                _, connection = await loop.create_connection(
                    _KeptConnection, host, port, ssl=self._ssl_context if secure else None,
                    server_hostname=host if secure else None,
                )
        except TimeoutError as exc:
            raise TimedOut(message=f"Connect timeout: no connection to the server within {connect_timeout} s") from exc
        except OSError as exc:
            raise NetworkError(f"could not connect to {host}:{port}: {exc}") from exc
        return connection

    @staticmethod
    def _late(answer: "asyncio.Future[tuple[int, bytes]]", read_timeout: float) -> None:
        if not answer.done():
            answer.set_exception(TimedOut(message=f"Read timeout: the server sent nothing for {read_timeout} s"))

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()


class TelegramRequest(AiohttpRequest):
    """The product's request backend: small JSON calls (the answers to buttons, the screens, every message the bot
    writes) over kept HTTP/1.1 connections with a lean client; uploads, downloads and large bodies through
    aiohttp's session as AiohttpRequest does. aiohttp's client machinery was ~13 % of the bot's CPU under the task
    mix; a call through PTB costs ~120 µs of CPU here against ~260-300 µs on aiohttp (docs/performance.md).

    Its errors are AiohttpRequest's: no connection, a dropped one or an answer that is not HTTP -> NetworkError
    (never retried here: PTB's callers decide, as bot.app._answering does); timeouts -> TimedOut. A connection
    whose call timed out, was cancelled or broke is closed, so a late answer can never be taken for the next one."""

    __slots__ = ("_kept", "_ssl_context")

    def __init__(self, *args, ssl_context: ssl.SSLContext | None = None, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._ssl_context = ssl_context
        self._kept: _KeptConnections | None = None

    async def shutdown(self) -> None:
        kept, self._kept = self._kept, None
        if kept is not None:
            kept.close()
        await super().shutdown()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See :meth:`BaseRequest.do_request`."""
        if method != "POST" or (request_data is not None and request_data.contains_files):
            return await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                            connect_timeout, pool_timeout)
        parameters = request_data.parameters if request_data is not None else None
        body = orjson.dumps(parameters) if parameters else b""
        if len(body) > _LEAN_BODY_BYTES:
            return await super().do_request(url, method, request_data, read_timeout, write_timeout,
                                            connect_timeout, pool_timeout)
        _session, pool_slots = self._open_session()
        if self._kept is None:
            self._kept = _KeptConnections(self._ssl_context)
        read_timeout, connect_timeout, pool_timeout = self._given_or_own(read_timeout, connect_timeout, pool_timeout)
        origin, head = _lean_target(url, self.USER_AGENT)
        request = b"%sContent-Length: %d\r\n\r\n%s" % (head, len(body), body)

        await _take_pool_slot(pool_slots, pool_timeout)
        try:
            return await self._kept.call(origin, request, connect_timeout, read_timeout)
        except _BrokenAnswer as exc:
            raise NetworkError(f"broken answer from the Bot API: {exc}") from exc
        except OSError as exc:  # ssl.SSLError included
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            pool_slots.release()
