import pytest

from bot.config import ConfigError, load_settings


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
            "QC_WEBHOOK_SECRET": "s3cret",
            "QC_LISTEN": "0.0.0.0:8443",
        }
    )
    assert settings.admin_ids == {11, 22}
    assert settings.uses_webhook and settings.listen_port == 8443 and settings.listen_explicit


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
