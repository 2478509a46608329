"""Custodians and the manager chat at work: the one-tap buttons of an alert, "not for us" with a reason, notes,
the custodian's list of open tickets. The alerts themselves, the tenants' notices, escalations, digests and
automatic closing are messages to other people: handlers/outgoing/tickets.py."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import Forbidden

from bot import callbacks
from bot.media import MediaTooLarge, delete_stored, incoming_media, limit_megabytes, save_from_telegram
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Screen, button, menu_row, show
from handlers import refusals
from handlers.common import paging
from handlers.limits import limit_notice
from handlers.outgoing.tickets import (
    DONE_ANSWERS, REFUSALS, STATUS_ACTIONS, TICKETS_PER_PAGE, TicketAnnouncer, actor_of, refuse_ticket_action,
    render_open_list, render_reject_reasons, render_staff_ticket, reporter_of, show_ticket_screen,
)
from storage.domain import audit, limits, outbox, ticket_intents, tickets
from storage.domain import ticket_lists
from storage.models import Ticket, TicketPrompt
from storage.domain.limits import LimitReached
from storage.domain.tickets import ALERT_KIND, Action, Change, TicketError

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------------------------
# Handlers: decode, call storage/domain/tickets.py, render


async def _is_alert_message(rt: Runtime, update: Update, ticket_id: int) -> bool:
    message = update.callback_query.message
    if message is None:
        return False
    state, message_id = await outbox.sent_message_id(rt.db, message.chat.id, ALERT_KIND, str(ticket_id))
    return state == "sent" and message_id == message.message_id


async def _staff_view(rt: Runtime, v: Visitor, ticket_id: int) -> Screen:
    async with rt.db.read() as session:
        ticket = await tickets.view(session, ticket_id, actor_of(v), Action.STAFF_VIEW)
        reporter = await reporter_of(session, ticket)
        media = await ticket_lists.media_of(session, ticket.id)
        events = await ticket_lists.events_of(session, ticket.id)
    # The staff view shows the tenant's name, flat and words: who opened it is recorded (storage/domain/audit.py).
    await audit.record_now(rt.db, v.user_id, "ticket_view", ticket.code, rt.clock.now())
    return render_staff_ticket(v, rt.content, ticket, reporter, media, events)


async def _after_action(update: Update, rt: Runtime, v: Visitor, ticket_id: int, answer: str) -> None:
    """The pressed alert is updated by the outbox like every other copy; a private view is redrawn now."""
    rt.wake_outbox()
    await update.callback_query.answer(answer)
    if not await _is_alert_message(rt, update, ticket_id):
        await show(update, await _staff_view(rt, v, ticket_id))


async def ticket_status(update: Update, context: FrontDeskContext) -> None:
    """Take charge · in progress · resolved: one domain call (ticket_intents.change_status), its outcome rendered."""
    rt, v = context.rt, await context.open()
    decoded = context.data
    action, ticket_id = STATUS_ACTIONS[decoded.action], decoded.int(0)
    outcome = await ticket_intents.change_status(rt.db, ticket_id, action, actor_of(v), rt.clock.now(), TicketAnnouncer(rt))
    if isinstance(outcome, TicketError):
        await refuse_ticket_action(update, v, outcome)
        if outcome.reason == "wrong_state" and not await _is_alert_message(rt, update, ticket_id):
            # A copy the outbox no longer follows (e.g. an alert sent again after an interruption) still shows an
            # old state: it is redrawn with where the ticket stands now.
            await show(update, await _staff_view(rt, v, ticket_id))
        return
    await _after_action(update, rt, v, ticket_id, v.tr._(DONE_ANSWERS[action]))


async def _reply_to_alert_or_show(update: Update, context: FrontDeskContext, rt: Runtime, ticket_id: int, screen: Screen) -> None:
    """Questions about one ticket go below a shared alert (never over it); a private view is replaced."""
    if await _is_alert_message(rt, update, ticket_id):
        await context.bot.send_message(update.effective_chat.id, screen.text, reply_markup=screen.keyboard)
    else:
        await show(update, screen)


async def ticket_reject(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    ticket_id = context.data.int(0)
    try:
        async with rt.db.read() as session:
            ticket = await tickets.check(session, ticket_id, Action.REJECT, actor_of(v), rt.clock.now())
    except TicketError as error:
        await refuse_ticket_action(update, v, error)
        return
    await update.callback_query.answer()
    await _reply_to_alert_or_show(update, context, rt, ticket_id, render_reject_reasons(v.tr, ticket))


async def _ask_for_text(update: Update, context: FrontDeskContext, v: Visitor, text: str) -> None:
    """Typed answers are read in the private chat only; in a group, the question goes there."""
    try:
        await context.bot.send_message(v.user_id, text, reply_markup=Screen("", [menu_row(v.tr)]).keyboard)
    except Forbidden:
        await update.callback_query.answer(v.tr._("Scrivimi prima in privato ({bot}), poi riprova.", bot="@" + context.bot.username), show_alert=True)
        return
    await update.callback_query.answer()


async def ticket_reject_reason(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    ticket_id, reason = decoded.int(0), decoded.args[1]
    outcome = await ticket_intents.reject(rt.db, ticket_id, actor_of(v), reason, rt.clock.now(), TicketAnnouncer(rt))
    match outcome:
        case TicketError() as error:
            await refuse_ticket_action(update, v, error)
        case Ticket() as ticket:
            await _ask_for_text(update, context, v, v.tr._("Scrivi in un messaggio il motivo per {code}: lo riceverà l'inquilino.", code=ticket.code))
        case Change():
            await _after_action(update, rt, v, ticket_id, v.tr._("Fatto: l'inquilino riceverà il motivo."))


async def ticket_note(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    outcome = await ticket_intents.expect_text(rt.db, context.data.int(0), Action.NOTE, actor_of(v), rt.clock.now())
    match outcome:
        case TicketError() as error:
            await refuse_ticket_action(update, v, error)
        case Ticket() as ticket:
            await _ask_for_text(update, context, v, v.tr._("Scrivi la nota per {code} in un messaggio. La vedranno gli altri custodi e l'inquilino.", code=ticket.code))


async def open_list(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await update.callback_query.answer()
    if not v.roles.handles_tickets:
        log.warning("user %s asked for the open tickets without being a custodian", v.user_id)
        await show(update, Screen(v.tr._("Solo i custodi vedono le segnalazioni aperte."), [menu_row(v.tr)]))
        return
    estates = ticket_lists.estates_handled(v.roles)
    async with rt.db.read() as session:
        total = await ticket_lists.count_open_tickets(session, estates)
        page, _pages = paging(context.data.int(0), total, TICKETS_PER_PAGE)
        items = await ticket_lists.open_tickets(session, estates, limit=TICKETS_PER_PAGE, offset=page * TICKETS_PER_PAGE)
    await show(update, render_open_list(v, rt.content, items, total, page))


async def staff_view(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_ticket_screen(update, v, _staff_view(rt, v, context.data.int(0)))


async def _finish_prompt(update: Update, context: FrontDeskContext, v: Visitor, purpose: str, ticket_id: int,
                         *, text: str | None = None, media: dict | None = None) -> None:
    rt = context.rt
    outcome = await ticket_intents.finish_text(rt.db, purpose, ticket_id, actor_of(v), limits.caps_of(rt.settings),
                                               rt.clock.now(), TicketAnnouncer(rt), text=text, media=media)
    match outcome:
        case LimitReached() as limit:
            await delete_stored(rt.settings, [media["path"]] if media else None)
            await show(update, Screen(limit_notice(v.tr, limit), [menu_row(v.tr)]))
            return
        case TicketError() as error:
            log.info("user %s: %s refused (%s)", v.user_id, purpose, error)
            await refusals.refuse(update, v, v.tr._(REFUSALS[error.reason]))
            return
    rt.wake_outbox()
    code = outcome.ticket.code
    if purpose == "comment":
        text_done = v.tr._("Grazie! Ho inviato il tuo messaggio al custode ({code}).", code=code)
        target = callbacks.REPORT_VIEW
    else:
        text_done = v.tr._("Fatto: la nota è su {code} e l'inquilino la riceve.", code=code) if purpose == "note" else v.tr._("Fatto: l'inquilino riceverà il motivo.")
        target = callbacks.TICKET_STAFF_VIEW
    await show(update, Screen(text_done, [[button(v.tr._("📋 Vedi la segnalazione"), target, ticket_id)], menu_row(v.tr)]))


async def _live_prompt(rt: Runtime, user_id: int) -> TicketPrompt | None:
    """The prompt waiting for this person's message, unless it has expired (then it is dropped)."""
    async with rt.db.read() as session:
        prompt = await tickets.get_prompt(session, user_id)
    if prompt is None or tickets.prompt_is_live(prompt, rt.clock.now()):
        return prompt
    log.info("user %s: the %s prompt on ticket %s expired", user_id, prompt.purpose, prompt.ticket_id)
    async with rt.db.write() as session:
        await tickets.drop_prompt(session, user_id)
    return None


async def prompt_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT_CONSUMERS: the note, reason or comment the bot asked for (not one asked for long ago)."""
    prompt = await _live_prompt(context.rt, update.effective_user.id)
    if prompt is not None:
        v = await context.open()
        await _finish_prompt(update, context, v, prompt.purpose, prompt.ticket_id, text=update.effective_message.text)
    return prompt is not None


async def prompt_media(update: Update, context: FrontDeskContext) -> bool:
    """MEDIA_CONSUMERS: a photo added to a ticket the tenant follows."""
    prompt = await _live_prompt(context.rt, update.effective_user.id)
    if prompt is None:
        return False
    rt, v, message = context.rt, await context.open(), update.effective_message
    incoming = incoming_media(message)
    if prompt.purpose != "comment" or incoming is None or incoming.kind != "photo":
        await show(update, Screen(v.tr._("Scrivi un messaggio di testo, per favore (oppure {command}).", command="/cancel"), [menu_row(v.tr)]))
        return True
    try:
        media = await save_from_telegram(context.bot, rt.settings, incoming, rt.clock.now())
    except MediaTooLarge:
        await show(update, Screen(v.tr._("La foto è troppo grande: il massimo è {mb} MB. Prova a mandarla di nuovo come foto (non come file).", mb=limit_megabytes(rt.settings)), [menu_row(v.tr)]))
        return True
    await _finish_prompt(update, context, v, "comment", prompt.ticket_id, text=message.caption, media=media)
    return True


async def drop_prompt(rt: Runtime, user_id: int) -> bool:
    """CANCEL_HOOKS: /cancel forgets a note, reason or comment the bot was waiting for."""
    async with rt.db.write() as session:
        return await tickets.drop_prompt(session, user_id)
