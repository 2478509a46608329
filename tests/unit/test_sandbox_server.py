"""The sandbox server over real HTTP on a free port: page, personas and their roles, estates, reload, the CLI."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import select

from bot.emulator.sandbox.cli import add_sandbox_command
from bot.emulator.sandbox.server import ADMIN_PERSONA, PERSONAS, Sandbox, SandboxError
from storage.domain import users
from storage.models import Invite
from tests.conftest import SAMPLE_CONTENT

PERSONA = {persona.key: persona for persona in PERSONAS}
PROBLEM_LINE = re.compile(r"^(\S+/)?estates\.yaml:\d+: \S+: .+ \(.+\)$")  # file:line: field: message (hint)


@pytest.fixture
def content_dir(tmp_path: Path) -> Path:
    folder = tmp_path / "content"
    shutil.copytree(SAMPLE_CONTENT, folder)
    return folder


@pytest.fixture
async def sandbox(tmp_path: Path, content_dir: Path) -> AsyncIterator[Sandbox]:
    running = Sandbox(tmp_path / "data", content_dir, port=0)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


async def get_json(http: aiohttp.ClientSession, url: str):  # type: ignore[no-untyped-def]
    async with http.get(url) as response:
        assert response.status == 200, await response.text()
        return await response.json()


async def test_the_page_and_its_files_are_served(sandbox: Sandbox, http: aiohttp.ClientSession):
    async with http.get(sandbox.url) as response:
        assert response.status == 200
        assert '<script src="/static/app.js">' in await response.text()
    for name, kind in (("app.js", "javascript"), ("app.css", "text/css")):
        async with http.get(f"{sandbox.url}static/{name}") as response:
            assert response.status == 200 and kind in response.content_type


async def test_personas_list_tenants_in_several_languages_and_the_staff(sandbox: Sandbox, http: aiohttp.ClientSession):
    personas = await get_json(http, f"{sandbox.url}sandbox/personas")
    assert {persona["language"] for persona in personas if persona["role"] is None} >= {"it", "ar", "zh", "es", "en"}
    by_role = {persona["role"]: persona for persona in personas}
    first_estate = next(iter(sandbox.runtime.content.estates.values()))
    assert by_role["custodian"]["scope"] == first_estate.name
    assert {"custodian", "operator", "editor", "admin"} <= set(by_role)


async def test_staff_roles_come_from_redeemed_invites_and_the_admin_from_configuration(sandbox: Sandbox):
    rt = sandbox.runtime
    estate = next(iter(rt.content.estates.values()))
    async with rt.db.read() as session:
        invites = (await session.scalars(select(Invite))).all()
        roles = {persona.key: await users.load_roles(session, persona.user_id, rt.settings.admin_ids) for persona in PERSONAS}
    assert sorted((invite.role, invite.used_by) for invite in invites) == sorted(
        (persona.role, persona.user_id) for persona in PERSONAS if persona.role not in (None, "admin")
    )
    assert roles["carla"].custodian_of == {estate.id}
    assert roles["paolo"].operator_of == {estate.space_id}
    assert roles["elena"].is_editor and not roles["elena"].is_admin
    assert roles[ADMIN_PERSONA.key].is_admin and rt.settings.admin_ids == {ADMIN_PERSONA.user_id}
    assert not roles["giuseppe"].is_staff
    carla_chat = sandbox.emulator.chat_messages(PERSONA["carla"].user_id)
    assert carla_chat[0].text.startswith("/start inv_") and "Custode" in carla_chat[-1].text


async def test_a_restart_on_the_same_data_keeps_the_roles_without_new_invites(tmp_path: Path, content_dir: Path):
    for _run in range(2):
        sandbox = Sandbox(tmp_path / "data", content_dir, port=0)
        await sandbox.start()
        try:
            async with sandbox.runtime.db.read() as session:
                invites = (await session.scalars(select(Invite))).all()
            first_message = sandbox.emulator.chat_messages(PERSONA["carla"].user_id)[0].text
        finally:
            await sandbox.stop()
    assert len(invites) == 3
    assert first_message == "/start"  # the second time the custodian simply opens the chat


async def test_the_emulator_and_its_live_events_are_on_the_same_server(sandbox: Sandbox, http: aiohttp.ClientSession):
    giuseppe = PERSONA["giuseppe"].user_id
    async with http.get(f"{sandbox.url}_emu/events") as stream:
        async with http.post(f"{sandbox.url}_emu/send", json={"user_id": giuseppe, "type": "text", "text": "/start"}) as sent:
            assert sent.status == 200
        kinds = []
        async for line in stream.content:
            if line.startswith(b"data: "):
                event = json.loads(line[len(b"data: "):])
                if event.get("message", {}).get("chat_id") != giuseppe:
                    continue  # another chat's: the staff personas' invite alerts to the admin may still be arriving
                kinds.append((event["type"], event.get("message", {}).get("from_bot")))
                if kinds[-1] == ("message", True):
                    break
    assert kinds[0] == ("message", False)
    chat = await get_json(http, f"{sandbox.url}_emu/chats/{giuseppe}")
    assert "Privacy" in chat["result"]["messages"][-1]["text"]


async def test_estates_for_the_location_picker(sandbox: Sandbox, http: aiohttp.ClientSession):
    estates = await get_json(http, f"{sandbox.url}sandbox/estates")
    content = sandbox.runtime.content
    assert [estate["id"] for estate in estates] == list(content.estates)
    first = content.estates[estates[0]["id"]]
    assert estates[0] == {
        "id": first.id, "name": first.name, "address": first.address, "latitude": first.lat, "longitude": first.lon,
    }


async def test_reload_lists_the_problems_and_keeps_the_last_good_content(
    sandbox: Sandbox, http: aiohttp.ClientSession, content_dir: Path
):
    estates = content_dir / "estates.yaml"
    original = estates.read_text(encoding="utf-8")
    version = sandbox.runtime.content.version
    estates.write_text(original.replace("lat: 45.", "lat: 95.", 1), encoding="utf-8")
    async with http.post(f"{sandbox.url}sandbox/reload", json={}) as response:
        broken = await response.json()
    assert not broken["ok"] and broken["version"] == version
    assert broken["problems"] and all(PROBLEM_LINE.match(problem) for problem in broken["problems"]), broken["problems"]

    estates.write_text(original.replace("Quartiere Omero", "Quartiere Omero (bozza)"), encoding="utf-8")
    async with http.post(f"{sandbox.url}sandbox/reload", json={}) as response:
        mended = await response.json()
    assert mended["ok"] and mended["problems"] == [] and mended["version"] != version
    assert mended["estates"] == len(sandbox.runtime.content.estates)
    assert "Quartiere Omero (bozza)" in [estate.name for estate in sandbox.runtime.content.estates.values()]


async def test_a_busy_port_is_named_with_what_to_do(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError, match=f"127.0.0.1:{port}.*--port"):
            await Sandbox(tmp_path / "data", SAMPLE_CONTENT, port=port).start()


def sandbox_args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="qcbot")
    add_sandbox_command(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(["sandbox", *argv])


def test_the_command_binds_loopback_on_8080_by_default():
    args = sandbox_args()
    assert (args.host, args.port, args.data) == ("127.0.0.1", 8080, None)
    assert args.content == SAMPLE_CONTENT


def test_the_command_refuses_a_missing_content_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    args = sandbox_args("--content", str(tmp_path / "nowhere"))
    with pytest.raises(SystemExit) as exit_info:
        args.func(args)
    assert exit_info.value.code == 2
    assert "--content" in capsys.readouterr().err


def test_the_command_lists_content_problems_before_starting(content_dir: Path, capsys: pytest.CaptureFixture[str]):
    estates = content_dir / "estates.yaml"
    estates.write_text(estates.read_text(encoding="utf-8").replace("lat: 45.", "lat: 95.", 1), encoding="utf-8")
    args = sandbox_args("--content", str(content_dir))
    with pytest.raises(SystemExit) as exit_info:
        args.func(args)
    assert exit_info.value.code == 2
    assert re.search(r"estates\.yaml:\d+: ", capsys.readouterr().err)


async def test_a_web_page_elsewhere_cannot_drive_the_control_api(sandbox: Sandbox, http: aiohttp.ClientSession):
    giuseppe = PERSONA["giuseppe"].user_id
    before = len(sandbox.emulator.chat_messages(giuseppe))
    message = json.dumps({"user_id": giuseppe, "type": "text", "text": "/start"})
    own = f"127.0.0.1:{sandbox.port}"
    refused = [
        ({"Content-Type": "text/plain"}, 415),  # a cross-site "simple" POST
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415),
        ({"Content-Type": "application/json", "Origin": "https://evil.example"}, 403),
        ({"Content-Type": "application/json", "Host": "evil.example"}, 403),  # DNS rebinding: the name is not ours
        ({"Content-Type": "application/json", "Host": f"evil.example:{sandbox.port}"}, 403),
    ]
    for headers, status in refused:
        async with http.post(f"{sandbox.url}_emu/send", data=message, headers=headers) as response:
            assert response.status == status, headers
            assert (await response.json())["ok"] is False
    async with http.get(f"{sandbox.url}sandbox/personas", headers={"Host": "evil.example"}) as response:
        assert response.status == 403
    async with http.post(f"{sandbox.url}sandbox/reload", data="{}", headers={"Content-Type": "text/plain"}) as response:
        assert response.status == 415
    assert len(sandbox.emulator.chat_messages(giuseppe)) == before

    for host in (own, f"localhost:{sandbox.port}"):  # the page itself: same Host and Origin
        headers = {"Content-Type": "application/json", "Host": host, "Origin": f"http://{host}"}
        async with http.post(f"{sandbox.url}_emu/send", data=message, headers=headers) as response:
            assert response.status == 200, await response.text()


async def test_the_sandbox_serves_open311_with_its_demo_key(sandbox: Sandbox, http: aiohttp.ClientSession):
    import xml.etree.ElementTree as ET

    assert len(sandbox.open311_key) >= 32
    async with http.get(f"{sandbox.open311_url}/discovery.xml") as response:
        discovery = ET.fromstring(await response.read())
    assert discovery.findtext("endpoints/endpoint/url") == f"{sandbox.open311_url}/v2"
    async with http.get(f"{sandbox.open311_url}/v2/services.xml", params={"api_key": sandbox.open311_key}) as response:
        assert response.status == 200 and ET.fromstring(await response.read()).find("service/service_code") is not None
    async with http.get(f"{sandbox.open311_url}/v2/requests.json", headers={"X-API-Key": sandbox.open311_key}) as response:
        assert response.status == 200 and await response.json() == []
    async with http.get(f"{sandbox.open311_url}/v2/requests.json", params={"api_key": "x" * 43}) as response:
        assert response.status == 403 and (await response.json())[0]["code"] == 403


def test_the_command_refuses_a_bad_database_url(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setenv("QC_DATABASE_URL", "mysql://nobody@somewhere/db")
    args = sandbox_args()
    with pytest.raises(SystemExit) as exit_info:
        args.func(args)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.startswith("qcbot: QC_DATABASE_URL: 'mysql://nobody@somewhere/db' is not a usable")
