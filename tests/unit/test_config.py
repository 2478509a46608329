import pytest

from bot.config import ConfigError, load_settings

WEBHOOK_SECRET = "s3cret-" + "x" * 32


def test_defaults_need_nothing(tmp_path):
    settings = load_settings({"QC_DATA_DIR": str(tmp_path)})
    assert settings.telegram_token is None
    assert settings.database_url == f"sqlite+aiosqlite:///{tmp_path / 'qcbot.sqlite3'}"
    assert settings.timezone.key == "Europe/Rome"
    assert settings.api_url == "https://api.telegram.org/bot"
    assert not settings.uses_webhook


def test_postgres_url_gets_the_async_driver():
    settings = load_settings({"QC_DATABASE_URL": "postgres://qc:secret@db.example/qc"})
    assert settings.database_url == "postgresql+asyncpg://qc:secret@db.example/qc"


def test_every_bad_value_is_one_line_naming_the_variable():
    with pytest.raises(ConfigError) as caught:
        load_settings(
            {
                "QC_TELEGRAM_TOKEN": "not-a-token",
                "QC_DATABASE_URL": "mysql://x/y",
                "QC_ADMIN_IDS": "12,abc",
                "QC_TIMEZONE": "Mars/Olympus",
                "QC_LISTEN": "nowhere",
                "QC_CONTENT_DIR": "/no/such/folder",
                "QC_WEBHOOK_URL": "ftp://x",
            }
        )
    problems = caught.value.problems
    names = [p.split(":")[0] for p in problems]
    assert names == [
        "QC_TELEGRAM_TOKEN", "QC_DATABASE_URL", "QC_CONTENT_DIR", "QC_ADMIN_IDS", "QC_TIMEZONE",
        "QC_WEBHOOK_URL", "QC_WEBHOOK_SECRET", "QC_LISTEN",
    ]
    assert all("\n" not in p and "(" in p or "required" in p or "must" in p for p in problems)


def test_admins_and_webhook():
    settings = load_settings(
        {
            "QC_TELEGRAM_TOKEN": "123456:ABCdef_ghi-jkl",
            "QC_ADMIN_IDS": "11, 22",
            "QC_WEBHOOK_URL": "https://bot.example.org/tg",
            "QC_WEBHOOK_SECRET": WEBHOOK_SECRET,
            "QC_LISTEN": "0.0.0.0:8443",
        }
    )
    assert settings.admin_ids == {11, 22}
    assert settings.uses_webhook and settings.listen_port == 8443 and settings.listen_explicit


@pytest.mark.parametrize("name", ["QC_WEBHOOK_SECRET", "QC_OPEN311_API_KEY"])
def test_short_secrets_are_refused_with_one_line(name):
    env = {"QC_WEBHOOK_URL": "https://bot.example.org/tg", "QC_WEBHOOK_SECRET": WEBHOOK_SECRET}
    for short in ("x", "a" * 31):
        with pytest.raises(ConfigError) as caught:
            load_settings({**env, name: short})
        assert [p.split(":")[0] for p in caught.value.problems] == [name]
        assert "32" in caught.value.problems[0] and "\n" not in caught.value.problems[0]
    assert getattr(load_settings({**env, name: "a" * 32}), name.removeprefix("QC_").lower()) == "a" * 32


@pytest.mark.parametrize("url, good", [
    ("https://bot.example.org", True), ("https://bot.example.org/qc/", True), ("http://localhost:8080", True),
    ("http://127.0.0.1:8080", True), ("http://bot.example.org", False), ("bot.example.org", False),
    ("https://bot.example.org/?x=1", False), ("ftp://bot.example.org", False),
])
def test_public_base_url_is_absolute_https_or_local_http(url, good):
    if good:
        assert load_settings({"QC_PUBLIC_BASE_URL": url}).public_base_url == url.rstrip("/")
    else:
        with pytest.raises(ConfigError) as caught:
            load_settings({"QC_PUBLIC_BASE_URL": url})
        assert caught.value.problems[0].startswith("QC_PUBLIC_BASE_URL:")


def test_cli_prints_config_errors_and_exits_2(monkeypatch, capsys):
    from bot.cli import main

    monkeypatch.setenv("QC_DATABASE_URL", "nonsense://")
    with pytest.raises(SystemExit) as caught:
        main(["db", "upgrade"])
    assert caught.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("qcbot: QC_DATABASE_URL:") and "Traceback" not in err


def test_a_serving_process_freezes_what_it_built_and_collects_the_young_less_often() -> None:
    # In a child process: tests start many bots in one process and must keep Python's defaults.
    import subprocess
    import sys

    script = ("import gc; from bot.runners import YOUNG_COLLECTION_THRESHOLD, tune_garbage_collector; "
              "tune_garbage_collector(); "
              "print(gc.get_threshold()[0] == YOUNG_COLLECTION_THRESHOLD, gc.get_freeze_count() > 10_000)")
    printed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert printed.split() == ["True", "True"]
