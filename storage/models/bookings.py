"""Bookings of slots, the counters that make the database enforce capacity, the waitlist, and the small bits of
state a booking flow waits on (a phone number being typed, a cancellation reason being typed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, TextClause, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, PerPerson, Prompt, UtcDateTime, one_of

# One live booking per tenant per slot: the idempotency guard that makes a double tap (or two instances racing)
# fail at the database instead of creating a second booking.
_LIVE_BOOKING = text("status != 'cancelled'")
_OPEN_WAITLIST = text("status IN ('waiting', 'offered')")


def _one_per_tenant_slot(name: str, live: TextClause) -> Index:
    """At most one `live` place per tenant per slot, on both databases (a partial unique index)."""
    return Index(name, "user_id", "service_id", "slot_start", unique=True, sqlite_where=live, postgresql_where=live)


class SlotPlace:
    """Mixin for a tenant's place on one slot of one service, taken (a booking) or waited for (the waitlist): who,
    where to write to them, and which slot. `sort_order=-1` keeps these the tables' first columns."""

    id: Mapped[int] = mapped_column(Integer, primary_key=True, sort_order=-1)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), sort_order=-1)
    chat_id: Mapped[int] = mapped_column(BigInteger, sort_order=-1)
    service_id: Mapped[str] = mapped_column(String(64), sort_order=-1)
    space_id: Mapped[str] = mapped_column(String(64), sort_order=-1)
    slot_start: Mapped[datetime] = mapped_column(UtcDateTime, sort_order=-1)
    slot_end: Mapped[datetime] = mapped_column(UtcDateTime, sort_order=-1)


class Booking(SlotPlace, Base):
    __tablename__ = "bookings"
    __table_args__ = (
        _one_per_tenant_slot("uq_bookings_one_per_tenant_slot", _LIVE_BOOKING),
        # Agendas by space and time; statistics count per space (status included: counted from the index alone).
        Index("ix_bookings_space_slot_status", "space_id", "slot_start", "status"),
        # Statistics count per service of a period without sorting ~100k bookings (storage/domain/stats.py).
        Index("ix_bookings_space_service_slot", "space_id", "service_id", "slot_start", "status"),
        Index("ix_bookings_user_slot", "user_id", "slot_start"),
        one_of("status", "active", "cancelled", "attended", "no_show"),
    )

    status: Mapped[str] = mapped_column(String(12), default="active")
    name: Mapped[str] = mapped_column(String(128))  # as the tenant gave it to Telegram
    phone: Mapped[str | None] = mapped_column(String(32))  # only when the service asks for one
    language: Mapped[str] = mapped_column(String(8))  # of the tenant when booking, for messages to them
    # Counts against the tenant's limit for this service until cancelled, marked, or the slot has begun.
    holds_quota: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    cancelled_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    cancelled_by: Mapped[int | None] = mapped_column(BigInteger)  # the tenant or a member of staff
    cancel_reason: Mapped[str | None] = mapped_column(Text)
    marked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    marked_by: Mapped[int | None] = mapped_column(BigInteger)

    @property
    def code(self) -> str:
        return booking_code(self.id)


def booking_code(booking_id: int) -> str:
    """What the tenant reads out on the phone; derived from the id so it is unique without a lookup (also for a
    booking read as a Row, which has no `code`)."""
    return f"PR-{booking_id:06d}"


class SlotCounter(Base):
    """Seats taken in one slot of one service (bookings plus seats held for a waitlist offer).

    Booking a seat is `UPDATE ... SET taken = taken + 1 WHERE taken < seats`: concurrent confirmations queue on
    this row and the CHECK makes overbooking impossible whatever the code above does.
    """

    __tablename__ = "slot_counters"
    __table_args__ = (CheckConstraint("taken >= 0 AND taken <= seats", name="seats"),)

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    slot_start: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    seats: Mapped[int] = mapped_column(Integer)  # as the schedule said at the last booking
    taken: Mapped[int] = mapped_column(Integer, default=0)


class BookingQuota(PerPerson, Base):
    """Active bookings of one tenant for one service, guarded like the seats: `WHERE active < limit`."""

    __tablename__ = "booking_quotas"
    __table_args__ = (CheckConstraint("active >= 0", name="active"),)

    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[int] = mapped_column(Integer, default=0)


class WaitlistEntry(SlotPlace, Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        _one_per_tenant_slot("uq_waitlist_one_per_tenant_slot", _OPEN_WAITLIST),
        Index("ix_waitlist_slot", "service_id", "slot_start", "status"),
        # A person's entries ("my data", forget me: storage/personal_data/), read without scanning the table.
        Index("ix_waitlist_user", "user_id"),
        Index("ix_waitlist_offers", "status", "offer_expires_at"),
        one_of("status", "waiting", "offered", "booked", "left", "expired"),
    )

    name: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BookingContact(PerPerson, Base):
    """The phone number a tenant gave for services that need one, offered again next time."""

    __tablename__ = "booking_contacts"

    phone: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BookingPrompt(Prompt):
    """A question the bot asked and whose answer will come as a text message: which slot a phone number is for,
    or which booking a member of staff is writing a cancellation reason for. In the database, so a restart or a
    language change in between loses nothing."""

    __tablename__ = "booking_prompts"
    __table_args__ = (one_of("kind", "phone", "reason"),)

    kind: Mapped[str] = mapped_column(String(12))
    service_id: Mapped[str | None] = mapped_column(String(64))
    slot_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    booking_id: Mapped[int | None] = mapped_column(Integer)
