"""The desk of the operators who keep a space's time bank (handlers/timebank.py is the tenants' side): members to
approve, pause, resume or remove; posts in safety-flagged categories to approve; abuse reports and disputes with
the last messages; adjustments and reversals with a reason, each a new ledger entry; the figures in /stats and the
monthly CSV. Every action is checked again in storage/domain/timebank.py (operators of that space, or admins).
"""

from __future__ import annotations

from datetime import date, timedelta

from telegram import Update

from bot import callbacks
from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Button, Screen, back_row, button, clip, menu_row, show
from handlers.outgoing.timebank import tell
from handlers.timebank import bank_space, done, refusals_answered, refuse, show_or_refuse
from handlers.timebank_screens import (
    MEMBER_STATUSES, STATUS_NAMES, category_label, chosen, estate_label, hours, ledger_line, post_line, who,
)
from storage.domain import export
from storage.domain import timebank as tb
from storage.domain import timebank_books
from storage.domain import timebank_views as views
from storage.content import Content, Space
from storage.models import (
    TimeBankAccount, TimeBankExchange, TimeBankPost, TimeBankPrompt, TimeBankReport,
)
from storage.domain.stats import month_code, period_of_month_code
from storage.domain.timebank import Reason, Refused

MEMBERS_PER_PAGE = 8


ADJUSTMENTS = (4, 2, -2, -4)  # quarters an operator can add or take with one tap (then types the reason)


def render_keeper(tr: Translator, content: Content, space: Space, pending_members: int, posts: list[TimeBankPost],
                  reports: list[TimeBankReport]) -> Screen:
    lines = [tr._("<b>🧰 Banca del tempo · {space}</b>", space=space.name.get(tr.language)),
             tr.n_("{n} iscrizione da approvare", "{n} iscrizioni da approvare", pending_members),
             tr.n_("{n} annuncio da approvare", "{n} annunci da approvare", len(posts)),
             tr.n_("{n} segnalazione aperta", "{n} segnalazioni aperte", len(reports))]
    rows = [[button(tr._("👥 Iscrizioni da approvare"), callbacks.TB_MEMBERS, space.id, 0, 0)],
            [button(tr._("👥 Iscritti"), callbacks.TB_MEMBERS, space.id, 1, 0),
             button(tr._("⏸ Sospesi"), callbacks.TB_MEMBERS, space.id, 2, 0)]]
    rows += [[button("📌 " + post_line(tr, content, post), callbacks.TB_POST, post.id)] for post in posts]
    rows += [[button(("⚠️ " if report.kind == "abuse" else "⚖️ ") + tr.short_date(report.created_at), callbacks.TB_REPORT, report.id)]
             for report in reports]
    rows.append([button(tr._("📊 Numeri della banca del tempo"), callbacks.TB_STATS, 0)])
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    return Screen("\n".join(lines), rows)


def render_members(tr: Translator, content: Content, space: Space, status: str, accounts: list[TimeBankAccount],
                   page: int, more: bool) -> Screen:
    rows = [[button(f"{account.first_name} · {estate_label(content, account.estate_id)} · {hours(tr, account.balance)}",
                    callbacks.TB_MEMBER, account.id)] for account in accounts]
    nav = []
    if page > 0:
        nav.append(button(tr._("◀️ Precedenti"), callbacks.TB_MEMBERS, space.id, MEMBER_STATUSES.index(status), page - 1))
    if more:
        nav.append(button(tr._("Successivi ▶️"), callbacks.TB_MEMBERS, space.id, MEMBER_STATUSES.index(status), page + 1))
    if nav:
        rows.append(nav)
    rows.append(back_row(tr, callbacks.TB_KEEPER, space.id))
    text = tr._("<b>Iscritti</b> ({status})", status=tr._(STATUS_NAMES[status]))
    if not accounts:
        text += "\n\n" + tr._("Nessuno.")
    return Screen(text, rows)


def render_member(tr: Translator, content: Content, account: TimeBankAccount, lines: list[timebank_books.Line]) -> Screen:
    text = [tr._("<b>{who}</b>", who=who(tr, content, account)),
            tr._("Stato: {status}", status=tr._(STATUS_NAMES[account.status])),
            tr._("Saldo: {balance}", balance=hours(tr, account.balance)), ""]
    text += [ledger_line(tr, content, line) for line in lines]
    rows: list[list[Button]] = []
    if account.status == "pending":
        rows.append([button(tr._("✅ Approva l'iscrizione"), callbacks.TB_MEMBER_DO, account.id, "approve")])
    if account.status == "active":
        rows.append([button(tr._("⏸ Sospendi"), callbacks.TB_MEMBER_DO, account.id, "pause")])
    if account.status == "paused":
        rows.append([button(tr._("▶️ Riattiva"), callbacks.TB_MEMBER_DO, account.id, "resume")])
    if account.status != "removed":
        rows.append([button(tr._("🚫 Escludi"), callbacks.TB_MEMBER_DO, account.id, "remove")])
        rows.append([button(hours(tr, q, signed=True), callbacks.TB_ADJUST, account.id, q) for q in ADJUSTMENTS])
    for line in lines[:3]:
        if line.kind in ("exchange", "adjustment"):
            moved = f"{tr.short_date(line.at)} {hours(tr, line.amount, signed=True)}"
            rows.append([button(tr._("↩️ Annulla: {line}", line=moved), callbacks.TB_REVERSE, line.transaction_id)])
    rows.append(back_row(tr, callbacks.TB_MEMBERS, account.space_id, 1, 0))
    return Screen("\n".join(text), rows)


def render_report(tr: Translator, content: Content, report: TimeBankReport, reporter: TimeBankAccount | None,
                  reported: TimeBankAccount | None, messages: list, exchange: TimeBankExchange | None) -> Screen:
    kind = tr._("⚠️ Segnalazione di abuso") if report.kind == "abuse" else tr._("⚖️ Contestazione di uno scambio")
    lines = [f"<b>{kind}</b>", tr._("Da: {who}", who=who(tr, content, reporter)),
             tr._("Riguarda: {who}", who=who(tr, content, reported)), ""]
    names = {account.user_id: account.first_name for account in (reporter, reported) if account is not None}
    for message in messages:
        lines.append(tr._("💬 {name}: {text}", name=names.get(message.sender_id, "—"), text=clip(message.text, 200)))
    if exchange is not None and exchange.quarters:
        lines.append(tr._("Scambio: {hours}", hours=hours(tr, exchange.quarters)))
    rows = []
    if reported is not None and reported.status == "active":
        rows.append([button(tr._("⏸ Sospendi {name}", name=reported.first_name), callbacks.TB_MEMBER_DO, reported.id, "pause")])
    if exchange is not None and exchange.status == "done" and exchange.transaction_id:
        rows.append([button(tr._("↩️ Annulla lo scambio"), callbacks.TB_REVERSE, exchange.transaction_id)])
    if report.status == "open":
        rows.append([button(tr._("✔️ Chiudi la segnalazione"), callbacks.TB_REPORT_CLOSE, report.id)])
    rows.append(back_row(tr, callbacks.TB_KEEPER, report.space_id))
    return Screen("\n".join(lines), rows)


def render_figures(tr: Translator, content: Content, figures: list[timebank_books.BankFigures], month: date) -> Screen:
    lines = [tr._("<b>📊 Banca del tempo · {month}</b>", month=tr.date(month, format="yMMMM"))]
    for item in figures:
        space = content.spaces.get(item.space_id)
        lines += ["", f"<b>{tr.isolate(space.name.get(tr.language) if space else item.space_id)}</b>"]
        if item.members < timebank_books.MIN_GROUP:
            lines.append(tr._("Meno di {n} iscritti: numeri nascosti.", n=timebank_books.MIN_GROUP))
            continue
        lines.append(tr._("Iscritti: {n} · attivi nel mese: {active}", n=tr.number(item.members),
                          active=tr.number(item.active_members) if item.active_members >= timebank_books.MIN_GROUP else "<5"))
        lines.append(tr._("Ore scambiate: {hours}", hours=hours(tr, sum(item.hours_by_month.values()))))
        for category, quarters in sorted(item.hours_by_category.items()):
            lines.append(f"  {tr.isolate(category_label(tr, content, category))}: {hours(tr, quarters)}")
        lines.append(tr._("Offerte senza risposta: {n}", n=tr.number(item.unanswered_offers)))
        if item.average_stars is not None:
            lines.append(tr._("Grazie ricevuti: {n} · media {stars} ⭐", n=tr.number(item.thanks), stars=tr.number(item.average_stars, 1)))
    previous = (month - timedelta(days=1)).replace(day=1)
    rows = [[button(tr._("◀️ Mese precedente"), callbacks.TB_STATS, month_code(previous))],
            [button(tr._("⬇️ Banca del tempo (CSV)"), callbacks.TB_EXPORT, month_code(month))], menu_row(tr)]
    return Screen("\n".join(lines), rows)


async def _keeper_screen(rt: Runtime, v: Visitor, space_id: str) -> Screen:
    space, _ = tb.bank_of(rt.content, space_id)
    if not tb.is_keeper(v.roles, space_id):
        raise Refused(Reason.NOT_ALLOWED)
    async with rt.db.read() as session:
        pending = len(await tb.members(session, space_id, "pending", 0, 100))
        posts = await tb.pending_posts(session, space_id)
        reports = await timebank_books.open_reports(session, space_id)
    return render_keeper(v.tr, rt.content, space, pending, posts, reports)


async def keeper(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_or_refuse(update, v, _keeper_screen(rt, v, context.data.args[0]))


async def members_list(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id, status, page = decoded.args[0], chosen(MEMBER_STATUSES, decoded.int(1) + 1), decoded.int(2)
    found = bank_space(rt, space_id)
    if found is None or not tb.is_keeper(v.roles, space_id) or status is None:
        await refuse(update, v, Reason.NOT_ALLOWED)
        return
    async with rt.db.read() as session:
        accounts = await tb.members(session, space_id, status, page * MEMBERS_PER_PAGE, MEMBERS_PER_PAGE + 1)
    await update.callback_query.answer()
    await show(update, render_members(v.tr, rt.content, found[0], status, accounts[:MEMBERS_PER_PAGE], page,
                                      len(accounts) > MEMBERS_PER_PAGE))


async def _member_screen(rt: Runtime, v: Visitor, account_id: int) -> Screen:
    async with rt.db.read() as session:
        account = await views.member_for_keeper(session, v.roles, account_id)
        lines = await timebank_books.history(session, account.id, limit=5)
    return render_member(v.tr, rt.content, account, lines)


async def member_view(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_or_refuse(update, v, _member_screen(rt, v, context.data.int(0)))


MEMBER_NOTICES = {
    "approve": N_("✅ Benvenuto/a nella banca del tempo di {space}! Il tuo saldo: {balance}"),
    "pause": N_("⏸ La tua iscrizione alla banca del tempo di {space} è sospesa. Per chiarire parla con l'operatore dello spazio."),
    "resume": N_("▶️ La tua iscrizione alla banca del tempo di {space} è di nuovo attiva."),
    "remove": N_("La tua iscrizione alla banca del tempo di {space} è chiusa."),
}


@refusals_answered()
async def member_do(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    account_id, action = context.data.int(0), context.data.args[1]
    if action not in MEMBER_NOTICES:
        raise Refused(Reason.NOT_FOUND)
    async with rt.db.read() as session:
        found = await views.member_for_keeper(session, v.roles, account_id)
    async with rt.db.write() as session:
        account = await tb.decide_member(session, rt.content, v.roles, found.space_id, account_id, action, v.user_id, rt.clock.now())
        space = rt.content.spaces[account.space_id]
        await tell(session, rt, account.user_id, lambda tr: Screen(
            tr._(MEMBER_NOTICES[action], space=space.name.get(tr.language), balance=hours(tr, account.balance)),
            [[button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, account.space_id)]]), f"member:{account_id}:{action}:{rt.clock.now().timestamp()}")
    await done(update, rt, await _member_screen(rt, v, account_id), v.tr._("Fatto."))


@refusals_answered()
async def adjust_ask(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    account_id, quarters = context.data.int(0), context.data.int(1)
    async with rt.db.write() as session:
        account = await views.member_for_keeper(session, v.roles, account_id)
        await tb.set_prompt(session, v.user_id, "adjust", account.space_id, rt.clock.now(), ref=account_id, amount=quarters)
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Correzione di {hours} per {name}: scrivi il motivo qui sotto (resta nel registro).",
                                     hours=hours(v.tr, quarters, signed=True), name=account.first_name),
                              [back_row(v.tr, callbacks.TB_MEMBER, account_id)]))


async def _adjust(rt: Runtime, v: Visitor, account_id: int, quarters: int, reason: str) -> Screen:
    async with rt.db.write() as session:
        await tb.drop_prompt(session, v.user_id)
        account = await session.get(TimeBankAccount, account_id)
        if account is None:
            raise Refused(Reason.NOT_FOUND)
        movement = await tb.adjust(session, rt.content, v.roles, account.space_id, account_id, quarters, reason, v.user_id, rt.clock.now())
        await session.refresh(account)
        await tell(session, rt, account.user_id, lambda tr: Screen(
            tr._("📒 L'operatore ha corretto il tuo saldo di {hours}: {reason}. Saldo: {balance}",
                 hours=hours(tr, quarters, signed=True), reason=reason, balance=hours(tr, account.balance)),
            [[button(tr._("📒 Saldo e movimenti"), callbacks.TB_LEDGER, account.space_id, 0)]]), f"adjust:{movement.id}")
    return Screen(v.tr._("✅ Saldo corretto: {balance}.", balance=hours(v.tr, account.balance)),
                  [[button(v.tr._("👤 Vedi"), callbacks.TB_MEMBER, account_id)]])


@refusals_answered()
async def reverse_ask(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    transaction_id = context.data.int(0)
    async with rt.db.write() as session:
        movement = await views.reversible_movement(session, v.roles, transaction_id)
        await tb.set_prompt(session, v.user_id, "reverse", movement.space_id, rt.clock.now(), ref=transaction_id)
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Annulli questo movimento con un movimento opposto. Scrivi il motivo qui sotto (resta nel registro)."),
                              [menu_row(v.tr)]))


async def _reverse(rt: Runtime, v: Visitor, transaction_id: int, reason: str) -> Screen:
    async with rt.db.write() as session:
        await tb.drop_prompt(session, v.user_id)
        movement = await timebank_books.reverse(session, rt.content, v.roles, transaction_id, reason, v.user_id, rt.clock.now())
        for account in await views.people_touched(session, movement.id):
            await tell(session, rt, account.user_id, lambda tr, account=account: Screen(
                tr._("↩️ L'operatore ha annullato un movimento: {reason}. Saldo: {balance}",
                     reason=reason, balance=hours(tr, account.balance)),
                [[button(tr._("📒 Saldo e movimenti"), callbacks.TB_LEDGER, account.space_id, 0)]]), f"reverse:{movement.id}")
    return Screen(v.tr._("✅ Movimento annullato."), [[button(v.tr._("🧰 Gestisci la banca del tempo"), callbacks.TB_KEEPER, movement.space_id)]])


@refusals_answered()
async def post_decide(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    post_id, choice = context.data.int(0), context.data.args[1]
    async with rt.db.write() as session:
        post = await tb.decide_post(session, rt.content, v.roles, post_id, choice == "yes", v.user_id)
        await tell(session, rt, post.user_id, lambda tr: Screen(
            tr._("✅ Il tuo annuncio è pubblicato: «{text}».", text=clip(post.text, 80)) if post.status == "open"
            else tr._("L'operatore non ha pubblicato il tuo annuncio «{text}». Per sapere perché, parla con lo spazio.", text=clip(post.text, 80)),
            [[button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, post.space_id)]]), f"decide:{post.id}")
    await done(update, rt, await _keeper_screen(rt, v, post.space_id), v.tr._("Fatto."))


@refusals_answered()
async def report_view(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    async with rt.db.read() as session:
        seen = await views.report_for_keeper(session, v.roles, context.data.int(0))
    await update.callback_query.answer()
    await show(update, render_report(v.tr, rt.content, seen.report, seen.reporter, seen.reported, seen.messages,
                                     seen.exchange))


@refusals_answered()
async def report_close(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    async with rt.db.write() as session:
        report = await timebank_books.close_report(session, v.roles, context.data.int(0), v.user_id, rt.clock.now())
    await update.callback_query.answer(v.tr._("Fatto."))
    await show(update, await _keeper_screen(rt, v, report.space_id))


def kept_banks(roles, content: Content) -> list[str]:  # type: ignore[no-untyped-def]
    """The banks whose figures this person sees: operators their spaces, admins and editors every one."""
    if roles.can_edit_content:
        return [space.id for space in tb.banks(content)]
    return [space.id for space in tb.banks(content) if space.id in roles.operator_of]


async def stats(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    code = context.data.int(0) or month_code(v.tr.local(rt.clock.now()).date())
    spaces, period = kept_banks(v.roles, rt.content), period_of_month_code(code)
    if not spaces or period is None:
        await refuse(update, v, Reason.NOT_ALLOWED)
        return
    start, end = period.bounds(rt.settings.timezone)
    async with rt.db.read(long=True) as session:
        figures = [await timebank_books.figures(session, space_id, start, end, rt.clock.now()) for space_id in spaces]
    await update.callback_query.answer()
    await show(update, render_figures(v.tr, rt.content, figures, period.start))


async def export_csv(update: Update, context: FrontDeskContext) -> None:
    """The month's exchanges of the banks this person keeps, as the CSV for Excel of storage/domain/export.py (no names)."""
    rt, v = context.rt, await context.open()
    spaces, period = kept_banks(v.roles, rt.content), period_of_month_code(context.data.int(0))
    if not spaces or period is None:
        await refuse(update, v, Reason.NOT_ALLOWED)
        return
    request = export.ExportRequest("timebank", period, spaces=tuple(spaces))
    data, count = await export.csv_bytes(rt.db, request, rt.content, rt.settings.timezone)
    await update.callback_query.answer()
    await context.bot.send_document(v.chat_id, document=data,
                                    filename=f"banca-del-tempo-{period.start:%Y-%m}.csv",
                                    caption=v.tr.n_("{n} scambio", "{n} scambi", count),
                                    reply_markup=Screen("", [back_row(v.tr, callbacks.TB_STATS, month_code(period.start))]).keyboard)


async def adjust_prompt(rt: Runtime, v: Visitor, prompt: TimeBankPrompt, text: str) -> Screen:
    """handlers.timebank.DESK_PROMPTS["adjust"]: the keeper wrote why a balance is adjusted."""
    return await _adjust(rt, v, prompt.ref or 0, prompt.amount or 0, text)


async def reverse_prompt(rt: Runtime, v: Visitor, prompt: TimeBankPrompt, text: str) -> Screen:
    """handlers.timebank.DESK_PROMPTS["reverse"]: the keeper wrote why an exchange is reversed."""
    return await _reverse(rt, v, prompt.ref or 0, text)
