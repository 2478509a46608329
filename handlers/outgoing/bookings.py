"""Messages about bookings to people other than the one pressing: reminders before an appointment, the waitlist's
offers and their expiry (a periodic job), all through the outbox; and the small lookups and summary lines they
share with the booking conversation (handlers/booking.py)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.i18n import Translator
from bot.runtime import Runtime
from bot.ui import Button, Screen, button, menu_row
from handlers.common import chat_translator, screen_params
from storage.domain import booking_intents, bookings, outbox
from storage.content import BookingRules, Content, Service, Space
from storage.models import Booking, WaitlistEntry

# --- small helpers


def timezone_of(rt: Runtime) -> ZoneInfo:
    return rt.settings.timezone


def bookable(content: Content, service_id: str) -> tuple[Service, Space] | None:
    service = content.services.get(service_id)
    if service is None or service.booking is None or service.space_id not in content.spaces:
        return None
    return service, content.spaces[service.space_id]


def rules_of(content: Content, service_id: str) -> BookingRules | None:
    service = content.services.get(service_id)
    return service.booking if service is not None else None


def space_phone(content: Content, space_id: str) -> str:
    space = content.spaces.get(space_id)
    return space.phone if space is not None and space.phone else content.contacts.free_phone


def service_title(tr: Translator, content: Content, service_id: str) -> str:
    service = content.services.get(service_id)
    return service.title.get(tr.language) if service is not None else tr._("Servizio non più in elenco")


def summary_lines(tr: Translator, content: Content, service_id: str, space_id: str, start: datetime, end: datetime) -> list[str]:
    """What, when and where, as every booking screen and message shows it."""
    lines = [
        f"<b>{tr.isolate(service_title(tr, content, service_id))}</b>",
        tr._("📅 {date}", date=tr.date(start)),
        tr._("🕘 {start}–{end}", start=tr.time(start), end=tr.time(end)),
    ]
    space = content.spaces.get(space_id)
    if space is not None:
        lines.append(tr._("📍 {space}, {address}", space=space.name.get(tr.language), address=space.address))
    return lines


def seats_label(tr: Translator, left: int) -> str:
    return tr.n_("{n} posto libero", "{n} posti liberi", left)


def book_again_rows(tr: Translator, content: Content, service_id: str) -> list[list[Button]]:
    """After a booking or an offer is gone: another time of the same service, while it can still be booked."""
    if bookable(content, service_id) is None:
        return []
    return [[button(tr._("📅 Prenota un altro orario"), callbacks.BOOK_DAYS, service_id, 0)]]


def offer_rows(tr: Translator, entry: WaitlistEntry) -> list[list[Button]]:
    """The answers to a seat offered from the waitlist."""
    return [
        [button(tr._("✅ Sì, prenota"), callbacks.WAITLIST_ACCEPT, entry.id)],
        [button(tr._("No, grazie"), callbacks.WAITLIST_LEAVE, entry.id)],
    ]


# --- messages to tenants sent later, through the outbox


def reminder_params(tr: Translator, content: Content, booking: Booking) -> dict:
    lines = [tr._("⏰ <b>Promemoria</b>: hai un appuntamento."), ""]
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    lines.append(tr._("Codice: {code}", code=booking.code))
    rows = [
        [button(tr._("❌ Annulla la prenotazione"), callbacks.BOOKING_CANCEL_ASK, booking.id)],
        [button(tr._("🗓 Le mie prenotazioni"), callbacks.MY_BOOKINGS)],
    ]
    return screen_params(Screen("\n".join(lines), rows))


async def enqueue_reminders(session: AsyncSession, tr: Translator, content: Content, booking: Booking, now: datetime) -> None:
    """A booking made from an accepted offer (a course's sessions: booking_intents.join_course)."""
    service = content.services.get(booking.service_id)
    if service is None or service.booking is None:
        return
    await booking_intents.enqueue_reminders(
        session, service.booking, booking, now, lambda booked: reminder_params(tr, content, booked)
    )


async def enqueue_offer(session: AsyncSession, rt: Runtime, entry: WaitlistEntry, now: datetime) -> None:
    tr = await chat_translator(session, rt, entry.user_id)
    content = rt.content
    lines = [
        tr._("🎉 <b>Si è liberato un posto!</b> Eri in lista d'attesa per:"), "",
        *summary_lines(tr, content, entry.service_id, entry.space_id, entry.slot_start, entry.slot_end), "",
        tr._("Lo vuoi? Confermalo entro le {time} di {date}, poi passa alla persona dopo di te.",
             time=tr.time(entry.offer_expires_at), date=tr.short_date(entry.offer_expires_at)),
    ]
    await outbox.enqueue(
        session, chat_id=entry.chat_id, method="sendMessage",
        params=screen_params(Screen("\n".join(lines), offer_rows(tr, entry))),
        dedupe_key=f"waitlist-offer:{entry.id}", now=now, guard=bookings.offer_guard(entry), kind="waitlist_offer",
        ref=str(entry.id),
    )


async def enqueue_offer_expired(session: AsyncSession, rt: Runtime, entry: WaitlistEntry, now: datetime) -> None:
    """Turn the offer message into a note that the time ran out, so its button cannot mislead."""
    tr = await chat_translator(session, rt, entry.user_id)
    lines = [
        tr._("⌛ Il tempo per confermare è scaduto e il posto è passato a un'altra persona:"), "",
        *summary_lines(tr, rt.content, entry.service_id, entry.space_id, entry.slot_start, entry.slot_end),
    ]
    rows = [*book_again_rows(tr, rt.content, entry.service_id), menu_row(tr)]
    await outbox.enqueue(
        session, chat_id=entry.chat_id, method="editMessageText",
        params={outbox.EDIT_REF: ["waitlist_offer", str(entry.id)], **screen_params(Screen("\n".join(lines), rows))},
        dedupe_key=f"waitlist-offer-expired:{entry.id}", now=now,
    )


async def expire_waitlist_offers(rt: Runtime) -> None:
    """Periodic job: offers not confirmed in time go to the next tenant in line."""
    now = rt.clock.now()
    async with rt.db.write() as session:
        for expiry in await bookings.expire_offers(session, now):
            await enqueue_offer_expired(session, rt, expiry.expired, now)
            if expiry.next_offer is not None:
                await enqueue_offer(session, rt, expiry.next_offer, now)
