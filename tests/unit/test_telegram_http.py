"""AiohttpRequest and TelegramRequest (the product's: small JSON calls over its own kept connections) against small
Bot API stand-ins served on 127.0.0.1."""

import asyncio
import datetime as dtm
import gc
import io
import logging
import socket
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup, InputFile, Update
from telegram.error import NetworkError, RetryAfter, TimedOut
from telegram.ext import ApplicationBuilder, ContextTypes, MessageHandler, filters
from telegram.request import HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from tests.bench.bare import build_bare_app
from bot.telegram_http import AiohttpRequest, TelegramRequest

TOKEN = "123456:TEST-token"
BOT_USER = {"id": 123456, "is_bot": True, "first_name": "Quartieri", "username": "qc_test_bot"}
CHAT = {"id": 42, "type": "private", "first_name": "Rosa"}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Backend = type[AiohttpRequest]
# What both backends must do alike; TelegramRequest's own path is in tests/unit/test_telegram_request.py.
both_backends = pytest.mark.parametrize("backend", [AiohttpRequest, TelegramRequest], ids=["aiohttp", "lean"])


def ok(result: object) -> web.Response:
    return web.json_response({"ok": True, "result": result})


def message(text: str, message_id: int = 1) -> dict[str, object]:
    return {"message_id": message_id, "date": 1_700_000_000, "chat": CHAT, "text": text}


async def get_me(_request: web.Request) -> web.Response:
    return ok(BOT_USER)


async def json_body(request: web.Request) -> dict[str, object]:
    """The call's parameters; calls without files must come as one JSON object."""
    assert request.content_type == "application/json"
    body = await request.json()
    assert isinstance(body, dict)
    return body


@asynccontextmanager
async def bot_api(**methods: Handler) -> AsyncIterator[str]:
    """Serves the given Bot API methods; yields the server's root URL."""
    app = web.Application()
    for name, handler in methods.items():
        app.router.add_route("*", f"/bot{TOKEN}/{name}", handler)
    async with serving(app) as root_url:
        yield root_url


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    server = TestServer(app, host="127.0.0.1")
    await server.start_server(shutdown_timeout=1.0)
    try:
        yield str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


@asynccontextmanager
async def raw_server(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
) -> AsyncIterator[str]:
    """A plain TCP server for misbehaviour aiohttp's web server would not produce."""
    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.close()
        await server.wait_closed()


def make_bot(root_url: str, request: AiohttpRequest | None = None, backend: Backend = AiohttpRequest) -> Bot:
    return Bot(
        TOKEN,
        base_url=f"{root_url}/bot",
        base_file_url=f"{root_url}/file/bot",
        request=request or backend(),
        get_updates_request=backend(connection_pool_size=1),
    )


@both_backends
async def test_json_calls_round_trip_through_a_real_bot(backend: Backend) -> None:
    seen: dict[str, object] = {}

    async def send_message(request: web.Request) -> web.Response:
        body = await json_body(request)
        seen.update(body)
        seen["user_agent"] = request.headers["User-Agent"]
        return ok(message(str(body["text"])))

    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Sì", callback_data="yes")]])
    async with bot_api(getMe=get_me, sendMessage=send_message) as root_url:
        async with make_bot(root_url, backend=backend) as bot:
            assert bot.username == "qc_test_bot"
            sent = await bot.send_message(42, "Prenotazione confermata è", reply_markup=keyboard)

    assert sent.text == "Prenotazione confermata è"
    assert seen["chat_id"] == 42
    assert seen["text"] == "Prenotazione confermata è"
    # Nested values are JSON objects in the body, not JSON strings.
    assert seen["reply_markup"] == {"inline_keyboard": [[{"text": "Sì", "callback_data": "yes"}]]}
    assert str(seen["user_agent"]).startswith("python-telegram-bot")


@both_backends
async def test_photo_upload_sends_bytes_filename_and_mimetype_as_multipart(backend: Backend) -> None:
    # Larger than one write chunk, so the upload is split and each part is timed.
    photo = bytes(range(256)) * 1200
    seen: dict[str, object] = {}

    async def send_photo(request: web.Request) -> web.Response:
        form = await request.post()
        upload = form["photo"]
        assert isinstance(upload, web.FileField)
        seen.update(
            filename=upload.filename,
            content_type=upload.content_type,
            data=upload.file.read(),
            caption=form["caption"],
            chat_id=form["chat_id"],
        )
        photo_size = {"file_id": "p1", "file_unique_id": "u1", "width": 1, "height": 1}
        return ok({**message(""), "photo": [photo_size]})

    async with bot_api(getMe=get_me, sendPhoto=send_photo) as root_url:
        async with make_bot(root_url, backend=backend) as bot:
            sent = await bot.send_photo(
                42, io.BytesIO(photo), filename="guasto ascensore è.jpg", caption="Scala B"
            )

    assert sent.photo[0].file_id == "p1"
    assert seen == {
        "filename": "guasto ascensore è.jpg",
        "content_type": "image/jpeg",
        "data": photo,
        "caption": "Scala B",
        "chat_id": "42",
    }


@both_backends
async def test_file_download_uses_get_on_the_file_url(backend: Backend) -> None:
    content = b"\x89PNG fake image bytes"
    seen_methods: list[str] = []

    async def get_file(_request: web.Request) -> web.Response:
        return ok({"file_id": "f1", "file_unique_id": "u1", "file_path": "photos/file_7.png"})

    async def serve_file(request: web.Request) -> web.Response:
        seen_methods.append(request.method)
        return web.Response(body=content, content_type="image/png")

    app = web.Application()
    app.router.add_route("*", f"/bot{TOKEN}/getMe", get_me)
    app.router.add_route("*", f"/bot{TOKEN}/getFile", get_file)
    app.router.add_route("*", f"/file/bot{TOKEN}/photos/file_7.png", serve_file)
    async with serving(app) as root_url:
        async with make_bot(root_url, backend=backend) as bot:
            telegram_file = await bot.get_file("f1")
            downloaded = io.BytesIO()
            await telegram_file.download_to_memory(downloaded)

    assert downloaded.getvalue() == content
    assert seen_methods == ["GET"]


@both_backends
async def test_429_raises_retry_after_with_the_servers_delay(
    monkeypatch: pytest.MonkeyPatch, backend: Backend,
) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "true")

    async def flood(_request: web.Request) -> web.Response:
        body = {
            "ok": False,
            "error_code": 429,
            "description": "Too Many Requests: retry after 7",
            "parameters": {"retry_after": 7},
        }
        return web.json_response(body, status=429)

    async with bot_api(getMe=get_me, sendMessage=flood) as root_url:
        async with make_bot(root_url, backend=backend) as bot:
            with pytest.raises(RetryAfter) as raised:
                await bot.send_message(42, "ciao")

    assert raised.value.retry_after == dtm.timedelta(seconds=7)


@both_backends
async def test_502_raises_network_error_bad_gateway(backend: Backend) -> None:
    async def bad_gateway(_request: web.Request) -> web.Response:
        return web.Response(status=502, text="<html>502 Bad Gateway</html>")

    async with bot_api(getMe=get_me, sendMessage=bad_gateway) as root_url:
        async with make_bot(root_url, backend=backend) as bot:
            with pytest.raises(NetworkError, match="Bad Gateway"):
                await bot.send_message(42, "ciao")


@both_backends
async def test_silent_server_raises_read_timeout_using_the_per_call_timeout(backend: Backend) -> None:
    release = asyncio.Event()

    async def never_answers(_request: web.Request) -> web.Response:
        await release.wait()
        return ok(True)

    async with bot_api(getMe=get_me, sendMessage=never_answers) as root_url:
        # The instance default (5 s) is overridden by the call's read_timeout.
        async with make_bot(root_url, backend(read_timeout=5.0)) as bot:
            try:
                with pytest.raises(TimedOut, match="Read timeout"):
                    await bot.send_message(42, "ciao", read_timeout=0.2)
            finally:
                release.set()


async def close_after_request_head(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.close()


async def close_mid_body(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    await reader.readuntil(b"\r\n\r\n")
    writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok": true')
    await writer.drain()
    writer.close()


@pytest.mark.parametrize(
    ("handle", "backend", "error_name"),
    [
        (close_after_request_head, AiohttpRequest, "ServerDisconnectedError"),
        (close_mid_body, AiohttpRequest, "ClientPayloadError"),
        (close_after_request_head, TelegramRequest, "closed the connection before answering"),
        (close_mid_body, TelegramRequest, "closed the connection before answering"),
    ],
)
async def test_dropped_connection_raises_network_error(
    handle: Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]],
    backend: Backend,
    error_name: str,
) -> None:
    async with raw_server(handle) as root_url, backend() as request:
        with pytest.raises(NetworkError, match=error_name):
            await request.post(f"{root_url}/bot{TOKEN}/getMe")


@pytest.mark.parametrize(("backend", "error_name"), [(AiohttpRequest, "ClientConnectorError"),
                                                      (TelegramRequest, "could not connect")])
async def test_refused_connection_raises_network_error(backend: Backend, error_name: str) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    async with backend() as request:
        with pytest.raises(NetworkError, match=error_name):
            await request.post(f"http://127.0.0.1:{closed_port}/bot{TOKEN}/getMe")


@both_backends
async def test_exhausted_pool_raises_pool_timeout_without_sending(backend: Backend) -> None:
    entered = asyncio.Event()
    release = asyncio.Event()
    calls = 0

    async def slow(_request: web.Request) -> web.Response:
        nonlocal calls
        calls += 1
        entered.set()
        await release.wait()
        return ok(True)

    async with bot_api(sendMessage=slow) as root_url:
        async with backend(connection_pool_size=1, pool_timeout=0.1) as request:
            url = f"{root_url}/bot{TOKEN}/sendMessage"
            first = asyncio.create_task(request.post(url))
            await entered.wait()
            with pytest.raises(TimedOut, match="Pool timeout"):
                await request.post(url)
            release.set()
            assert await first is True

    assert calls == 1


async def test_stalled_upload_raises_write_timeout_using_the_media_timeout() -> None:
    release = asyncio.Event()

    async def never_reads(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # Not reading lets the socket buffers fill up, so the client's writes stall.
        await release.wait()
        writer.close()

    # Far more than loopback socket buffers hold.
    big_photo = InputFile(b"\0" * (32 * 1024 * 1024), filename="big.jpg")
    photo = RequestParameter.from_input("photo", big_photo)
    async with raw_server(never_reads) as root_url:
        async with AiohttpRequest(write_timeout=None, media_write_timeout=0.2) as request:
            try:
                with pytest.raises(TimedOut, match="Write timeout"):
                    await request.post(f"{root_url}/bot{TOKEN}/sendPhoto", RequestData([photo]))
            finally:
                release.set()


@both_backends
async def test_long_poll_read_timeout_includes_the_poll_timeout(backend: Backend) -> None:
    seen_timeouts: list[str] = []

    async def get_updates(request: web.Request) -> web.Response:
        seen_timeouts.append(str((await json_body(request))["timeout"]))
        # Longer than the request's read timeout, shorter than read timeout + poll timeout.
        await asyncio.sleep(0.75)
        return ok([])

    async with bot_api(getMe=get_me, getUpdates=get_updates) as root_url:
        bot = Bot(
            TOKEN,
            base_url=f"{root_url}/bot",
            request=backend(),
            get_updates_request=backend(connection_pool_size=1, read_timeout=0.25),
        )
        async with bot:
            assert await bot.get_updates(timeout=2) == ()

    assert seen_timeouts == ["2"]


@both_backends
async def test_shutdown_closes_the_session_and_initialize_reopens_it(backend: Backend) -> None:
    async with bot_api(getMe=get_me) as root_url:
        url = f"{root_url}/bot{TOKEN}/getMe"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            request = backend()
            await request.initialize()
            assert await request.post(url) == BOT_USER
            await request.shutdown()
            await request.shutdown()
            with pytest.raises(RuntimeError, match="shut down"):
                await request.do_request(url, "POST")
            await request.initialize()
            assert await request.post(url) == BOT_USER
            await request.shutdown()
            del request
            gc.collect()

    unclosed = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []


@both_backends
async def test_application_lifecycle_with_separate_polling_request(
    caplog: pytest.LogCaptureFixture, backend: Backend,
) -> None:
    replied = asyncio.Event()
    updates = [{"update_id": 1, "message": message("ciao")}]

    async def delete_webhook(_request: web.Request) -> web.Response:
        return ok(True)

    async def get_updates(request: web.Request) -> web.Response:
        body = await json_body(request) if request.can_read_body else {}
        offset = int(str(body.get("offset", "0")))
        pending = [update for update in updates if update["update_id"] >= offset]
        if pending or str(body.get("timeout", "0")) == "0":
            return ok(pending)
        await asyncio.sleep(float(str(body["timeout"])))
        return ok([])

    async def send_message(request: web.Request) -> web.Response:
        replied.set()
        return ok(message(str((await json_body(request))["text"]), message_id=2))

    async def echo(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("ricevuto")

    methods = {"getMe": get_me, "deleteWebhook": delete_webhook, "getUpdates": get_updates}
    async with bot_api(**methods, sendMessage=send_message) as root_url:
        app = (
            ApplicationBuilder()
            .token(TOKEN)
            .base_url(f"{root_url}/bot")
            .request(backend())
            .get_updates_request(backend(connection_pool_size=1))
            .build()
        )
        app.add_handler(MessageHandler(filters.TEXT, echo))
        with caplog.at_level(logging.WARNING):
            await app.initialize()
            assert app.updater is not None
            await app.updater.start_polling(poll_interval=0, timeout=10)
            await app.start()
            await replied.wait()
            await app.updater.stop()
            await app.stop()
            await app.shutdown()

    assert [record.getMessage() for record in caplog.records] == []


def test_bare_benchmark_bots_build_with_both_backends() -> None:
    root_url = "http://127.0.0.1:9"
    aiohttp_app = build_bare_app(f"{root_url}/bot", f"{root_url}/file/bot", TOKEN, "aiohttp")
    httpx_app = build_bare_app(f"{root_url}/bot", f"{root_url}/file/bot", TOKEN, "httpx")

    assert isinstance(aiohttp_app.bot.request, AiohttpRequest)
    assert isinstance(httpx_app.bot.request, HTTPXRequest)
    assert len(aiohttp_app.handlers[0]) == len(httpx_app.handlers[0]) == 2
