"""Bookings of slots, the counters that make the database enforce capacity, the waitlist, and the small bits of
state a booking flow waits on (a phone number being typed, a cancellation reason being typed)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, text
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, UtcDateTime

# One live booking per tenant per slot: the idempotency guard that makes a double tap (or two instances racing)
# fail at the database instead of creating a second booking.
_LIVE_BOOKING = text("status != 'cancelled'")
_OPEN_WAITLIST = text("status IN ('waiting', 'offered')")


class Booking(Base):
    __tablename__ = "bookings"
    __table_args__ = (
        Index("uq_bookings_one_per_tenant_slot", "user_id", "service_id", "slot_start", unique=True,
              sqlite_where=_LIVE_BOOKING, postgresql_where=_LIVE_BOOKING),
        # Agendas by space and time; statistics count per space (status included: counted from the index alone).
        Index("ix_bookings_space_slot_status", "space_id", "slot_start", "status"),
        # Statistics count per service of a period without sorting ~100k bookings (storage/stats.py).
        Index("ix_bookings_space_service_slot", "space_id", "service_id", "slot_start", "status"),
        Index("ix_bookings_user_slot", "user_id", "slot_start"),
        CheckConstraint("status IN ('active', 'cancelled', 'attended', 'no_show')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    service_id: Mapped[str] = mapped_column(String(64))
    space_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[datetime] = mapped_column(UtcDateTime)
    slot_end: Mapped[datetime] = mapped_column(UtcDateTime)
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
        """What the tenant reads out on the phone; derived from the id so it is unique without a lookup."""
        return f"PR-{self.id:06d}"


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


class BookingQuota(Base):
    """Active bookings of one tenant for one service, guarded like the seats: `WHERE active < limit`."""

    __tablename__ = "booking_quotas"
    __table_args__ = (CheckConstraint("active >= 0", name="active"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    service_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    active: Mapped[int] = mapped_column(Integer, default=0)


class WaitlistEntry(Base):
    __tablename__ = "waitlist_entries"
    __table_args__ = (
        Index("uq_waitlist_one_per_tenant_slot", "user_id", "service_id", "slot_start", unique=True,
              sqlite_where=_OPEN_WAITLIST, postgresql_where=_OPEN_WAITLIST),
        Index("ix_waitlist_slot", "service_id", "slot_start", "status"),
        Index("ix_waitlist_offers", "status", "offer_expires_at"),
        CheckConstraint("status IN ('waiting', 'offered', 'booked', 'left', 'expired')", name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    chat_id: Mapped[int] = mapped_column(BigInteger)
    service_id: Mapped[str] = mapped_column(String(64))
    space_id: Mapped[str] = mapped_column(String(64))
    slot_start: Mapped[datetime] = mapped_column(UtcDateTime)
    slot_end: Mapped[datetime] = mapped_column(UtcDateTime)
    name: Mapped[str] = mapped_column(String(128))
    language: Mapped[str] = mapped_column(String(8))
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    offered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    offer_expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class BookingContact(Base):
    """The phone number a tenant gave for services that need one, offered again next time."""

    __tablename__ = "booking_contacts"

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    phone: Mapped[str] = mapped_column(String(32))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class BookingPrompt(Base):
    """A question the bot asked and whose answer will come as a text message: which slot a phone number is for,
    or which booking a member of staff is writing a cancellation reason for. In the database, so a restart or a
    language change in between loses nothing."""

    __tablename__ = "booking_prompts"
    __table_args__ = (CheckConstraint("kind IN ('phone', 'reason')", name="kind"),)

    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(12))
    service_id: Mapped[str | None] = mapped_column(String(64))
    slot_start: Mapped[datetime | None] = mapped_column(UtcDateTime)
    booking_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
