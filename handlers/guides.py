"""Guides to digital services for tenants: "Help with online services" in Help, a guide's opening screen, one step
per message ("Done, next", "Back", "I'm stuck here"), continuing where one stopped, "did it work?" at the end.
"I'm stuck here" offers the step's tips, the digital help desk of the tenant's space (the booking carries the
guide and step, so the operator's agenda says where they got stuck) and a question for the operators.

How operators answer: the question reaches the operators of the space (or, when it has none, the manager chat or
the admins) through the outbox as an alert with a "Reply" button; pressing it makes the bot wait for the answer in
the private chat (a GuidePrompt row), and the next text message there is the answer. It goes to the tenant through
the outbox, wrapped in the tenant's language, and every copy of the alert is edited to say it was answered.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable
from pathlib import Path

from telegram import Update
from telegram.error import Forbidden

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import MAX_CAPTION, Button, Screen, button, clip, menu_row, show, url_button
from handlers import booking as booking_screens
from handlers import directory, refusals
from handlers.common import chat_translator, message_params, screen_params, space_name
from handlers.outgoing import bookings as outgoing_bookings
from handlers.outgoing.tickets import manager_chats
from handlers.stats import count_text, shown
from storage.domain import bookings, guides, outbox
from storage.content import Content, Service
from storage.domain.guides import DeskNote, GuideFigures, GuideRefused, Refusal, Result, StepOutcome, Stuck
from storage.content.guides import Guide
from storage.models import GuideQuestion, GuideRun, User
from storage.domain.stats import Summary

log = logging.getLogger(__name__)

QUESTION_KIND = "guide_question"  # outbox kind of the operators' alerts, ref = question id
REFUSALS = {
    Refusal.NOT_FOUND: N_("Questa domanda non c'è più."),
    Refusal.NOT_ALLOWED: N_("Rispondono a questa domanda gli operatori dello spazio."),
    Refusal.ANSWERED: N_("A questa domanda ha già risposto un'altra persona."),
}
# Pictures already uploaded once: (content version, file) -> Telegram's file_id, so each is uploaded once.
_UPLOADED: dict[tuple[str, str], str] = {}


def guide_title(tr: Translator, content: Content, guide_id: str) -> str:
    guide = content.guides.get(guide_id)
    return guide.title.get(tr.language) if guide is not None else guide_id


def step_label(tr: Translator, guide: Guide, step: int) -> str:
    return tr._("passo {step} di {steps}", step=step, steps=len(guide.steps))


# --------------------------------------------------------------------------------------------
# Screens


def render_guides(v: Visitor, content: Content, runs: list[GuideRun]) -> Screen:
    tr = v.tr
    rows = []
    for run in runs[:3]:
        guide = content.guides[run.guide_id]
        label = tr._("▶️ Continua dal {step}: {guide}", guide=guide.title.get(tr.language),
                     step=step_label(tr, guide, min(run.step, len(guide.steps))))
        rows.append([button(clip(label, 64), callbacks.GUIDE_RESUME, guide.id)])
    rows += [[button("🧭 " + guide.title.get(tr.language), callbacks.GUIDE, guide.id)] for guide in content.guides.values()]
    rows.append([button(tr._("⬅️ Indietro"), callbacks.HELP, 0), button(tr._("🏠 Menu"), callbacks.MENU)])
    text = tr._("🧭 <b>Aiuto con i servizi online.</b> Guide passo per passo: un passo per messaggio. Se ti blocchi, una persona dello sportello digitale ti aiuta.")
    if not content.guides:
        text = tr._("Per ora non ci sono guide.")
    return Screen(text, rows)


def render_intro(v: Visitor, content: Content, guide: Guide, run: GuideRun | None) -> Screen:
    tr = v.tr
    lines = [
        f"🧭 <b>{tr.isolate(guide.title.get(tr.language))}</b>", "",
        tr._("👥 Per chi: {value}", value=directory.text_of(tr, guide.audience, 400)),
        tr._("🧰 Cosa ti serve: {value}", value=directory.text_of(tr, guide.needs, 400)),
        tr.n_("⏱ Circa {n} minuto", "⏱ Circa {n} minuti", guide.minutes) + " · "
        + tr.n_("{n} passo", "{n} passi", len(guide.steps)),
    ]
    rows: list[list[Button]] = []
    if run is not None and 1 < run.step <= len(guide.steps):
        lines += ["", tr._("Ti eri fermato/a al {step}.", step=step_label(tr, guide, run.step))]
        rows.append([button(tr._("▶️ Continua dal passo {step}", step=run.step), callbacks.GUIDE_RESUME, guide.id)])
        rows.append([button(tr._("🔁 Ricomincia"), callbacks.GUIDE_START, guide.id)])
    else:
        rows.append([button(tr._("▶️ Inizia"), callbacks.GUIDE_START, guide.id)])
    firsts = [content.guides[other] for other in guide.first if other in content.guides]
    if firsts:
        lines += ["", tr._("Prima di questa guida ti serve:")]
        rows += [[button("🧭 " + other.title.get(tr.language), callbacks.GUIDE, other.id)] for other in firsts]
    faqs = {faq.id: faq for faq in content.faqs}
    rows += [[button("❓ " + faqs[faq_id].question.get(tr.language), callbacks.FAQ, faq_id)] for faq_id in guide.faq_ids if faq_id in faqs]
    rows += [[button("🏠 " + content.services[service_id].title.get(tr.language), callbacks.SERVICE, service_id)]
             for service_id in guide.service_ids if service_id in content.services]
    rows.append([button(tr._("⬅️ Tutte le guide"), callbacks.GUIDES), button(tr._("🏠 Menu"), callbacks.MENU)])
    note = directory.italian_only_note(tr, guide.title, guide.audience, guide.needs)
    return Screen("\n".join(lines) + note, rows)


def render_step(v: Visitor, guide: Guide, step: int) -> Screen:
    tr = v.tr
    item = guide.steps[step - 1]
    lines = [f"🧭 <b>{tr.isolate(guide.title.get(tr.language))}</b> · {step_label(tr, guide, step)}", "",
             tr.isolate(directory.text_of(tr, item.text, 700))]
    rows: list[list[Button]] = []
    if item.link:
        rows.append([url_button(tr._("🔗 Apri il sito"), item.link)])
    last = step == len(guide.steps)
    rows.append([button(tr._("✅ Fatto, ho finito") if last else tr._("✅ Fatto, avanti"), callbacks.GUIDE_NEXT, guide.id, step)])
    rows.append([button(tr._("⬅️ Indietro"), callbacks.GUIDE_BACK, guide.id, step),
                 button(tr._("🆘 Mi sono bloccato/a"), callbacks.GUIDE_STUCK, guide.id, step)])
    rows.append(menu_row(tr))
    return Screen("\n".join(lines) + directory.italian_only_note(tr, item.text), rows)


def render_stuck(v: Visitor, content: Content, guide: Guide, stuck: Stuck) -> Screen:
    tr = v.tr
    item = guide.steps[stuck.step - 1]
    lines = [f"🆘 <b>{tr.isolate(guide.title.get(tr.language))}</b> · {step_label(tr, guide, stuck.step)}", ""]
    if item.tips is not None:
        lines += [tr._("<b>Cosa può andare storto qui:</b>"), tr.isolate(directory.text_of(tr, item.tips, 900)), ""]
    lines.append(tr._("Se non riesci ad andare avanti, una persona dello sportello digitale ti aiuta: prenota un appuntamento (saprà a che passo sei) oppure scrivi una domanda."))
    rows = []
    if stuck.desks:
        rows.append([button(tr._("📅 Prenota lo sportello digitale"), callbacks.GUIDE_DESK, guide.id, stuck.step)])
    rows.append([button(tr._("✍️ Fai una domanda all'operatore"), callbacks.GUIDE_ASK, guide.id, stuck.step)])
    rows.append([button(tr._("⬅️ Torna al passo {step}", step=stuck.step), callbacks.GUIDE_STEP, guide.id, stuck.step)])
    note = directory.italian_only_note(tr, item.tips) if item.tips is not None else ""
    return Screen("\n".join(lines) + note, rows)


def render_desks(v: Visitor, content: Content, guide: Guide, step: int, desks: list[Service]) -> Screen:
    tr = v.tr
    rows = [[button(f"{content.spaces[desk.space_id].neighbourhood} · {content.spaces[desk.space_id].name.get(tr.language)}",
                    callbacks.GUIDE_DESK_SERVICE, desk.id)] for desk in desks]
    rows.append([button(tr._("⬅️ Torna al passo {step}", step=step), callbacks.GUIDE_STEP, guide.id, step)])
    return Screen(tr._("In quale spazio vuoi andare? Ecco gli sportelli digitali che si prenotano:"), rows)


def desk_note(tr: Translator, guide: Guide, step: int) -> str:
    return tr._("📌 Chi ti riceve saprà che ti sei bloccato/a al {step} di «{guide}».", step=step_label(tr, guide, step),
                guide=guide.title.get(tr.language))


def render_finished(v: Visitor, guide: Guide, run: GuideRun) -> Screen:
    tr = v.tr
    text = tr._("🎉 Sei arrivato/a alla fine di «{guide}».", guide=guide.title.get(tr.language)) + "\n\n" + tr._("Ha funzionato?")
    rows = [[button(tr._("👍 Sì, ha funzionato"), callbacks.GUIDE_WORKED, run.id, "yes"),
             button(tr._("👎 No"), callbacks.GUIDE_WORKED, run.id, "no")]]
    return Screen(text, rows)


def render_worked(v: Visitor, guide: Guide, run: GuideRun) -> Screen:
    tr = v.tr
    if run.worked == "yes":
        return Screen(tr._("Benissimo, grazie! La tua risposta ci aiuta a migliorare le guide."),
                      [[button(tr._("🧭 Altre guide"), callbacks.GUIDES)], menu_row(tr)])
    last = len(guide.steps)
    rows = [[button(tr._("📅 Prenota lo sportello digitale"), callbacks.GUIDE_DESK, guide.id, last)],
            [button(tr._("✍️ Fai una domanda all'operatore"), callbacks.GUIDE_ASK, guide.id, last)],
            [button(tr._("🔁 Ricomincia"), callbacks.GUIDE_START, guide.id)], menu_row(tr)]
    return Screen(tr._("Ci dispiace. Grazie per avercelo detto: allo sportello digitale una persona può aiutarti."), rows)


def render_question_prompt(v: Visitor, content: Content, guide: Guide, step: int, space_id: str) -> Screen:
    tr = v.tr
    text = tr._("Scrivi qui sotto la tua domanda sul {step} di «{guide}». La leggono gli operatori di {space} e ti rispondono qui.",
                step=step_label(tr, guide, step), guide=guide.title.get(tr.language), space=space_name(tr, content, space_id))
    return Screen(text, [[button(tr._("⬅️ Torna al passo {step}", step=step), callbacks.GUIDE_STEP, guide.id, step)]])


def render_question_spaces(v: Visitor, content: Content) -> Screen:
    tr = v.tr
    rows = [[button(f"{space.neighbourhood} · {space.name.get(tr.language)}", callbacks.GUIDE_ASK_SPACE, space.id)]
            for space in content.spaces.values()]
    rows.append(menu_row(tr))
    return Screen(tr._("A quale spazio mandiamo la tua domanda? Scegli quello più vicino a casa tua."), rows)


def render_question_sent(v: Visitor, content: Content, guide: Guide, question: GuideQuestion) -> Screen:
    tr = v.tr
    text = tr._("✅ Domanda inviata agli operatori di {space}. Ti rispondono qui, appena possono.",
                space=space_name(tr, content, question.space_id))
    return Screen(text, [[button(tr._("⬅️ Torna al passo {step}", step=question.step), callbacks.GUIDE_STEP, guide.id, question.step)],
                         menu_row(tr)])


def render_question_alert(tr: Translator, content: Content, question: GuideQuestion, tenant_name: str) -> Screen:
    guide = content.guides.get(question.guide_id)
    where = step_label(tr, guide, question.step) if guide is not None else str(question.step)
    lines = [
        tr._("❓ <b>Domanda da {name}</b> (scrive in {language})", name=tenant_name,
             language=LANGUAGE_NAMES.get(question.language, question.language)),
        tr._("Guida «{guide}», {step}", guide=guide_title(tr, content, question.guide_id), step=where),
    ]
    if guide is not None and question.step <= len(guide.steps):
        lines.append("<i>" + tr.isolate(clip(guide.steps[question.step - 1].text.get(tr.language), 200)) + "</i>")
    lines += ["", "«" + tr.isolate(question.text) + "»"]
    if question.answered_at is not None:
        lines += ["", tr._("✅ Risposta inviata.")]
        return Screen("\n".join(lines))
    return Screen("\n".join(lines), [[button(tr._("✍️ Rispondi"), callbacks.GUIDE_REPLY, question.id)]])


def render_answer_notice(tr: Translator, content: Content, question: GuideQuestion) -> Screen:
    guide = content.guides.get(question.guide_id)
    where = step_label(tr, guide, question.step) if guide is not None else str(question.step)
    lines = [
        tr._("💬 <b>Risposta dallo sportello di {space}</b> alla tua domanda su «{guide}», {step}:",
             space=space_name(tr, content, question.space_id), guide=guide_title(tr, content, question.guide_id), step=where),
        "", "«" + tr.isolate(question.answer or "") + "»",
    ]
    rows = []
    if guide is not None:
        rows.append([button(tr._("⬅️ Torna al passo {step}", step=question.step), callbacks.GUIDE_STEP, guide.id, question.step)])
    rows.append(menu_row(tr))
    return Screen("\n".join(lines), rows)


def agenda_note(tr: Translator, content: Content, note: DeskNote) -> str:
    """The line under a help desk booking in the operators' agenda (handlers/agenda.py)."""
    guide = content.guides.get(note.guide_id)
    where = step_label(tr, guide, note.step) if guide is not None else str(note.step)
    return tr._("🧭 Bloccato/a al {step} di «{guide}»", step=where, guide=guide_title(tr, content, note.guide_id))


def stats_section(tr: Translator, content: Content, summary: Summary) -> str | None:
    """/stats: per guide, started, finished, the step-by-step funnel with "I'm stuck" presses, did it work."""
    figures: list[GuideFigures] = summary.extras.get("guides") or []  # type: ignore[assignment]
    if not content.guides:
        return None
    lines = [tr._("<b>🧭 Guide ai servizi online</b> (percorsi iniziati nel periodo)")]
    active = [item for item in figures if item.started.size]
    for item in active:
        lines.append(f"<b>{tr.isolate(guide_title(tr, content, item.guide_id))}</b>")
        lines.append(tr._("Iniziate: {started} · finite: {finished} · ha funzionato: sì {yes}, no {no}",
                          started=count_text(tr, item.started), finished=count_text(tr, item.finished),
                          yes=count_text(tr, item.worked_yes), no=count_text(tr, item.worked_no)))
        funnel = " → ".join(
            f"{number}: {shown(tr, reached, tr.number(reached.value or 0))}"
            + (f" (🆘 {tr.number(stuck.value or 0)})" if stuck.value else "")
            for number, (reached, stuck) in enumerate(zip(item.reached, item.stuck, strict=True), start=1)
        )
        lines.append(tr._("Arrivati al passo: {funnel}", funnel=funnel))
        if any(stuck.value for stuck in item.stuck):
            lines.append(tr._("(🆘 = quante volte hanno premuto «Mi sono bloccato/a» a quel passo)"))
    if not active:
        lines.append(tr._("Nessuna guida iniziata in questo periodo."))
    return "\n".join(lines)


# --------------------------------------------------------------------------------------------
# Sending a step: a picture goes as a photo with the text as its caption


async def _send_step(update: Update, context: FrontDeskContext, rt: Runtime, v: Visitor, guide: Guide, step: int,
                     note: str | None = None) -> None:
    screen = render_step(v, guide, step)
    if note:
        screen.text = f"<i>{note}</i>\n\n{screen.text}"
    picture: Path | None = guide.steps[step - 1].picture
    if picture is None or not picture.is_file():
        await show(update, screen)
        return
    key = (rt.content.version, str(picture))
    photo = _UPLOADED.get(key) or picture.read_bytes()
    fits = len(screen.text) <= MAX_CAPTION  # else the text follows the picture as a message of its own
    message = await context.bot.send_photo(v.chat_id, photo=photo, caption=screen.text if fits else None,
                                           reply_markup=screen.keyboard if fits else None)
    if message.photo:
        for stale in [known for known in _UPLOADED if known[0] != rt.content.version]:  # pictures of older content
            del _UPLOADED[stale]
        _UPLOADED[key] = message.photo[-1].file_id
    if not fits:
        await context.bot.send_message(v.chat_id, screen.text, reply_markup=screen.keyboard)


async def _render_outcome(update: Update, context: FrontDeskContext, rt: Runtime, v: Visitor, guide: Guide,
                          outcome: StepOutcome) -> None:
    """Answer the button and show what the domain decided: a step, the guide's first step (stale button), the
    opening screen, or "did it work?"."""
    query = update.callback_query
    if outcome.result is Result.STALE:
        note = v.tr._("Questa guida è cambiata: ecco il suo primo passo.")
        if query is not None:
            await query.answer(note)
        await _send_step(update, context, rt, v, guide, 1, note)
        return
    if query is not None:
        await query.answer()
    if outcome.result is Result.FINISHED:
        await show(update, render_finished(v, guide, outcome.run))
    elif outcome.result is Result.INTRO:
        await show(update, render_intro(v, rt.content, guide, outcome.run))
    else:
        await _send_step(update, context, rt, v, guide, outcome.step)


# --------------------------------------------------------------------------------------------
# Handlers


async def _guides_screen(rt: Runtime, v: Visitor) -> Screen:
    async with rt.db.read() as session:
        runs = await guides.open_runs(session, v.user_id, rt.content)
    return render_guides(v, rt.content, runs)


async def guides_list(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    if update.callback_query:
        await update.callback_query.answer()
    await show(update, await _guides_screen(rt, v))


GuideHandler = Callable[[Update, FrontDeskContext, Guide, tuple[str, ...]], Awaitable[None]]


def about_a_guide(handler: GuideHandler) -> Callable[[Update, FrontDeskContext], Awaitable[None]]:
    """For the buttons about one guide (its id first): the handler gets the guide and the button's other arguments;
    a guide an editor removed meanwhile gets a polite answer and the guides' list."""

    @functools.wraps(handler)
    async def opened(update: Update, context: FrontDeskContext) -> None:
        rt, v, decoded = context.rt, await context.open(), context.data
        guide = rt.content.guides.get(decoded.args[0])
        if guide is None:
            await update.callback_query.answer(v.tr._("Questa guida non c'è più. Ecco le guide di oggi."))
            await show(update, await _guides_screen(rt, v))
            return
        await handler(update, context, guide, decoded.args[1:])

    return opened


def _step_arg(args: tuple[str, ...]) -> int:
    return int(args[0]) if args else 1


@about_a_guide
async def guide_intro(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...]) -> None:
    rt, v = context.rt, await context.open()
    async with rt.db.read() as session:
        run = await guides.open_run(session, v.user_id, guide.id)
    await update.callback_query.answer()
    await show(update, render_intro(v, rt.content, guide, run))


@about_a_guide
async def guide_move(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...]) -> None:
    """Start, continue, show a step, done/next, back: one domain call each, then the outcome's screen."""
    rt, v = context.rt, await context.open()
    action = context.data.action
    now = rt.clock.now()
    async with rt.db.write() as session:
        if action is callbacks.GUIDE_START:
            outcome = await guides.start(session, v.user_id, guide, v.language, now)
        elif action is callbacks.GUIDE_RESUME:
            outcome = await guides.resume(session, v.user_id, guide, v.language, now)
        elif action is callbacks.GUIDE_NEXT:
            outcome = await guides.advance(session, v.user_id, guide, _step_arg(args), v.language, now)
        elif action is callbacks.GUIDE_BACK:
            outcome = await guides.back(session, v.user_id, guide, _step_arg(args), v.language, now)
        else:
            outcome = await guides.show_step(session, v.user_id, guide, _step_arg(args), v.language, now)
    await _render_outcome(update, context, rt, v, guide, outcome)


async def _help_asked(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...],
                      asking: Callable[..., Awaitable[Stuck | StepOutcome]]) -> Stuck | None:
    """"I'm stuck" and "help at a desk" (guides.stuck, guides.want_desk): the domain's answer for the button to
    show, or None when the step had changed and the current step is shown instead."""
    rt, v = context.rt, await context.open()
    async with rt.db.write() as session:
        result = await asking(session, v.user_id, guide, _step_arg(args), v.language, rt.clock.now(), rt.content,
                              v.last_estate_id)
    if isinstance(result, StepOutcome):
        await _render_outcome(update, context, rt, v, guide, result)
        return None
    await update.callback_query.answer()
    return result


@about_a_guide
async def guide_stuck(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...]) -> None:
    stuck = await _help_asked(update, context, guide, args, guides.stuck)
    if stuck is not None:
        await show(update, render_stuck(await context.open(), context.rt.content, guide, stuck))


async def _desk_days(update: Update, rt: Runtime, v: Visitor, service: Service, guide: Guide, step: int) -> None:
    """The help desk's days to book (the booking flow from there on); the note says the step travels with it."""
    space = rt.content.spaces[service.space_id]
    free = await bookings.free_slots_now(rt.db, service, space, rt.clock.now(), rt.settings.timezone)
    screen = booking_screens.render_days(v, service, space, bookings.seats_by_day(free, rt.settings.timezone), 0)
    screen.text = f"{desk_note(v.tr, guide, step)}\n\n{screen.text}"
    await show(update, screen)


@about_a_guide
async def guide_desk(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...]) -> None:
    rt, v = context.rt, await context.open()
    result = await _help_asked(update, context, guide, args, guides.want_desk)
    if result is None:
        return
    if len(result.desks) == 1:
        await _desk_days(update, rt, v, result.desks[0], guide, result.step)
    else:
        await show(update, render_desks(v, rt.content, guide, result.step, result.desks))


async def guide_desk_service(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    service = outgoing_bookings.bookable(rt.content, context.data.args[0])
    chosen = None
    if service is not None:
        async with rt.db.write() as session:
            chosen = await guides.choose_desk_for_latest(session, v.user_id, service[0], rt.clock.now())
    guide = rt.content.guides.get(chosen.guide_id) if chosen is not None else None
    if chosen is None or guide is None:
        await update.callback_query.answer(v.tr._("Questa scelta non vale più. Ecco le guide."))
        await show(update, await _guides_screen(rt, v))
        return
    await update.callback_query.answer()
    await _desk_days(update, rt, v, service[0], guide, chosen.step)


@about_a_guide
async def guide_ask(update: Update, context: FrontDeskContext, guide: Guide, args: tuple[str, ...]) -> None:
    rt, v = context.rt, await context.open()
    step = _step_arg(args)
    if not 1 <= step <= len(guide.steps):
        async with rt.db.write() as session:
            outcome = await guides.show_step(session, v.user_id, guide, step, v.language, rt.clock.now())
        await _render_outcome(update, context, rt, v, guide, outcome)
        return
    async with rt.db.write() as session:
        space_id = await guides.ask_question(session, v.user_id, guide, step, rt.clock.now(), rt.content, v.last_estate_id)
    await update.callback_query.answer()
    await show(update, render_question_prompt(v, rt.content, guide, step, space_id) if space_id else render_question_spaces(v, rt.content))


async def guide_ask_space(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    space_id = context.data.args[0]
    prompt = None
    if space_id in rt.content.spaces:
        async with rt.db.write() as session:
            prompt = await guides.choose_question_space(session, v.user_id, space_id, rt.clock.now())
    guide = rt.content.guides.get(prompt.guide_id or "") if prompt is not None else None
    if prompt is None or guide is None:
        await update.callback_query.answer(v.tr._("Questa scelta non vale più. Ecco le guide."))
        await show(update, await _guides_screen(rt, v))
        return
    await update.callback_query.answer()
    await show(update, render_question_prompt(v, rt.content, guide, prompt.step or 1, space_id))


async def guide_worked(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    try:
        async with rt.db.write() as session:
            run = await guides.answer_worked(session, v.user_id, decoded.int(0), decoded.args[1], rt.clock.now())
    except GuideRefused:
        await update.callback_query.answer(v.tr._("Questa domanda non vale più. Ecco le guide."))
        await show(update, await _guides_screen(rt, v))
        return
    guide = rt.content.guides.get(run.guide_id)
    await update.callback_query.answer(v.tr._("Grazie!"))
    await show(update, render_worked(v, guide, run) if guide is not None else await _guides_screen(rt, v))


async def guide_reply(update: Update, context: FrontDeskContext) -> None:
    """Staff: "Reply" on a question's alert; the answer is the next text message in the private chat."""
    rt, v = context.rt, await context.open()
    try:
        async with rt.db.write() as session:
            question = await guides.start_answer(session, v.user_id, v.roles, rt.content,
                                                 context.data.int(0), rt.clock.now())
    except GuideRefused as refusal:
        log.info("user %s: answer to a guide question refused (%s)", v.user_id, refusal.reason)
        await refusals.refuse(update, v, v.tr._(REFUSALS[refusal.reason]), alert=refusal.reason is Refusal.NOT_ALLOWED)
        return
    text = v.tr._("Scrivi la risposta in un messaggio: la mando così com'è alla persona, dentro il bot. Scrive in {language}: usa frasi semplici.",
                  language=LANGUAGE_NAMES.get(question.language, question.language))
    try:
        await context.bot.send_message(v.user_id, text, reply_markup=Screen("", [menu_row(v.tr)]).keyboard)
    except Forbidden:
        await update.callback_query.answer(v.tr._("Scrivimi prima in privato (@{bot}), poi riprova.", bot=context.bot.username), show_alert=True)
        return
    await update.callback_query.answer()


async def _alert_question(session, rt: Runtime, asked: guides.Asked, tenant_name: str) -> None:  # type: ignore[no-untyped-def]
    chats = [user.id for user in asked.operators] or manager_chats(rt)
    if not chats:
        log.warning("guide question %s: no operator of %s and no manager chat or admin to tell", asked.question.id, asked.question.space_id)
    for chat_id in chats:
        tr = await chat_translator(session, rt, chat_id)
        await outbox.enqueue(
            session, chat_id=chat_id, method="sendMessage",
            params=message_params(render_question_alert(tr, rt.content, asked.question, tenant_name)),
            dedupe_key=f"guide-question:{asked.question.id}:{chat_id}", now=rt.clock.now(), kind=QUESTION_KIND,
            ref=str(asked.question.id),
        )


async def _announce_answer(session, rt: Runtime, question: GuideQuestion, tenant_name: str) -> None:  # type: ignore[no-untyped-def]
    now = rt.clock.now()
    tr = await chat_translator(session, rt, question.chat_id)
    await outbox.enqueue(
        session, chat_id=question.chat_id, method="sendMessage", params=message_params(render_answer_notice(tr, rt.content, question)),
        dedupe_key=f"guide-answer:{question.id}", now=now, kind="guide_answer", ref=str(question.id),
    )
    for chat_id in await outbox.chats_alerted(session, QUESTION_KIND, str(question.id)):
        staff_tr = await chat_translator(session, rt, chat_id)
        await outbox.enqueue(
            session, chat_id=chat_id, method="editMessageText",
            params={outbox.EDIT_REF: [QUESTION_KIND, str(question.id)],
                    **screen_params(render_question_alert(staff_tr, rt.content, question, tenant_name))},
            dedupe_key=f"guide-question-answered:{question.id}:{chat_id}", now=now,
        )


async def prompt_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT_CONSUMERS: a tenant's question at a step, or an operator's answer to one."""
    rt = context.rt
    now = rt.clock.now()
    user_id = update.effective_user.id
    async with rt.db.read() as session:
        prompt = await guides.pending_prompt(session, user_id, now)
    if prompt is None:
        return False
    v = await context.open()
    text = update.effective_message.text or ""
    if prompt.kind == "question":
        guide = rt.content.guides.get(prompt.guide_id or "")
        if guide is None:
            async with rt.db.write() as session:
                await guides.drop_prompt(session, user_id)
            return False
        if not prompt.space_id:
            await show(update, render_question_spaces(v, rt.content))
            return True
        async with rt.db.write() as session:
            asked = await guides.submit_question(session, prompt, v.chat_id, v.language, text, now)
            await _alert_question(session, rt, asked, v.first_name)
        rt.wake_outbox()
        await show(update, render_question_sent(v, rt.content, guide, asked.question))
        return True
    try:
        async with rt.db.write() as session:
            question = await guides.submit_answer(session, user_id, v.roles, rt.content, prompt.question_id or 0, text, now)
            tenant = await session.get(User, question.user_id)
            await _announce_answer(session, rt, question, tenant.first_name if tenant is not None else "")
    except GuideRefused as refusal:
        async with rt.db.write() as session:
            await guides.drop_prompt(session, user_id)
        await refusals.refuse(update, v, v.tr._(REFUSALS[refusal.reason]))
        return True
    rt.wake_outbox()
    await show(update, Screen(v.tr._("Fatto: la persona riceve la tua risposta nel bot."), [menu_row(v.tr)]))
    return True


async def drop_prompt(rt: Runtime, user_id: int) -> bool:
    """CANCEL_HOOKS: /cancel forgets a question or an answer the bot was waiting for."""
    async with rt.db.write() as session:
        return await guides.drop_prompt(session, user_id)


# Search results that are guides get a button (handlers/directory.py asks these hooks for kinds it does not know).
def search_button(v: Visitor, content: Content, kind: str, item_id: str) -> Button | None:
    guide = content.guides.get(item_id) if kind == "guide" else None
    return button("🧭 " + guide.title.get(v.tr.language), callbacks.GUIDE, guide.id) if guide is not None else None
