"""Booking for tenants: from a service (or Book → space → service) pick a day, a time, confirm; my bookings with
cancel; the waitlist; the messages sent to tenants later (reminders, waitlist offers) through the outbox.

Four taps from the service screen to a confirmed booking: Prenota → day → time → Conferma. Every button carries
only ids (service, slot stamp, booking id); the state is in the database, so a stale button, a double tap, a
restart or a change of language in the middle loses nothing and books nothing twice.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime

from telegram import Update

from bot import callbacks
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Button, Screen, back_row, button, menu_row, show
from handlers.common import paging, reply, space_name
from handlers.outgoing.bookings import (
    book_again_rows, bookable, enqueue_offer, enqueue_reminders, offer_rows, reminder_params, rules_of, seats_label,
    service_title,
    space_phone, summary_lines, timezone_of,
)
from storage.domain import booking_intents, bookings, shortcuts
from storage.domain.booking_intents import AskPhone, AtLimit, Booked, Full, JustFilled, SlotGone, SlotRequest, SlotView, ToConfirm
from storage.domain.bookings import BookingRow, FreeSlot, Reason, Refused, WaitlistRow
from storage.content import Content, Service, Space
from storage.models import Booking, WaitlistEntry
from storage.models.bookings import booking_code

DAYS_PER_PAGE = 6
TIMES_IN_ONE_COLUMN = 6  # more times than this go two to a row


# --- screens


def render_book_spaces(v: Visitor, content: Content, recent: Iterable[str] = ()) -> Screen:
    """The spaces with something to book; first, the services the tenant booked lately, one tap from their days."""
    tr = v.tr
    rows = [
        [button(tr._("🔁 Di nuovo: {service} · {space}", service=service_title(tr, content, service_id),
                     space=space_name(tr, content, content.services[service_id].space_id)), callbacks.BOOK_DAYS, service_id, 0)]
        for service_id in recent if bookable(content, service_id) is not None
    ]
    rows.append([button(tr._("🗓 Le mie prenotazioni"), callbacks.MY_BOOKINGS)])
    for space in content.spaces.values():
        if any(service.booking for service in content.services_of(space.id)):
            rows.append([button(tr.label(space.neighbourhood, space.name.get(tr.language)), callbacks.BOOK_SPACE, space.id)])
    rows.append(menu_row(tr))
    return Screen(tr._("<b>Prenota un appuntamento.</b> In quale spazio?"), rows)


def render_book_services(v: Visitor, content: Content, space: Space) -> Screen:
    tr = v.tr
    rows = [
        [button(service.title.get(tr.language), callbacks.BOOK_DAYS, service.id, 0)]
        for service in content.services_of(space.id) if service.booking
    ]
    rows.append(back_row(tr, callbacks.BOOK))
    text = tr._("<b>{space}</b>: cosa vuoi prenotare?", space=space.name.get(tr.language))
    return Screen(text, rows)


def render_days(v: Visitor, service: Service, space: Space, days: dict[date, int], page: int,
                first_free: FreeSlot | None = None) -> Screen:
    tr = v.tr
    free_days = [(day, left) for day, left in days.items() if left > 0]
    page, pages = paging(page, len(free_days), DAYS_PER_PAGE)
    rows = []
    if first_free is not None and page == 0:  # the soonest time, for whom any day will do: one tap to the summary
        start = first_free.slot.start
        rows.append([button(tr._("⏩ Il primo libero: {day}, {time}", day=tr.short_date(start), time=tr.time(start)),
                            callbacks.BOOK_SLOT, service.id, bookings.stamp_of(start, tr.timezone))])
    rows += [
        [button(tr._("{day} · {seats}", day=tr.short_date(day), seats=seats_label(tr, left)),
                callbacks.BOOK_TIMES, service.id, bookings.day_code(day))]
        for day, left in free_days[page * DAYS_PER_PAGE : (page + 1) * DAYS_PER_PAGE]
    ]
    if page > 0:
        rows.append([button(tr._("◀️ Giorni precedenti"), callbacks.BOOK_DAYS, service.id, page - 1)])
    if page < pages - 1:
        rows.append([button(tr._("Altri giorni ▶️"), callbacks.BOOK_DAYS, service.id, page + 1)])
    if len(free_days) < len(days):
        rows.append([button(tr._("⏳ Giorni pieni: lista d'attesa"), callbacks.WAITLIST_DAYS, service.id)])
    rows.append([button(tr._("⬅️ Indietro"), callbacks.SERVICE, service.id), button(tr._("🏠 Menu"), callbacks.MENU)])
    lines = [f"<b>{tr.isolate(service.title.get(tr.language))}</b>", tr._("📍 {space}", space=space.name.get(tr.language)), ""]
    if free_days:
        lines.append(tr._("Scegli il giorno:"))
    elif days:
        lines.append(tr._("Tutti i posti sono presi. Puoi metterti in lista d'attesa per un giorno pieno."))
    else:
        lines.append(tr._("Al momento non ci sono orari da prenotare. Riprova tra qualche giorno o chiama lo spazio."))
    return Screen("\n".join(lines), rows)


def render_full_days(v: Visitor, service: Service, days: dict[date, int]) -> Screen:
    tr = v.tr
    full_days = [day for day, left in days.items() if left == 0][:DAYS_PER_PAGE]
    rows = [
        [button(tr._("⏳ {day} · pieno", day=tr.short_date(day)), callbacks.BOOK_TIMES, service.id, bookings.day_code(day))]
        for day in full_days
    ]
    rows.append(back_row(tr, callbacks.BOOK_DAYS, service.id, 0))
    text = tr._("<b>{service}</b>: giorni pieni. Scegli il giorno e l'orario: se si libera un posto, ti scrivo io.",
                service=service.title.get(tr.language))
    if not full_days:
        text = tr._("Non ci sono giorni pieni: ci sono ancora posti liberi.")
    return Screen(text, rows)


def render_times(v: Visitor, service: Service, space: Space, day: date, free: list[FreeSlot]) -> Screen:
    tr = v.tr
    buttons = []
    for item in free:
        stamp = bookings.stamp_of(item.slot.start, v.tr.timezone)
        if item.left:
            label = tr._("{time} · {seats}", time=tr.time(item.slot.start), seats=seats_label(tr, item.left))
            buttons.append(button(label, callbacks.BOOK_SLOT, service.id, stamp))
        else:
            label = tr._("{time} · pieno, lista d'attesa ⏳", time=tr.time(item.slot.start))
            buttons.append(button(label, callbacks.WAITLIST_JOIN, service.id, stamp))
    per_row = 1 if len(buttons) <= TIMES_IN_ONE_COLUMN else 2
    rows = [buttons[index : index + per_row] for index in range(0, len(buttons), per_row)]
    rows.append(back_row(tr, callbacks.BOOK_DAYS, service.id, 0))
    lines = [f"<b>{tr.isolate(service.title.get(tr.language))}</b>", tr._("📅 {date}", date=tr.date(day)), ""]
    if free:
        lines.append(tr._("Scegli l'orario:"))
    else:
        lines.append(tr._("Per questo giorno non ci sono più orari. Scegli un altro giorno."))
    return Screen("\n".join(lines), rows)


def render_phone_question(v: Visitor, service: Service, slot_start: datetime, *, retry: bool = False) -> Screen:
    tr = v.tr
    day = slot_start.astimezone(tr.timezone).date()
    text = tr._("Questo servizio chiede un numero di telefono, per avvisarti se qualcosa cambia.")
    if retry:
        text = tr._("Non sembra un numero di telefono.")
    text += "\n\n" + tr._("Scrivi il tuo numero qui sotto, per esempio 333 123 4567.")
    return Screen(text, [back_row(tr, callbacks.BOOK_TIMES, service.id, bookings.day_code(day))])


def render_confirm(v: Visitor, content: Content, service: Service, space: Space, item: FreeSlot, phone: str | None) -> Screen:
    tr = v.tr
    rules = service.booking
    stamp = bookings.stamp_of(item.slot.start, tr.timezone)
    lines = [tr._("<b>Controlla e conferma:</b>"), ""]
    lines += summary_lines(tr, content, service.id, space.id, item.slot.start, item.slot.end)
    lines.append(tr._("👤 {name}", name=v.first_name))
    if phone:
        lines.append(tr._("📞 {phone}", phone=phone))
    lines.append("")
    lines.append(tr.n_("Puoi annullare fino a {n} ora prima.", "Puoi annullare fino a {n} ore prima.", rules.cancel_deadline_hours))
    rows = [[button(tr._("✅ Conferma la prenotazione"), callbacks.BOOK_CONFIRM, service.id, stamp)]]
    if phone:
        rows.append([button(tr._("📞 Cambia numero"), callbacks.BOOK_PHONE, service.id, stamp)])
    day = item.slot.start.astimezone(tr.timezone).date()
    rows.append(back_row(tr, callbacks.BOOK_TIMES, service.id, bookings.day_code(day)))
    return Screen("\n".join(lines), rows)


def render_booked(v: Visitor, content: Content, booking: Booking | BookingRow) -> Screen:
    tr = v.tr
    service = content.services.get(booking.service_id)
    lines = [tr._("✅ <b>Prenotazione confermata.</b> Codice: <b>{code}</b>", code=booking_code(booking.id)), ""]
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    lines.append("")
    if service is not None and service.booking is not None:
        lines.append(tr._("Ti mando un promemoria prima dell'appuntamento."))
        lines.append(tr.n_("Per annullare: «Le mie prenotazioni», fino a {n} ora prima.",
                           "Per annullare: «Le mie prenotazioni», fino a {n} ore prima.", service.booking.cancel_deadline_hours))
    rows = [[button(tr._("🗓 Le mie prenotazioni"), callbacks.MY_BOOKINGS)], menu_row(tr)]
    return Screen("\n".join(lines), rows)


def render_just_taken(v: Visitor, service: Service, slot_start: datetime, alternatives: list[FreeSlot]) -> Screen:
    tr = v.tr
    stamp = bookings.stamp_of(slot_start, tr.timezone)
    rows = [
        [button(f"{tr.short_date(item.slot.start)} {tr.time(item.slot.start)} · {seats_label(tr, item.left)}",
                callbacks.BOOK_SLOT, service.id, bookings.stamp_of(item.slot.start, tr.timezone))]
        for item in alternatives
    ]
    rows.append([button(tr._("⏳ Mettimi in lista d'attesa"), callbacks.WAITLIST_JOIN, service.id, stamp)])
    rows.append([button(tr._("📅 Altri giorni"), callbacks.BOOK_DAYS, service.id, 0)])
    rows.append(menu_row(tr))
    text = tr._("😕 Quest'orario è appena stato preso da un'altra persona.")
    text += "\n\n" + (tr._("Ecco i prossimi orari liberi:") if alternatives else tr._("Non ci sono altri orari liberi per ora."))
    return Screen(text, rows)


def render_limit(v: Visitor, service: Service) -> Screen:
    tr = v.tr
    limit = service.booking.max_active_per_tenant if service.booking else 1
    text = tr.n_(
        "Hai già {n} prenotazione per questo servizio: è il massimo. Annullala, o aspetta l'appuntamento, per prenotare ancora.",
        "Hai già {n} prenotazioni per questo servizio: è il massimo. Annullane una, o aspetta l'appuntamento, per prenotare ancora.",
        limit,
    )
    return Screen(text, [[button(tr._("🗓 Le mie prenotazioni"), callbacks.MY_BOOKINGS)], menu_row(tr)])


def render_my_bookings(v: Visitor, content: Content, booked: list[BookingRow], waiting: list[WaitlistRow]) -> Screen:
    tr = v.tr
    rows = []
    for booking in booked:
        label = f"📅 {tr.short_date(booking.slot_start)} {tr.time(booking.slot_start)} · {service_title(tr, content, booking.service_id)}"
        rows.append([button(label, callbacks.BOOKING, booking.id)])
    for entry in waiting:
        mark = "🎉" if entry.status == "offered" else "⏳"
        label = f"{mark} {tr.short_date(entry.slot_start)} {tr.time(entry.slot_start)} · {service_title(tr, content, entry.service_id)}"
        rows.append([button(label, callbacks.WAITLIST_ENTRY, entry.id)])
    if booked or waiting:
        text = tr._("<b>Le tue prenotazioni.</b> Tocca una prenotazione per vederla o annullarla.")
        if waiting:
            text += "\n" + tr._("⏳ = in lista d'attesa")
    else:
        text = tr._("Non hai prenotazioni in programma.")
    rows.append([button(tr._("📅 Prenota"), callbacks.BOOK)])
    rows.append(menu_row(tr))
    return Screen(text, rows)


def render_booking(v: Visitor, content: Content, booking: BookingRow, now: datetime) -> Screen:
    tr = v.tr
    service = content.services.get(booking.service_id)
    rules = service.booking if service is not None else None
    lines = [tr._("Prenotazione <b>{code}</b>", code=booking_code(booking.id)), ""]
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    rows = []
    if booking.status == "active" and booking.slot_start > now:
        if bookings.can_cancel_by_self(rules, booking.slot_start, now):
            rows.append([button(tr._("❌ Annulla la prenotazione"), callbacks.BOOKING_CANCEL_ASK, booking.id)])
        else:
            lines.append("")
            lines.append(tr.n_("Manca meno di {n} ora: per annullare chiama lo spazio al {phone}.",
                               "Mancano meno di {n} ore: per annullare chiama lo spazio al {phone}.",
                               rules.cancel_deadline_hours if rules else 0, phone=space_phone(content, booking.space_id)))
    rows.append(back_row(tr, callbacks.MY_BOOKINGS))
    return Screen("\n".join(lines), rows)


def render_cancel_ask(v: Visitor, content: Content, booking: BookingRow) -> Screen:
    tr = v.tr
    lines = [tr._("Vuoi davvero annullare questa prenotazione?"), ""]
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    rows = [
        [button(tr._("Sì, annulla"), callbacks.BOOKING_CANCEL, booking.id)],
        [button(tr._("No, tienila"), callbacks.BOOKING, booking.id)],
        menu_row(tr),
    ]
    return Screen("\n".join(lines), rows)


def render_cancelled(v: Visitor, content: Content, booking: Booking) -> Screen:
    tr = v.tr
    rows = book_again_rows(tr, content, booking.service_id)
    rows.append([button(tr._("🗓 Le mie prenotazioni"), callbacks.MY_BOOKINGS)])
    rows.append(menu_row(tr))
    return Screen(tr._("Fatto: la prenotazione {code} è annullata.", code=booking.code), rows)


def render_waitlist_entry(v: Visitor, content: Content, entry: WaitlistEntry | WaitlistRow, place: int) -> Screen:
    tr = v.tr
    lines = []
    rows = []
    if entry.status == "offered" and entry.offer_expires_at is not None:
        lines.append(tr._("🎉 <b>Si è liberato un posto per te!</b> Confermalo entro le {time} di {date}.",
                          time=tr.time(entry.offer_expires_at), date=tr.short_date(entry.offer_expires_at)))
        rows += offer_rows(tr, entry)
    else:
        lines.append(tr._("⏳ Sei in lista d'attesa: {place}° in fila.", place=place))
        lines.append(tr.n_("Se si libera un posto ti scrivo io, e avrai {n} ora per confermarlo.",
                           "Se si libera un posto ti scrivo io, e avrai {n} ore per confermarlo.",
                           bookings.OFFER_HOLD.total_seconds() / 3600))
        rows.append([button(tr._("Esci dalla lista d'attesa"), callbacks.WAITLIST_LEAVE, entry.id)])
    lines.append("")
    lines += summary_lines(tr, content, entry.service_id, entry.space_id, entry.slot_start, entry.slot_end)
    rows.append(back_row(tr, callbacks.MY_BOOKINGS))
    return Screen("\n".join(lines), rows)


# --- handlers: decode, call the domain, render


async def _gone(update: Update, context: FrontDeskContext, v: Visitor) -> None:
    """The service behind the button or the prompt is no longer bookable (removed or changed by the editors)."""
    await reply(update, render_book_spaces(v, context.rt.content), v.tr._("Questo servizio non si prenota più. Ecco dove puoi prenotare."))


async def _tapped_service(update: Update, context: FrontDeskContext) -> tuple[Visitor, Service, Space] | None:
    """The visitor and the bookable service the button names (its first argument) with its space, or None once
    the tenant has been told it is not bookable any more."""
    v = await context.open()
    found = bookable(context.rt.content, context.data.args[0])
    if found is None:
        await _gone(update, context, v)
        return None
    return v, *found


async def book_entry(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    recent = await shortcuts.recent_services(rt.db, v.user_id, rt.content)
    await reply(update, render_book_spaces(v, rt.content, recent))


async def book_space(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    space = context.rt.content.spaces.get(context.data.args[0])
    if space is None:
        await _gone(update, context, v)
    else:
        await reply(update, render_book_services(v, context.rt.content, space))


async def _free_slots(rt: Runtime, service: Service, space: Space, day: date | None = None) -> list[FreeSlot]:
    """The bookable times as they are now: of one day, or of every day."""
    return await bookings.free_slots_now(rt.db, service, space, rt.clock.now(), timezone_of(rt), on=day)


def _render_days(rt: Runtime, v: Visitor, service: Service, space: Space, free: list[FreeSlot], page: int = 0) -> Screen:
    first_free = next((item for item in free if item.left > 0), None)
    return render_days(v, service, space, bookings.seats_by_day(free, timezone_of(rt)), page, first_free)


async def _days_screen(rt: Runtime, v: Visitor, service: Service, space: Space, page: int = 0) -> Screen:
    return _render_days(rt, v, service, space, await _free_slots(rt, service, space), page)


async def book_days(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_service(update, context)
    if tapped is not None:
        await reply(update, await _days_screen(context.rt, *tapped, context.data.int(1)))


async def waitlist_days(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_service(update, context)
    if tapped is not None:
        v, service, space = tapped
        free = await _free_slots(context.rt, service, space)
        await reply(update, render_full_days(v, service, bookings.seats_by_day(free, timezone_of(context.rt))))


async def book_times(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_service(update, context)
    if tapped is None:
        return
    v, service, space = tapped
    day = bookings.day_of(context.data.args[1])
    if day is None:
        await reply(update, await _days_screen(context.rt, v, service, space))
    else:
        await reply(update, render_times(v, service, space, day, await _free_slots(context.rt, service, space, day)))


def _request(v: Visitor, service: Service, space: Space, start: datetime) -> SlotRequest:
    return SlotRequest(service, space, start, v.user_id, v.chat_id, v.first_name, v.language)


async def _show_slot(update: Update, context: FrontDeskContext, v: Visitor, service: Service, space: Space,
                     outcome: SlotView) -> None:
    """Render what the domain decided about a chosen time (booking_intents); the note goes on the button, or
    above the screen after a typed message."""
    rt = context.rt
    note = None
    match outcome:
        case Booked(booking):
            screen = render_booked(v, rt.content, booking)
        case SlotGone(day, free, all_days):
            note = v.tr._("Quest'orario non si può più prenotare. Scegli un altro orario.")
            screen = render_times(v, service, space, day, free) if free else _render_days(rt, v, service, space, all_days)
        case JustFilled(day, free):
            note = v.tr._("Quest'orario si è appena riempito.")
            screen = render_times(v, service, space, day, free)
        case AskPhone(start):
            screen = render_phone_question(v, service, start)
        case ToConfirm(item, phone):
            screen = render_confirm(v, rt.content, service, space, item, phone)
    await reply(update, screen, note)


async def _offer_slot(update: Update, context: FrontDeskContext, v: Visitor, service: Service, space: Space,
                      start: datetime | None, *, ask_phone: bool = False) -> None:
    """The screen after a time is chosen: the summary to confirm, the phone question, or why not any more and
    the current choices."""
    rt = context.rt
    if start is None:
        await reply(update, await _days_screen(rt, v, service, space))
        return
    outcome = await booking_intents.offer_slot(rt.db, _request(v, service, space, start), now=rt.clock.now(),
                                               tz=timezone_of(rt), ask_phone=ask_phone)
    await _show_slot(update, context, v, service, space, outcome)


async def _tapped_time(update: Update, context: FrontDeskContext) -> tuple[Visitor, Service, Space, datetime | None] | None:
    """As `_tapped_service`, with the time the button names (its second argument; None when it is not a time)."""
    tapped = await _tapped_service(update, context)
    return None if tapped is None else (*tapped, bookings.start_of(context.data.args[1], timezone_of(context.rt)))


async def book_slot(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_time(update, context)
    if tapped is not None:
        await _offer_slot(update, context, *tapped, ask_phone=context.data.action is callbacks.BOOK_PHONE)


async def book_confirm(update: Update, context: FrontDeskContext) -> None:
    """One domain call decides (booking_intents.confirm_booking); this only renders its outcome."""
    tapped = await _tapped_time(update, context)
    if tapped is None:
        return
    rt, (v, service, space, start) = context.rt, tapped
    if start is None:
        await _offer_slot(update, context, v, service, space, None)
        return
    outcome = await booking_intents.confirm_booking(
        rt.db, _request(v, service, space, start), now=rt.clock.now(), tz=timezone_of(rt),
        reminder_params=lambda booking: reminder_params(v.tr, rt.content, booking),
    )
    match outcome:
        case Booked(booking, fresh):
            rt.wake_outbox()
            note = v.tr._("Prenotato!") if fresh else v.tr._("Questa prenotazione è già fatta.")
            await reply(update, render_booked(v, rt.content, booking), note)
        case Full(alternatives):
            await reply(update, render_just_taken(v, service, start, alternatives), v.tr._("Posto appena preso."))
        case AtLimit():
            await reply(update, render_limit(v, service))
        case _:
            await _show_slot(update, context, v, service, space, outcome)


async def phone_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT consumer: the phone number a bookable service asked for."""
    rt = context.rt
    user_id = update.effective_user.id
    now = rt.clock.now()
    async with rt.db.read() as session:
        prompt = await bookings.pending_prompt(session, user_id, "phone", now)
    if prompt is None:
        return False
    text = update.effective_message.text or ""
    if not any(character.isdigit() for character in text):
        # No digits at all: they moved on (a search, a question), so stop waiting for the number.
        async with rt.db.write() as session:
            await bookings.clear_prompt(session, user_id)
        return False
    v = await context.open()
    found = bookable(rt.content, prompt.service_id or "")
    if found is None:
        async with rt.db.write() as session:
            await bookings.clear_prompt(session, user_id)
        await _gone(update, context, v)
        return True
    phone = bookings.normalise_phone(text)
    if phone is None:
        await show(update, render_phone_question(v, found[0], prompt.slot_start, retry=True))
        return True
    async with rt.db.write() as session:
        await bookings.save_phone(session, user_id, phone, now)
        await bookings.clear_prompt(session, user_id)
    await _offer_slot(update, context, v, *found, prompt.slot_start)
    return True


async def forget_prompt(rt: Runtime, user_id: int) -> bool:
    """/cancel: stop waiting for a phone number or a cancellation reason."""
    async with rt.db.write() as session:
        return await bookings.clear_prompt(session, user_id)


async def my_bookings(update: Update, context: FrontDeskContext) -> None:
    await reply(update, await _my_bookings_screen(context.rt, await context.open()))


async def _my_bookings_screen(rt: Runtime, v: Visitor) -> Screen:
    booked, waiting = await bookings.my_bookings(rt.db, v.user_id, rt.clock.now())
    return render_my_bookings(v, rt.content, booked, waiting)


async def _booking_gone(update: Update, rt: Runtime, v: Visitor, note: str) -> None:
    await reply(update, await _my_bookings_screen(rt, v), note)


async def booking_view(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    decoded = context.data
    booking = await bookings.own_booking(rt.db, decoded.int(0), v.user_id)
    if booking is None or booking.status != "active":
        await _booking_gone(update, rt, v, v.tr._("Questa prenotazione non è più attiva. Ecco quelle in programma."))
        return
    asks_to_cancel = decoded.action is callbacks.BOOKING_CANCEL_ASK and bookings.can_cancel_by_self(
        rules_of(rt.content, booking.service_id), booking.slot_start, rt.clock.now()
    )
    await reply(update, render_cancel_ask(v, rt.content, booking) if asks_to_cancel
                 else render_booking(v, rt.content, booking, rt.clock.now()))


async def booking_cancel(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    booking_id = context.data.int(0)
    now = rt.clock.now()
    booking = await bookings.own_booking(rt.db, booking_id, v.user_id)
    try:
        async with rt.db.write() as session:
            cancellation = await bookings.cancel_by_tenant(
                session, booking_id, v.user_id, now, rules_of(rt.content, booking.service_id) if booking else None
            )
            if cancellation.offer is not None:
                await enqueue_offer(session, rt, cancellation.offer, now)
    except Refused as refusal:
        if refusal.reason is Reason.DEADLINE:
            await reply(update, render_booking(v, rt.content, booking, now), v.tr._("È troppo tardi per annullare da qui."))
        elif refusal.reason is Reason.STARTED:
            await _booking_gone(update, rt, v, v.tr._("L'appuntamento è già iniziato."))
        else:
            await _booking_gone(update, rt, v, v.tr._("Questa prenotazione era già annullata."))
        return
    rt.wake_outbox()
    await reply(update, render_cancelled(v, rt.content, cancellation.booking), v.tr._("Prenotazione annullata."))


async def waitlist_join(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_time(update, context)
    if tapped is None:
        return
    rt, (v, service, space, start) = context.rt, tapped
    now = rt.clock.now()
    if service.booking.phone_required:
        # asked now, so that accepting an offer later is a single tap
        if await bookings.phone_on_file(rt.db, v.user_id) is None:
            await _offer_slot(update, context, v, service, space, start, ask_phone=True)
            return
    try:
        async with rt.db.write() as session:
            if start is None:
                raise Refused(Reason.UNAVAILABLE)
            entry = await bookings.join_waitlist(
                session, service=service, space=space, start=start, user_id=v.user_id, chat_id=v.chat_id,
                name=v.first_name, language=v.language, now=now, tz=timezone_of(rt),
            )
            place = await bookings.place_in_line(session, entry)
    except Refused as refusal:
        if refusal.reason is Reason.ON_WAITLIST:
            await reply(update, await _my_bookings_screen(rt, v), v.tr._("Sei già in lista d'attesa per quest'orario."))
        else:  # a seat is free again, it is already theirs, or the slot is gone: show the slot as it is now
            await _offer_slot(update, context, v, service, space, start)
        return
    await reply(update, render_waitlist_entry(v, rt.content, entry, place), v.tr._("Sei in lista d'attesa."))


async def waitlist_entry_view(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    entry, place = await bookings.own_entry_and_place(rt.db, context.data.int(0), v.user_id)
    if entry is None or entry.status not in ("waiting", "offered"):
        await _booking_gone(update, rt, v, v.tr._("Non sei più in questa lista d'attesa."))
        return
    await reply(update, render_waitlist_entry(v, rt.content, entry, place))


async def waitlist_leave(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            next_offer = await bookings.leave_waitlist(session, context.data.int(0), v.user_id, now)
            if next_offer is not None:
                await enqueue_offer(session, rt, next_offer, now)
    except Refused:
        await _booking_gone(update, rt, v, v.tr._("Non sei più in questa lista d'attesa."))
        return
    rt.wake_outbox()
    await reply(update, await _my_bookings_screen(rt, v), v.tr._("Sei uscito/a dalla lista d'attesa."))


async def waitlist_accept(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    entry_id = context.data.int(0)
    now = rt.clock.now()
    entry, phone = await bookings.own_entry_and_phone(rt.db, entry_id, v.user_id)
    service = rt.content.services.get(entry.service_id) if entry is not None else None
    try:
        async with rt.db.write() as session:
            booking = await bookings.accept_offer(
                session, entry_id, v.user_id, service=service,
                phone=phone if service is not None and service.booking and service.booking.phone_required else None, now=now,
            )
            await enqueue_reminders(session, v.tr, rt.content, booking, now)
    except Refused as refusal:
        if refusal.reason is Reason.LIMIT and service is not None:
            await reply(update, render_limit(v, service))
        elif refusal.reason is Reason.ALREADY_BOOKED and refusal.booking is not None:
            await reply(update, render_booked(v, rt.content, refusal.booking))
        else:
            await _booking_gone(update, rt, v, v.tr._("Mi dispiace, il tempo per confermare è scaduto."))
        return
    rt.wake_outbox()
    await reply(update, render_booked(v, rt.content, booking), v.tr._("Prenotato!"))


def book_button(v: Visitor, service: Service) -> list[Button]:
    """Under a bookable service's screen: the first of the four taps to a booking."""
    return [button(v.tr._("📅 Prenota"), callbacks.BOOK_DAYS, service.id, 0)] if service.booking else []
