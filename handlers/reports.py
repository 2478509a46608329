"""The tenant's side of reports: Report a problem → category (emergencies show 112 first) → where → floor → flat
or common areas → extra questions → description (text or voice) → up to 3 photos → review → possible duplicates
("me too") → send → code and what happens next. Then "My reports": state, history, the custodian's last note,
comments and photos, confirm or reopen, stars. Custodians use the same flow to file for a tenant.

The draft is in the database at every step (storage/domain/tickets.py), so buttons carry ids only and a restart in the
middle loses nothing.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import Row
from telegram import ReplyKeyboardRemove, Update

from bot import callbacks
from bot.media import MediaTooLarge, delete_stored, incoming_media, limit_megabytes, save_from_telegram
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Screen, button, menu_row, show
from handlers.common import ask_for_location, paging, reply
from handlers.limits import limit_notice
from handlers.outgoing.tickets import TicketAnnouncer, actor_of, refuse_ticket_action, show_ticket_screen
from handlers.reports_screens import (
    MEDIA_STEPS, NO_FLOOR, REPORTS_PER_PAGE, STEP_REFUSED, TEXT_STEPS, allowed_estates, render_categories,
    render_duplicates, render_emergency, render_estate_question, render_my_reports, render_nearest_estates,
    render_public_report, render_report, render_sent, render_step,
)
from handlers.start import render_welcome
from storage.domain import feedback, limits, shortcuts, ticket_intents, tickets
from storage.domain import ticket_lists
from storage.content import Content
from storage.models import ReportDraft, Ticket
from storage.domain.limits import LimitReached
from storage.domain.ticket_intents import DraftRefused, Joined, Merged
from storage.domain.tickets import Action, DraftChange, DraftView, TicketError

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------------
# Handlers: decode, call storage/domain/tickets.py, render


async def _categories_screen(rt: Runtime, v: Visitor) -> Screen:
    """The first step, for someone without a draft: the problems, and "My reports" if they have any."""
    return render_categories(v, rt.content, None, await ticket_lists.has_tickets(rt.db, v.user_id))


async def _consenting(update: Update, context: FrontDeskContext, *, answer: bool = True) -> Visitor | None:
    """The visitor, once they have accepted the privacy notice; nobody files a report before: None after the
    notice is shown to them. `answer`: the button is answered here (else the caller answers it, with its note)."""
    v = await context.open()
    if not v.consented:
        log.info("user %s: report refused before the privacy notice was accepted", v.user_id)
        await reply(update, render_welcome(v), v.tr._("Prima leggi e accetta l'informativa sulla privacy."))
        return None
    if answer:
        await update.callback_query.answer()
    return v


async def report_entry(update: Update, context: FrontDeskContext) -> None:
    """The main menu's "Report a problem": continue the draft, or choose a category."""
    rt, v = context.rt, await _consenting(update, context)
    if v is None:
        return
    draft, has_reports = await ticket_lists.draft_and_has_tickets(rt.db, v.user_id)
    if draft is None:
        await show(update, render_categories(v, rt.content, None, has_reports))
        return
    category = rt.content.problems.get(draft.category_id or "")
    if category is not None:
        text = v.tr._("Hai una segnalazione da finire: {problem}.", problem=category.name.get(v.language))
    else:
        text = v.tr._("Hai una segnalazione da finire.")
    rows = [
        [button(v.tr._("▶️ Continua"), callbacks.REPORT_CONTINUE)],
        [button(v.tr._("🔄 Ricomincia da capo"), callbacks.REPORT_NEW)],
    ]
    if has_reports:
        rows.append([button(v.tr._("📋 Le mie segnalazioni"), callbacks.MY_REPORTS, 0)])
    rows.append(menu_row(v.tr))
    await show(update, Screen(text, rows))


async def report_new(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await _consenting(update, context)
    if v is None:
        return
    await delete_stored(rt.settings, await tickets.discard_draft_now(rt.db, v.user_id))
    await show(update, await _categories_screen(rt, v))


async def _draft_or_categories(update: Update, context: FrontDeskContext) -> tuple[Visitor, DraftView] | None:
    """The visitor and their draft, the button answered; without a draft (sent or dropped meanwhile) they see the
    categories instead."""
    rt, v = context.rt, await context.open()
    await update.callback_query.answer()
    draft = await tickets.draft_now(rt.db, v.user_id)
    if draft is None:
        await show(update, await _categories_screen(rt, v))
        return None
    return v, draft


async def report_continue(update: Update, context: FrontDeskContext) -> None:
    found = await _draft_or_categories(update, context)
    if found is not None:
        v, draft = found
        await show(update, render_step(v, context.rt.content, draft, last_place=await _last_place(context.rt, v, draft)))


async def report_discard(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await delete_stored(rt.settings, await tickets.discard_draft_now(rt.db, v.user_id))
    await update.callback_query.answer(v.tr._("Segnalazione annullata."))
    await show(update, Screen(v.tr._("Segnalazione annullata. Non ho inviato niente."), [menu_row(v.tr)]))


async def report_on_behalf(update: Update, context: FrontDeskContext) -> None:
    """Staff tool: a report for a tenant who phoned or came to the lodge, without a Telegram account."""
    rt, v = context.rt, await context.open()
    if not v.roles.handles_tickets:
        log.warning("user %s tried to file a report on behalf of a tenant without the role", v.user_id)
        await update.callback_query.answer(v.tr._("Solo i custodi possono segnalare per conto di un inquilino."), show_alert=True)
        return
    await update.callback_query.answer()
    async with rt.db.write() as session:
        dropped = await tickets.discard_draft(session, v.user_id)
        draft = await tickets.start_draft(session, v.user_id, rt.clock.now(), on_behalf=True)
    await delete_stored(rt.settings, dropped)
    await show(update, render_step(v, rt.content, draft))


async def _apply_to_draft(rt: Runtime, user_id: int, content: Content, change: DraftChange, *,
                          create: bool = False) -> tuple[ReportDraft | None, bool]:
    """Apply one answer to the draft in one transaction: the draft (None if there is none) and whether the answer
    was refused, in which case the draft stays as it was."""
    draft, refusal = await tickets.change_draft_now(rt.db, user_id, content, change, rt.clock.now(), create=create)
    if refusal is not None:
        log.info("user %s: draft answer refused: %s", user_id, refusal)
    return draft, refusal is not None


async def _change_draft(update: Update, context: FrontDeskContext, change: DraftChange, *,
                        create: bool = False, notice: str | None = None) -> None:
    """Apply one answer to the draft, then show the next step. A button of a draft that is gone, or that no
    longer fits it, gets a short note and the current step."""
    rt, v = context.rt, await context.open()
    content = rt.content
    draft, refused = await _apply_to_draft(rt, v.user_id, content, change, create=create)
    if draft is None:
        await update.callback_query.answer(v.tr._("Questa segnalazione non è più in corso."))
        await show(update, await _categories_screen(rt, v))
        return
    await update.callback_query.answer(v.tr._(STEP_REFUSED) if refused else None)
    last = await _last_place(rt, v, draft)
    await show(update, render_step(v, content, draft, None if refused else notice, last_place=last))


async def _last_place(rt: Runtime, v: Visitor, draft: DraftView) -> Row | None:
    """At the "where" step of a tenant's own report: the place of their last report, to offer it again."""
    if draft.on_behalf or tickets.resume_step(draft, rt.content) != "estate":
        return None
    return await shortcuts.last_place(rt.db, v.user_id, rt.content)


async def choose_same_place(update: Update, context: FrontDeskContext) -> None:
    """The place of the tenant's last report, read again on the server (the button carries nothing)."""
    rt, v = context.rt, await context.open()
    last = await shortcuts.last_place(rt.db, v.user_id, rt.content)

    def change(draft: ReportDraft, content: Content, now: datetime) -> None:
        if last is None or draft.on_behalf:
            raise TicketError("invalid", f"user {v.user_id} has no last place to use again")
        tickets.same_place_as(draft, content, last, now)

    await _change_draft(update, context, change)


async def choose_category(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await _consenting(update, context, answer=False)
    if v is None:
        return
    decoded = context.data
    category = rt.content.problems.get(decoded.args[0])
    if category is None:
        await reply(update, await _categories_screen(rt, v), v.tr._("Questa voce non c'è più. Ecco l'elenco aggiornato."))
        return
    if category.urgency == "emergency" and decoded.action is callbacks.REPORT_CATEGORY:
        await reply(update, render_emergency(v, rt.content, category.id))
        return
    notice = "ℹ️ " + v.tr.isolate(category.note.get(v.language)) if category.note is not None and category.urgency != "emergency" else None
    await _change_draft(
        update, context, lambda draft, content, now: tickets.choose_category(draft, content, category.id, now),
        create=True, notice=notice,
    )


async def choose_estate(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    estate_id = context.data.args[0]

    def change(draft: ReportDraft, content: Content, now: datetime) -> None:
        if estate_id not in {estate.id for estate in allowed_estates(v, content, draft)}:
            log.warning("user %s chose estate %s outside the ones they may file for", v.user_id, estate_id)
            raise TicketError("not_allowed", f"user {v.user_id} may not file for estate {estate_id!r}")
        tickets.choose_estate(draft, content, estate_id, now)

    await _change_draft(update, context, change)


async def estate_list(update: Update, context: FrontDeskContext) -> None:
    found = await _draft_or_categories(update, context)
    if found is not None:
        v, draft = found
        await show(update, render_estate_question(v, context.rt.content, draft, context.data.int(0), offer_last=False))


async def ask_location(update: Update, context: FrontDeskContext) -> None:
    """Telegram asks for a location only from a reply-keyboard button."""
    v = await context.open()
    await ask_for_location(update, v.tr, v.chat_id, v.tr._("Tocca «Invia la mia posizione» qui sotto: ti mostro i caseggiati più vicini."))


async def choose_building(update: Update, context: FrontDeskContext) -> None:
    index = context.data.int(0)
    await _change_draft(update, context, lambda draft, content, now: tickets.choose_building(draft, content, index, now))


async def choose_floor(update: Update, context: FrontDeskContext) -> None:
    value = context.data.int(0)
    floor = None if value == NO_FLOOR else value
    await _change_draft(update, context, lambda draft, content, now: tickets.choose_floor(draft, content, floor, now))


async def choose_area(update: Update, context: FrontDeskContext) -> None:
    area = context.data.args[0]
    await _change_draft(update, context, lambda draft, content, now: tickets.choose_area(draft, content, area, now))


async def skip_flat(update: Update, context: FrontDeskContext) -> None:
    await _change_draft(update, context, lambda draft, content, now: tickets.set_flat(draft, content, None, now))


async def answer_question(update: Update, context: FrontDeskContext) -> None:
    decoded = context.data
    index, answer = decoded.int(0), decoded.args[1]
    await _change_draft(update, context, lambda draft, content, now: tickets.answer_question(draft, content, index, answer, now))


async def photos_done(update: Update, context: FrontDeskContext) -> None:
    await _change_draft(update, context, tickets.photos_done)


async def edit_part(update: Update, context: FrontDeskContext) -> None:
    """Photos and the voice note are asked afresh: the ones replaced leave the disk once the change is saved."""
    part = context.data.args[0]
    replaced: list[str] = []

    def change(draft: ReportDraft, content: Content, now: datetime) -> None:
        before = tickets.draft_files(draft)
        tickets.begin_edit(draft, part, now)
        replaced.extend(set(before) - set(tickets.draft_files(draft)))

    await _change_draft(update, context, change)
    await delete_stored(context.rt.settings, replaced)


async def send_report(update: Update, context: FrontDeskContext) -> None:
    """Before sending, suggest open tickets that look the same; then open the ticket and alert the custodians.
    One domain call decides (ticket_intents.submit_report); this renders its outcome."""
    rt, v = context.rt, await _consenting(update, context, answer=False)
    if v is None:
        return
    outcome = await ticket_intents.submit_report(
        rt.db, actor_of(v), rt.content, limits.caps_of(rt.settings), rt.clock.now(), TicketAnnouncer(rt),
        skip_duplicates=context.data.action is callbacks.REPORT_SEND_ANYWAY,
    )
    match outcome:
        case LimitReached() as limit:
            contacts = rt.content.contacts
            await update.callback_query.answer()
            notice = limit_notice(v.tr, limit, contacts.emergency_number, contacts.emergency_phone)
            await show(update, Screen(notice, [[button(v.tr._("🏠 Menu"), callbacks.MENU)]]))
        case DraftRefused(error, draft):
            log.info("user %s: report not sent: %s", v.user_id, error)
            await update.callback_query.answer(v.tr._(STEP_REFUSED))
            await show(update, await _categories_screen(rt, v) if draft is None else render_step(v, rt.content, draft))
        case Merged(merged, dropped):
            await update.callback_query.answer()
            await delete_stored(rt.settings, dropped)
            text = v.tr._("Avevi già inviato questa segnalazione: è la <b>{code}</b>. Non ne ho aperta un'altra.", code=merged.code)
            await show(update, _to_my_reports(v, text))
        case list() as duplicates:
            await update.callback_query.answer()
            await show(update, render_duplicates(v, rt.content, duplicates))
        case Ticket() as ticket:
            await update.callback_query.answer()
            rt.forget_user(v.user_id)  # the estate is remembered for next time
            rt.wake_outbox()
            await show(update, render_sent(v, rt.content, ticket))


def _to_my_reports(v: Visitor, text: str) -> Screen:
    return Screen(text, [[button(v.tr._("📋 Le mie segnalazioni"), callbacks.MY_REPORTS, 0)], menu_row(v.tr)])


async def me_too(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    outcome = await ticket_intents.me_too(
        rt.db, context.data.int(0), actor_of(v), limits.caps_of(rt.settings), rt.clock.now(), TicketAnnouncer(rt)
    )
    match outcome:
        case TicketError() as error:
            await refuse_ticket_action(update, v, error)
        case LimitReached() as limit:
            await update.callback_query.answer(limit_notice(v.tr, limit), show_alert=True)
        case Joined(change, dropped):
            await delete_stored(rt.settings, dropped)
            rt.wake_outbox()
            await update.callback_query.answer()
            await show(update, _to_my_reports(v, v.tr._(
                "🙋 Fatto: sei tra gli inquilini che hanno il problema {code}. Ti scrivo qui quando cambia qualcosa.",
                code=change.ticket.code)))


async def my_reports(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await update.callback_query.answer()
    async with rt.db.read() as session:
        total = await ticket_lists.count_tickets_of(session, v.user_id)
        page, _pages = paging(context.data.int(0), total, REPORTS_PER_PAGE)
        items = await ticket_lists.tickets_of(session, v.user_id, limit=REPORTS_PER_PAGE, offset=page * REPORTS_PER_PAGE)
    await show(update, render_my_reports(v, rt.content, items, total, page))


async def _report_screen(rt: Runtime, v: Visitor, ticket_id: int) -> Screen:
    async with rt.db.write() as session:
        ticket = await tickets.view(session, ticket_id, actor_of(v))
        prompt = await tickets.get_prompt(session, v.user_id)
        if prompt is not None and prompt.purpose == "comment":
            await tickets.drop_prompt(session, v.user_id)  # back from "add a message" without writing one
        if ticket.reporter_id != v.user_id and ticket.filed_by != v.user_id and not v.roles.handles_estate(ticket.estate_id):
            return render_public_report(v, rt.content, ticket)  # a subscriber
        events = await ticket_lists.events_of(session, ticket.id)
        photos = sum(1 for item in await ticket_lists.media_of(session, ticket.id) if item.kind == "photo")
    return render_report(v, rt.content, ticket, events, photos, rt.clock.now(), ticket.reporter_id == v.user_id)


async def view_report(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    await show_ticket_screen(update, v, _report_screen(context.rt, v, context.data.int(0)))


async def add_comment(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    ticket_id = context.data.int(0)
    outcome = await ticket_intents.expect_text(rt.db, ticket_id, Action.COMMENT, actor_of(v), rt.clock.now())
    if isinstance(outcome, TicketError):
        await refuse_ticket_action(update, v, outcome)
        return
    await update.callback_query.answer()
    text = v.tr._("💬 Scrivi il tuo messaggio per il custode su {code}, oppure manda una foto.", code=outcome.code)
    await show(update, Screen(text, [[button(v.tr._("⬅️ Annulla"), callbacks.REPORT_VIEW, ticket_id)]]))


async def confirm_or_reopen(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    action = Action.CONFIRM if decoded.action is callbacks.REPORT_CONFIRM else Action.REOPEN
    ticket_id = decoded.int(0)
    outcome = await ticket_intents.change_status(rt.db, ticket_id, action, actor_of(v), rt.clock.now(), TicketAnnouncer(rt))
    if isinstance(outcome, TicketError):
        await refuse_ticket_action(update, v, outcome)
        return
    rt.wake_outbox()
    answer = v.tr._("Grazie! La segnalazione è chiusa.") if action is Action.CONFIRM else v.tr._("Riaperta: il custode è stato avvisato.")
    await update.callback_query.answer(answer)
    await show(update, await _report_screen(rt, v, ticket_id))


async def rate(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    ticket_id = context.data.int(0)
    try:
        async with rt.db.write() as session:  # a changed mind updates the stars
            await feedback.rate_fix(session, ticket_id, actor_of(v), context.data.int(1), rt.clock.now())
    except TicketError as error:
        await refuse_ticket_action(update, v, error)
    else:
        await reply(update, await _report_screen(rt, v, ticket_id), v.tr._("Grazie per il voto!"))


# --------------------------------------------------------------------------------------------
# Messages while a draft waits for them (bot/app.py consumers)


TEXT_SETTERS = {
    "tenant_name": tickets.set_tenant_name,
    "tenant_contact": tickets.set_tenant_contact,
    "flat": tickets.set_flat,
    "description": tickets.set_description,
}


async def draft_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT_CONSUMERS: the answer to a step that asks for words; other text goes on to search. The step is decided
    in the transaction that writes the answer: routing has just seen the draft, so a read of its own would be a
    second read of the same row before the write reads it again."""
    rt = context.rt
    text = update.effective_message.text
    asked: list[str] = []

    def answer(draft: ReportDraft, content: Content, now: datetime) -> None:
        step = tickets.resume_step(draft, content)
        asked.append(step)
        if step in TEXT_STEPS:  # any other step leaves the draft as it is
            TEXT_SETTERS[step](draft, content, text, now)

    draft, _refused = await _apply_to_draft(rt, update.effective_user.id, rt.content, answer)
    if draft is None:
        return False
    v = await context.open()
    if asked[0] == "estate" and text.strip() == v.tr._("Annulla"):  # the location keyboard's cancel
        await context.bot.send_message(v.chat_id, v.tr._("Va bene."), reply_markup=ReplyKeyboardRemove())
        await show(update, render_step(v, rt.content, draft))
        return True
    if asked[0] not in TEXT_STEPS:
        return False
    await show(update, render_step(v, rt.content, draft))
    return True


async def draft_location(update: Update, context: FrontDeskContext) -> bool:
    """LOCATION_CONSUMERS: at the "where" step, the nearest estates."""
    rt = context.rt
    draft = await tickets.draft_now(rt.db, update.effective_user.id)
    if draft is None or tickets.resume_step(draft, rt.content) != "estate" or draft.on_behalf:
        return False
    v = await context.open()
    location = update.effective_message.location
    await context.bot.send_message(v.chat_id, v.tr._("Grazie!"), reply_markup=ReplyKeyboardRemove())
    await show(update, render_nearest_estates(v, rt.content, location.latitude, location.longitude))
    return True


async def draft_media(update: Update, context: FrontDeskContext) -> bool:
    """MEDIA_CONSUMERS: the voice note of the description and the photos, downloaded and kept on disk."""
    rt = context.rt
    draft = await tickets.draft_now(rt.db, update.effective_user.id)
    if draft is None:
        return False
    v = await context.open()
    step = tickets.resume_step(draft, rt.content)
    incoming = incoming_media(update.effective_message)
    if incoming is None or step not in MEDIA_STEPS:
        notice = v.tr._("Per continuare, rispondi alla domanda qui sotto. Foto e vocali li chiedo più avanti.")
        await show(update, render_step(v, rt.content, draft, notice))
        return True
    if incoming.kind == "photo" and len(draft.photos or []) >= tickets.MAX_PHOTOS:
        await show(update, render_step(v, rt.content, draft, v.tr._("Ho già {total} foto: bastano così.", total=tickets.MAX_PHOTOS)))
        return True
    if incoming.kind == "photo" and not draft.on_behalf:
        try:  # counted before downloading: a flood of photos costs no disk
            await limits.take_now(rt.db, limits.caps_of(rt.settings), v.user_id, "photo", rt.clock.now())
        except limits.LimitReached as error:
            await show(update, render_step(v, rt.content, draft, limit_notice(v.tr, error)))
            return True
    try:
        media = await save_from_telegram(context.bot, rt.settings, incoming, rt.clock.now())
    except MediaTooLarge:
        mb = limit_megabytes(rt.settings)
        if incoming.kind == "photo":
            notice = v.tr._("La foto è troppo grande: il massimo è {mb} MB.", mb=mb)
        else:
            notice = v.tr._("Il messaggio vocale è troppo lungo: il massimo è {mb} MB.", mb=mb)
        await show(update, render_step(v, rt.content, draft, notice))
        return True
    keep = tickets.add_photo if incoming.kind == "photo" else tickets.set_voice
    draft, _refused = await _apply_to_draft(rt, v.user_id, rt.content, lambda draft, content, now: keep(draft, content, media, now))
    if draft is None:
        return False
    notice = v.tr._("🎤 Messaggio vocale ricevuto.") if incoming.kind == "voice" else None
    await show(update, render_step(v, rt.content, draft, notice))
    return True


async def cancel_draft(rt: Runtime, user_id: int) -> bool:
    """CANCEL_HOOKS: /cancel drops the report being written."""
    dropped = await tickets.discard_draft_now(rt.db, user_id)
    await delete_stored(rt.settings, dropped)
    return dropped is not None
