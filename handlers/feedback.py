"""Tenants' opinions: rate a space or a service, write a suggestion or a complaint (anonymously if they wish), the
questions asked after an attended booking or a fix, and turning those questions off. Storage does the work
(storage/domain/feedback.py); these handlers read the button, call it, and show the next screen."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot import callbacks
from bot.callbacks import Action
from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Button, Screen, back_row, button, clip, menu_row, show
from handlers import refusals
from handlers.outgoing.bookings import service_title
from handlers.common import language_of, message_params, space_name, translator_for
from handlers.outgoing.tickets import category_name
from storage.domain import feedback, outbox, shortcuts
from storage.content import Content, Service
from storage.domain.feedback import Claim, FeedbackError, Target
from storage.models import Booking, FeedbackDraft, FeedbackPrompt, Ticket, User

STAR_LABELS = {
    5: N_("⭐⭐⭐⭐⭐ Molto bene"),
    4: N_("⭐⭐⭐⭐ Bene"),
    3: N_("⭐⭐⭐ Così così"),
    2: N_("⭐⭐ Male"),
    1: N_("⭐ Molto male"),
}
KIND_NAMES = {"rating": N_("Voto"), "suggestion": N_("Suggerimento"), "complaint": N_("Reclamo")}
REFUSALS = {
    "not_found": N_("Non trovo più questa richiesta. Ricomincia dal menu «La tua opinione»."),
    "not_allowed": N_("Non puoi dare un voto a questo appuntamento."),
    "invalid": N_("Questa scelta non è più valida. Ricomincia dal menu «La tua opinione»."),
}


def stars_text(stars: int) -> str:
    return "⭐" * stars


def star_rows(tr: Translator, action: Action, *prefix: object) -> list[list[Button]]:
    """Five big buttons, one per row, best first: easier to hit than five small stars side by side."""
    return [[button(tr._(STAR_LABELS[stars]), action, *prefix, stars)] for stars in sorted(STAR_LABELS, reverse=True)]


def prompts_off_row(tr: Translator) -> list[Button]:
    return [button(tr._("🔕 Non farmi più domande"), callbacks.FEEDBACK_PROMPTS, "off")]


def target_name(tr: Translator, content: Content, space_id: str, service_id: str) -> str:
    if not service_id:
        return space_name(tr, content, space_id)
    return tr._("{service} ({space})", service=service_title(tr, content, service_id), space=space_name(tr, content, space_id))


# --------------------------------------------------------------------------------------------
# Screens


def render_home(v: Visitor, prompts_enabled: bool, content: Content | None = None, own_space: str | None = None) -> Screen:
    """The kinds of opinion; first, for a tenant whose space is known, rating that space in one tap."""
    tr = v.tr
    rows = []
    if content is not None and own_space in content.spaces:
        rows.append([button(tr._("⭐ Dai un voto a {space}", space=space_name(tr, content, own_space)),
                            callbacks.FEEDBACK_SPACE, "rating", own_space)])
    rows += [
        [button(tr._("⭐ Dai un voto a uno spazio o a un servizio"), callbacks.FEEDBACK_SPACES, "rating")],
        [button(tr._("💡 Manda un suggerimento"), callbacks.FEEDBACK_SPACES, "suggestion")],
        [button(tr._("😟 Fai un reclamo"), callbacks.FEEDBACK_SPACES, "complaint")],
        [button(tr._("🔕 Non farmi più domande") if prompts_enabled else tr._("🔔 Fammi di nuovo domande"),
                callbacks.FEEDBACK_PROMPTS, "off" if prompts_enabled else "on")],
        menu_row(tr),
    ]
    lines = [
        tr._("<b>La tua opinione</b> aiuta gli spazi a migliorare. Puoi scrivere anche in forma anonima."),
        tr._("Dopo un appuntamento o una riparazione ti chiediamo com'è andata, al massimo una volta al giorno.")
        if prompts_enabled else tr._("Hai chiesto di non ricevere domande dopo gli appuntamenti e le riparazioni."),
    ]
    return Screen("\n\n".join(lines), rows)


def render_spaces(v: Visitor, content: Content, kind: str) -> Screen:
    tr = v.tr
    questions = {
        "rating": tr._("Quale spazio vuoi votare?"),
        "suggestion": tr._("Per quale spazio è il tuo suggerimento?"),
        "complaint": tr._("Per quale spazio è il tuo reclamo?"),
    }
    rows = [[button(space.name.get(tr.language), callbacks.FEEDBACK_SPACE, kind, space.id)] for space in content.spaces.values()]
    rows.append(back_row(tr, callbacks.FEEDBACK))
    return Screen(questions[kind], rows)


def render_targets(v: Visitor, content: Content, space_id: str) -> Screen:
    tr = v.tr
    space = content.spaces[space_id]
    rows = [[button(tr._("🏠 Lo spazio in generale"), callbacks.FEEDBACK_RATE_SPACE, space_id)]]
    rows += [[button(service.title.get(tr.language), callbacks.FEEDBACK_RATE_SERVICE, service.id)]
             for service in content.services_of(space_id)]
    rows.append(back_row(tr, callbacks.FEEDBACK_SPACES, "rating"))
    return Screen(tr._("<b>{space}</b>: vuoi votare lo spazio in generale o un servizio?", space=space.name.get(tr.language)), rows)


def anonymity_lines(tr: Translator, draft: FeedbackDraft) -> tuple[str, list[Button]]:
    if draft.anonymous:
        return (tr._("🕶 <b>Anonimo</b>: non salviamo chi sei, nemmeno nel nostro archivio."),
                [button(tr._("👤 Togli l'anonimato"), callbacks.FEEDBACK_ANONYMOUS)])
    return (tr._("👤 <b>Non anonimo</b>: resta collegato al tuo profilo, ma nelle statistiche non compare mai il tuo nome."),
            [button(tr._("🕶 Rendi anonimo"), callbacks.FEEDBACK_ANONYMOUS)])


def render_draft(v: Visitor, content: Content, draft: FeedbackDraft) -> Screen:
    tr = v.tr
    target = target_name(tr, content, draft.space_id, draft.service_id)
    cancel_row = [button(tr._("✖️ Annulla"), callbacks.FEEDBACK_DISCARD), button(tr._("🏠 Menu"), callbacks.MENU)]
    if draft.feedback_id is not None:
        return Screen(tr._("Scrivi il tuo commento su «{target}» in un messaggio.", target=target), [cancel_row])
    anonymity, anonymity_row = anonymity_lines(tr, draft)
    rows: list[list[Button]] = []
    if draft.step == "stars":
        lines = [tr._("Quante stelle dai a «{target}»?", target=target)]
        rows += star_rows(tr, callbacks.FEEDBACK_STARS)
    elif draft.kind == "rating" and draft.step == "text":
        lines = [tr._("Hai scelto {stars} per «{target}».", stars=stars_text(draft.stars or 0), target=target),
                 tr._("Vuoi aggiungere un commento? Scrivilo in un messaggio, oppure tocca «Invia».")]
        rows.append([button(tr._("✅ Invia"), callbacks.FEEDBACK_SEND)])
    elif draft.step == "text":
        lines = [tr._("Scrivi in un messaggio il tuo suggerimento per «{target}».", target=target) if draft.kind == "suggestion"
                 else tr._("Scrivi in un messaggio il tuo reclamo per «{target}». Lo legge chi gestisce lo spazio.", target=target)]
    else:
        lines = [tr._("<b>{kind}</b> per «{target}»", kind=tr._(KIND_NAMES[draft.kind]), target=target)]
        if draft.stars:
            lines.append(stars_text(draft.stars))
        if draft.comment:
            lines.append("«" + tr.isolate(clip(draft.comment, 1000)) + "»")
        lines.append(tr._("Per cambiare il testo, scrivi un nuovo messaggio."))
        rows.append([button(tr._("✅ Invia"), callbacks.FEEDBACK_SEND)])
    rows += [anonymity_row, cancel_row]
    return Screen("\n\n".join([*lines, anonymity]), rows)


def render_sent(v: Visitor, kind: str, anonymous: bool) -> Screen:
    tr = v.tr
    text = tr._("Grazie! Il tuo voto è salvato.") if kind == "rating" else tr._("Grazie! Lo spazio riceverà il tuo messaggio.")
    if anonymous:
        text += "\n" + tr._("È anonimo: non abbiamo salvato chi sei.")
    return Screen(text, [[button(tr._("⭐ La tua opinione"), callbacks.FEEDBACK)], menu_row(tr)])


def render_booking_rated(v: Visitor, booking_id: int, stars: int, *, commented: bool = False) -> Screen:
    """The thanks, with the stars again: a changed mind replaces the vote."""
    tr = v.tr
    rows = [] if commented else [[button(tr._("✍️ Aggiungi un commento"), callbacks.BOOKING_COMMENT, booking_id)]]
    rows += star_rows(tr, callbacks.BOOKING_STARS, booking_id)
    rows.append(menu_row(tr))
    thanks = tr._("Grazie! Abbiamo aggiunto il tuo commento.") if commented else tr._("Grazie! Hai dato {stars}.", stars=stars_text(stars))
    return Screen(thanks + "\n" + tr._("Se cambi idea, tocca un altro voto: vale l'ultimo."), rows)


def render_booking_prompt(tr: Translator, content: Content, booking: Booking) -> Screen:
    text = tr._("Il {date} sei stato/a a «{service}» ({space}). Com'è andata?", date=tr.short_date(booking.slot_start),
                service=service_title(tr, content, booking.service_id), space=space_name(tr, content, booking.space_id))
    rows = star_rows(tr, callbacks.BOOKING_STARS, booking.id)
    rows.append(prompts_off_row(tr))
    return Screen(text + "\n" + tr._("Tocca un voto: ci aiuta a migliorare."), rows)


def render_fix_prompt(tr: Translator, content: Content, ticket: Ticket) -> Screen:
    text = tr._("La segnalazione {code} ({category}) è chiusa. Com'è andato l'intervento?", code=ticket.code,
                category=category_name(tr, content, ticket.category_id))
    rows = star_rows(tr, callbacks.REPORT_RATE, ticket.id)  # the reports flow records the stars of a fix
    rows.append(prompts_off_row(tr))
    return Screen(text, rows)


# --------------------------------------------------------------------------------------------
# Handlers


async def _refuse(update: Update, v: Visitor, error: FeedbackError) -> None:
    await refusals.refuse(update, v, v.tr._(REFUSALS[error.reason]), alert=True,
                          screen=render_home(v, v.prompts_enabled))


async def _answer_error(update: Update, context: FrontDeskContext, error: FeedbackError) -> None:
    await _refuse(update, await context.open(), error)


async def feedback_home(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    own = await shortcuts.own_space(rt.db, v.user_id, v.last_estate_id, rt.content)
    await update.callback_query.answer()
    await show(update, render_home(v, v.prompts_enabled, rt.content, own))


async def feedback_spaces(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    kind = context.data.args[0]
    if kind not in feedback.KINDS:
        await _refuse(update, v, FeedbackError("invalid", f"unknown feedback kind {kind!r}"))
        return
    await update.callback_query.answer()
    await show(update, render_spaces(v, rt.content, kind))


@refusals.answered(FeedbackError, _answer_error)
async def _show_draft(update: Update, context: FrontDeskContext,
                      write: Callable[[Runtime, int, datetime], Awaitable[FeedbackDraft]]) -> None:
    """Write the tenant's draft (`write(rt, user_id, now)` returns it) and show it; a refusal leads home."""
    rt, v = context.rt, await context.open()
    draft = await write(rt, v.user_id, rt.clock.now())
    await update.callback_query.answer()
    await show(update, render_draft(v, rt.content, draft))


async def _start(update: Update, context: FrontDeskContext, kind: str, target: Target) -> None:
    await _show_draft(update, context, lambda rt, user_id, now: feedback.start_draft_now(
        rt.db, user_id, kind, target, rt.content, now))


async def feedback_space(update: Update, context: FrontDeskContext) -> None:
    """A space chosen: its services to rate, or (suggestion, complaint) the text to write."""
    rt, v = context.rt, await context.open()
    kind, space_id = context.data.args
    if kind == "rating" and space_id in rt.content.spaces:
        await update.callback_query.answer()
        await show(update, render_targets(v, rt.content, space_id))
        return
    await _start(update, context, kind, Target(space_id))


async def feedback_target(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    decoded = context.data
    if decoded.action is callbacks.FEEDBACK_RATE_SPACE:
        target = Target(decoded.args[0])
    else:
        service = rt.content.services.get(decoded.args[0])
        target = Target(service.space_id, service.id) if service is not None else Target("", decoded.args[0])
    await _start(update, context, "rating", target)


async def _change_draft(update: Update, context: FrontDeskContext,
                        change: Callable[[FeedbackDraft, datetime], None]) -> None:
    """Apply `change(draft, now)` to the tenant's draft and show it again; an expired draft leads home."""
    await _show_draft(update, context, lambda rt, user_id, now: feedback.change_draft_now(rt.db, user_id, change, now))


async def feedback_stars(update: Update, context: FrontDeskContext) -> None:
    stars = context.data.int(0)
    await _change_draft(update, context, lambda draft, now: feedback.set_stars(draft, stars, now))


async def feedback_anonymous(update: Update, context: FrontDeskContext) -> None:
    await _change_draft(update, context, feedback.toggle_anonymous)


@refusals.answered(FeedbackError, _answer_error)
async def feedback_send(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    kind, anonymous = await feedback.send_draft_now(rt.db, v.user_id, rt.clock.now(), rt.settings.timezone)
    await update.callback_query.answer(v.tr._("Grazie!"))
    await show(update, render_sent(v, kind, anonymous))


async def feedback_discard(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await feedback.drop_draft_now(rt.db, v.user_id)
    await update.callback_query.answer(v.tr._("Annullato."))
    await show(update, render_home(v, v.prompts_enabled))


async def feedback_prompts(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    enabled = context.data.args[0] == "on"
    await feedback.choose_prompts(rt.db, v.user_id, enabled)
    rt.update_cached_user(v.user_id, prompts_enabled=enabled)
    await update.callback_query.answer(
        v.tr._("Va bene: ti faremo di nuovo qualche domanda.") if enabled else v.tr._("Va bene: non ti faremo più domande.")
    )
    await show(update, render_home(v, enabled))


@refusals.answered(FeedbackError, _answer_error)
async def booking_stars(update: Update, context: FrontDeskContext) -> None:
    """A star button of the question after an attended booking (or of the thanks, to change one's mind)."""
    rt, v = context.rt, await context.open()
    decoded = context.data
    booking_id, stars = decoded.int(0), decoded.int(1)
    async with rt.db.write() as session:
        await feedback.rate_booking(session, booking_id, v.user_id, stars, rt.clock.now(), rt.settings.timezone)
    await update.callback_query.answer(v.tr._("Grazie per il voto!"))
    await show(update, render_booking_rated(v, booking_id, stars))


async def booking_comment(update: Update, context: FrontDeskContext) -> None:
    booking_id = context.data.int(0)

    async def start(rt: Runtime, user_id: int, now: datetime) -> FeedbackDraft:
        async with rt.db.write() as session:
            return await feedback.start_comment(session, user_id, booking_id, now)

    await _show_draft(update, context, start)


async def comment_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT consumer: the comment, suggestion or complaint a draft is waiting for (read and written in one
    transaction: routing has just seen the draft)."""
    rt = context.rt
    taken = await feedback.comment_now(rt.db, update.effective_user.id, update.effective_message.text or "",
                                       rt.clock.now(), rt.settings.timezone)
    if taken is None:
        return False
    v = await context.open()
    draft, rating = taken
    if rating is not None:  # a comment on a booking's rating, sent
        screen = render_booking_rated(v, rating.booking_id or 0, rating.stars or 0, commented=True)
    else:
        screen = render_draft(v, rt.content, draft)
    await show(update, screen)
    return True


async def drop_draft(rt: Runtime, user_id: int) -> bool:
    """CANCEL_HOOKS: /cancel drops an unsent opinion."""
    return await feedback.drop_draft_now(rt.db, user_id)


# --------------------------------------------------------------------------------------------
# The prompts job (bot/jobs.py)


async def _prompt_screen(session: AsyncSession, rt: Runtime, tr: Translator, prompt: FeedbackPrompt) -> Screen | None:
    if prompt.kind == "booking":
        booking = await session.get(Booking, prompt.ref)
        return render_booking_prompt(tr, rt.content, booking) if booking is not None else None
    ticket = await session.get(Ticket, prompt.ref)
    return render_fix_prompt(tr, rt.content, ticket) if ticket is not None else None


async def send_prompts(rt: Runtime) -> None:
    """Turn due prompts into messages: at most one a day per tenant (the others wait for the next day), none for
    tenants who turned them off; the guard drops a message whose question was answered meanwhile."""
    now = rt.clock.now()
    async with rt.db.write() as session:
        for prompt in await feedback.due_prompts(session, now):
            if await feedback.claim(session, prompt, now, rt.settings.timezone) is not Claim.ASK:
                continue
            user = await session.get(User, prompt.user_id)
            screen = await _prompt_screen(session, rt, translator_for(rt, language_of(user)), prompt)
            if screen is None:  # the booking or ticket is gone: give the day back
                prompt.status, prompt.day = "skipped", None
                continue
            await outbox.enqueue(
                session, chat_id=prompt.user_id, method="sendMessage", params=message_params(screen),
                dedupe_key=f"feedback-prompt:{prompt.id}", now=now, guard=feedback.prompt_guard(prompt),
                kind="feedback_prompt", ref=str(prompt.id),
            )


def rate_button(v: Visitor, service: Service) -> list[Button]:
    """Under every service's screen: rate it straight away."""
    return [button(v.tr._("⭐ Dai un voto"), callbacks.FEEDBACK_RATE_SERVICE, service.id)]
