"""Notices written in Telegram by the people on site: the author's screens.

A notice: ✍️ (staff tools or /avviso) → the text (or a photo with a caption) → the audience the author may address
(storage.domain.broadcast.check_audience) → preview with urgency, expiry and translations → confirm → progress with
"stop". A committee member's notice waits for an editor, who approves or rejects it from the message they get.

How a broadcast reads to its recipients, the request to editors, the answer to the author and the jobs that
announce the programme are messages to other people: handlers/outgoing/notices.py.
"""

from __future__ import annotations

from datetime import timedelta

from telegram import Update

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Button, Screen, button, menu_row, show
from handlers.common import space_name
from handlers.neighbourhood_screens import place_label, places
from handlers.outgoing.notices import ask_editors, audience_label, notice_text, tell_author_moderated, wake_broadcasts
from handlers.refusals import refuse
from storage.domain import broadcast
from storage.domain.broadcast import Progress, Refusal, Refused
from storage.content import Content
from storage.models import Broadcast

EXPIRY_CHOICES = (0, 24, 72)  # hours
REFUSALS = {
    Refusal.NOT_FOUND: N_("Questo avviso non c'è più."),
    Refusal.NOT_ALLOWED: N_("Non puoi mandare avvisi a queste persone: scegli tra i destinatari proposti."),
    Refusal.NO_AUDIENCE: N_("Scegli a chi mandare l'avviso."),
    Refusal.EMPTY_TEXT: N_("L'avviso è vuoto: scrivi il testo."),
    Refusal.TOO_LONG: N_("Il testo è troppo lungo: accorcialo (con una foto al massimo 900 caratteri, senza 3500)."),
    Refusal.PHOTO_TOO_BIG: N_("La foto è troppo grande (massimo 5 MB): mandane una più leggera."),
    Refusal.NOT_DRAFT: N_("Questo avviso è già stato mandato o fermato."),
}


def _rt_tz(rt: Runtime):  # type: ignore[no-untyped-def]
    return rt.settings.timezone


# --- the author's screens


def allowed_estates(v: Visitor, content: Content) -> list[str]:
    if v.roles.can_edit_content:
        return list(content.estates)
    return [estate_id for estate_id in content.estates if estate_id in v.roles.custodian_of or estate_id in v.roles.committee_of]


def render_audiences(v: Visitor, content: Content, notice: Broadcast) -> Screen:
    tr = v.tr
    rows: list[list[Button]] = []
    if v.roles.can_edit_content:
        rows.append([button(tr._("👥 Tutti gli inquilini"), callbacks.NOTICE_EVERYONE, notice.id)])
    for estate_id in allowed_estates(v, content):
        rows.append([button(tr._("🏘 {estate}", estate=content.estates[estate_id].name), callbacks.NOTICE_ESTATE, notice.id, estate_id)])
    spaces = list(content.spaces) if v.roles.can_edit_content else sorted(v.roles.operator_of & set(content.spaces))
    for space_id in spaces:
        rows.append([button(tr._("🔔 Chi segue {space}", space=space_name(tr, content, space_id)), callbacks.NOTICE_SPACE, notice.id, space_id)])
    rows.append(menu_row(tr))
    return Screen(tr._("<b>A chi lo mandiamo?</b>"), rows)


def render_places(v: Visitor, content: Content, notice: Broadcast) -> Screen:
    """After choosing an estate (already the audience): keep the whole estate, or narrow it to a building or staircase."""
    tr = v.tr
    estate = content.estates[notice.audience_ref.split("/")[0]]
    rows = [[button(tr._("🏘 Tutto il complesso"), callbacks.NOTICE_PREVIEW, notice.id)]]
    rows += [[button(place_label(tr, estate, building, staircase), callbacks.NOTICE_BUILDING, notice.id, index)]
             for index, (building, staircase) in enumerate(places(estate))]
    return Screen(tr._("<b>{estate}</b>: tutto il complesso o un palazzo / una scala?", estate=estate.name), rows)


def render_preview(v: Visitor, content: Content, notice: Broadcast, reach: int, note: str = "") -> Screen:
    tr = v.tr
    lines = [note, ""] if note else []
    lines += [tr._("<b>Anteprima.</b> Così lo leggeranno:"), "", notice_text(tr, notice), "", "———"]
    lines.append(tr._("A chi: {audience}", audience=audience_label(tr, content, notice)) if notice.audience else tr._("A chi: (da scegliere)"))
    if notice.audience:
        lines.append(tr.n_("Lo riceverà {n} persona.", "Lo riceveranno {n} persone.", reach))
    lines.append(tr._("Urgente: sì, arriva anche di notte.") if notice.urgent else tr._("Non urgente: tra le 21 e le 8 aspetta il mattino."))
    if notice.expires_at is not None:
        lines.append(tr._("Non arriva più dopo: {moment}", moment=tr.datetime(notice.expires_at)))
    if notice.translations:
        lines.append(tr._("Traduzioni: {languages}", languages=", ".join(LANGUAGE_NAMES[code] for code in sorted(notice.translations))))
    rows = [
        [button(tr._("👥 Destinatari"), callbacks.NOTICE_AUDIENCES, notice.id),
         button(tr._("🚨 Urgente: sì") if notice.urgent else tr._("Urgente: no"), callbacks.NOTICE_URGENT, notice.id)],
        [button(("✅ " if (_expiry_hours(notice) or 0) == hours else "")
                + (tr._("Scade: mai") if hours == 0 else tr.n_("Scade tra {n} ora", "Scade tra {n} ore", hours)),
                callbacks.NOTICE_EXPIRY, notice.id, hours) for hours in EXPIRY_CHOICES],
        [button(LANGUAGE_NAMES[code], callbacks.NOTICE_TRANSLATE, notice.id, code)
         for code in LANGUAGES if code != notice.language][:5],
        [button(LANGUAGE_NAMES[code], callbacks.NOTICE_TRANSLATE, notice.id, code)
         for code in LANGUAGES if code != notice.language][5:],
    ]
    if notice.audience:
        label = tr._("📤 Manda all'editor per l'approvazione") if notice.author_role == "committee" else tr._("📤 Conferma e manda")
        rows.append([button(label, callbacks.NOTICE_CONFIRM, notice.id)])
    rows.append(menu_row(tr))
    return Screen("\n".join(lines), rows)


def _expiry_hours(notice: Broadcast) -> int | None:
    if notice.expires_at is None:
        return None
    return round((notice.expires_at - notice.created_at).total_seconds() / 3600)


def render_progress(v: Visitor, content: Content, notice: Broadcast, progress: Progress) -> Screen:
    tr = v.tr
    status = {
        "queued": tr._("In coda: parte alle {time}.", time=tr.time(notice.not_before)) if notice.not_before else tr._("In coda."),
        "sending": tr._("In invio."), "done": tr._("Finito."), "stopped": tr._("Fermato."),
        "moderation": tr._("In attesa che un editor lo approvi."), "rejected": tr._("Non approvato da un editor."),
    }.get(notice.status, "")
    lines = [tr._("📢 <b>Avviso a {audience}</b>", audience=audience_label(tr, content, notice)), status, "",
             tr.n_("✅ Consegnato: {n}", "✅ Consegnati: {n}", progress.sent),
             tr.n_("🚫 Non raggiungibile: {n}", "🚫 Non raggiungibili: {n}", progress.unreachable),
             tr.n_("⏳ Da mandare: {n}", "⏳ Da mandare: {n}", progress.left)]
    if progress.left and notice.status in ("queued", "sending"):
        minutes = max(1, round(progress.seconds_to_finish(28.0) / 60))
        lines.append(tr.n_("Finisce tra circa {n} minuto.", "Finisce tra circa {n} minuti.", minutes))
    rows = [[button(tr._("🔄 Aggiorna"), callbacks.NOTICE_PROGRESS, notice.id)]]
    if notice.status in ("queued", "sending", "moderation"):
        rows.append([button(tr._("⛔ Ferma l'invio"), callbacks.NOTICE_STOP, notice.id)])
    rows.append(menu_row(tr))
    return Screen("\n".join(lines), rows)


# --- handlers


def _refused(tr: Translator, refusal: Refused) -> str:
    return tr._(REFUSALS[refusal.reason])


async def _answer(update: Update, text: str | None = None) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(text)


async def notice_new(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    await _answer(update)
    if not broadcast.authoring_roles(v.roles):
        await show(update, Screen(v.tr._("Gli avvisi li scrivono custodi, operatori, comitati ed editor."), [menu_row(v.tr)]))
        return
    async with rt.db.write() as session:
        await broadcast.new_notice(session, v.user_id, v.language, rt.clock.now())
    await show(update, Screen(v.tr._("✍️ <b>Nuovo avviso.</b> Scrivi il testo (o manda una foto con la didascalia). Poi scegli a chi mandarlo."), [menu_row(v.tr)]))


async def _preview(update: Update, rt: Runtime, v: Visitor, notice: Broadcast, note: str = "") -> None:
    async with rt.db.read() as session:
        reach = await broadcast.audience_size(session, notice) if notice.audience else 0
    await show(update, render_preview(v, rt.content, notice, reach, note))


async def _draft(update: Update, rt: Runtime, v: Visitor, notice_id: int, *, answered: bool = False) -> Broadcast | None:
    """The author's draft, or None once they have been told it is gone (answering the button unless `answered`)."""
    try:
        async with rt.db.read() as session:
            return await broadcast.draft_of(session, notice_id, v.user_id)
    except Refused as refusal:
        gone = Screen(_refused(v.tr, refusal), [menu_row(v.tr)])
        if answered:
            await show(update, gone)
        else:
            await refuse(update, v, gone.text, screen=gone)
        return None


async def _tapped_draft(update: Update, context: FrontDeskContext, *, answer: bool = True) -> tuple[Visitor, Broadcast] | None:
    """The visitor and their draft the button names (its first argument), the button answered unless `answer` is
    False; None once they have been told it is gone."""
    v = await context.open()
    notice = await _draft(update, context.rt, v, context.data.int(0))
    if notice is None:
        return None
    if answer:
        await _answer(update)
    return v, notice


async def prompt_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT consumer: the notice's text, or a translation of it."""
    return await _prompt_message(update, context, update.effective_message.text or "", None, None)


async def prompt_media(update: Update, context: FrontDeskContext) -> bool:
    """MEDIA consumer: a photo with its caption as the notice."""
    message = update.effective_message
    if not message.photo:
        return False
    largest = message.photo[-1]
    return await _prompt_message(update, context, message.caption or "", largest.file_id, largest.file_size)


async def _prompt_message(update: Update, context: FrontDeskContext, text: str, photo: str | None, size: int | None) -> bool:
    rt, v = context.rt, await context.open()
    # No read first: routing has just seen the prompt, and take_written reads it again (None: not for a notice).
    try:
        async with rt.db.write() as session:
            notice = await broadcast.take_written(session, v.user_id, text, photo, size)
    except Refused as refusal:
        await refuse(update, v, _refused(v.tr, refusal))
        return True
    if notice is None:  # answered or dropped while this message waited its turn: nothing to fill
        return False
    if not notice.audience:
        await show(update, render_audiences(v, rt.content, notice))
    else:
        await _preview(update, rt, v, notice)
    return True


async def drop_prompt(rt: Runtime, user_id: int) -> bool:
    """/cancel: drop the notice being written."""
    async with rt.db.write() as session:
        return await broadcast.drop_prompt(session, user_id)


async def notice_audiences(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_draft(update, context)
    if tapped is not None:
        v, notice = tapped
        await show(update, render_audiences(v, context.rt.content, notice))


async def notice_audience(update: Update, context: FrontDeskContext) -> None:
    """Everyone, a space's followers, or an estate (then the building or staircase, if the author wants)."""
    rt = context.rt
    v = await context.open()
    decoded = context.data
    kind = {callbacks.NOTICE_EVERYONE: "everyone", callbacks.NOTICE_SPACE: "space", callbacks.NOTICE_ESTATE: "estate"}[decoded.action]
    ref = decoded.args[1] if len(decoded.args) > 1 else ""
    notice = await _set_audience(update, rt, v, decoded.int(0), kind, ref)
    if notice is None:
        return
    await _answer(update)
    if kind == "estate":
        await show(update, render_places(v, rt.content, notice))
    else:
        await _preview(update, rt, v, notice)


async def notice_building(update: Update, context: FrontDeskContext) -> None:
    rt, decoded = context.rt, context.data
    tapped = await _tapped_draft(update, context, answer=False)
    if tapped is None:
        return
    v, notice = tapped
    estate = rt.content.estates.get(notice.audience_ref.split("/")[0]) if notice.audience in ("estate", "building") else None
    choices = places(estate) if estate is not None else []
    index = decoded.int(1)
    if estate is None or not 0 <= index < len(choices):
        ref = "?"  # refused below: not a place of this estate
    else:
        building, staircase = choices[index]
        ref = "/".join(part for part in (estate.id, building, staircase) if part)
    notice = await _set_audience(update, rt, v, notice.id, "building", ref)
    if notice is not None:
        await _answer(update)
        await _preview(update, rt, v, notice)


async def _set_audience(update: Update, rt: Runtime, v: Visitor, notice_id: int, kind: str, ref: str) -> Broadcast | None:
    """The audience, if the author may address it (checked again at confirm); None once a refusal is shown."""
    try:
        async with rt.db.write() as session:
            notice = await broadcast.draft_of(session, notice_id, v.user_id)
            notice.author_role = broadcast.check_audience(v.roles, kind, ref, rt.content)
            notice.audience, notice.audience_ref = kind, ref
            await session.flush()
            await session.refresh(notice)
            return notice
    except Refused as refusal:
        await _answer(update, _refused(v.tr, refusal))
        notice = await _draft(update, rt, v, notice_id, answered=True)
        if notice is not None:
            await show(update, render_audiences(v, rt.content, notice))
        return None


async def notice_urgent(update: Update, context: FrontDeskContext) -> None:
    await _change(update, context, lambda notice, _arg, now: setattr(notice, "urgent", not notice.urgent))


async def notice_expiry(update: Update, context: FrontDeskContext) -> None:
    def set_expiry(notice: Broadcast, hours: int, now) -> None:  # type: ignore[no-untyped-def]
        if hours in EXPIRY_CHOICES:
            notice.created_at = now  # expiry is counted from now; the preview shows the moment
            notice.expires_at = now + timedelta(hours=hours) if hours else None

    await _change(update, context, set_expiry)


async def _change(update: Update, context: FrontDeskContext, change) -> None:  # type: ignore[no-untyped-def]
    rt = context.rt
    v = await context.open()
    decoded = context.data
    try:
        async with rt.db.write() as session:
            notice = await broadcast.draft_of(session, decoded.int(0), v.user_id)
            change(notice, decoded.int(1) if len(decoded.args) > 1 else None, rt.clock.now())
            await session.flush()
            await session.refresh(notice)
    except Refused as refusal:
        await refuse(update, v, _refused(v.tr, refusal), screen=Screen(_refused(v.tr, refusal), [menu_row(v.tr)]))
        return
    await _answer(update)
    await _preview(update, rt, v, notice)


async def notice_translate(update: Update, context: FrontDeskContext) -> None:
    rt, language = context.rt, context.data.args[1]
    tapped = await _tapped_draft(update, context)
    if tapped is None:
        return
    v, notice = tapped
    if language not in LANGUAGES or language == notice.language:
        await _preview(update, rt, v, notice)
        return
    async with rt.db.write() as session:
        await broadcast.set_prompt(session, v.user_id, notice.id, f"translation:{language}", rt.clock.now())
    await show(update, Screen(v.tr._("Scrivi la traduzione in {language} (la vedrà chi usa il bot in questa lingua).",
                                     language=LANGUAGE_NAMES[language]), [[button(v.tr._("⬅️ Indietro"), callbacks.NOTICE_PREVIEW, notice.id)]]))


async def notice_preview(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped_draft(update, context)
    if tapped is not None:
        await _preview(update, context.rt, *tapped)


async def notice_confirm(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    notice_id = context.data.int(0)
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            notice = await broadcast.confirm(session, notice_id, v.user_id, v.roles, rt.content, now, _rt_tz(rt))
            if notice.status == "moderation":
                await ask_editors(session, rt, notice, v.first_name, now)
    except Refused as refusal:
        await _answer(update, _refused(v.tr, refusal))
        notice = await _draft(update, rt, v, notice_id, answered=True)
        if notice is not None:
            await _preview(update, rt, v, notice, _refused(v.tr, refusal))
        return
    rt.wake_outbox()
    wake_broadcasts(rt)
    await _answer(update, v.tr._("Inviato all'editor.") if notice.status == "moderation" else v.tr._("Partito!"))
    await _progress(update, rt, v, notice.id)


async def _progress(update: Update, rt: Runtime, v: Visitor, notice_id: int) -> None:
    async with rt.db.read() as session:
        notice = await session.get(Broadcast, notice_id)
        allowed = notice is not None and notice.kind == "notice" and (notice.author_id == v.user_id or v.roles.can_edit_content)
        progress = await broadcast.progress(session, notice_id) if allowed else None
    if not allowed or progress is None:
        await show(update, Screen(v.tr._(REFUSALS[Refusal.NOT_FOUND]), [menu_row(v.tr)]))
        return
    await show(update, render_progress(v, rt.content, notice, progress))


async def notice_progress(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    await _answer(update)
    await _progress(update, rt, v, context.data.int(0))


async def notice_stop(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    notice_id = context.data.int(0)
    try:
        async with rt.db.write() as session:
            await broadcast.stop(session, notice_id, v.user_id, v.roles, rt.clock.now())
    except Refused as refusal:
        await refuse(update, v, _refused(v.tr, refusal))
        await _progress(update, rt, v, notice_id)
        return
    if rt.broadcasts is not None:
        rt.broadcasts.stopped(notice_id)  # the rows it already holds are not sent either
    await _answer(update, v.tr._("Invio fermato."))
    await _progress(update, rt, v, notice_id)


async def notice_moderate(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    decoded = context.data
    approve = decoded.action is callbacks.NOTICE_APPROVE
    now = rt.clock.now()
    try:
        async with rt.db.write() as session:
            notice = await broadcast.moderate(session, decoded.int(0), v.roles, v.user_id, approve, now, _rt_tz(rt))
            await tell_author_moderated(session, rt, notice, approve, now)
    except Refused as refusal:
        await refuse(update, v, _refused(v.tr, refusal))
        return
    rt.wake_outbox()
    wake_broadcasts(rt)
    await _answer(update, v.tr._("Approvato: è in invio.") if approve else v.tr._("Rifiutato."))
    await _progress(update, rt, v, notice.id)
