"""Settings from the environment, validated once at start.

Every bad value produces one line that names the variable, what is wrong and what to write instead; the CLI
prints them and exits with code 2, never a traceback.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import time
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_URL = "https://api.telegram.org/bot"
DEFAULT_FILE_URL = "https://api.telegram.org/file/bot"
TOKEN_PATTERN = re.compile(r"^\d{3,}:[A-Za-z0-9_-]{5,}$")
SECRET_PATTERN = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
# Secrets anyone on the Internet may try to guess: at least this long (e.g. `openssl rand -hex 32` gives 64).
MIN_SECRET_LENGTH = 32
# Where links the bot hands out (Open311's media_url) point: https, or plain http on this machine for development.
PUBLIC_BASE_URL_PATTERN = re.compile(r"^(https://[^/?#\s]+|http://(localhost|127\.0\.0\.1)(:\d+)?)(/[^?#\s]*)?$")
API_KEY_PATTERN = re.compile(r"^[\x21-\x7e]+$")  # printable ASCII, no spaces: it travels in URLs and headers


@dataclass(frozen=True)
class Retention:
    """How long personal data is kept (the privacy notice quotes these numbers; storage/domain/privacy.py applies them)."""

    drafts_days: int = 7  # unfinished reports, opinions and the prompts waiting for a text
    outbox_days: int = 30  # texts of delivered messages
    tickets_days: int = 365  # personal fields and media of closed tickets, after closing
    bookings_days: int = 365  # bookings and waitlist entries, after the slot
    audit_days: int = 365  # the record of who read or exported personal data
    guides_days: int = 365  # guide progress, "I'm stuck" steps and questions to the operators, after the last change
    timebank_messages_days: int = 90  # messages relayed between members, after the conversation ended (abuse reports)
    timebank_posts_days: int = 180  # the text, availability and photo of a time bank post, after it expired
    timebank_contacts_days: int = 365  # ended or declined conversations that led to no exchange and no report
    timebank_members_days: int = 730  # a removed member's name, estate and languages (the balance stays)
    notices_days: int = 90  # who received which notice or announcement, after it finished going out
    job_interests_days: int = 180  # "I'm interested" in a job offer (the name given to the operators), after it was sent


# With QC_LOG_FILE the log is rotated at midnight and this many days are kept (the privacy notice says so); without
# it the log goes to standard error and journald (or docker) rotates it.
LOG_DAYS_KEPT = 14

# (variable, field, largest value accepted)
RETENTION_VARIABLES = (
    ("QC_RETAIN_DRAFTS_DAYS", "drafts_days", 365),
    ("QC_RETAIN_OUTBOX_DAYS", "outbox_days", 3650),
    ("QC_RETAIN_TICKETS_DAYS", "tickets_days", 3650),
    ("QC_RETAIN_BOOKINGS_DAYS", "bookings_days", 3650),
    ("QC_RETAIN_AUDIT_DAYS", "audit_days", 3650),
    ("QC_RETAIN_GUIDES_DAYS", "guides_days", 3650),
    ("QC_RETAIN_TIMEBANK_MESSAGES_DAYS", "timebank_messages_days", 3650),
    ("QC_RETAIN_TIMEBANK_POSTS_DAYS", "timebank_posts_days", 3650),
    ("QC_RETAIN_TIMEBANK_CONTACTS_DAYS", "timebank_contacts_days", 3650),
    ("QC_RETAIN_TIMEBANK_MEMBERS_DAYS", "timebank_members_days", 3650),
    ("QC_RETAIN_NOTICES_DAYS", "notices_days", 3650),
    ("QC_RETAIN_JOB_INTERESTS_DAYS", "job_interests_days", 3650),
)


# (variable, setting, lowest, highest) of the per-user limits.
LIMIT_VARIABLES = (
    ("QC_DAILY_TICKETS", "daily_tickets", 1, 1000),
    ("QC_DAILY_COMMENTS", "daily_comments", 1, 1000),
    ("QC_DAILY_PHOTOS", "daily_photos", 1, 1000),
    ("QC_DAILY_ME_TOO", "daily_me_too", 1, 1000),
    ("QC_BURST_UPDATES", "burst_updates", 2, 100_000),
    ("QC_BURST_SECONDS", "burst_seconds", 1, 3600),
    ("QC_BURST_SILENCE", "burst_silence_seconds", 1, 3600),
)


class ConfigError(Exception):
    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Settings:
    telegram_token: str | None = None
    api_url: str = DEFAULT_API_URL
    file_url: str = DEFAULT_FILE_URL
    data_dir: Path = PROJECT_ROOT / "data"
    database_url: str = ""
    content_dir: Path = PROJECT_ROOT / "content"
    admin_ids: frozenset[int] = frozenset()
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo("Europe/Rome"))
    webhook_url: str | None = None
    webhook_secret: str | None = None
    listen_host: str = "127.0.0.1"
    listen_port: int = 8080
    listen_explicit: bool = False  # polling mode serves /healthz and the APIs only when QC_LISTEN is set
    manager_chat_id: int | None = None
    media_dir: Path = PROJECT_ROOT / "data" / "media"
    media_max_bytes: int = 10 * 1024 * 1024
    open311_api_key: str | None = None
    digest_time: time = time(8, 0)
    public_base_url: str | None = None
    retention: Retention = field(default_factory=Retention)
    purge_time: time = time(3, 30)  # when the nightly purge of expired personal data runs
    log_file: Path | None = None  # None: log to standard error (journald rotates it)
    # Per-user limits (storage/domain/limits.py, bot/limits.py): daily caps kept in the database, a burst window in memory.
    daily_tickets: int = 5
    daily_comments: int = 20
    daily_photos: int = 15
    daily_me_too: int = 10
    burst_updates: int = 20
    burst_seconds: int = 10
    burst_silence_seconds: int = 60
    broadcast_rate: float = 30.0  # the most broadcast messages Telegram may receive in any second (bot/pacing.py)

    @property
    def uses_webhook(self) -> bool:
        return self.webhook_url is not None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def normalise_database_url(raw: str) -> str:
    """Accept the URLs people paste (postgres://, postgresql://) and pick the async drivers we ship."""
    url = make_url(raw)
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(backend)
    return url.render_as_string(hide_password=False)


def _parse_listen(value: str) -> tuple[str, int]:
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(value)
    return host.strip("[]"), int(port)


def load_settings(environ: dict[str, str] | None = None) -> Settings:
    env = dict(os.environ if environ is None else environ)
    problems: list[str] = []
    values: dict[str, object] = {}

    def get(name: str) -> str | None:
        value = env.get(name, "").strip()
        return value or None

    def secret_setting(name: str, pattern: re.Pattern[str], rule: str) -> str | None:
        """A secret or key: long enough, of the allowed characters; `rule` says which."""
        value = get(name)
        if value is not None and (not pattern.match(value) or len(value) < MIN_SECRET_LENGTH):
            problems.append(f"{name}: {rule} (write e.g. the output of `openssl rand -hex 32`)")
        return value

    def time_setting(name: str, key: str, example: str) -> None:
        """A time of day, hh:mm, into `values[key]` when given."""
        raw = get(name)
        if raw is None:
            return
        match = re.fullmatch(r"([01]?\d|2[0-3]):([0-5]\d)", raw)
        if not match:
            problems.append(f"{name}: {raw!r} is not a time (write e.g. {example})")
        else:
            values[key] = time(int(match[1]), int(match[2]))

    token = get("QC_TELEGRAM_TOKEN")
    if token is not None and not TOKEN_PATTERN.match(token):
        problems.append(
            "QC_TELEGRAM_TOKEN: not a bot token (write the token BotFather gave you, like 123456789:AAF...)"
        )
    values["telegram_token"] = token

    for name, key in (("QC_TELEGRAM_API_URL", "api_url"), ("QC_TELEGRAM_FILE_URL", "file_url")):
        value = get(name)
        if value is None:
            continue
        if not re.match(r"^https?://\S+$", value):
            problems.append(f"{name}: {value!r} is not an http(s) URL (write e.g. https://api.telegram.org/bot)")
        values[key] = value

    data_dir = Path(get("QC_DATA_DIR") or PROJECT_ROOT / "data")
    values["data_dir"] = data_dir
    values["media_dir"] = Path(get("QC_MEDIA_DIR") or data_dir / "media")

    raw_db = get("QC_DATABASE_URL") or f"sqlite:///{data_dir / 'qcbot.sqlite3'}"
    try:
        values["database_url"] = normalise_database_url(raw_db)
    except (ArgumentError, ValueError):
        problems.append(
            f"QC_DATABASE_URL: {raw_db!r} is not a usable database URL "
            "(write sqlite:///path/to/file.sqlite3 or postgresql://user:password@host/dbname)"
        )

    content_dir = Path(get("QC_CONTENT_DIR") or PROJECT_ROOT / "content")
    if not content_dir.is_dir():
        problems.append(f"QC_CONTENT_DIR: folder {str(content_dir)!r} does not exist (write the path of the content folder)")
    values["content_dir"] = content_dir

    admin_raw = get("QC_ADMIN_IDS")
    if admin_raw:
        parts = [p.strip() for p in admin_raw.replace(";", ",").split(",") if p.strip()]
        bad = [p for p in parts if not re.fullmatch(r"\d{1,20}", p)]
        if bad:
            problems.append(
                f"QC_ADMIN_IDS: {', '.join(bad)} not a Telegram user id (write numbers separated by commas, like 12345,67890)"
            )
        else:
            values["admin_ids"] = frozenset(int(p) for p in parts)

    tz_raw = get("QC_TIMEZONE")
    if tz_raw:
        try:
            values["timezone"] = ZoneInfo(tz_raw)
        except (ZoneInfoNotFoundError, ValueError):
            problems.append(f"QC_TIMEZONE: {tz_raw!r} is not a time zone (write e.g. Europe/Rome)")

    webhook_url = get("QC_WEBHOOK_URL")
    if webhook_url is not None:
        if not re.match(r"^https://\S+$", webhook_url) and not re.match(r"^http://(127\.0\.0\.1|localhost)[:/]", webhook_url):
            problems.append(f"QC_WEBHOOK_URL: {webhook_url!r} must be an https:// URL that Telegram can reach")
        values["webhook_url"] = webhook_url
    values["webhook_secret"] = secret = secret_setting(
        "QC_WEBHOOK_SECRET", SECRET_PATTERN, f"use {MIN_SECRET_LENGTH}-256 characters among A-Z, a-z, 0-9, _ and -",
    )
    if webhook_url is not None and secret is None:
        problems.append("QC_WEBHOOK_SECRET: required with QC_WEBHOOK_URL (write a long random string)")

    listen = get("QC_LISTEN")
    if listen is not None:
        try:
            values["listen_host"], values["listen_port"] = _parse_listen(listen)
            values["listen_explicit"] = True
        except ValueError:
            problems.append(f"QC_LISTEN: {listen!r} is not host:port (write e.g. 127.0.0.1:8080)")

    manager_chat = get("QC_MANAGER_CHAT_ID")
    if manager_chat is not None:
        if not re.fullmatch(r"-?\d{1,20}", manager_chat):
            problems.append(f"QC_MANAGER_CHAT_ID: {manager_chat!r} is not a chat id (write a number like -1001234567890)")
        else:
            values["manager_chat_id"] = int(manager_chat)

    media_max = get("QC_MEDIA_MAX_MB")
    if media_max is not None:
        if not media_max.isdigit() or not 1 <= int(media_max) <= 20:
            problems.append(f"QC_MEDIA_MAX_MB: {media_max!r} must be a whole number of megabytes from 1 to 20")
        else:
            values["media_max_bytes"] = int(media_max) * 1024 * 1024

    values["open311_api_key"] = secret_setting(
        "QC_OPEN311_API_KEY", API_KEY_PATTERN, f"use at least {MIN_SECRET_LENGTH} characters without spaces",
    )
    public_base_url = get("QC_PUBLIC_BASE_URL")
    if public_base_url is not None and not PUBLIC_BASE_URL_PATTERN.match(public_base_url):
        problems.append(
            f"QC_PUBLIC_BASE_URL: {public_base_url!r} must be the absolute https:// address the bot's HTTP server is "
            "reached at, with no query (write e.g. https://bot.example.org; http://localhost:8080 for development)"
        )
    values["public_base_url"] = public_base_url.rstrip("/") if public_base_url else None

    time_setting("QC_DIGEST_TIME", "digest_time", "08:00")

    retention: dict[str, int] = {}
    for name, key, largest in RETENTION_VARIABLES:
        raw = get(name)
        if raw is None:
            continue
        if not raw.isdigit() or not 1 <= int(raw) <= largest:
            problems.append(f"{name}: {raw!r} must be a whole number of days from 1 to {largest}")
        else:
            retention[key] = int(raw)
    values["retention"] = Retention(**retention)

    time_setting("QC_PURGE_TIME", "purge_time", "03:30")

    log_file = get("QC_LOG_FILE")
    if log_file is not None:
        log_path = Path(log_file)
        if not log_path.parent.is_dir():
            problems.append(f"QC_LOG_FILE: folder {str(log_path.parent)!r} does not exist (create it or choose another file)")
        values["log_file"] = log_path
    for name, key, low, high in LIMIT_VARIABLES:
        raw = get(name)
        if raw is None:
            continue
        if not raw.isdigit() or not low <= int(raw) <= high:
            problems.append(f"{name}: {raw!r} must be a whole number from {low} to {high}")
        else:
            values[key] = int(raw)

    broadcast_rate = get("QC_BROADCAST_RATE")
    if broadcast_rate is not None:
        if not broadcast_rate.isdigit() or not 1 <= int(broadcast_rate) <= 30:
            problems.append(f"QC_BROADCAST_RATE: {broadcast_rate!r} must be a whole number of messages a second from 1 to 30")
        else:
            values["broadcast_rate"] = float(broadcast_rate)

    if problems:
        raise ConfigError(problems)
    return Settings(**values)  # type: ignore[arg-type]
