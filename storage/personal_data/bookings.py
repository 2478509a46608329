"""Bookings, the waitlist, the saved phone number and the prompts of the booking flow."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import delete, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain.bookings import _release_seat
from storage.models import Booking, BookingContact, BookingPrompt, BookingQuota, WaitlistEntry
from storage.personal_data._helpers import count, delete_batch, record, rows
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register


async def _export(session: AsyncSession, user_id: int) -> dict[str, list[dict]]:
    booked = await rows(session, Booking, Booking.user_id == user_id, order=Booking.slot_start)
    waiting = await rows(session, WaitlistEntry, WaitlistEntry.user_id == user_id, order=WaitlistEntry.slot_start)
    contact = await session.get(BookingContact, user_id)
    return {
        "bookings": [
            {"code": booking.code, **record(booking, "space_id", "service_id", "slot_start", "slot_end", "status", "name",
                                            "phone", "created_at", "cancelled_at", "cancel_reason", "marked_at")}
            for booking in booked
        ],
        "waitlist": [record(entry, "space_id", "service_id", "slot_start", "status", "name", "created_at", "closed_at")
                     for entry in waiting],
        "phone_numbers": [record(contact, "phone", "updated_at")] if contact is not None else [],
    }


async def _forget(session: AsyncSession, forgetting: Forgetting) -> None:
    user_id, now = forgetting.user_id, forgetting.now
    # Seats they hold in slots still to come go back to everyone.
    for booking in await rows(session, Booking, Booking.user_id == user_id, Booking.status == "active", Booking.slot_start > now):
        await _release_seat(session, booking.service_id, booking.slot_start)
    for entry in await rows(session, WaitlistEntry, WaitlistEntry.user_id == user_id, WaitlistEntry.status == "offered",
                            WaitlistEntry.slot_start > now):
        await _release_seat(session, entry.service_id, entry.slot_start)
    for model, label in ((Booking, "bookings"), (WaitlistEntry, "waitlist"), (BookingContact, "phone numbers"),
                         (BookingQuota, None), (BookingPrompt, "drafts")):
        result = await session.execute(delete(model).where(model.user_id == user_id))
        if label:
            forgetting.count(label, result.rowcount)
    # Bookings of others they cancelled or marked as staff keep the fact, not who.
    await session.execute(update(Booking).where(Booking.cancelled_by == user_id).values(cancelled_by=None))
    await session.execute(update(Booking).where(Booking.marked_by == user_id).values(marked_by=None))


async def _count_bookings(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, Booking, Booking.slot_end < cutoff)


async def _purge_bookings(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, Booking, Booking.id, limit, Booking.slot_end < cutoff))


async def _count_waitlist(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, WaitlistEntry, WaitlistEntry.slot_end < cutoff)


async def _purge_waitlist(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, WaitlistEntry, WaitlistEntry.id, limit, WaitlistEntry.slot_end < cutoff))


async def _count_phones(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, BookingContact, BookingContact.updated_at < cutoff)


async def _purge_phones(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, BookingContact, BookingContact.user_id, limit, BookingContact.updated_at < cutoff))


async def _count_prompts(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, BookingPrompt, BookingPrompt.created_at < cutoff)


async def _purge_prompts(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    return PurgeBatch(await delete_batch(session, BookingPrompt, BookingPrompt.user_id, limit, BookingPrompt.created_at < cutoff))


register(PersonalDataSource(
    name="bookings",
    person_columns={
        "bookings": ("user_id", "chat_id", "cancelled_by", "marked_by"), "booking_quotas": ("user_id",),
        "booking_contacts": ("user_id",), "booking_prompts": ("user_id",), "waitlist_entries": ("user_id", "chat_id"),
    },
    personal_fields={"bookings": ("name", "phone", "cancel_reason"), "booking_contacts": ("phone",),
                     "waitlist_entries": ("name",)},
    export=_export,
    forget=_forget,
    retention=(
        RetentionRule("bookings", "bookings_days", _count_bookings, _purge_bookings),
        RetentionRule("waitlist", "bookings_days", _count_waitlist, _purge_waitlist),
        RetentionRule("booking_phones", "bookings_days", _count_phones, _purge_phones),
        RetentionRule("booking_prompts", "drafts_days", _count_prompts, _purge_prompts),
    ),
))
