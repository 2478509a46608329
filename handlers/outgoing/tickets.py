"""Messages about tickets to people other than the one pressing: the alert of a new ticket with one-tap buttons,
kept up to date in every chat that received it; the tenants' notices in their own language; escalations, daily
digests and automatic closing (periodic jobs); the fallback to the manager chat when a custodian has blocked the
bot. Every alert and notice goes through the outbox in the same transaction as the change it reports."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot import callbacks
from bot.i18n import N_, Translator
from bot.outbox_sender import OnBlocked
from bot.runtime import Runtime, Visitor
from bot.ui import Button, Screen, back_row, button, clip, pager_row
from handlers import refusals
from handlers.common import chat_translator, language_of, message_params, paging, reply, screen_params, translator_for
from storage.domain import outbox, tickets, users
from storage.domain import ticket_lists
from storage.content import Content
from storage.models import OutboxMessage, ReportDraft, Ticket, TicketEvent, TicketMedia, User
from storage.domain.tickets import ALERT_KIND, Action, Actor, Change, TicketError

log = logging.getLogger(__name__)

TICKETS_PER_PAGE = 6
DIGEST_MAX_TICKETS = 15
HISTORY_SHOWN = 8
URGENCY_LABELS = {"emergency": N_("🚨 Emergenza"), "urgent": N_("⚠️ Urgente"), "normal": N_("Normale")}
STATUS_LABELS = {
    "new": N_("🆕 Nuova"),
    "acknowledged": N_("👀 Presa in carico"),
    "in_progress": N_("🔧 Lavori in corso"),
    "resolved": N_("✅ Risolta"),
    "closed": N_("🔒 Chiusa"),
    "reopened": N_("↩️ Riaperta"),
    "rejected": N_("⛔ Non di competenza"),
}
REJECT_LABELS = {
    "not_estate": N_("Non riguarda il caseggiato"),
    "private": N_("È a carico dell'inquilino"),
    "other_body": N_("Se ne occupa un altro ente (Comune, gas, luce)"),
    "duplicate": N_("È già stata segnalata"),
    "unclear": N_("Non si capisce il problema"),
    "other": N_("Altro motivo (lo scrivo io)"),
}
OTHER_REASON = N_("Altro motivo")  # what subscribers read instead of the custodian's own words
ANSWER_LABELS = {"yes": N_("Sì"), "no": N_("No"), "unknown": N_("Non so")}
EVENT_LABELS = {
    "opened": N_("Segnalazione inviata"),
    "acknowledged": N_("Presa in carico"),
    "in_progress": N_("Lavori iniziati"),
    "resolved": N_("Risolta dal custode"),
    "rejected": N_("Non di competenza"),
    "note": N_("Nota del custode"),
    "confirmed": N_("Confermata risolta"),
    "closed": N_("Chiusa"),
    "reopened": N_("Riaperta"),
    "rated": N_("Valutata"),
    "comment": N_("Commento"),
    "photo": N_("Foto aggiunta"),
    "me_too": N_("Un altro inquilino ha lo stesso problema"),
    "escalated": N_("Segnalata al gestore: nessuno l'aveva presa in carico"),
}
# What the tenants following a ticket are told about; other events only update the custodians' alerts.
TENANT_NOTICES = {
    "acknowledged": N_("👀 La tua segnalazione {code} ({category}) è stata presa in carico dal custode."),
    "in_progress": N_("🔧 Sono iniziati i lavori per la segnalazione {code} ({category})."),
    "resolved": N_("✅ Il custode dice che il problema {code} ({category}) è risolto."),
    "rejected": N_("⛔ La segnalazione {code} ({category}) non è di competenza del custode. Motivo: {reason}."),
    "note": N_("🗒 Il custode ha scritto sulla segnalazione {code} ({category})."),
    "confirmed": N_("🔒 La segnalazione {code} ({category}) è chiusa: il problema è risolto."),
    "closed": N_("🔒 La segnalazione {code} ({category}) è chiusa."),
    "reopened": N_("↩️ La segnalazione {code} ({category}) è stata riaperta: il problema c'è ancora."),
}
REFUSALS = {
    "not_allowed": N_("Non puoi farlo: questo pulsante è per chi segue questa segnalazione."),
    "wrong_state": N_("Non si può più: la segnalazione è cambiata nel frattempo."),
    "too_late": N_("Sono passati più di 14 giorni: per un nuovo guasto fai una nuova segnalazione."),
    "not_found": N_("Questa segnalazione non esiste più."),
    "invalid": N_("Qualcosa non va in questa richiesta. Riprova dal menu."),
}
STATUS_ACTIONS = {
    callbacks.TICKET_ACK: Action.ACKNOWLEDGE,
    callbacks.TICKET_START: Action.START,
    callbacks.TICKET_RESOLVE: Action.RESOLVE,
}
DONE_ANSWERS = {
    Action.ACKNOWLEDGE: N_("Fatto: l'hai presa in carico."),
    Action.START: N_("Fatto: lavori in corso."),
    Action.RESOLVE: N_("Fatto: risolta. L'inquilino può confermare o riaprire."),
}


def actor_of(v: Visitor) -> Actor:
    return Actor(v.user_id, v.roles)


def manager_chats(rt: Runtime) -> list[int]:
    """Where emergencies, escalations and orphaned alerts go: the manager chat, or else the admins."""
    if rt.settings.manager_chat_id is not None:
        return [rt.settings.manager_chat_id]
    return sorted(rt.settings.admin_ids)


# --------------------------------------------------------------------------------------------
# Words shared by the custodians' and the tenants' screens


def category_name(tr: Translator, content: Content, category_id: str) -> str:
    category = content.problems.get(category_id)
    return category.name.get(tr.language) if category is not None else category_id


def estate_name(content: Content, estate_id: str | None) -> str:
    estate = content.estates.get(estate_id or "")
    return estate.name if estate is not None else (estate_id or "")


def floor_label(tr: Translator, floor: int) -> str:
    if floor == 0:
        return tr._("piano terra")
    if floor < 0:
        return tr._("seminterrato ({floor})", floor=floor)
    return tr._("piano {floor}", floor=floor)


def _estate_and_building(tr: Translator, content: Content, item: Ticket | ReportDraft | Row) -> list[str]:
    """Estate · building, staircase: the part of a place everyone may read."""
    parts = [tr.isolate(estate_name(content, item.estate_id))] if item.estate_id else []
    estate = content.estates.get(item.estate_id or "")
    if item.building_id:
        building = next((b for b in estate.buildings if b.id == item.building_id), None) if estate else None
        label = tr.isolate(building.name if building else item.building_id)
        if item.staircase:
            label += " " + tr._("scala {staircase}", staircase=item.staircase)
        parts.append(label)
    return parts


def describe_place(tr: Translator, content: Content, item: Ticket | ReportDraft | Row) -> str:
    """Estate · building, staircase · floor · flat or common areas, as far as the report says."""
    parts = _estate_and_building(tr, content, item)
    if item.floor is not None:
        parts.append(floor_label(tr, item.floor))
    if item.area == "common":
        parts.append(tr._("parti comuni"))
    elif item.area == "flat":
        parts.append(tr._("appartamento {flat}", flat=item.flat) if item.flat else tr._("appartamento"))
    return " · ".join(parts)


def describe_public_place(tr: Translator, content: Content, ticket: Ticket) -> str:
    """Estate · building, staircase · common areas: where a problem is, without the floor or the flat."""
    parts = _estate_and_building(tr, content, ticket)
    if ticket.area == "common":
        parts.append(tr._("parti comuni"))
    return " · ".join(parts)


def answer_lines(tr: Translator, content: Content, category_id: str | None, answers: dict) -> list[str]:
    category = content.problems.get(category_id or "")
    if category is None:
        return []
    return [
        f"❓ {tr.isolate(question.text.get(tr.language))} <b>{tr._(ANSWER_LABELS[answers[question.id]])}</b>"
        for question in category.questions if answers.get(question.id) in ANSWER_LABELS
    ]


def history_lines(tr: Translator, events: list[TicketEvent], limit: int = HISTORY_SHOWN) -> list[str]:
    lines = []
    for event in events[-limit:]:
        line = f"• {tr.short_date(event.at)} {tr.time(event.at)} · {tr._(EVENT_LABELS.get(event.kind, event.kind))}"
        if event.kind in ("note", "comment", "rejected") and event.text:
            line += ": «" + tr.isolate(clip(event.text, 200)) + "»"
        lines.append(line)
    return lines


def duration_label(tr: Translator, hours: float) -> str:
    if hours < 1:
        return tr.n_("{n} minuto", "{n} minuti", round(hours * 60))
    return tr.n_("{n} ora", "{n} ore", round(hours))


def reject_reason_text(tr: Translator, ticket: Ticket) -> str:
    if ticket.reject_reason == "other" and ticket.last_note:
        return tr.isolate(clip(ticket.last_note, 300))
    return tr._(REJECT_LABELS.get(ticket.reject_reason or "", REJECT_LABELS["other"]))


# --------------------------------------------------------------------------------------------
# The alert and the custodian's view of a ticket


def ticket_facts(tr: Translator, content: Content, ticket: Ticket, reporter: User | None, media: list[TicketMedia]) -> list[str]:
    lines = [
        tr._("🔧 <b>Segnalazione {code}</b>", code=ticket.code),
        f"{tr._(URGENCY_LABELS.get(ticket.urgency, ticket.urgency))} · {tr.isolate(category_name(tr, content, ticket.category_id))}",
        "📍 " + describe_place(tr, content, ticket),
    ]
    lines.extend(answer_lines(tr, content, ticket.category_id, ticket.answers or {}))
    if ticket.description:
        lines.append("📝 «" + tr.isolate(clip(ticket.description, 1200)) + "»")
    photos = sum(1 for item in media if item.kind == "photo")
    if photos:
        lines.append(tr.n_("📷 {n} foto", "📷 {n} foto", photos))
    if any(item.kind == "voice" for item in media):
        lines.append(tr._("🎤 Messaggio vocale (qui sopra)"))
    if ticket.tenant_name:
        lines.append(tr._("👤 Per conto di: {name} · {contact}", name=ticket.tenant_name, contact=ticket.tenant_contact or "—"))
    elif reporter is not None:
        lines.append(tr._("👤 Segnalata da: {name}", name=reporter.first_name or str(reporter.id)))
    lines.append(tr.n_("👥 {n} inquilino interessato", "👥 {n} inquilini interessati", ticket.affected))
    lines.append(tr._("🕘 Inviata: {when}", when=tr.datetime(ticket.created_at)))
    lines.append(tr._("Stato: <b>{status}</b>", status=tr._(STATUS_LABELS[ticket.status])))
    if ticket.escalations:
        lines.append(tr.n_("⏰ Sollecitata al gestore {n} volta", "⏰ Sollecitata al gestore {n} volte", ticket.escalations))
    if ticket.stars:
        lines.append(tr._("Voto dell'inquilino: {stars}", stars="⭐" * ticket.stars))
    if ticket.status == "rejected":
        lines.append(tr._("Motivo: {reason}", reason=reject_reason_text(tr, ticket)))
    elif ticket.last_note:
        lines.append(tr._("🗒 Ultima nota: «{note}»", note=clip(ticket.last_note, 500)))
    return lines


def action_rows(tr: Translator, ticket: Ticket) -> list[list[Button]]:
    """The one-tap buttons for the ticket's current state (the server checks them again when pressed)."""
    status, rows = ticket.status, []
    if status in tickets.TRANSITIONS[Action.ACKNOWLEDGE][0]:
        rows.append([button(tr._("👀 Prendo in carico"), callbacks.TICKET_ACK, ticket.id)])
    if status in tickets.TRANSITIONS[Action.START][0]:
        rows.append([button(tr._("🔧 Lavori in corso"), callbacks.TICKET_START, ticket.id)])
    if status in tickets.TRANSITIONS[Action.RESOLVE][0]:
        rows.append([button(tr._("✅ Risolto"), callbacks.TICKET_RESOLVE, ticket.id)])
        rows.append([button(tr._("⛔ Non è di nostra competenza"), callbacks.TICKET_REJECT, ticket.id)])
    if status in tickets.TRANSITIONS[Action.NOTE][0]:
        rows.append([button(tr._("🗒 Aggiungi una nota"), callbacks.TICKET_NOTE, ticket.id)])
    return rows


def render_alert(tr: Translator, content: Content, ticket: Ticket, reporter: User | None, media: list[TicketMedia]) -> Screen:
    return Screen("\n".join(ticket_facts(tr, content, ticket, reporter, media)), action_rows(tr, ticket))


def render_staff_ticket(v: Visitor, content: Content, ticket: Ticket, reporter: User | None, media: list[TicketMedia],
                        events: list[TicketEvent]) -> Screen:
    tr = v.tr
    lines = ticket_facts(tr, content, ticket, reporter, media)
    lines += ["", tr._("<b>Storia</b>"), *history_lines(tr, events)]
    rows = action_rows(tr, ticket)
    rows.append(back_row(tr, callbacks.TICKETS_OPEN, 0))
    return Screen("\n".join(lines), rows)


def ticket_button(tr: Translator, content: Content, ticket: Ticket, action: callbacks.Action, category_width: int) -> Button:
    """A ticket in a list: code · problem · state."""
    category = clip(category_name(tr, content, ticket.category_id), category_width)
    return button(f"{tr.bidi(ticket.code)} · {tr.bidi(category)} · {tr._(STATUS_LABELS[ticket.status])}", action, ticket.id)


def ticket_page(tr: Translator, content: Content, items: list[Ticket], total: int, page: int, per_page: int, *,
                view: callbacks.Action, turn: callbacks.Action, category_width: int) -> tuple[list[list[Button]], int, int]:
    """One page of a list of tickets: a button each (`view` opens one) and the pager (`turn`) when there are more
    pages; with the page shown and the number of pages."""
    page, pages = paging(page, total, per_page)
    rows = [[ticket_button(tr, content, ticket, view, category_width)] for ticket in items]
    pager = pager_row(tr, turn, page, pages)
    return (rows + [pager] if pager else rows), page, pages


def render_open_list(v: Visitor, content: Content, items: list[Ticket], total: int, page: int) -> Screen:
    tr = v.tr
    rows, page, pages = ticket_page(tr, content, items, total, page, TICKETS_PER_PAGE, view=callbacks.TICKET_STAFF_VIEW,
                                    turn=callbacks.TICKETS_OPEN, category_width=22)
    rows.append(back_row(tr, callbacks.STAFF))
    if not total:
        return Screen(tr._("Nessuna segnalazione aperta nei tuoi caseggiati. 👍"), rows)
    text = tr.n_("<b>{n} segnalazione aperta</b>, dalla più vecchia:", "<b>{n} segnalazioni aperte</b>, dalla più vecchia:", total)
    if pages > 1:
        text += "\n" + tr._("Pagina {page} di {pages}", page=page + 1, pages=pages)
    return Screen(text, rows)


def render_reject_reasons(tr: Translator, ticket: Ticket) -> Screen:
    rows = [[button(tr._(label), callbacks.TICKET_REJECT_REASON, ticket.id, reason)] for reason, label in REJECT_LABELS.items()]
    rows.append([button(tr._("⬅️ Lascia stare"), callbacks.TICKET_STAFF_VIEW, ticket.id)])
    return Screen(tr._("Perché la segnalazione {code} non è di vostra competenza? L'inquilino riceverà il motivo.", code=ticket.code), rows)


# --------------------------------------------------------------------------------------------
# Announcing: alerts, their updates and the tenants' notifications, through the outbox


async def reporter_of(session: AsyncSession, ticket: Ticket) -> User | None:
    return await session.get(User, ticket.reporter_id) if ticket.reporter_id is not None else None


async def send_alert(session: AsyncSession, rt: Runtime, ticket: Ticket, chat_id: int) -> None:
    """The ticket's photos and voice note, then the alert with its buttons; once per ticket and chat."""
    now = rt.clock.now()
    tr = await chat_translator(session, rt, chat_id)
    media = await ticket_lists.media_of(session, ticket.id)
    for item in media:
        method, field = ("sendPhoto", "photo") if item.kind == "photo" else ("sendVoice", "voice")
        await outbox.enqueue(
            session, chat_id=chat_id, method=method, params={field: item.file_id, "caption": ticket.code},
            dedupe_key=f"alert-media:{ticket.id}:{chat_id}:{item.id}", now=now, kind="alert_media", ref=str(ticket.id),
        )
    screen = render_alert(tr, rt.content, ticket, await reporter_of(session, ticket), media)
    await outbox.enqueue(
        session, chat_id=chat_id, method="sendMessage", params=message_params(screen),
        dedupe_key=f"alert:{ticket.id}:{chat_id}", now=now, kind=ALERT_KIND, ref=str(ticket.id),
    )


async def announce_new_ticket(session: AsyncSession, rt: Runtime, ticket: Ticket) -> None:
    """Alert every custodian of the estate; emergencies and urgent tickets, and tickets of an estate without a
    reachable custodian, also go to the manager chat."""
    custodians = [user for user in await users.users_with_role(session, "custodian", ticket.estate_id) if user.blocked_at is None]
    chats = [user.id for user in custodians]
    if ticket.urgency in ("emergency", "urgent") or not chats:
        chats += [chat for chat in manager_chats(rt) if chat not in chats]
    if not chats:
        log.warning("ticket %s: no custodian and no manager chat or admin to alert (set QC_MANAGER_CHAT_ID)", ticket.code)
    for chat_id in chats:
        await send_alert(session, rt, ticket, chat_id)


async def _update_alerts(session: AsyncSession, rt: Runtime, ticket: Ticket, event: TicketEvent) -> None:
    now = rt.clock.now()
    media = await ticket_lists.media_of(session, ticket.id)
    reporter = await reporter_of(session, ticket)
    for chat_id in await ticket_lists.alert_chats(session, ticket.id):
        tr = await chat_translator(session, rt, chat_id)
        params = screen_params(render_alert(tr, rt.content, ticket, reporter, media))
        params.setdefault("reply_markup", {"inline_keyboard": []})  # a closed ticket loses its buttons
        await outbox.enqueue(
            session, chat_id=chat_id, method="editMessageText", params={outbox.EDIT_REF: [ALERT_KIND, str(ticket.id)], **params},
            dedupe_key=f"alert-edit:{ticket.id}:{chat_id}:{event.id}", now=now, kind="alert_edit", ref=str(ticket.id),
        )


def render_tenant_notice(tr: Translator, content: Content, ticket: Ticket, event: TicketEvent, user_id: int, now: datetime) -> Screen:
    reporter = ticket.reporter_id == user_id
    reason = ""
    if ticket.status == "rejected":  # the custodian's own words are for the reporter; subscribers get the label
        if reporter:
            reason = reject_reason_text(tr, ticket)
        elif ticket.reject_reason in REJECT_LABELS and ticket.reject_reason != "other":
            reason = tr._(REJECT_LABELS[ticket.reject_reason])
        else:
            reason = tr._(OTHER_REASON)
    text = tr._(TENANT_NOTICES[event.kind], code=ticket.code, category=category_name(tr, content, ticket.category_id), reason=reason)
    if event.kind == "note" and event.text and reporter:
        text += "\n\n«" + tr.isolate(clip(event.text, 800)) + "»"
    rows = []
    if tickets.can_answer_resolution(ticket, user_id, now):
        text += "\n\n" + tr._("È davvero risolto? Rispondi entro 14 giorni: se non rispondi, la chiudiamo.")
        rows += resolution_rows(tr, ticket.id)
    elif tickets.can_rate(ticket, user_id):
        text += "\n\n" + tr._("Com'è andata? Dai un voto all'intervento, da 1 a 5 stelle.")
        rows.append(star_row(ticket.id))
    rows.append([button(tr._("📋 Vedi la segnalazione"), callbacks.REPORT_VIEW, ticket.id)])
    return Screen(text, rows)


def resolution_rows(tr: Translator, ticket_id: int) -> list[list[Button]]:
    """The tenant's two answers when the custodian says the problem is solved."""
    return [
        [button(tr._("✅ Sì, è risolto"), callbacks.REPORT_CONFIRM, ticket_id)],
        [button(tr._("↩️ No, il problema c'è ancora"), callbacks.REPORT_REOPEN, ticket_id)],
    ]


def star_row(ticket_id: int) -> list[Button]:
    return [button(f"{stars} ⭐", callbacks.REPORT_RATE, ticket_id, stars) for stars in range(1, 6)]


async def _notify_followers(session: AsyncSession, rt: Runtime, ticket: Ticket, event: TicketEvent, actor_id: int | None) -> None:
    now = rt.clock.now()
    for user in await ticket_lists.followers(session, ticket):
        if user.id == actor_id or user.blocked_at is not None:
            continue
        if event.kind == "note" and user.id != ticket.reporter_id:
            continue  # a note is written to the reporter; subscribers hear of changes of state only
        tr = translator_for(rt, language_of(user))
        screen = render_tenant_notice(tr, rt.content, ticket, event, user.id, now)
        await outbox.enqueue(
            session, chat_id=user.id, method="sendMessage", params=message_params(screen),
            dedupe_key=f"notice:{ticket.id}:{event.id}:{user.id}", now=now, kind="notice", ref=str(ticket.id),
        )


async def _tell_custodians(session: AsyncSession, rt: Runtime, ticket: Ticket, event: TicketEvent,
                           media: TicketMedia | None) -> None:
    """A new message (edits make no sound) when a tenant comments, adds a photo or reopens the ticket."""
    now = rt.clock.now()
    for chat_id in await ticket_lists.alert_chats(session, ticket.id):
        tr = await chat_translator(session, rt, chat_id)
        if event.kind == "reopened":
            text = tr._("↩️ L'inquilino dice che il problema {code} c'è ancora: la segnalazione è riaperta.", code=ticket.code)
        else:
            text = tr._("💬 Novità dall'inquilino sulla segnalazione {code}:", code=ticket.code)
        if event.text:
            text += "\n«" + tr.isolate(clip(event.text, 800)) + "»"
        if media is not None:
            await outbox.enqueue(
                session, chat_id=chat_id, method="sendPhoto", params={"photo": media.file_id, "caption": ticket.code},
                dedupe_key=f"comment-photo:{event.id}:{chat_id}", now=now, kind="comment", ref=str(ticket.id),
            )
        screen = Screen(text, [[button(tr._("📋 Apri la segnalazione"), callbacks.TICKET_STAFF_VIEW, ticket.id)]])
        await outbox.enqueue(
            session, chat_id=chat_id, method="sendMessage", params=message_params(screen),
            dedupe_key=f"comment:{event.id}:{chat_id}", now=now, kind="comment", ref=str(ticket.id),
        )


async def announce_change(session: AsyncSession, rt: Runtime, change: Change, actor_id: int | None,
                          media: TicketMedia | None = None) -> None:
    """After any action: update the alerts everywhere; tell the tenants about changes that concern them; tell
    the custodians about the tenants' comments, photos and reopenings."""
    ticket, event = change.ticket, change.event
    if event.kind != "comment":  # a comment does not change what the alert shows; it gets its own message
        await _update_alerts(session, rt, ticket, event)
    if event.kind in TENANT_NOTICES:
        await _notify_followers(session, rt, ticket, event, actor_id)
    if event.kind in ("comment", "photo", "reopened"):
        await _tell_custodians(session, rt, ticket, event, media)


async def refuse_ticket_action(update: Update, v: Visitor, error: TicketError) -> None:
    """A refused action on a ticket (the presser's, not a message to others; here beside the words it uses): a
    short, polite answer on the button; nothing changed."""
    log.info("user %s: ticket action refused (%s): %s", v.user_id, error.reason, error)
    await refusals.refuse(update, v, v.tr._(REFUSALS[error.reason]), alert=error.reason == "not_allowed")


async def show_ticket_screen(update: Update, v: Visitor, screen: Awaitable[Screen]) -> None:
    """A ticket's screen for the presser (the reporter's or the staff's view), or the refusal when the domain says
    this person may not see it."""
    try:
        built = await screen
    except TicketError as error:
        await refuse_ticket_action(update, v, error)
    else:
        await reply(update, built)


@dataclass(frozen=True)
class TicketAnnouncer:
    """The domain's ticket intents tell people through this (storage.domain.ticket_intents.Announcer)."""

    rt: Runtime

    async def new_ticket(self, session: AsyncSession, ticket: Ticket) -> None:
        await announce_new_ticket(session, self.rt, ticket)

    async def change(self, session: AsyncSession, change: Change, actor_id: int, media: TicketMedia | None = None) -> None:
        await announce_change(session, self.rt, change, actor_id, media)


async def announce_escalation(session: AsyncSession, rt: Runtime, change: Change) -> None:
    ticket = change.ticket
    for chat_id in manager_chats(rt):
        tr = await chat_translator(session, rt, chat_id)
        preface = tr._("⏰ <b>Nessuno ha preso in carico questa segnalazione</b> entro {time}.", time=duration_label(tr, ticket.ack_hours))
        if ticket.escalations > 1:
            preface += "\n" + tr._("Promemoria giornaliero numero {count}.", count=ticket.escalations)
        screen = render_alert(tr, rt.content, ticket, await reporter_of(session, ticket), await ticket_lists.media_of(session, ticket.id))
        screen.text = preface + "\n\n" + screen.text
        await outbox.enqueue(
            session, chat_id=chat_id, method="sendMessage", params=message_params(screen),
            dedupe_key=f"escalation:{ticket.id}:{ticket.escalations}:{chat_id}", now=rt.clock.now(), kind="escalation",
            ref=str(ticket.id),
        )
    if not manager_chats(rt):
        log.warning("ticket %s escalated but there is no manager chat or admin (set QC_MANAGER_CHAT_ID)", ticket.code)


# --------------------------------------------------------------------------------------------
# Periodic jobs (registered in bot/jobs.py)


# Tickets per transaction in the jobs below (~8 ms each with their alerts and notices). A backlog (after downtime:
# the scale benchmark's thousands of overdue tickets took 41 s as one transaction) is worked through in short
# transactions with the event loop free in between, so tenants keep getting answers and other writers their turn.
# Each ticket's change and its messages commit together.
JOB_BATCH = 10


async def _work_through(rt: Runtime, take_due, announce) -> None:  # type: ignore[no-untyped-def]
    """Take due tickets JOB_BATCH at a time (take_due changes them so they are not due again) until none is left."""
    while True:
        async with rt.db.write() as session:
            changes = await take_due(session, rt.clock.now(), limit=JOB_BATCH)
            for change in changes:
                await announce(session, change)
        if len(changes) < JOB_BATCH:
            return
        rt.wake_outbox()
        await asyncio.sleep(0)  # the event loop's turn: tenants' updates go on between batches


async def escalate_overdue(rt: Runtime) -> None:
    async def announce(session: AsyncSession, change: tickets.Change) -> None:
        await announce_escalation(session, rt, change)
        await _update_alerts(session, rt, change.ticket, change.event)

    await _work_through(rt, tickets.escalate_due, announce)


async def close_resolved(rt: Runtime) -> None:
    async def announce(session: AsyncSession, change: tickets.Change) -> None:
        await announce_change(session, rt, change, None)

    await _work_through(rt, tickets.close_expired, announce)


def render_digest(tr: Translator, content: Content, items: list[Ticket], total: int) -> Screen:
    lines = [tr.n_("☀️ Buongiorno! C'è {n} segnalazione aperta nei tuoi caseggiati:",
                   "☀️ Buongiorno! Ci sono {n} segnalazioni aperte nei tuoi caseggiati:", total)]
    for ticket in items:
        lines.append(
            f"• {tr.isolate(ticket.code)} · {tr.isolate(category_name(tr, content, ticket.category_id))} · "
            f"{tr.isolate(estate_name(content, ticket.estate_id))} · {tr._(STATUS_LABELS[ticket.status])} · {tr.short_date(ticket.created_at)}"
        )
    if total > len(items):
        lines.append(tr.n_("…e ancora {n} segnalazione.", "…e ancora {n} segnalazioni.", total - len(items)))
    return Screen("\n".join(lines), [[button(tr._("🛠 Segnalazioni aperte"), callbacks.TICKETS_OPEN, 0)]])


async def send_digests(rt: Runtime) -> None:
    """Once a day, after settings.digest_time: each custodian's open tickets, oldest first. The digest row makes
    this idempotent across restarts and instances."""
    now = rt.clock.now()
    local = now.astimezone(rt.settings.timezone)
    if local.time() < rt.settings.digest_time:
        return
    day = local.date().isoformat()
    async with rt.db.write() as session:
        for user_id, estates in sorted((await ticket_lists.custodian_ids(session)).items()):
            if not await ticket_lists.claim_digest(session, user_id, day, now):
                continue
            total = await ticket_lists.count_open_tickets(session, estates)
            if not total:
                continue
            tr = await chat_translator(session, rt, user_id)
            items = await ticket_lists.open_tickets(session, estates, limit=DIGEST_MAX_TICKETS)
            await outbox.enqueue(
                session, chat_id=user_id, method="sendMessage", params=message_params(render_digest(tr, rt.content, items, total)),
                dedupe_key=f"digest:{user_id}:{day}", now=now, kind="digest", ref=day,
            )


def blocked_handler(rt: Runtime) -> OnBlocked:
    """For OutboxSender: remember who blocked the bot; a custodian's alert goes to the manager chat instead."""

    async def on_blocked(row: OutboxMessage) -> None:
        now = rt.clock.now()
        async with rt.db.write() as session:
            await users.mark_blocked(session, row.chat_id, now)
            ticket = await tickets.get_ticket(session, int(row.ref)) if row.kind == ALERT_KIND and row.ref.isdigit() else None
            if ticket is not None:
                custodian = await session.get(User, row.chat_id)
                name = custodian.first_name if custodian is not None else str(row.chat_id)
                for chat_id in manager_chats(rt):
                    if chat_id == row.chat_id:
                        continue
                    tr = await chat_translator(session, rt, chat_id)
                    warning = tr._("⚠️ {name} (custode) ha bloccato il bot o non è più raggiungibile: la segnalazione {code} arriva qui.",
                                   name=name, code=ticket.code)
                    await outbox.enqueue(
                        session, chat_id=chat_id, method="sendMessage", params=message_params(Screen(warning)),
                        dedupe_key=f"blocked:{row.id}:{chat_id}", now=now, kind="blocked", ref=str(ticket.id),
                    )
                    await send_alert(session, rt, ticket, chat_id)  # nothing new if this chat has it already
        log.warning("chat %s blocked the bot (outbox row %s, %s)", row.chat_id, row.id, row.kind or "message")
        rt.forget_user(row.chat_id)
        rt.wake_outbox()

    return on_blocked
