"""/agenda for the people who run the spaces: today's and tomorrow's bookings in their spaces, attended / no-show,
and cancelling a booking with a reason the tenant receives in their own language.

Who sees which space: operators their spaces, custodians the spaces serving their estates, admins all. Every
action checks that again on the server, since a button can be forged.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from telegram import Update

from bot import callbacks
from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Screen, button, clip, menu_row, pager_row, show
from handlers.outgoing.bookings import book_again_rows, enqueue_offer, service_title, summary_lines
from handlers.common import chat_translator, paging, screen_params, space_name
from handlers.guides import agenda_note
from storage.domain import audit, bookings, guides, outbox
from storage.domain.bookings import Reason, Refused
from storage.content import Content
from storage.models import Booking
from storage.domain.users import Roles

AGENDA_PER_PAGE = 8
AGENDA_DAYS = 2  # today and tomorrow
MAX_REASON = 300
# Reasons staff pick with one tap; the tenant reads them in their own language.
CANCEL_REASONS = {
    "closed": N_("Lo spazio resta chiuso."),
    "absent": N_("La persona che doveva riceverti non può esserci."),
    "schedule": N_("L'orario del servizio è cambiato."),
}
OTHER_REASON = "other"
MARKS = {"attended": True, "no_show": False}
STATUS_LABELS = {
    "active": N_("prenotata"),
    "attended": N_("✅ presente"),
    "no_show": N_("🚫 non venuto/a"),
}


def may_use_agenda(roles: Roles) -> bool:
    return roles.keeps_bookings


def day_bounds(rt: Runtime, offset: int) -> tuple[date, datetime, datetime]:
    """The local day `offset` days from today, and its start and end in UTC."""
    tz = rt.settings.timezone
    day = rt.clock.now().astimezone(tz).date() + timedelta(days=offset)
    start = datetime.combine(day, time(0), tzinfo=tz)
    end = datetime.combine(day + timedelta(days=1), time(0), tzinfo=tz)
    return day, start, end


def shows_phone(content: Content, booking: Booking) -> bool:
    """Phone numbers are shown only for services that ask for one."""
    service = content.services.get(booking.service_id)
    if service is None or service.booking is None:
        return booking.phone is not None
    return service.booking.phone_required


def _line(tr: Translator, content: Content, booking: Booking, note: guides.DeskNote | None = None) -> str:
    line = tr._("{time} · {service} · {name}", time=tr.time(booking.slot_start),
                service=service_title(tr, content, booking.service_id), name=booking.name)
    if shows_phone(content, booking) and booking.phone:
        line += " · " + tr._("☎️ {phone}", phone=booking.phone)
    if booking.status != "active":
        line += " · " + tr._(STATUS_LABELS[booking.status])
    if note is not None:  # a tenant stuck in a guide booked this help desk
        line += "\n    " + agenda_note(tr, content, note)
    return line


def render_agenda(v: Visitor, content: Content, day: date, offset: int, items: list[Booking], page: int,
                  notes: dict[int, guides.DeskNote] | None = None) -> Screen:
    tr = v.tr
    heading = tr._("<b>Agenda di oggi</b>, {date}", date=tr.date(day)) if offset == 0 else tr._(
        "<b>Agenda di domani</b>, {date}", date=tr.date(day))
    items = sorted(items, key=lambda booking: (booking.space_id, booking.slot_start, booking.id))
    page, pages = paging(page, len(items), AGENDA_PER_PAGE)
    chunk = items[page * AGENDA_PER_PAGE : (page + 1) * AGENDA_PER_PAGE]
    lines = [heading]
    if not items:
        lines.append(tr._("Nessuna prenotazione."))
    space_id = None
    for booking in chunk:
        if booking.space_id != space_id:
            space_id = booking.space_id
            lines.append("")
            lines.append(f"<b>{tr.isolate(space_name(tr, content, space_id))}</b>")
        lines.append(_line(tr, content, booking, (notes or {}).get(booking.id)))
    rows = [
        [button(f"{tr.time(booking.slot_start)} {clip(booking.name, 24)} · {clip(service_title(tr, content, booking.service_id), 24)}",
                callbacks.AGENDA_BOOKING, booking.id)]
        for booking in chunk
    ]
    pager = pager_row(tr, callbacks.AGENDA, page, pages, offset)
    if pager:
        rows.append(pager)
    if offset == 0:
        rows.append([button(tr._("Domani ▶️"), callbacks.AGENDA, 1, 0)])
    else:
        rows.append([button(tr._("◀️ Oggi"), callbacks.AGENDA, 0, 0)])
    rows.append([button(tr._("⬅️ Strumenti per lo staff"), callbacks.STAFF)])
    return Screen("\n".join(lines), rows)


def render_agenda_booking(v: Visitor, content: Content, booking: Booking, now: datetime,
                          note: guides.DeskNote | None = None) -> Screen:
    tr = v.tr
    lines = [f"<b>{tr.isolate(booking.name)}</b>"]
    if note is not None:
        lines.append(agenda_note(tr, content, note))
    if shows_phone(content, booking) and booking.phone:
        lines.append(tr._("☎️ {phone}", phone=booking.phone))
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    lines.append(tr._("Codice: {code}", code=booking.code))
    lines.append(tr._("Stato: {status}", status=tr._(STATUS_LABELS.get(booking.status, N_("annullata")))))
    service = content.services.get(booking.service_id)
    space = content.spaces.get(booking.space_id)
    if booking.status == "active" and not bookings.in_schedule(
        service.booking if service else None, space, booking.slot_start, v.tr.timezone
    ):
        lines.append("")
        lines.append(tr._("⚠️ Quest'orario non è più nel calendario del servizio. La prenotazione resta valida finché non la annulli."))
    rows = []
    if booking.status != "cancelled" and booking.slot_start <= now:
        marks = []
        if booking.status != "attended":
            marks.append(button(tr._("✅ Presente"), callbacks.AGENDA_MARK, booking.id, "attended"))
        if booking.status != "no_show":
            marks.append(button(tr._("🚫 Non venuto/a"), callbacks.AGENDA_MARK, booking.id, "no_show"))
        rows.append(marks)
    if booking.status == "active":
        rows.append([button(tr._("❌ Annulla con un motivo"), callbacks.AGENDA_CANCEL, booking.id)])
    today = now.astimezone(tr.timezone).date()
    offset = (booking.slot_start.astimezone(tr.timezone).date() - today).days
    rows.append([button(tr._("⬅️ Agenda"), callbacks.AGENDA, offset if 0 <= offset < AGENDA_DAYS else 0, 0),
                 button(tr._("🏠 Menu"), callbacks.MENU)])
    return Screen("\n".join(lines), rows)


def render_cancel_reasons(v: Visitor, booking: Booking) -> Screen:
    tr = v.tr
    rows = [[button(tr._(text), callbacks.AGENDA_CANCEL_REASON, booking.id, key)] for key, text in CANCEL_REASONS.items()]
    rows.append([button(tr._("✏️ Scrivi un altro motivo"), callbacks.AGENDA_CANCEL_REASON, booking.id, OTHER_REASON)])
    rows.append([button(tr._("⬅️ Non annullare"), callbacks.AGENDA_BOOKING, booking.id)])
    text = tr._("Perché annulli la prenotazione di {name}? Mando il motivo alla persona, nella sua lingua.", name=booking.name)
    return Screen(text, rows)


def render_reason_question(v: Visitor, booking: Booking) -> Screen:
    tr = v.tr
    text = tr._("Scrivi il motivo in poche parole: lo mando così com'è a {name}.", name=booking.name)
    return Screen(text, [[button(tr._("⬅️ Non annullare"), callbacks.AGENDA_BOOKING, booking.id)]])


def cancellation_notice(tr: Translator, content: Content, booking: Booking, reason: str) -> dict:
    lines = [tr._("❌ <b>La tua prenotazione {code} è stata annullata dallo spazio.</b>", code=booking.code), ""]
    lines += summary_lines(tr, content, booking.service_id, booking.space_id, booking.slot_start, booking.slot_end)
    lines += ["", tr._("Motivo: {reason}", reason=reason), tr._("Ci scusiamo per il disagio.")]
    rows = [*book_again_rows(tr, content, booking.service_id), menu_row(tr)]
    return screen_params(Screen("\n".join(lines), rows))


# --- handlers


async def _agenda_screen(rt: Runtime, v: Visitor, offset: int, page: int) -> Screen:
    offset = offset if 0 <= offset < AGENDA_DAYS else 0
    day, start, end = day_bounds(rt, offset)
    async with rt.db.read() as session:
        items = await bookings.agenda(session, bookings.staff_space_ids(v.roles, rt.content), start, end)
        notes = await guides.notes_for_bookings(session, [booking.id for booking in items])
    return render_agenda(v, rt.content, day, offset, items, page, notes)


async def agenda(update: Update, context: FrontDeskContext) -> None:
    """/agenda and the staff tool: today's bookings (tomorrow's a tap away)."""
    rt = context.rt
    v = await context.open()
    query = update.callback_query
    if not may_use_agenda(v.roles):
        if query:
            await query.answer()
        await show(update, Screen(v.tr._("L'agenda è per chi gestisce gli spazi."), [menu_row(v.tr)]))
        return
    decoded = callbacks.decode(query.data) if query else None
    offset, page = (decoded.int(0), decoded.int(1)) if decoded else (0, 0)
    if query:
        await query.answer()
    await show(update, await _agenda_screen(rt, v, offset, page))


async def _managed_booking(rt: Runtime, v: Visitor, booking_id: int) -> Booking | None:
    async with rt.db.read() as session:
        booking = await session.get(Booking, booking_id)
    if booking is None or booking.space_id not in bookings.staff_space_ids(v.roles, rt.content):
        return None
    return booking


async def _not_yours(update: Update, rt: Runtime, v: Visitor) -> None:
    await update.callback_query.answer(v.tr._("Questa prenotazione non è tra quelle che segui."))
    await show(update, await _agenda_screen(rt, v, 0, 0))


async def _tapped_booking(update: Update, context: FrontDeskContext, valid_choice: bool = True) -> tuple[Visitor, Booking] | None:
    """The visitor and the booking the button names (its first argument), if it is in a space they look after and
    the button's choice is one offered (`valid_choice`); None once they have been told it is not theirs."""
    v = await context.open()
    booking = await _managed_booking(context.rt, v, context.data.int(0))
    if booking is None or not valid_choice:
        await _not_yours(update, context.rt, v)
        return None
    return v, booking


async def agenda_booking(update: Update, context: FrontDeskContext) -> None:
    rt, tapped = context.rt, await _tapped_booking(update, context)
    if tapped is None:
        return
    v, booking = tapped
    await audit.record_now(rt.db, v.user_id, "booking_view", booking.code, rt.clock.now())  # name and phone shown
    async with rt.db.read() as session:
        note = (await guides.notes_for_bookings(session, [booking.id])).get(booking.id)
    await update.callback_query.answer()
    await show(update, render_agenda_booking(v, rt.content, booking, rt.clock.now(), note))


async def agenda_mark(update: Update, context: FrontDeskContext) -> None:
    rt, decoded = context.rt, context.data
    tapped = await _tapped_booking(update, context, decoded.args[1] in MARKS)
    if tapped is None:
        return
    v, booking = tapped
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            booking = await bookings.mark(session, booking.id, v.user_id, MARKS[decoded.args[1]], now)
    except Refused as refusal:
        note = v.tr._("Puoi segnarlo quando l'appuntamento è iniziato.") if refusal.reason is Reason.NOT_STARTED else v.tr._(
            "Questa prenotazione è stata annullata.")
        await update.callback_query.answer(note)
        await show(update, render_agenda_booking(v, rt.content, refusal.booking or booking, now))
        return
    rt.wake_outbox()  # a feedback hook may have enqueued a message
    await update.callback_query.answer(v.tr._("Segnato."))
    await show(update, render_agenda_booking(v, rt.content, booking, now))


async def agenda_cancel(update: Update, context: FrontDeskContext) -> None:
    rt, tapped = context.rt, await _tapped_booking(update, context)
    if tapped is None:
        return
    v, booking = tapped
    await update.callback_query.answer()
    if booking.status != "active":
        await show(update, render_agenda_booking(v, rt.content, booking, rt.clock.now()))
        return
    await show(update, render_cancel_reasons(v, booking))


async def agenda_cancel_reason(update: Update, context: FrontDeskContext) -> None:
    rt, key = context.rt, context.data.args[1]
    tapped = await _tapped_booking(update, context, key in CANCEL_REASONS or key == OTHER_REASON)
    if tapped is None:
        return
    v, booking = tapped
    if key == OTHER_REASON:
        async with rt.db.write() as session:
            await bookings.set_prompt(session, v.user_id, "reason", rt.clock.now(), booking_id=booking.id)
        await update.callback_query.answer()
        await show(update, render_reason_question(v, booking))
        return
    await _cancel_for_staff(update, rt, v, booking, preset=key)


async def _cancel_for_staff(update: Update, rt: Runtime, v: Visitor, booking: Booking, *, preset: str | None = None,
                            written: str | None = None) -> None:
    """Cancel, tell the tenant why in their language (a preset reason is translated, a written one goes as is),
    and offer the seat to the waitlist — all in one transaction."""
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            cancellation = await bookings.cancel_by_staff(
                session, booking.id, v.user_id, CANCEL_REASONS[preset] if preset else written or "", now
            )
            tenant_tr = await chat_translator(session, rt, booking.user_id)
            reason = tenant_tr._(CANCEL_REASONS[preset]) if preset else written or ""
            await outbox.enqueue(
                session, chat_id=booking.chat_id, method="sendMessage",
                params=cancellation_notice(tenant_tr, rt.content, cancellation.booking, reason),
                dedupe_key=f"booking-cancelled-by-staff:{booking.id}", now=now,
            )
            if cancellation.offer is not None:
                await enqueue_offer(session, rt, cancellation.offer, now)
    except Refused:
        note = v.tr._("Questa prenotazione era già annullata.")
        if update.callback_query:
            await update.callback_query.answer(note)
        await show(update, await _agenda_screen(rt, v, 0, 0))
        return
    rt.wake_outbox()
    if update.callback_query:
        await update.callback_query.answer(v.tr._("Annullata."))
    note = v.tr._("Annullata. Ho avvisato {name}.", name=booking.name)
    screen = render_agenda_booking(v, rt.content, cancellation.booking, now)
    screen.text = f"{note}\n\n{screen.text}"
    await show(update, screen)


async def reason_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT consumer: the reason a member of staff writes for cancelling a booking."""
    rt = context.rt
    user_id = update.effective_user.id
    async with rt.db.read() as session:
        prompt = await bookings.pending_prompt(session, user_id, "reason", rt.clock.now())
    if prompt is None:
        return False
    async with rt.db.write() as session:
        await bookings.clear_prompt(session, user_id)
    v = await context.open()
    booking = await _managed_booking(rt, v, prompt.booking_id or 0)
    if booking is None:
        await show(update, Screen(v.tr._("Questa prenotazione non è tra quelle che segui."), [menu_row(v.tr)]))
        return True
    written = clip((update.effective_message.text or "").strip(), MAX_REASON)
    await _cancel_for_staff(update, rt, v, booking, written=written)
    return True
