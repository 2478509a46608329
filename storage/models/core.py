"""Users, their roles, invites, and the outbox every outgoing alert goes through."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)  # Telegram user id
    first_name: Mapped[str] = mapped_column(String(128), default="")
    language: Mapped[str | None] = mapped_column(String(8))  # the tenant's own choice
    telegram_language: Mapped[str | None] = mapped_column(String(16))
    consent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_estate_id: Mapped[str | None] = mapped_column(String(64))
    prompts_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    blocked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the user blocked the bot (403)


ROLES = ("admin", "editor", "custodian", "committee", "operator")


class RoleGrant(Base):
    """A role held by a user, scoped to an estate (custodian, committee) or a space (operator) where it applies."""

    __tablename__ = "role_grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "scope", name="uq_role_grants_user_role_scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(64), default="")  # estate or space id; "" for global roles
    granted_at: Mapped[datetime] = mapped_column(UtcDateTime)
    granted_by: Mapped[int | None] = mapped_column(BigInteger)


class Invite(Base):
    __tablename__ = "invites"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    scope: Mapped[str] = mapped_column(String(64), default="")
    created_by: Mapped[int | None] = mapped_column(BigInteger)  # None when made on the command line
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    used_by: Mapped[int | None] = mapped_column(BigInteger)


class OutboxMessage(Base):
    """One Bot API call that must reach someone. Written in the same transaction as the change it reports.

    `dedupe_key` makes a second enqueue for the same state change a no-op; `guard` names a check the sender runs
    just before delivery (e.g. "the booking is still active"), so reminders for cancelled bookings are dropped.
    """

    __tablename__ = "outbox"
    __table_args__ = (
        Index("ix_outbox_due", "status", "not_before"),
        # A ticket's alerts, found to update them at every change: without it each change read the whole outbox,
        # which keeps every message ever sent (closing a backlog at scale took ~35 ms a ticket, now ~12 ms).
        Index("ix_outbox_kind_ref", "kind", "ref"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    method: Mapped[str] = mapped_column(String(32))
    params: Mapped[dict] = mapped_column(JSON)
    guard: Mapped[str | None] = mapped_column(String(160))
    # After delivery, a kind and ref let later edits find the message (e.g. the alert to each custodian).
    kind: Mapped[str] = mapped_column(String(32), default="")
    ref: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(12), default="pending")  # pending, sent, dropped, failed, blocked
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # An attempt may have reached the person without the row being marked (a crash, a late answer): the next
    # attempt says it is a repeat (Telegram cannot deduplicate).
    in_doubt: Mapped[bool] = mapped_column(Boolean, default=False)
    not_before: Mapped[datetime] = mapped_column(UtcDateTime)
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When the retention rule emptied `params` of a delivered message (storage/domain/privacy.py); the row stays for edits.
    text_purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
