"""Bookings, the waitlist, the saved phone number and the prompts of the booking flow."""

from __future__ import annotations

from sqlalchemy import ColumnElement, Connection, bindparam, select

from storage.domain.bookings import _release_seat
from storage.models import Booking, BookingContact, BookingPrompt, BookingQuota, WaitlistEntry
from storage.models.bookings import booking_code
from storage.personal_data._helpers import forget_with, how_many, listed, record, rows_older_than, theirs, theirs_listed, unlinked
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_BOOKED = theirs_listed(Booking.user_id, order=Booking.__table__.c.slot_start)
_WAITING = theirs_listed(WaitlistEntry.user_id, order=WaitlistEntry.__table__.c.slot_start)
_CONTACT = theirs_listed(BookingContact.user_id)


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    booked = listed(connection, _BOOKED, user_id)
    waiting = listed(connection, _WAITING, user_id)
    contact = next(iter(listed(connection, _CONTACT, user_id)), None)
    return {
        "bookings": [
            {"code": booking_code(booking.id), **record(booking, "space_id", "service_id", "slot_start", "slot_end", "status", "name",
                                            "phone", "created_at", "cancelled_at", "cancel_reason", "marked_at")}
            for booking in booked
        ],
        "waitlist": [record(entry, "space_id", "service_id", "slot_start", "status", "name", "created_at", "closed_at")
                     for entry in waiting],
        "phone_numbers": [record(contact, "phone", "updated_at")] if contact is not None else [],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"bookings": how_many(Booking, Booking.user_id == user_id),
            "waitlist": how_many(WaitlistEntry, WaitlistEntry.user_id == user_id),
            "phone_numbers": how_many(BookingContact, BookingContact.user_id == user_id)}


_bookings, _waitlist = Booking.__table__, WaitlistEntry.__table__
# Seats they hold in slots still to come go back to everyone.
_SEATS_HELD = (
    select(_bookings.c.service_id, _bookings.c.slot_start).where(
        _bookings.c.user_id == bindparam("person"), _bookings.c.status == "active", _bookings.c.slot_start > bindparam("now")),
    select(_waitlist.c.service_id, _waitlist.c.slot_start).where(
        _waitlist.c.user_id == bindparam("person"), _waitlist.c.status == "offered", _waitlist.c.slot_start > bindparam("now")),
)
_FORGET = (
    *((theirs(column), label) for column, label in (
        (Booking.user_id, "bookings"), (WaitlistEntry.user_id, "waitlist"), (BookingContact.user_id, "phone numbers"),
        (BookingQuota.user_id, None), (BookingPrompt.user_id, "drafts"))),
    # Bookings of others they cancelled or marked as staff keep the fact, not who.
    *((unlinked(column), None) for column in (Booking.cancelled_by, Booking.marked_by)),
)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    for held in _SEATS_HELD:
        for service_id, slot_start in connection.execute(held, {"person": forgetting.user_id, "now": forgetting.now}).all():
            _release_seat(connection, service_id, slot_start)
    for statement, label in _FORGET:
        forget_with(connection, forgetting, statement, label)


register(PersonalDataSource(
    name="bookings",
    person_columns={
        "bookings": ("user_id", "chat_id", "cancelled_by", "marked_by"), "booking_quotas": ("user_id",),
        "booking_contacts": ("user_id",), "booking_prompts": ("user_id",), "waitlist_entries": ("user_id", "chat_id"),
    },
    personal_fields={"bookings": ("name", "phone", "cancel_reason"), "booking_contacts": ("phone",),
                     "waitlist_entries": ("name",)},
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        rows_older_than("bookings", "bookings_days", Booking.id, Booking.slot_end),
        rows_older_than("waitlist", "bookings_days", WaitlistEntry.id, WaitlistEntry.slot_end),
        rows_older_than("booking_phones", "bookings_days", BookingContact.user_id, BookingContact.updated_at),
        rows_older_than("booking_prompts", "drafts_days", BookingPrompt.user_id, BookingPrompt.created_at),
    ),
))
