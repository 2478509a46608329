"""/stats for the people who run the spaces and estates: pick a period, read the figures (scoped by role, small
groups hidden), get the chart as a photo, download CSV exports (editors and admins); and the committees' monthly
digest. The figures come from storage/domain/stats.py, the chart from bot/charts.py, the files from storage/domain/export.py."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from babel.numbers import format_percent
from telegram import Update

from bot import callbacks, charts
from bot.i18n import N_, Translator, translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import MAX_CAPTION, MAX_TEXT, Button, Screen, back_row, button, clip, menu_row, show
from handlers.outgoing.bookings import service_title
from handlers.common import language_of, message_params, space_name, translator_for
from handlers.outgoing.notices import audience_label
from handlers.outgoing.tickets import category_name, estate_name
from handlers.feedback import KIND_NAMES, target_name
from storage.domain import audit, broadcast, outbox, stats
from storage.content import Content
from storage.domain.export import WHAT, ExportRequest, csv_bytes, file_name
from storage.models import User
from storage.domain.stats import Figure, Period, Scope, Summary
from storage.domain.users import Roles

log = logging.getLogger(__name__)

PERIOD_KINDS = ("week", "days", "month", "custom")
MONTHS_OFFERED = 12
PAGE_LIMIT = MAX_TEXT - 200  # room for the page's own header
DIGEST_DAYS = 7  # a digest missed on the 1st (the bot was down) still goes out in the month's first week
EXPORT_LABELS = {
    "bookings": N_("⬇️ Prenotazioni (CSV)"),
    "tickets": N_("⬇️ Segnalazioni (CSV)"),
    "feedback": N_("⬇️ Opinioni (CSV)"),
    "guides": N_("⬇️ Guide (CSV)"),
    "timebank": N_("⬇️ Banca del tempo (CSV)"),
    "notices": N_("⬇️ Avvisi e loro portata (CSV)"),
}
# Sections other features add to the summary, each (translator, content, summary) -> HTML or None (handlers/guides.py).
EXTRA_SECTIONS: list = []


def period_for(kind: str, code: int, today: date) -> Period | None:
    if kind == "week":
        return Period.last_days(today, 7)
    if kind == "days":
        return Period.last_days(today, 30)
    if kind == "month":
        return Period.this_month(today)
    if kind == "custom":
        return stats.period_of_month_code(code)
    return None


def period_label(tr: Translator, period: Period) -> str:
    return tr._("{start} – {end}", start=tr.date(period.start, format="yMMMd"), end=tr.date(period.end, format="yMMMd"))


# --------------------------------------------------------------------------------------------
# Words for figures


def too_few(tr: Translator) -> str:
    return tr._("troppo pochi per mostrarli")


def shown(tr: Translator, figure: Figure, formatted: str) -> str:
    if figure.value is None:
        return too_few(tr) if figure.too_few else "—"
    return formatted


def count_text(tr: Translator, figure: Figure) -> str:
    return shown(tr, figure, tr.number(figure.value or 0))


def percent_text(tr: Translator, figure: Figure) -> str:
    return shown(tr, figure, format_percent(figure.value or 0, locale=tr.locale))


def hours_text(tr: Translator, figure: Figure) -> str:
    hours = figure.value or 0
    if hours < 48:
        return shown(tr, figure, tr.n_("{n} ora", "{n} ore", round(hours, 1)))
    return shown(tr, figure, tr.n_("{n} giorno", "{n} giorni", round(hours / 24, 1)))


def stars_text(tr: Translator, figure: Figure) -> str:
    if figure.value is None:
        return shown(tr, figure, "")
    return tr.n_("{stars} ⭐ ({n} voto)", "{stars} ⭐ ({n} voti)", figure.size, stars=tr.number(figure.value, 1))


# --------------------------------------------------------------------------------------------
# The summary, as sections of HTML


def shows_free_text(roles: Roles) -> bool:
    """Tenants' own words (comments, suggestions, complaints) are for the staff who answer them; a committee is
    tenants too and gets figures only."""
    return roles.is_staff


def summary_sections(tr: Translator, content: Content, summary: Summary, free_text: bool = True) -> list[str]:
    sections = [
        tr._("📊 <b>Statistiche</b> · {period}", period=period_label(tr, summary.period)) + "\n"
        + tr._("Per rispetto della privacy, i gruppi con meno di 5 persone o casi non hanno numeri: «{few}».", few=too_few(tr))
        + "\n" + tr._("Dati aggiornati alle {time}.", time=tr.time(summary.computed_at))
    ]
    active_spaces = [s for s in summary.spaces if s.bookings.size]
    lines = [tr._("<b>🏠 Prenotazioni per spazio</b>")]
    for activity in active_spaces:
        lines.append(f"<b>{tr.isolate(space_name(tr, content, activity.space_id))}</b>")
        lines.append(tr._("Prenotazioni: {bookings} · presenti: {attended} · assenze: {no_show}",
                          bookings=count_text(tr, activity.bookings), attended=count_text(tr, activity.attended),
                          no_show=percent_text(tr, activity.no_show_rate)))
        if activity.busiest:
            busiest = ", ".join(f"{service_title(tr, content, service)} ({tr.number(n)})" for service, n in activity.busiest)
            lines.append(tr._("Più richiesti: {services}", services=busiest))
    if len(active_spaces) < len(summary.spaces):
        lines.append(tr.n_("Nessuna prenotazione in {n} spazio.", "Nessuna prenotazione in {n} spazi.",
                           len(summary.spaces) - len(active_spaces)))
    sections.append("\n".join(lines))

    active_estates = [e for e in summary.estates if e.opened.size or e.fix_stars.size]
    lines = [tr._("<b>🔧 Segnalazioni per caseggiato</b>")]
    for estate in active_estates:
        lines.append(f"<b>{tr.isolate(estate_name(content, estate.estate_id))}</b>")
        by_category = ", ".join(f"{category_name(tr, content, category)}: {count_text(tr, figure)}" for category, figure in estate.by_category)
        lines.append(tr._("Aperte: {opened}", opened=count_text(tr, estate.opened)) + (f" — {by_category}" if by_category else ""))
        lines.append(tr._("Presa in carico (mediana): {ack} · risolte in (mediana): {resolve}",
                          ack=hours_text(tr, estate.hours_to_acknowledge), resolve=hours_text(tr, estate.hours_to_resolve)))
        lines.append(tr._("Oltre il tempo di presa in carico: {late} · riaperte: {reopened}",
                          late=count_text(tr, estate.past_acknowledgement_time), reopened=percent_text(tr, estate.reopen_rate)))
        if estate.fix_stars.size:
            lines.append(tr._("Voto degli interventi: {stars}", stars=stars_text(tr, estate.fix_stars)))
    if len(active_estates) < len(summary.estates):
        lines.append(tr.n_("Nessuna segnalazione in {n} caseggiato.", "Nessuna segnalazione in {n} caseggiati.",
                           len(summary.estates) - len(active_estates)))
    sections.append("\n".join(lines))

    lines = [tr._("<b>⭐ Voti</b>")]
    for line in summary.ratings:
        lines.append(tr._("{target}: {stars}", target=target_name(tr, content, line.space_id, line.service_id),
                          stars=stars_text(tr, line.stars)))
    if not summary.ratings:
        lines.append(tr._("Nessun voto in questo periodo."))
    sections.append("\n".join(lines))

    if summary.comments and free_text:
        lines = [tr._("<b>💬 Ultimi commenti</b> (senza nomi)")]
        for comment in summary.comments:
            lines.append("• " + tr._("{kind}, {target}:", kind=tr._(KIND_NAMES[comment.kind]),
                                     target=target_name(tr, content, comment.space_id, comment.service_id))
                         + " «" + tr.isolate(clip(comment.text, 300)) + "»")
        sections.append("\n".join(lines))
    for extra in EXTRA_SECTIONS:
        section = extra(tr, content, summary)
        if section:
            sections.append(section)
    return sections


def pages_of(sections: list[str], limit: int = PAGE_LIMIT) -> list[str]:
    """Sections packed into messages Telegram accepts; a section longer than a message is clipped."""
    pages: list[str] = []
    for section in sections:
        section = section if len(section) <= limit else clip(section, limit)
        if pages and len(pages[-1]) + 2 + len(section) <= limit:
            pages[-1] += "\n\n" + section
        else:
            pages.append(section)
    return pages


def summary_rows(v: Visitor, kind: str, code: int) -> list[list[Button]]:
    tr = v.tr
    rows = [[button(tr._("📈 Grafico"), callbacks.STATS_CHART, kind, code)]]
    if v.roles.can_edit_content:
        rows += [[button(tr._(EXPORT_LABELS[what]), callbacks.STATS_EXPORT, what, kind, code)] for what in WHAT]
    rows.append([button(tr._("📅 Cambia periodo"), callbacks.STATS)])
    rows.append(menu_row(tr))
    return rows


def render_periods(v: Visitor) -> Screen:
    tr = v.tr
    rows = [
        [button(tr._("Ultimi 7 giorni"), callbacks.STATS_SHOW, "week", 0)],
        [button(tr._("Ultimi 30 giorni"), callbacks.STATS_SHOW, "days", 0)],
        [button(tr._("Questo mese"), callbacks.STATS_SHOW, "month", 0)],
        [button(tr._("Un altro mese…"), callbacks.STATS_MONTHS)],
        menu_row(tr),
    ]
    if v.roles.is_admin or v.roles.is_editor or v.roles.operator_of:  # the banks they keep (handlers/timebank.py)
        rows.insert(-1, [button(tr._("🤝 Banca del tempo"), callbacks.TB_STATS, 0)])
    return Screen(tr._("📊 <b>Statistiche</b>. Di quale periodo?"), rows)


def render_months(v: Visitor, today: date) -> Screen:
    tr = v.tr
    months, first = [], date(today.year, today.month, 1)
    for _ in range(MONTHS_OFFERED):
        months.append(first)
        first = (first - timedelta(days=1)).replace(day=1)
    labels = [button(tr.date(month, format="yMMMM").capitalize(), callbacks.STATS_SHOW, "custom", stats.month_code(month))
              for month in months]
    rows = [labels[index : index + 2] for index in range(0, len(labels), 2)]
    rows.append([button(tr._("⬅️ Indietro"), callbacks.STATS)])
    return Screen(tr._("Quale mese?"), rows)


def render_not_allowed(v: Visitor) -> Screen:
    rows = [menu_row(v.tr)]
    if v.roles.operator_of:  # operators see the figures of the time banks they keep (handlers/timebank.py)
        rows.insert(0, [button(v.tr._("🤝 Banca del tempo"), callbacks.TB_STATS, 0)])
    return Screen(v.tr._("Le statistiche sono per chi gestisce gli spazi, i custodi e i comitati degli inquilini."), rows)


# --------------------------------------------------------------------------------------------
# Handlers


def _today(rt: Runtime) -> date:
    return rt.clock.now().astimezone(rt.settings.timezone).date()


async def _answer(update: Update) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer()


async def stats_menu(update: Update, context: FrontDeskContext) -> None:
    """/stats and the staff tool: the periods to choose from."""
    rt, v = context.rt, await context.open()
    await _answer(update)
    scope = stats.scope_for(v.roles, rt.content)
    await show(update, render_periods(v) if scope is not None else render_not_allowed(v))


async def stats_months(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await _answer(update)
    scope = stats.scope_for(v.roles, rt.content)
    await show(update, render_months(v, _today(rt)) if scope is not None else render_not_allowed(v))


async def _scope_and_period(update: Update, context: FrontDeskContext) -> tuple[Visitor, Scope, Period, str, int] | None:
    """The reader, their scope and the period the button names, or None after telling them why not."""
    rt, v, decoded = context.rt, await context.open(), context.data
    kind, code = decoded.args[-2], decoded.int(len(decoded.args) - 1)
    scope = stats.scope_for(v.roles, rt.content)
    period = period_for(kind, code, _today(rt))
    if scope is None:
        log.warning("user %s asked for statistics without a role that allows them", v.user_id)
        await _answer(update)
        await show(update, render_not_allowed(v))
        return None
    if period is None:
        await _answer(update)
        await show(update, render_periods(v))
        return None
    return v, scope, period, kind, code


async def _notices_reach(rt: Runtime, tr: Translator, period) -> str:  # type: ignore[no-untyped-def]
    """Each notice of the period with its reach (delivered, not reachable), for editors and admins."""
    start, end = period.bounds(rt.settings.timezone)
    async with rt.db.read() as session:
        found = await broadcast.reach(session, start, end)
    lines = [tr._("<b>📢 Avvisi</b>")]
    for notice in found[:15]:
        reach = (tr._("consegnati {delivered} su {recipients}, non raggiungibili {unreachable}", delivered=tr.number(notice.delivered),
                      recipients=tr.number(notice.recipients), unreachable=tr.number(notice.unreachable))
                 if notice.recipients is not None else tr._("in corso"))
        lines.append(tr._("• {day}, {audience}: {reach}", day=tr.short_date(notice.confirmed_at),
                          audience=audience_label(tr, rt.content, notice), reach=reach))
    if not found:
        lines.append(tr._("Nessun avviso in questo periodo."))
    return "\n".join(lines)


async def stats_show(update: Update, context: FrontDeskContext) -> None:
    chosen = await _scope_and_period(update, context)
    if chosen is None:
        return
    rt, (v, scope, period, kind, code) = context.rt, chosen
    await update.callback_query.answer()
    summary = await rt.summaries.summary(rt.db, scope, period, rt.content, rt.settings.timezone, rt.clock.now())
    sections = summary_sections(v.tr, rt.content, summary, shows_free_text(v.roles))
    if v.roles.can_edit_content:
        sections.append(await _notices_reach(rt, v.tr, period))
    pages = pages_of(sections)
    rows = summary_rows(v, kind, code)
    if len(pages) == 1:
        await show(update, Screen(pages[0], rows))
        return
    await show(update, Screen(pages[0]))
    for index, page in enumerate(pages[1:], start=1):
        keyboard = Screen(page, rows).keyboard if index == len(pages) - 1 else None
        await context.bot.send_message(v.chat_id, page, reply_markup=keyboard)


async def stats_chart(update: Update, context: FrontDeskContext) -> None:
    chosen = await _scope_and_period(update, context)
    if chosen is None:
        return
    rt, (v, scope, period, kind, code) = context.rt, chosen
    await update.callback_query.answer(v.tr._("Preparo il grafico…"))
    async with rt.db.read(long=True) as session:
        weeks = await stats.weekly_trend(session, scope, period.end, rt.settings.timezone)
        ratings = await stats.space_ratings(session, scope, period, rt.content)
    # Labels in the reader's language and in English: the worker falls back to English only if no installed
    # font can draw the reader's script.
    labels = {}
    for drawn in {"en": translator("en", rt.settings.timezone.key), v.language: v.tr}.values():
        labels[drawn.language] = charts.ChartLabels(
            title=drawn._("Statistiche · {period}", period=period_label(drawn, period)),
            ratings=[(space_name(drawn, rt.content, space_id), figure) for space_id, figure in ratings],
        )
    png = await charts.draw_in_worker(v.language, rt.settings.timezone.key, labels, weeks)
    caption = v.tr.n_("📈 Prenotazioni e segnalazioni dell'ultima settimana fino al {end}; voto medio degli spazi nel periodo {period}.",
                      "📈 Prenotazioni e segnalazioni delle ultime {n} settimane fino al {end}; voto medio degli spazi nel periodo {period}.",
                      len(weeks), end=v.tr.date(period.end, format="yMMMd"), period=period_label(v.tr, period))
    # Buttons under the chart: the person goes on from here instead of scrolling back up.
    after = Screen("", [back_row(v.tr, callbacks.STATS_SHOW, kind, code)])
    await context.bot.send_photo(v.chat_id, photo=png, caption=clip(caption, MAX_CAPTION), reply_markup=after.keyboard)


async def stats_export(update: Update, context: FrontDeskContext) -> None:
    """A CSV for Excel, without personal data; editors and admins only."""
    rt, v = context.rt, await context.open()
    what = context.data.args[0]
    if not v.roles.can_edit_content or what not in WHAT:
        log.warning("user %s asked for an export they may not have", v.user_id)
        await update.callback_query.answer(v.tr._("Le esportazioni sono per la redazione e gli amministratori."), show_alert=True)
        return
    chosen = await _scope_and_period(update, context)
    if chosen is None:
        return
    _v, _scope, period, kind, code = chosen
    await update.callback_query.answer(v.tr._("Preparo il file…"))
    request = ExportRequest(what, period)
    data, rows = await csv_bytes(rt.db, request, rt.content, rt.settings.timezone)
    # Opinions carry tenants' free text: every download is in the audit record, as the command line's are.
    await audit.record_now(rt.db, v.user_id, "export", file_name(request), rt.clock.now())
    caption = v.tr.n_("{n} riga · {period}. Si apre con Excel.", "{n} righe · {period}. Si apre con Excel.", rows,
                      period=period_label(v.tr, period))
    after = Screen("", [back_row(v.tr, callbacks.STATS_SHOW, kind, code)])
    await context.bot.send_document(v.chat_id, document=data, filename=file_name(request), caption=clip(caption, MAX_CAPTION),
                                    reply_markup=after.keyboard)


# --------------------------------------------------------------------------------------------
# The committees' monthly digest (bot/jobs.py)


def render_digest(tr: Translator, content: Content, summary: Summary) -> Screen:
    month = tr.date(summary.period.start, format="yMMMM")
    header = tr._("🗓 <b>Il mese di {month}</b> nei caseggiati che rappresenti.", month=month)
    pages = pages_of([header, *summary_sections(tr, content, summary, free_text=False)[1:]])
    text = pages[0]
    if len(pages) > 1:
        text += "\n\n" + tr._("Il resto è nelle statistiche.")
    code = stats.month_code(summary.period.start)
    return Screen(text, [[button(tr._("📊 Apri le statistiche"), callbacks.STATS_SHOW, "custom", code)]])


async def send_committee_digests(rt: Runtime) -> None:
    """On the 1st of each month after QC_DIGEST_TIME (or later in the first week, after downtime), each committee
    member gets last month's figures for their estates, once."""
    now = rt.clock.now()
    local = now.astimezone(rt.settings.timezone)
    if local.day > DIGEST_DAYS or (local.day == 1 and local.time() < rt.settings.digest_time):
        return
    period = stats.previous_month(local.date())
    month = f"{period.start:%Y-%m}"
    async with rt.db.read() as session:
        members = await stats.committee_members(session)
        done = await stats.digests_done(session, month)
    for user_id, estates in sorted(members.items()):
        if user_id in done:
            continue
        # Counted before the write, off the event loop: the write transaction stays short.
        scope = stats.scope_of_estates(estates, rt.content)
        async with rt.db.read(long=True) as session:
            summary = await stats.summary(session, scope, period, rt.content, rt.settings.timezone, now)
        async with rt.db.write() as session:
            if not await stats.claim_digest(session, user_id, month, now):
                continue  # another instance has sent it
            user = await session.get(User, user_id)
            if user is None or user.blocked_at is not None:
                continue
            tr = translator_for(rt, language_of(user))
            await outbox.enqueue(
                session, chat_id=user_id, method="sendMessage", params=message_params(render_digest(tr, rt.content, summary)),
                dedupe_key=f"committee-digest:{user_id}:{month}", now=now, kind="committee_digest", ref=month,
            )
