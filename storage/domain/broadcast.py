"""The broadcast engine's storage: one message to many, as a row per recipient.

A broadcast's recipients are created in batches of FANOUT_BATCH user ids (an id cursor on the broadcast, so a
restart during the fan-out continues after the last batch and memory holds one batch at most). Rows are claimed
with a lease like the outbox's (storage/domain/outbox.py): a restart sends each pending row once; the only window for a
repeat is the message in flight when the process died. They live in their own table rather than in `outbox`, so
the interactive outbox (alerts, reminders) never queues behind 47,000 rows and the sender (bot/broadcast_sender.py)
can pace them apart.

Who may send what to whom (`check_audience`) is decided here, again at every step, because buttons can be forged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.content import Content, base_language
from storage.db import Database
from storage.domain import refusals, users
from storage.models import Broadcast, BroadcastRecipient, Follow, NoticePrompt, TenantHome, User
from storage.domain.users import Roles

FANOUT_BATCH = 2000
LEASE = timedelta(seconds=10)  # a claimed batch is about a second's sending; a crash delays its rows this long
QUIET_FROM, QUIET_UNTIL = time(21, 0), time(8, 0)
MAX_TEXT = 3500  # leaves room for the language note under Telegram's 4096 characters
MAX_CAPTION = 900  # a photo's caption is limited to 1024
MAX_PHOTO_BYTES = 5 * 1024 * 1024
ACTIVE = ("queued", "sending")
SHIPPED_LANGUAGES = ("it", "en", "ar", "es", "zh", "tl", "si", "ro", "uk", "sq")


class Refusal(StrEnum):
    NOT_FOUND = "not_found"  # no such draft of this author (stale or forged)
    NOT_ALLOWED = "not_allowed"  # this audience is not the author's to address
    NO_AUDIENCE = "no_audience"
    EMPTY_TEXT = "empty_text"
    TOO_LONG = "too_long"
    PHOTO_TOO_BIG = "photo_too_big"
    NOT_DRAFT = "not_draft"  # already sent, waiting for an editor, or stopped


class Refused(refusals.Refused):
    def __init__(self, reason: Refusal) -> None:
        super().__init__(reason, reason.value)


@dataclass(frozen=True)
class Progress:
    recipients: int
    sent: int
    unreachable: int
    left: int  # still to send
    dropped: int
    status: str

    def seconds_to_finish(self, per_second: float) -> int:
        return int(self.left / per_second) + (1 if self.left else 0)


# --- quiet hours


def quiet_until(now: datetime, tz: ZoneInfo) -> datetime | None:
    """During quiet hours (21:00-08:00 local), the next 08:00 in UTC; otherwise None."""
    local = now.astimezone(tz)
    if QUIET_UNTIL <= local.time() < QUIET_FROM:
        return None
    day = local.date() if local.time() < QUIET_UNTIL else local.date() + timedelta(days=1)
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz).astimezone(now.tzinfo)


# --- who may address whom


def authoring_roles(roles: Roles) -> bool:
    return roles.can_edit_content or bool(roles.custodian_of or roles.operator_of or roles.committee_of)


def check_audience(roles: Roles, audience: str, ref: str, content: Content) -> str:
    """The role the author writes with for this audience (committee notices wait for an editor); raises Refused.

    Editors and admins: anyone. Custodians: their estates (a building or staircase in them). Operators: the
    followers of their space. Committee members: their estate, moderated. Nobody else."""
    estate_id = ref.split("/", 1)[0]
    if audience == "estate" or audience == "building":
        estate = content.estates.get(estate_id)
        if estate is None:
            raise Refused(Refusal.NO_AUDIENCE)
        if audience == "building":
            parts = ref.split("/")
            building = next((b for b in estate.buildings if len(parts) > 1 and b.id == parts[1]), None)
            if building is None or (len(parts) > 2 and parts[2] not in building.staircases) or len(parts) > 3:
                raise Refused(Refusal.NO_AUDIENCE)
    elif audience == "space":
        if ref not in content.spaces:
            raise Refused(Refusal.NO_AUDIENCE)
    elif audience != "everyone":
        raise Refused(Refusal.NO_AUDIENCE)
    if roles.can_edit_content:
        return "editor"
    if audience in ("estate", "building") and estate_id in roles.custodian_of:
        return "custodian"
    if audience == "space" and ref in roles.operator_of:
        return "operator"
    if audience in ("estate", "building") and estate_id in roles.committee_of:
        return "committee"
    raise Refused(Refusal.NOT_ALLOWED)


# --- notices written in the bot


async def new_notice(session: AsyncSession, author_id: int, language: str, now: datetime) -> Broadcast:
    """A fresh draft (any earlier unfinished draft of the author is dropped), waiting for its text."""
    await session.execute(delete(Broadcast).where(Broadcast.author_id == author_id, Broadcast.status == "draft"))
    notice = Broadcast(kind="notice", status="draft", author_id=author_id, language=language, translations={}, created_at=now)
    session.add(notice)
    await session.flush()
    await set_prompt(session, author_id, notice.id, "text", now)
    return notice


async def set_prompt(session: AsyncSession, user_id: int, broadcast_id: int, expecting: str, now: datetime) -> None:
    await session.execute(delete(NoticePrompt).where(NoticePrompt.user_id == user_id))
    session.add(NoticePrompt(user_id=user_id, broadcast_id=broadcast_id, expecting=expecting, created_at=now))


async def take_written(session: AsyncSession, user_id: int, text: str, photo: str | None,
                       size: int | None) -> Broadcast | None:
    """The author's message put where the prompt said (the text and photo, or a translation), the prompt done;
    None when no prompt waits any more (answered or dropped meanwhile). Read again inside this transaction, so two
    messages racing for one prompt fill it once."""
    prompt = await session.get(NoticePrompt, user_id, with_for_update=True)
    if prompt is None:
        return None
    notice = await draft_of(session, prompt.broadcast_id, user_id)
    if prompt.expecting.startswith("translation:"):
        language = prompt.expecting.split(":", 1)[1]
        notice.translations = {**(notice.translations or {}), language: check_text(text, with_photo=notice.photo_file_id is not None)}
    else:
        check_photo(size)
        notice.text = check_text(text, with_photo=photo is not None)
        notice.photo_file_id = photo
    await session.execute(delete(NoticePrompt).where(NoticePrompt.user_id == user_id))
    await session.flush()
    await session.refresh(notice)
    return notice


async def drop_prompt(session: AsyncSession, user_id: int) -> bool:
    """/cancel while writing a notice: the prompt and the unfinished draft go; False when nothing waited."""
    prompt = await session.get(NoticePrompt, user_id)
    if prompt is None:
        return False
    await session.execute(delete(NoticePrompt).where(NoticePrompt.user_id == user_id))
    await session.execute(delete(Broadcast).where(Broadcast.id == prompt.broadcast_id, Broadcast.status == "draft"))
    return True


async def draft_of(session: AsyncSession, broadcast_id: int, author_id: int) -> Broadcast:
    notice = await session.get(Broadcast, broadcast_id)
    if notice is None or notice.author_id != author_id or notice.kind != "notice":
        raise Refused(Refusal.NOT_FOUND)
    if notice.status != "draft":
        raise Refused(Refusal.NOT_DRAFT)
    return notice


def check_text(text: str, *, with_photo: bool) -> str:
    text = text.strip()
    if not text:
        raise Refused(Refusal.EMPTY_TEXT)
    if len(text) > (MAX_CAPTION if with_photo else MAX_TEXT):
        raise Refused(Refusal.TOO_LONG)
    return text


def check_photo(size: int | None) -> None:
    if size is not None and size > MAX_PHOTO_BYTES:
        raise Refused(Refusal.PHOTO_TOO_BIG)


async def confirm(session: AsyncSession, broadcast_id: int, author_id: int, roles: Roles, content: Content,
                  now: datetime, tz: ZoneInfo) -> Broadcast:
    """Preview confirmed: queued (after quiet hours unless urgent), or waiting for an editor (committee)."""
    notice = await draft_of(session, broadcast_id, author_id)
    if not notice.audience:
        raise Refused(Refusal.NO_AUDIENCE)
    check_text(notice.text, with_photo=notice.photo_file_id is not None)
    role = check_audience(roles, notice.audience, notice.audience_ref, content)
    notice.author_role = role
    notice.confirmed_at = now
    if role == "committee":
        notice.status = "moderation"
    else:
        _queue(notice, now, tz)
    await session.execute(delete(NoticePrompt).where(NoticePrompt.user_id == author_id))
    return notice


def _queue(broadcast: Broadcast, now: datetime, tz: ZoneInfo) -> None:
    broadcast.status = "queued"
    broadcast.not_before = now if broadcast.urgent else (quiet_until(now, tz) or now)


async def queue_bot_broadcast(session: AsyncSession, *, kind: str, audience: str, ref: str, now: datetime, tz: ZoneInfo,
                              urgent: bool = False) -> Broadcast:
    """The bot's own broadcast (a new item to its followers, a digest), queued at once (after quiet hours)."""
    broadcast = Broadcast(kind=kind, status="queued", audience=audience, audience_ref=ref, urgent=urgent, translations={},
                          created_at=now, confirmed_at=now)
    _queue(broadcast, now, tz)
    session.add(broadcast)
    await session.flush()
    return broadcast


async def moderate(session: AsyncSession, broadcast_id: int, roles: Roles, editor_id: int, approve: bool,
                   now: datetime, tz: ZoneInfo) -> Broadcast:
    if not roles.can_edit_content:
        raise Refused(Refusal.NOT_ALLOWED)
    notice = await session.get(Broadcast, broadcast_id)
    if notice is None or notice.kind != "notice":
        raise Refused(Refusal.NOT_FOUND)
    values: dict = dict(status="rejected", moderated_by=editor_id)
    if approve:
        values.update(status="queued", not_before=now if notice.urgent else (quiet_until(now, tz) or now))
    # Conditional: of two editors deciding at once, one wins and the other is told it was already decided.
    changed = await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status == "moderation").values(**values)
        .execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise Refused(Refusal.NOT_DRAFT)
    await session.refresh(notice)
    return notice


async def stop(session: AsyncSession, broadcast_id: int, user_id: int, roles: Roles, now: datetime) -> Broadcast:
    """The author (or an editor/admin) stops a notice: what was not sent yet is dropped."""
    notice = await session.get(Broadcast, broadcast_id)
    if notice is None or notice.kind != "notice":
        raise Refused(Refusal.NOT_FOUND)
    if notice.author_id != user_id and not roles.can_edit_content:
        raise Refused(Refusal.NOT_FOUND)  # a forged id: as if it did not exist
    changed = await session.execute(
        update(Broadcast).where(Broadcast.id == broadcast_id, Broadcast.status.in_(ACTIVE + ("moderation",)))
        .values(status="stopped", stopped_by=user_id, finished_at=now).execution_options(synchronize_session=False)
    )
    if changed.rowcount != 1:
        raise Refused(Refusal.NOT_DRAFT)
    await session.execute(
        update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "pending")
        .values(status="dropped", last_error="stopped")
    )
    await settle_reach(session, [broadcast_id])
    await session.refresh(notice)
    return notice


async def progress(session: AsyncSession, broadcast_id: int) -> Progress:
    broadcast = await session.get(Broadcast, broadcast_id)
    counts = dict(
        (await session.execute(
            select(BroadcastRecipient.status, func.count()).where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(BroadcastRecipient.status)
        )).all()
    )
    left = counts.get("pending", 0)
    if broadcast is not None and not broadcast.fanout_done and broadcast.status in ACTIVE:
        left += await _audience_size(session, broadcast, after=broadcast.fanout_cursor)
    return Progress(
        recipients=sum(counts.values()) + (left - counts.get("pending", 0)), sent=counts.get("sent", 0),
        unreachable=counts.get("unreachable", 0) + counts.get("failed", 0), left=left,
        dropped=counts.get("dropped", 0), status=broadcast.status if broadcast else "missing",
    )


# --- audiences and the fan-out


def _audience_filter(broadcast: Broadcast):  # type: ignore[no-untyped-def]
    """A WHERE clause over users for the broadcast's audience (reachable, consenting tenants only)."""
    reachable = and_(User.blocked_at.is_(None), User.consent_at.is_not(None))
    ref = broadcast.audience_ref
    if broadcast.audience == "everyone":
        return reachable
    if broadcast.audience in ("estate", "building"):
        parts = ref.split("/")
        conditions = [TenantHome.user_id == User.id, TenantHome.estate_id == parts[0]]
        if len(parts) > 1:
            conditions.append(TenantHome.building == parts[1])
        if len(parts) > 2:
            conditions.append(TenantHome.staircase == parts[2])
        return and_(reachable, select(TenantHome.user_id).where(*conditions).exists())
    topics = {"space": [f"space:{ref}"], "digest": ["digest"]}.get(broadcast.audience)
    if broadcast.audience == "item":
        topics = ref.split(",")  # the item's space and kind topics
    return and_(reachable, select(Follow.user_id).where(Follow.user_id == User.id, Follow.topic.in_(topics or [])).exists())


async def _audience_size(session: AsyncSession, broadcast: Broadcast, after: int = 0) -> int:
    return await session.scalar(select(func.count()).select_from(User).where(User.id > after, _audience_filter(broadcast))) or 0


async def audience_size(session: AsyncSession, broadcast: Broadcast) -> int:
    return await _audience_size(session, broadcast)


def language_of(language: str | None, telegram_language: str | None) -> str:
    for code in (language, telegram_language):
        if code and base_language(code) in SHIPPED_LANGUAGES:
            return base_language(code)
    return "it"


async def fan_out_batch(db: Database, broadcast_id: int, now: datetime, batch: int = FANOUT_BATCH) -> int:
    """Create the next batch of recipients; marks the fan-out done after the last. Returns rows created."""
    async with db.write() as session:
        broadcast = await session.get(Broadcast, broadcast_id)
        if broadcast is None or broadcast.fanout_done or broadcast.status not in ACTIVE:
            return 0
        rows = (await session.execute(
            select(User.id, User.language, User.telegram_language)
            .where(User.id > broadcast.fanout_cursor, _audience_filter(broadcast)).order_by(User.id).limit(batch)
        )).all()
        if rows:
            await session.execute(insert(BroadcastRecipient), [
                dict(broadcast_id=broadcast_id, user_id=user_id, language=language_of(language, telegram), status="pending",
                     attempts=0, not_before=now)
                for user_id, language, telegram in rows
            ])
        broadcast.fanout_cursor = rows[-1][0] if rows else broadcast.fanout_cursor
        broadcast.fanout_done = len(rows) < batch
        if broadcast.status == "queued":
            broadcast.status = "sending"
        return len(rows)


@dataclass(frozen=True)
class Claimed:
    id: int
    broadcast_id: int
    user_id: int
    language: str
    attempts: int


async def active_broadcasts(db: Database, now: datetime, tz: ZoneInfo) -> list[Broadcast]:
    """Broadcasts to work on now: due, and (unless urgent) outside quiet hours. Expired ones are closed."""
    quiet = quiet_until(now, tz) is not None
    async with db.read() as session:
        found = list((await session.scalars(
            select(Broadcast).where(Broadcast.status.in_(ACTIVE), or_(Broadcast.not_before.is_(None), Broadcast.not_before <= now))
            .order_by(Broadcast.urgent.desc(), Broadcast.id)
        )).all())
    expired = [b.id for b in found if b.expires_at is not None and b.expires_at <= now]
    if expired:
        async with db.write() as session:
            for broadcast_id in expired:
                await session.execute(
                    update(BroadcastRecipient).where(BroadcastRecipient.broadcast_id == broadcast_id, BroadcastRecipient.status == "pending")
                    .values(status="dropped", last_error="expired")
                )
                await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(status="done", finished_at=now))
            await settle_reach(session, expired)
    return [b for b in found if b.id not in expired and (b.urgent or not quiet)]


async def claim(db: Database, broadcast_ids: list[int], now: datetime, limit: int) -> list[Claimed]:
    """Pending recipients of these broadcasts (in their order: urgent first), leased to this sender."""
    if not broadcast_ids:
        return []
    order = {broadcast_id: position for position, broadcast_id in enumerate(broadcast_ids)}
    due = and_(BroadcastRecipient.status == "pending", BroadcastRecipient.not_before <= now,
               or_(BroadcastRecipient.lease_until.is_(None), BroadcastRecipient.lease_until < now))
    claimed: list[Claimed] = []
    async with db.write() as session:
        for broadcast_id in sorted(broadcast_ids, key=order.__getitem__):
            query = (select(BroadcastRecipient.id).where(BroadcastRecipient.broadcast_id == broadcast_id, due)
                     .order_by(BroadcastRecipient.id).limit(limit - len(claimed)))
            if not db.is_sqlite:
                query = query.with_for_update(skip_locked=True)
            ids = list((await session.scalars(query)).all())
            if not ids:
                continue
            await session.execute(
                update(BroadcastRecipient).where(BroadcastRecipient.id.in_(ids), due)
                .values(lease_until=now + LEASE, attempts=BroadcastRecipient.attempts + 1)
            )
            rows = await session.execute(
                select(BroadcastRecipient.id, BroadcastRecipient.broadcast_id, BroadcastRecipient.user_id,
                       BroadcastRecipient.language, BroadcastRecipient.attempts)
                .where(BroadcastRecipient.id.in_(ids)).order_by(BroadcastRecipient.id)
            )
            claimed += [Claimed(*row) for row in rows.all()]
            if len(claimed) >= limit:
                break
    return claimed


async def mark(db: Database, row_id: int, status: str, now: datetime, error: str | None = None) -> None:
    async with db.write() as session:
        await session.execute(
            update(BroadcastRecipient).where(BroadcastRecipient.id == row_id)
            .values(status=status, sent_at=now if status == "sent" else None, lease_until=None,
                    last_error=error[:200] if error else None)
        )


async def mark_unreachable(db: Database, row_id: int, user_id: int, now: datetime, error: str) -> None:
    """403: the tenant blocked the bot. No more messages to them, from any broadcast, until they write again."""
    async with db.write() as session:
        await users.mark_blocked(session, user_id, now)
        await session.execute(
            update(BroadcastRecipient).where(BroadcastRecipient.id == row_id)
            .values(status="unreachable", lease_until=None, last_error=error[:200])
        )


async def release(db: Database, row_ids: list[int], at: datetime, error: str | None = None, *, count_attempt: bool = False) -> None:
    """Give rows back (a 429 paused everything, or a 5xx asks for a retry at `at`)."""
    if not row_ids:
        return
    async with db.write() as session:
        values: dict = dict(lease_until=None, not_before=at)
        if error is not None:
            values["last_error"] = error[:200]
        if not count_attempt:
            values["attempts"] = BroadcastRecipient.attempts - 1
        await session.execute(update(BroadcastRecipient).where(BroadcastRecipient.id.in_(row_ids)).values(**values))


async def close_finished(db: Database, now: datetime) -> list[int]:
    """Broadcasts fully fanned out with nothing pending are done; returns their ids."""
    async with db.write() as session:
        pending = select(BroadcastRecipient.id).where(
            BroadcastRecipient.broadcast_id == Broadcast.id, BroadcastRecipient.status == "pending"
        ).exists()
        ids = list((await session.scalars(
            select(Broadcast.id).where(Broadcast.status.in_(ACTIVE), Broadcast.fanout_done.is_(True), ~pending)
        )).all())
        if ids:
            await session.execute(update(Broadcast).where(Broadcast.id.in_(ids)).values(status="done", finished_at=now))
            await settle_reach(session, ids)
    return ids


async def settle_reach(session: AsyncSession, broadcast_ids: list[int]) -> None:
    """Count once, when a broadcast ends, how many it reached (delivered, unreachable) out of how many."""
    for broadcast_id in broadcast_ids:
        counts = dict((await session.execute(
            select(BroadcastRecipient.status, func.count()).where(BroadcastRecipient.broadcast_id == broadcast_id)
            .group_by(BroadcastRecipient.status)
        )).all())
        await session.execute(update(Broadcast).where(Broadcast.id == broadcast_id).values(
            recipients=sum(counts.values()), delivered=counts.get("sent", 0),
            unreachable=counts.get("unreachable", 0) + counts.get("failed", 0),
        ))


async def reach(session: AsyncSession, start: datetime, end: datetime) -> list[Broadcast]:
    """Notices confirmed in [start, end), newest first, with their reach (None while still going out)."""
    rows = await session.scalars(
        select(Broadcast).where(Broadcast.kind == "notice", Broadcast.confirmed_at >= start, Broadcast.confirmed_at < end)
        .order_by(Broadcast.confirmed_at.desc())
    )
    return list(rows.all())
