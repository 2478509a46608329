"""Running the bot as operators do: the real `qcbot run` process, graceful stop, content reloads."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest

from tests.conftest import SAMPLE_CONTENT
from tests.e2e.harness import TOKEN, copy_of_sample_content

ADMIN_ID = 4242


async def test_qcbot_run_serves_then_stops_gracefully_on_sigterm(emulator, tmp_path):
    env = {
        **os.environ,
        "QC_TELEGRAM_TOKEN": TOKEN,
        "QC_TELEGRAM_API_URL": emulator.base_url,
        "QC_TELEGRAM_FILE_URL": emulator.base_file_url,
        "QC_DATA_DIR": str(tmp_path),
        "QC_CONTENT_DIR": str(SAMPLE_CONTENT),
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot.cli", "run", env=env, cwd=Path(__file__).resolve().parents[2],
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        tenant = emulator.add_user(user_id=777, first_name="Anna", language_code="it")
        emulator.send_text(tenant.user_id, "/start")
        await emulator.wait_for(lambda: any(m.from_bot for m in emulator.chat_messages(777)), timeout=30)
        process.send_signal(signal.SIGTERM)
        output, _ = await asyncio.wait_for(process.communicate(), timeout=30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 0, output.decode()[-2000:]
    assert b"Traceback" not in output


@pytest.fixture
def content_dir(tmp_path) -> Path:
    """A copy of the sample content the test can break."""
    return copy_of_sample_content(tmp_path)


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_ADMIN_IDS": str(ADMIN_ID)}


async def test_an_editor_reloads_a_broken_file_and_the_bot_keeps_the_last_good_content(bot, content_dir):
    admin = bot.person("Editor", "it", user_id=ADMIN_ID)
    await admin.send("/start")
    await admin.tap("Ho capito")
    space_file = sorted((content_dir / "spaces").glob("*.yaml"))[0]
    space_file.write_text(space_file.read_text().replace("address:", "adress:", 1))
    await admin.send("/reload")
    assert "error" in admin.screen.text and space_file.name in admin.screen.text
    await admin.tap("Menu")
    await admin.tap("Spazi e servizi")
    assert len(bot.runtime.content.spaces) == 9  # still serving the last good version


async def test_a_tenant_cannot_reload_content(bot):
    tenant = await bot.tenant("Tenant", "it")  # past the privacy notice: before it, only the welcome answers
    await tenant.send("/reload")
    assert "Solo la redazione" in tenant.screen.text


async def test_an_invite_made_on_the_command_line_makes_a_custodian(bot, sqlite_url, content_dir, tmp_path, monkeypatch, capsys):
    from bot.cli import main

    estate = next(iter(bot.runtime.content.estates))
    monkeypatch.setenv("QC_DATABASE_URL", sqlite_url)
    monkeypatch.setenv("QC_CONTENT_DIR", str(content_dir))
    await asyncio.to_thread(main, ["invite", "--role", "custodian", "--estate", estate, "--bot-username", "qc_test_bot"])
    printed = capsys.readouterr().out
    assert "https://t.me/qc_test_bot?start=inv_" in printed
    code = printed.split("start=inv_")[1].split()[0]
    custodian = bot.person("Custode", "it")
    await custodian.send(f"/start inv_{code}")
    assert "Custode" in custodian.screen.text
    second = bot.person("Other", "it")
    await second.send(f"/start inv_{code}")
    assert "già stato usato" in second.screen.text
