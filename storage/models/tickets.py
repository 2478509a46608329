"""Reports of maintenance problems: drafts saved at every step, tickets with their history, "me too"
subscribers, photos and voice notes, the custodians' daily digests and the prompts waiting for a text."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime


class ReportDraft(Base):
    """The report a person is writing, one per person; every answer is saved here before the next question."""

    __tablename__ = "report_drafts"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    step: Mapped[str] = mapped_column(String(16))
    # The part being changed from the review screen (storage/domain/tickets.py EDIT_PARTS), then back to the review.
    editing: Mapped[str | None] = mapped_column(String(16))
    done: Mapped[list] = mapped_column(JSON, default=list)  # the steps answered so far
    on_behalf: Mapped[bool] = mapped_column(Boolean, default=False)  # a custodian files for a tenant
    tenant_name: Mapped[str | None] = mapped_column(String(128))
    tenant_contact: Mapped[str | None] = mapped_column(String(128))
    category_id: Mapped[str | None] = mapped_column(String(64))
    estate_id: Mapped[str | None] = mapped_column(String(64))
    building_id: Mapped[str | None] = mapped_column(String(64))
    staircase: Mapped[str | None] = mapped_column(String(64))
    floor: Mapped[int | None] = mapped_column(Integer)
    area: Mapped[str | None] = mapped_column(String(8))  # "flat" or "common"
    flat: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict] = mapped_column(JSON, default=dict)  # question id -> "yes", "no", "unknown"
    description: Mapped[str | None] = mapped_column(Text)
    voice: Mapped[dict | None] = mapped_column(JSON)  # a saved media record (bot/media.py)
    photos: Mapped[list] = mapped_column(JSON, default=list)  # saved media records
    # Ids of the open tickets the server suggested as the same problem for this draft: the only ones its author
    # may join with "me too" (a forged button with another id is refused).
    offered: Mapped[list] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketCounter(Base):
    """The last ticket number given in a year: codes read QC-2026-000123 and restart at 1 each year."""

    __tablename__ = "ticket_counters"

    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(Integer, default=0)


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        Index("ix_tickets_estate_category_status", "estate_id", "category_id", "status"),
        Index("ix_tickets_status_escalate", "status", "escalate_at"),
        # Statistics of a period (storage/domain/stats.py): tickets opened in it, with what the figures read (counted from
        # the index alone), and fixes rated in it.
        Index("ix_tickets_estate_created", "estate_id", "created_at", "category_id", "ack_hours", "acknowledged_at",
              "resolved_at"),
        Index("ix_tickets_estate_rated", "estate_id", "rated_at"),
        # A custodian's open tickets: only those are read (without it SQLite reads every ticket of the estates).
        Index("ix_tickets_estate_status_created", "estate_id", "status", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(20), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    category_id: Mapped[str] = mapped_column(String(64))
    urgency: Mapped[str] = mapped_column(String(12))
    ack_hours: Mapped[float] = mapped_column(Float)  # the category's time to acknowledge, when it was filed
    estate_id: Mapped[str] = mapped_column(String(64))
    building_id: Mapped[str | None] = mapped_column(String(64))
    staircase: Mapped[str | None] = mapped_column(String(64))
    floor: Mapped[int | None] = mapped_column(Integer)
    area: Mapped[str | None] = mapped_column(String(8))
    flat: Mapped[str | None] = mapped_column(String(64))
    answers: Mapped[dict] = mapped_column(JSON, default=dict)
    description: Mapped[str] = mapped_column(Text, default="")
    reporter_id: Mapped[int | None] = mapped_column(BigInteger, index=True)  # None when filed for someone offline
    filed_by: Mapped[int | None] = mapped_column(BigInteger)  # the custodian who filed it on the tenant's behalf
    tenant_name: Mapped[str | None] = mapped_column(String(128))
    tenant_contact: Mapped[str | None] = mapped_column(String(128))
    affected: Mapped[int] = mapped_column(Integer, default=1)  # the reporter plus everyone who said "me too"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # When the ticket escalates if nobody takes it in charge; None once someone has.
    escalate_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    escalations: Mapped[int] = mapped_column(Integer, default=0)
    reject_reason: Mapped[str | None] = mapped_column(String(16))
    last_note: Mapped[str | None] = mapped_column(Text)  # the custodians' latest note, shown to the tenant
    last_note_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    stars: Mapped[int | None] = mapped_column(Integer)  # the reporter's rating of the fix, 1-5
    rated_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class TicketEvent(Base):
    """One line of a ticket's history: a change of state, a note, a comment, a photo, an escalation."""

    __tablename__ = "ticket_events"
    # A ticket's history; "was it ever resolved / reopened" for the statistics, from the index alone.
    # Who did what ("my data", forget me) without scanning every ticket's history.
    __table_args__ = (Index("ix_ticket_events_ticket_kind", "ticket_id", "kind"), Index("ix_ticket_events_actor", "actor_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UtcDateTime)
    actor_id: Mapped[int | None] = mapped_column(BigInteger)  # None for the system (escalation, automatic close)
    kind: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))  # the ticket's status after the event
    text: Mapped[str | None] = mapped_column(Text)


class TicketSubscriber(Base):
    """A tenant who said "me too": counted as affected and told about every change."""

    __tablename__ = "ticket_subscribers"
    __table_args__ = (UniqueConstraint("ticket_id", "user_id", name="uq_ticket_subscribers_ticket_user"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(BigInteger, index=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketMedia(Base):
    """A photo or voice note kept on disk; `token` is the unguessable part of its public link."""

    __tablename__ = "ticket_media"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(8))  # "photo" or "voice"
    file_id: Mapped[str] = mapped_column(String(256))  # Telegram's id, to show it again in chats
    path: Mapped[str] = mapped_column(String(256))  # relative to settings.media_dir
    size: Mapped[int] = mapped_column(Integer)
    mime_type: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64), unique=True)
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketPrompt(Base):
    """The bot asked this person to write something about a ticket (a note, a reason, a comment)."""

    __tablename__ = "ticket_prompts"

    user_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(String(16))  # "note", "reject", "comment"
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TicketDigest(Base):
    """A custodian's daily digest was prepared for that day: restarts and second instances skip it."""

    __tablename__ = "ticket_digests"
    __table_args__ = (UniqueConstraint("user_id", "day", name="uq_ticket_digests_user_day"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger)
    day: Mapped[str] = mapped_column(String(10))  # ISO date in the configured time zone
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
