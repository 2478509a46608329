"""The bot's HTTP server keeps secrets out of its logs and compares them in constant time."""

from __future__ import annotations

import asyncio
import logging
import socket

import aiohttp
import pytest
from aiohttp.test_utils import make_mocked_request

from bot import runners
from bot.runners import SECRET_HEADER, BotService

API_KEY = "access-log-key-" + "k" * 32
WEBHOOK_SECRET = "webhook-secret-" + "s" * 32


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def port() -> int:
    return _free_port()


@pytest.fixture
def bot_env(port) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return {"QC_OPEN311_API_KEY": API_KEY, "QC_LISTEN": f"127.0.0.1:{port}"}


async def test_the_open311_key_never_reaches_the_access_log(bot, port, caplog):
    caplog.set_level(logging.INFO, logger="aiohttp.access")
    async with aiohttp.ClientSession() as http:
        for path in ("/open311/v2/services.json", "/open311/v2/requests.xml", "/open311/v2/nowhere.json"):
            async with http.get(f"http://127.0.0.1:{port}{path}", params={"api_key": API_KEY, "status": "open"}) as response:
                await response.read()
        async with http.get(f"http://127.0.0.1:{port}/healthz", params={"probe": "1"}) as response:
            assert response.status == 200
    for _ in range(50):  # the line is written once the response is out
        if sum("/healthz" in record.getMessage() for record in caplog.records):
            break
        await asyncio.sleep(0.01)
    lines = [record.getMessage() for record in caplog.records if record.name == "aiohttp.access"]
    assert any("GET /open311/v2/services.json " in line and " 200 " in line for line in lines), lines
    assert any("/healthz?probe=1" in line for line in lines), lines  # other paths keep their query
    assert not any(API_KEY in line or "api_key" in line for line in lines), lines


async def test_the_webhook_secret_is_compared_in_constant_time(monkeypatch, tmp_path):
    from bot.config import load_settings

    settings = load_settings({"QC_DATA_DIR": str(tmp_path), "QC_WEBHOOK_URL": "https://bot.example.org/tg",
                              "QC_WEBHOOK_SECRET": WEBHOOK_SECRET})
    compared: list[tuple[bytes, bytes]] = []
    real = runners.hmac.compare_digest

    def spy(given, expected):  # type: ignore[no-untyped-def]
        compared.append((given, expected))
        return real(given, expected)

    monkeypatch.setattr(runners.hmac, "compare_digest", spy)
    service = BotService(settings, webhook=True)
    for wrong in ("", "s" * 47, WEBHOOK_SECRET[:-1]):
        request = make_mocked_request("POST", "/tg", headers={SECRET_HEADER: wrong} if wrong else {})
        assert (await service._receive_update(request)).status == 403
    assert [expected for _given, expected in compared] == [WEBHOOK_SECRET.encode()] * 3


def test_without_info_on_the_access_logger_aiohttp_neither_times_nor_formats_a_request():
    logger = logging.getLogger("aiohttp.access")
    before = logger.level
    try:
        logger.setLevel(logging.WARNING)
        assert not runners.AccessLogger(logger, "").enabled
        logger.setLevel(logging.INFO)
        assert runners.AccessLogger(logger, "").enabled
    finally:
        logger.setLevel(before)


@pytest.mark.parametrize("body", ['{"update_id": 7, "message": {"text": "Ciao è 🏠"}}',
                                  # orjson refuses an escaped lone surrogate; json takes it
                                  '{"update_id": 7, "message": {"text": "half a pair \\ud83c"}}'])
def test_a_webhook_body_is_read_as_json_would_read_it(body: str):
    import json

    assert runners._parse_update_json(body) == json.loads(body)


@pytest.mark.parametrize("body", ["", "not json", '{"update_id": 7', "\x00"])
def test_a_webhook_body_that_is_not_json_is_a_value_error(body: str):
    with pytest.raises(ValueError):
        runners._parse_update_json(body)
