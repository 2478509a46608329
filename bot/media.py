"""Photos and voice notes sent with reports: fetched with getFile and kept on disk under settings.media_dir, so
the manager's staff can see them without Telegram (Open311 links to them by an unguessable token, in signed links
that expire: bot/open311_http.py)."""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from telegram import Bot, Message

from bot.config import Settings

EXTENSIONS = {"photo": "jpg", "voice": "oga"}
MIME_TYPES = {"photo": "image/jpeg", "voice": "audio/ogg"}


@dataclass
class MediaTooLarge(Exception):
    size: int
    limit: int

    def __str__(self) -> str:
        return f"file of {self.size} bytes is over the limit of {self.limit} bytes (QC_MEDIA_MAX_MB)"


@dataclass(frozen=True)
class Incoming:
    """A photo or voice note in a message, before it is downloaded."""

    kind: str  # "photo" or "voice"
    file_id: str
    declared_size: int | None


def incoming_media(message: Message) -> Incoming | None:
    if message.photo:
        largest = message.photo[-1]
        return Incoming("photo", largest.file_id, largest.file_size)
    if message.voice:
        return Incoming("voice", message.voice.file_id, message.voice.file_size)
    return None


def limit_megabytes(settings: Settings) -> int:
    return max(1, settings.media_max_bytes // (1024 * 1024))


async def save_from_telegram(bot: Bot, settings: Settings, media: Incoming, now: datetime) -> dict:
    """Download and store the file; returns the record drafts and tickets keep (kind, file_id, path, size,
    mime_type). Raises MediaTooLarge before downloading when Telegram already tells us the size."""
    limit = settings.media_max_bytes
    if media.declared_size and media.declared_size > limit:
        raise MediaTooLarge(media.declared_size, limit)
    telegram_file = await bot.get_file(media.file_id)
    if telegram_file.file_size and telegram_file.file_size > limit:
        raise MediaTooLarge(telegram_file.file_size, limit)
    data = bytes(await telegram_file.download_as_bytearray())
    if len(data) > limit:
        raise MediaTooLarge(len(data), limit)
    relative = Path(f"{now:%Y}", f"{now:%m}", f"{uuid.uuid4().hex}.{EXTENSIONS[media.kind]}")
    target = settings.media_dir / relative
    await asyncio.to_thread(_write, target, data)
    return {
        "kind": media.kind, "file_id": media.file_id, "path": relative.as_posix(), "size": len(data),
        "mime_type": MIME_TYPES[media.kind],
    }


def _write(target: Path, data: bytes) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(target.suffix + ".part")
    partial.write_bytes(data)
    partial.replace(target)  # never leave a half-written file under the final name


def stored_path(settings: Settings, relative: str) -> Path | None:
    """The file on disk for a stored record, or None if the path would leave the media folder."""
    root = settings.media_dir.resolve()
    candidate = (root / relative).resolve()
    return candidate if candidate.is_relative_to(root) else None


async def delete_stored(settings: Settings, relatives: list[str] | None) -> None:
    """Delete stored files no longer referenced (a dropped draft's photos and voice note), after the commit that
    dropped them; a file already gone is fine."""
    paths = [path for path in (stored_path(settings, relative) for relative in relatives or []) if path is not None]
    if paths:
        await asyncio.to_thread(_unlink_all, paths)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        path.unlink(missing_ok=True)
