"""Neighbourhood life: where tenants live, what they follow, their interest in job offers, and broadcasts (a row
per recipient, so a 47k-tenant notice is drained, paused and resumed without holding anyone in memory).

Personal data here (retention in docs/architecture.md, "Neighbourhood life"): tenant_homes (estate, building,
staircase: until the tenant changes or forgets it), follows (until unfollowed), job_interests (name and the phone
the tenant chose to share: QC_RETAIN_JOB_INTERESTS_DAYS after it was sent), broadcast_recipients (who was sent
what: QC_RETAIN_NOTICES_DAYS after the broadcast finished); the rules are storage/personal_data/neighbourhood.py's.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime, one_of


class TenantHome(Base):
    """Where a tenant lives: said once (or remembered from a report), editable in settings."""

    __tablename__ = "tenant_homes"
    __table_args__ = (Index("ix_tenant_homes_place", "estate_id", "building", "staircase"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    estate_id: Mapped[str] = mapped_column(String(64))
    building: Mapped[str] = mapped_column(String(64), default="")  # "" when unknown
    staircase: Mapped[str] = mapped_column(String(16), default="")
    source: Mapped[str] = mapped_column(String(12))  # settings | report
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Follow(Base):
    """A tenant follows a topic: "space:<id>", "kind:<activities|courses|jobs>", or "digest" (weekly, Monday)."""

    __tablename__ = "follows"
    __table_args__ = (Index("ix_follows_topic", "topic", "user_id"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    topic: Mapped[str] = mapped_column(String(80), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class AnnouncedItem(Base):
    """An item of the programme already announced to followers: new items reach them once, whatever reloads."""

    __tablename__ = "announced_items"

    item_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    broadcast_id: Mapped[int | None] = mapped_column(Integer)
    announced_at: Mapped[datetime] = mapped_column(UtcDateTime)


class JobInterest(Base):
    """"I'm interested" in a job offer: what the operator of the space receives, with the tenant's consent."""

    __tablename__ = "job_interests"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    job_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(128))
    phone: Mapped[str | None] = mapped_column(String(32))  # only the one the tenant chose to share
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


BROADCAST_STATUSES = ("draft", "moderation", "queued", "sending", "done", "stopped", "rejected")


class Broadcast(Base):
    """One message to many: a notice written in the bot, the announcement of a new item, a weekly digest."""

    __tablename__ = "broadcasts"
    __table_args__ = (
        Index("ix_broadcasts_status", "status", "not_before"),
        one_of("status", *BROADCAST_STATUSES),
        one_of("kind", "notice", "item", "digest"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    status: Mapped[str] = mapped_column(String(12), default="draft")
    author_id: Mapped[int | None] = mapped_column(BigInteger)  # None for the bot's own (items, digests)
    author_role: Mapped[str] = mapped_column(String(16), default="")
    # everyone | estate (ref: estate) | building (ref: estate/building[/staircase]) | space (ref: followers of a
    # space) | item (ref: item id: followers of its space or kind) | digest
    audience: Mapped[str] = mapped_column(String(12), default="")
    audience_ref: Mapped[str] = mapped_column(String(160), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    photo_file_id: Mapped[str | None] = mapped_column(String(256))
    language: Mapped[str] = mapped_column(String(8), default="it")  # the author's
    translations: Mapped[dict] = mapped_column(JSON, default=dict)  # language -> text added by the author
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)  # bypasses quiet hours
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # not delivered after this
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime)
    fanout_cursor: Mapped[int] = mapped_column(BigInteger, default=0)  # recipients created up to this user id
    fanout_done: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    confirmed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    moderated_by: Mapped[int | None] = mapped_column(BigInteger)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stopped_by: Mapped[int | None] = mapped_column(BigInteger)
    # Reach, counted once when the broadcast ends (statistics and the CSV read these, not 47k rows).
    recipients: Mapped[int | None] = mapped_column(Integer)
    delivered: Mapped[int | None] = mapped_column(Integer)
    unreachable: Mapped[int | None] = mapped_column(Integer)


class BroadcastRecipient(Base):
    """One recipient of one broadcast: claimed with a lease like the outbox, so a restart serves nobody twice."""

    __tablename__ = "broadcast_recipients"
    __table_args__ = (
        Index("uq_broadcast_recipients_one", "broadcast_id", "user_id", unique=True),
        # What a person received ("my data", forget me): without it, a scan of every broadcast's every recipient.
        Index("ix_broadcast_recipients_user", "user_id"),
        # The sender's claim (storage/domain/broadcast.claim): a broadcast's pending rows in id order, walked in the
        # index's order up to the batch. Keyed on not_before instead, every claim read and sorted all of them
        # (47,000 rows, ~2 MB of SQLite's sorter, each second: docs/performance.md, broadcasts, fifth pass).
        Index("ix_broadcast_recipients_due", "broadcast_id", "status", "id"),
        one_of("status", "pending", "sent", "unreachable", "failed", "dropped"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(Integer, ForeignKey("broadcasts.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(BigInteger)
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(String(200))


class NoticePrompt(Base):
    """The notice a member of staff is writing: the next text (or photo) they send goes into it."""

    __tablename__ = "notice_prompts"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    broadcast_id: Mapped[int] = mapped_column(Integer, ForeignKey("broadcasts.id", ondelete="CASCADE"))
    expecting: Mapped[str] = mapped_column(String(16))  # text | translation:<language>
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
