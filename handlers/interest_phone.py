"""Typing the phone to share with "I'm interested" in a job offer, when the tenant would rather give a number than
the one saved for bookings (or has none saved): the button asks, the next text is the number, checked and
normalised like a booking's phone (storage/domain/bookings.normalise_phone). The number goes into that interest
only (storage/domain/interest_phone.py) and reaches the space's operators through handlers/outgoing/interests.tell_interest.
"""

from __future__ import annotations

from telegram import Update

from bot import callbacks
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Screen, back_row, button, show
from handlers.common import space_name
from handlers.outgoing.interests import tell_interest
from storage.content import Content
from storage.content.events import Item
from storage.domain import bookings, interest_phone


def render_phone_ask(v: Visitor, content: Content, item: Item, *, retry: str | None = None) -> Screen:
    tr = v.tr
    lines = []
    if retry is not None:
        lines.append(tr._("«{text}» non sembra un numero di telefono.", text=retry))
    lines.append(tr._("Scrivi qui sotto il numero che chi gestisce {space} può chiamare per l'offerta «{title}», "
                      "per esempio 333 123 4567 o +39 333 123 4567.",
                      space=space_name(tr, content, item.space_id), title=item.title.get(tr.language)))
    lines.append(tr._("Resta solo con questa richiesta: non cambia il numero salvato per le prenotazioni."))
    return Screen("\n\n".join(lines), [back_row(tr, callbacks.JOB_INTEREST, item.id)])


def render_phone_sent(v: Visitor, item: Item, phone: str, fresh: bool) -> Screen:
    tr = v.tr
    text = (tr._("Fatto: lo spazio ti chiamerà al {phone}.", phone=phone) if fresh
            else tr._("Avevi già detto che ti interessa: lo spazio ha già i tuoi dati."))
    return Screen(text, [[button(tr._("⬅️ Torna all'offerta"), callbacks.WHATS_ON_ITEM, item.id)]])


def _open_job(rt: Runtime, job_id: str) -> Item | None:
    item = rt.content.programme.items.get(job_id)
    today = rt.clock.now().astimezone(rt.settings.timezone).date()
    return item if item is not None and item.kind == "jobs" and item.is_open(today) else None


async def ask(update: Update, context: FrontDeskContext) -> None:
    """The button: wait for the number (the offer is checked again: the button may be forged or stale)."""
    rt = context.rt
    v = await context.open()
    item = _open_job(rt, context.data.args[0])
    if item is None:
        await update.callback_query.answer(v.tr._("Questa proposta non è più in programma."))
        return
    await update.callback_query.answer()
    async with rt.db.write() as session:
        await interest_phone.ask(session, v.user_id, item.id, rt.clock.now())
    await show(update, render_phone_ask(v, rt.content, item))


async def phone_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT consumer: the number asked for by ask()."""
    rt = context.rt
    user_id = update.effective_user.id
    now = rt.clock.now()
    async with rt.db.read() as session:
        prompt = await interest_phone.pending(session, user_id, now)
    if prompt is None:
        return False
    text = (update.effective_message.text or "").strip()
    if not any(character.isdigit() for character in text):
        # No digits at all: they moved on (a search, a question), so stop waiting for the number.
        async with rt.db.write() as session:
            await interest_phone.drop(session, user_id)
        return False
    v = await context.open()
    item = _open_job(rt, prompt.job_id)
    if item is None:
        async with rt.db.write() as session:
            await interest_phone.drop(session, user_id)
        await show(update, Screen(v.tr._("Questa proposta non è più in programma."), [back_row(v.tr, callbacks.WHATS_ON)]))
        return True
    phone = bookings.normalise_phone(text)
    if phone is None:
        await show(update, render_phone_ask(v, rt.content, item, retry=text[:40]))
        return True
    async with rt.db.write() as session:
        await interest_phone.drop(session, user_id)
    fresh = await tell_interest(rt, v, item, phone)
    await show(update, render_phone_sent(v, item, phone, fresh))
    return True


async def drop_prompt(rt: Runtime, user_id: int) -> bool:
    """/cancel: stop waiting for the number."""
    async with rt.db.write() as session:
        return await interest_phone.drop(session, user_id)
