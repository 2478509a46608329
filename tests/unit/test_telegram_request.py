"""TelegramRequest's own path: small JSON calls over kept HTTP/1.1 connections, parsed by hand. What it must do like
AiohttpRequest (errors, timeouts, the pool) is in tests/unit/test_telegram_http.py, run on both backends."""

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram.error import NetworkError, TimedOut
from telegram.request import RequestData
from telegram.request._requestparameter import RequestParameter

from bot.telegram_http import AiohttpRequest, TelegramRequest

TOKEN = "123456:TEST-token"
Exchange = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def ok_bytes(result: str, *, head: str = "") -> bytes:
    body = f'{{"ok":true,"result":"{result}"}}'.encode()
    return b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n%sContent-Length: %d\r\n\r\n%s" % (
        head.encode(), len(body), body)


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """One request's body (the client always sends Content-Length)."""
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    return await reader.readexactly(length)


@asynccontextmanager
async def raw_server(exchange: Exchange) -> AsyncIterator[tuple[str, list[int]]]:
    """A plain TCP server: each connection handled by `exchange`; yields the root URL and the connections' count."""
    connections: list[int] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(len(connections) + 1)
        try:
            await exchange(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    try:
        yield f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}", connections
    finally:
        server.close()
        await server.wait_closed()


def answering(*answers: bytes, close_after: bool = False) -> Exchange:
    """Answers the connection's requests in turn with the given bytes."""

    async def exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        for answer in answers:
            await read_request(reader)
            writer.write(answer)
            await writer.drain()
        if not close_after:
            await reader.read()  # keep the connection until the client drops it

    return exchange


def call(request: TelegramRequest, root_url: str, method: str = "getMe", **parameters: object) -> Awaitable[object]:
    data = RequestData([RequestParameter.from_input(k, v) for k, v in parameters.items()]) if parameters else None
    return request.post(f"{root_url}/bot{TOKEN}/{method}", data)


async def test_calls_reuse_one_kept_connection() -> None:
    seen: list[dict[str, object]] = []

    async def echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            seen.append(__import__("json").loads(await read_request(reader)))
            writer.write(ok_bytes(str(len(seen))))

    async with raw_server(echo) as (root_url, connections), TelegramRequest() as request:
        results = [await call(request, root_url, "sendMessage", chat_id=42, text=f"è {n}") for n in range(5)]

    assert results == ["1", "2", "3", "4", "5"]
    assert [body["text"] for body in seen] == [f"è {n}" for n in range(5)]
    assert len(connections) == 1


async def test_concurrent_calls_open_connections_and_keep_them() -> None:
    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(ok_bytes("ok"))

    async with raw_server(slow_echo) as (root_url, connections), TelegramRequest() as request:
        assert await asyncio.gather(*(call(request, root_url) for _ in range(4))) == ["ok"] * 4
        assert await asyncio.gather(*(call(request, root_url) for _ in range(4))) == ["ok"] * 4

    assert len(connections) == 4


@pytest.mark.parametrize("answer", [
    ok_bytes("first", head="Connection: close\r\n"),
    # HTTP/1.0 without keep-alive, the body delimited by the connection's end
    b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"ok":true,"result":"first"}',
])
async def test_an_answer_that_closes_the_connection_is_read_and_the_next_call_connects_again(answer: bytes) -> None:
    async with raw_server(answering(answer, close_after=True)) as (root_url, connections), TelegramRequest() as request:
        assert await call(request, root_url) == "first"
        assert await call(request, root_url) == "first"

    assert len(connections) == 2


async def test_a_connection_the_server_closed_while_idle_is_not_used_again() -> None:
    async with raw_server(answering(ok_bytes("answer"), close_after=True)) as (root_url, connections):
        async with TelegramRequest() as request:
            assert await call(request, root_url) == "answer"
            await asyncio.sleep(0.05)  # the server's FIN arrives
            assert await call(request, root_url) == "answer"

    assert len(connections) == 2


async def test_chunked_and_interim_answers_are_read() -> None:
    chunked = (b"HTTP/1.1 100 Continue\r\n\r\n"
               b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Type: application/json\r\n\r\n"
               b'5;ext=1\r\n{"ok"\r\n17\r\n:true,"result":"chunk"}\r\n0\r\nX-Trailer: 1\r\n\r\n')
    async with raw_server(answering(chunked, ok_bytes("next"))) as (root_url, connections), TelegramRequest() as request:
        assert await call(request, root_url) == "chunk"
        assert await call(request, root_url) == "next"

    assert len(connections) == 1


async def test_answers_arriving_byte_by_byte_are_read() -> None:
    async def dribble(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        for byte in ok_bytes("slowly"):
            writer.write(bytes([byte]))
            await writer.drain()
        await reader.read()

    async with raw_server(dribble) as (root_url, _), TelegramRequest() as request:
        assert await call(request, root_url) == "slowly"


@pytest.mark.parametrize("stop", ["timeout", "cancel"])
async def test_a_late_answer_never_becomes_the_next_calls_answer(stop: str) -> None:
    async def late_then_prompt(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        if len(connections) == 1:  # the first connection answers too late, then would answer the next call
            await asyncio.sleep(0.3)
            writer.write(ok_bytes("late"))
            await read_request(reader)
        writer.write(ok_bytes("prompt"))
        await reader.read()

    async with raw_server(late_then_prompt) as (root_url, connections), TelegramRequest() as request:
        if stop == "timeout":
            with pytest.raises(TimedOut, match="Read timeout"):
                await request.post(f"{root_url}/bot{TOKEN}/getMe", read_timeout=0.1)
        else:
            first = asyncio.create_task(call(request, root_url))
            await asyncio.sleep(0.1)
            first.cancel()
            with pytest.raises(asyncio.CancelledError):
                await first
        await asyncio.sleep(0.3)  # the late answer arrives on the dropped connection, or nowhere
        assert await call(request, root_url) == "prompt"

    assert len(connections) == 2


async def test_bytes_beyond_the_answer_drop_the_connection() -> None:
    async def garbage_then_clean(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        writer.write(ok_bytes("one") + b"garbage" if len(connections) == 1 else ok_bytes("two"))
        await reader.read()

    async with raw_server(garbage_then_clean) as (root_url, connections), TelegramRequest() as request:
        assert await call(request, root_url) == "one"
        assert await call(request, root_url) == "two"

    assert len(connections) == 2


@pytest.mark.parametrize("answer", [b"SMTP ready\r\n\r\n", b"HTTP/1.1 abc OK\r\n\r\n", b"HTTP/1.1 200 OK\r\n" + b"x" * 70_000])
async def test_an_answer_that_is_not_http_raises_network_error(answer: bytes) -> None:
    async with raw_server(answering(answer)) as (root_url, _), TelegramRequest() as request:
        with pytest.raises(NetworkError, match="broken answer"):
            await call(request, root_url)


async def test_uploads_large_bodies_and_downloads_go_through_aiohttp(monkeypatch: pytest.MonkeyPatch) -> None:
    through_aiohttp: list[str] = []
    aiohttp_request = AiohttpRequest.do_request

    async def spy(self, url, method, *args, **kwargs):  # type: ignore[no-untyped-def]
        through_aiohttp.append(url.rsplit("/", 1)[1])
        return await aiohttp_request(self, url, method, *args, **kwargs)

    monkeypatch.setattr(AiohttpRequest, "do_request", spy)

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "result": request.match_info["method"]})

    app = web.Application()
    app.router.add_route("*", "/bot{token}/{method}", answer)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    root_url = str(server.make_url("")).rstrip("/")
    try:
        async with TelegramRequest() as request:
            assert await call(request, root_url, "sendMessage", chat_id=1, text="short") == "sendMessage"
            assert await call(request, root_url, "editMessageText", chat_id=1, text="x" * 40_000) == "editMessageText"
            photo = RequestParameter.from_input("photo", __import__("telegram").InputFile(b"\xff\xd8", filename="a.jpg"))
            assert await request.post(f"{root_url}/bot{TOKEN}/sendPhoto", RequestData([photo])) == "sendPhoto"
            status, _ = await request.do_request(f"{root_url}/bot{TOKEN}/getFile", "GET")
            assert status == 200
    finally:
        await server.close()

    assert through_aiohttp == ["editMessageText", "sendPhoto", "getFile"]


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made by the openssl command (Debian's; nothing is downloaded)."""
    if shutil.which("openssl") is None:
        pytest.skip("openssl not installed: apt-get install openssl (.ci/run does)")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


async def test_https_with_the_servers_certificate_checked(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(cert, key)

    async def answer(request: web.Request) -> web.Response:
        await request.read()
        return web.json_response({"ok": True, "result": "secure"})

    app = web.Application()
    app.router.add_route("POST", "/bot{token}/{method}", answer)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, ssl_context=server_context)
    await site.start()
    port = runner.addresses[0][1]
    try:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with TelegramRequest(ssl_context=trusting) as request:
            assert await call(request, f"https://127.0.0.1:{port}") == "secure"
            assert await call(request, f"https://127.0.0.1:{port}") == "secure"
        async with TelegramRequest() as request:  # the system's authorities do not know this certificate
            with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
                await call(request, f"https://127.0.0.1:{port}")
    finally:
        await runner.cleanup()


async def test_connections_idle_past_the_keepalive_are_closed_when_one_is_given_back(monkeypatch: pytest.MonkeyPatch) -> None:
    from bot import telegram_http

    monkeypatch.setattr(telegram_http, "_KEEPALIVE_SECONDS", 2.0)
    closed_by_client: list[int] = []

    async def slow_echo(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        number = len(connections)
        try:
            while True:
                await read_request(reader)
                await asyncio.sleep(0.02)
                writer.write(ok_bytes("ok"))
        except asyncio.IncompleteReadError:
            closed_by_client.append(number)  # the client dropped this connection

    async with raw_server(slow_echo) as (root_url, connections), TelegramRequest() as request:
        assert await asyncio.gather(*(call(request, root_url) for _ in range(4))) == ["ok"] * 4  # a burst: 4 kept
        for _ in range(2):  # then one call at a time, each taking the newest connection (the others only age)
            await asyncio.sleep(1.2)
            assert await call(request, root_url) == "ok"
        await asyncio.sleep(0.05)
        # The second one given back found the other three idle 2.4 s (> 2): closed; the one in use stays.
        assert len(closed_by_client) == 3 and len(connections) == 4
