"""The time bank of a space, for tenants: join from the space's screen, post offers and requests, answer them,
talk through the bot without showing anything but first name and estate, agree an exchange, confirm the hours,
thank; balance, history and the monthly statement; the weekly digest; time bank posts in the search.

Every handler decodes, calls one domain operation of storage/timebank.py and renders its outcome; refusals become
one polite sentence (REFUSALS) and the current screen. Messages to the other person go through the outbox. The
operators' side (members, posts to approve, reports, adjustments, reversals, figures) is handlers/timebank_desk.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from babel.numbers import format_decimal
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ContextTypes

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.runtime import Runtime, Visitor, runtime_of, visitor
from bot.ui import MAX_CAPTION, Button, Screen, back_row, button, clip, menu_row, show
from handlers import directory
from handlers.common import chat_translator, message_params, paging
from storage import outbox, users
from storage import timebank as tb
from storage.content import Content, Space, TimeBank
from storage.models import (
    TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankPost, TimeBankPrompt, TimeBankThanks,
)
from storage.stats import month_code, period_of_month_code
from storage.timebank import Reason, Refused

POSTS_PER_PAGE = 6
# Texts the operators' desk waits for (an adjustment's or a reversal's reason), registered by
# handlers/timebank_desk.py: kind -> (runtime, visitor, prompt, text) -> the screen to show.
DESK_PROMPTS: dict[str, Callable[[Runtime, Visitor, TimeBankPrompt, str], Awaitable[Screen]]] = {}
HISTORY_LINES = 10
REFUSALS = {
    Reason.NO_BANK: N_("Questo spazio non ha (più) una banca del tempo."),
    Reason.NOT_MEMBER: N_("Prima iscriviti alla banca del tempo dello spazio."),
    Reason.ALREADY_MEMBER: N_("Sei già iscritto/a a questa banca del tempo."),
    Reason.PENDING: N_("La tua iscrizione aspetta l'approvazione dell'operatore."),
    Reason.PAUSED: N_("La tua iscrizione è sospesa: parla con l'operatore dello spazio."),
    Reason.REMOVED: N_("Non fai più parte di questa banca del tempo: parla con l'operatore dello spazio."),
    Reason.NOT_ALLOWED: N_("Questa azione non è per te."),
    Reason.NOT_FOUND: N_("Questa voce non c'è più."),
    Reason.BAD_HOURS: N_("Le ore vanno in quarti d'ora, da 0,25 al massimo dello spazio."),
    Reason.BAD_TEXT: N_("Il testo è vuoto o troppo lungo: riprova più breve."),
    Reason.BAD_CATEGORY: N_("Questa categoria non c'è in questa banca del tempo."),
    Reason.ALREADY_DONE: N_("Già fatto: non cambio nulla."),
    Reason.NOT_PARTY: N_("Questo scambio è tra altre persone."),
    Reason.BALANCE_TOO_LOW: N_("Il tuo saldo è sotto il minimo: per ora puoi offrire aiuto, non chiederlo."),
    Reason.OWN_POST: N_("È un tuo annuncio."),
    Reason.POST_CLOSED: N_("Questo annuncio non è più disponibile."),
    Reason.ALREADY_ASKED: N_("Hai già risposto a questo annuncio: aspetta la risposta."),
    Reason.NOT_ACCEPTED: N_("La conversazione non è aperta."),
}
KIND_NAMES = {"offer": N_("Offerta"), "request": N_("Richiesta")}
KINDS = tuple(KIND_NAMES)  # buttons carry the position: 0 offer, 1 request
MEMBER_STATUSES = ("pending", "active", "paused")  # buttons carry the position
LEDGER_KINDS = {
    "opening": N_("Credito iniziale"),
    "exchange": N_("Scambio"),
    "adjustment": N_("Correzione dell'operatore"),
    "reversal": N_("Annullamento"),
}
STATUS_NAMES = {
    "pending": N_("in attesa"), "active": N_("attivo/a"), "paused": N_("sospeso/a"), "removed": N_("escluso/a"),
}


# --------------------------------------------------------------------------------------------
# Words


def hours(tr: Translator, quarters: int, *, signed: bool = False) -> str:
    number = format_decimal(abs(quarters) / 4, format="#,##0.##", locale=tr.locale)
    sign = ("+" if quarters > 0 else "−" if quarters < 0 else "") if signed else ("−" if quarters < 0 else "")
    return tr._("{hours} h", hours=sign + number)


def category_label(tr: Translator, content: Content, category_id: str) -> str:
    category = content.timebank_categories.get(category_id)
    if category is None:
        return category_id
    return f"{category.emoji + ' ' if category.emoji else ''}{category.name.get(tr.language)}"


def estate_label(content: Content, estate_id: str | None) -> str:
    estate = content.estates.get(estate_id or "")
    return estate.name if estate is not None else "—"


def who(tr: Translator, content: Content, account: TimeBankAccount | None) -> str:
    """All a member learns of another before both accept: first name and estate."""
    if account is None:
        return "—"
    return tr._("{name} ({estate})", name=account.first_name or "—", estate=estate_label(content, account.estate_id))


def estates_of(content: Content, space_id: str) -> list:  # type: ignore[type-arg]
    return [estate for estate in content.estates.values() if estate.space_id == space_id]


def position(items, value) -> int:  # type: ignore[no-untyped-def]
    """value's position + 1 in items, 0 for "all"/"none": how a choice travels in a button next to a space id."""
    return list(items).index(value) + 1 if value in items else 0


def chosen(items, index: int):  # type: ignore[no-untyped-def]
    """The item a button's position points at, or None for 0 or a position out of range (a stale button)."""
    items = list(items)
    return items[index - 1] if 1 <= index <= len(items) else None


def refusal(tr: Translator, reason: Reason) -> str:
    return tr._(REFUSALS[reason])


# --------------------------------------------------------------------------------------------
# Screens


def render_banks(tr: Translator, content: Content, mine: dict[str, TimeBankAccount]) -> Screen:
    spaces = sorted(tb.banks(content), key=lambda space: space.id not in mine)
    rows = [[button(("⭐ " if space.id in mine else "") + f"{space.neighbourhood} · {space.name.get(tr.language)}",
                    callbacks.TB_HOME, space.id)] for space in spaces]
    rows.append(menu_row(tr))
    text = tr._("<b>🤝 Banca del tempo.</b> Vicini che si aiutano: un'ora di aiuto vale un'ora, senza soldi. Scegli lo spazio:")
    return Screen(text, rows)


def render_join(tr: Translator, content: Content, space: Space, bank: TimeBank, keeper: bool = False) -> Screen:
    lines = [tr._("<b>🤝 Banca del tempo · {space}</b>", space=space.name.get(tr.language)), "",
             tr._("<b>Le regole:</b>"), tr.isolate(clip(bank.rules.get(tr.language), 1200)), ""]
    lines.append(tr.n_("Chi si iscrive riceve {n} ora di credito.", "Chi si iscrive riceve {n} ore di credito.",
                       bank.starting_quarters // 4) if bank.starting_quarters >= 4 and bank.starting_quarters % 4 == 0
                 else tr._("Credito iniziale: {hours}.", hours=hours(tr, bank.starting_quarters)))
    if bank.join == "approval":
        lines.append(tr._("L'operatore dello spazio approva le iscrizioni."))
    lines += ["", tr._("Gli altri vedranno solo il tuo nome e il tuo caseggiato. In quale caseggiato abiti? Toccandolo accetti le regole e ti iscrivi.")]
    rows = [[button(estate.name, callbacks.TB_JOIN, space.id, index + 1)]
            for index, estate in enumerate(estates_of(content, space.id))]
    rows.append([button(tr._("Un altro caseggiato"), callbacks.TB_JOIN, space.id, 0)])
    if keeper:
        rows.append([button(tr._("🧰 Gestisci la banca del tempo"), callbacks.TB_KEEPER, space.id)])
    rows.append(back_row(tr, callbacks.SPACE, space.id))
    return Screen("\n".join(lines), rows)


def render_home(tr: Translator, content: Content, space: Space, account: TimeBankAccount, keeper: bool) -> Screen:
    title = tr._("<b>🤝 Banca del tempo · {space}</b>", space=space.name.get(tr.language))
    rows: list[list[Button]] = []
    if account.status == "pending":
        text = title + "\n\n" + tr._("Grazie! La tua iscrizione aspetta l'approvazione dell'operatore: ti scrivo io.")
    elif account.status in ("paused", "removed"):
        text = title + "\n\n" + refusal(tr, Reason.PAUSED if account.status == "paused" else Reason.REMOVED)
    else:
        text = title + "\n\n" + tr._("Il tuo saldo: <b>{balance}</b>", balance=hours(tr, account.balance))
        rows = [
            [button(tr._("🔎 Offerte di aiuto"), callbacks.TB_CATEGORIES, space.id, "offer"),
             button(tr._("🔎 Richieste"), callbacks.TB_CATEGORIES, space.id, "request")],
            [button(tr._("➕ Offro aiuto"), callbacks.TB_NEW, space.id, "offer"),
             button(tr._("➕ Chiedo aiuto"), callbacks.TB_NEW, space.id, "request")],
            [button(tr._("📋 I miei annunci e scambi"), callbacks.TB_MINE, space.id)],
            [button(tr._("📒 Saldo e movimenti"), callbacks.TB_LEDGER, space.id, 0)],
            [button(tr._("🌐 Le lingue che parlo"), callbacks.TB_LANGUAGES, space.id, 0)],
            [button(tr._("🔕 Niente riepilogo settimanale") if account.digest else tr._("🔔 Riepilogo settimanale delle offerte"),
                    callbacks.TB_DIGEST, space.id, "off" if account.digest else "on")],
        ]
    if keeper:
        rows.append([button(tr._("🧰 Gestisci la banca del tempo"), callbacks.TB_KEEPER, space.id)])
    rows.append(back_row(tr, callbacks.TIMEBANKS))
    return Screen(text, rows)


def render_languages(tr: Translator, space: Space, account: TimeBankAccount) -> Screen:
    spoken = set(account.languages.split(","))
    buttons = [button(("✅ " if code in spoken else "") + LANGUAGE_NAMES[code], callbacks.TB_LANGUAGES, space.id, index + 1)
               for index, code in enumerate(LANGUAGES)]
    rows = [buttons[index : index + 2] for index in range(0, len(buttons), 2)]
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    return Screen(tr._("Quali lingue parli? Le mostro sui tuoi annunci, così chi cerca aiuto nella sua lingua ti trova."), rows)


def render_categories(tr: Translator, content: Content, space: Space, bank: TimeBank, kind: str) -> Screen:
    kind_index = KINDS.index(kind)
    rows = [[button(tr._("Tutte le categorie"), callbacks.TB_BROWSE, space.id, kind_index, 0, 0, 0)]]
    rows += [[button(category_label(tr, content, category), callbacks.TB_BROWSE, space.id, kind_index, index + 1, 0, 0)]
             for index, category in enumerate(bank.categories) if category in content.timebank_categories]
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    text = tr._("<b>Offerte di aiuto</b>: quale categoria?") if kind == "offer" else tr._("<b>Richieste di aiuto</b>: quale categoria?")
    return Screen(text, rows)


def post_line(tr: Translator, content: Content, post: TimeBankPost) -> str:
    category = content.timebank_categories.get(post.category)
    emoji = category.emoji if category is not None and category.emoji else "•"
    return f"{emoji} {clip(post.text, 40)} · {estate_label(content, post.estate_id)}"


def render_browse(
    tr: Translator, content: Content, space: Space, kind: str, category: str | None, language: str | None, page: int,
    posts: list[TimeBankPost], total: int,
) -> Screen:
    page, pages = paging(page, total, POSTS_PER_PAGE)
    rows = [[button(post_line(tr, content, post), callbacks.TB_POST, post.id)] for post in posts]
    filters = (space.id, KINDS.index(kind), position(space.time_bank.categories, category))
    nav = []
    if page > 0:
        nav.append(button(tr._("◀️ Precedenti"), callbacks.TB_BROWSE, *filters, position(LANGUAGES, language), page - 1))
    if page < pages - 1:
        nav.append(button(tr._("Successivi ▶️"), callbacks.TB_BROWSE, *filters, position(LANGUAGES, language), page + 1))
    if nav:
        rows.append(nav)
    if language is None:
        rows.append([button(tr._("🌐 Solo in {language}", language=LANGUAGE_NAMES[tr.language]),
                            callbacks.TB_BROWSE, *filters, position(LANGUAGES, tr.language), 0)])
    else:
        rows.append([button(tr._("🌐 Tutte le lingue"), callbacks.TB_BROWSE, *filters, 0, 0)])
    rows.append(back_row(tr, callbacks.TB_CATEGORIES, space.id, kind))
    heading = tr._("<b>Offerte di aiuto</b>") if kind == "offer" else tr._("<b>Richieste di aiuto</b>")
    if category is not None:
        heading += " · " + tr.isolate(category_label(tr, content, category))
    if not posts:
        return Screen(heading + "\n\n" + tr._("Per ora non c'è niente qui. Puoi pubblicare tu un annuncio."), rows)
    return Screen(heading + "\n" + tr._("Prima quelli del tuo caseggiato, poi i più recenti.") + "\n"
                  + tr.n_("{n} annuncio", "{n} annunci", total), rows)


def render_post(
    tr: Translator, content: Content, post: TimeBankPost, poster: TimeBankAccount | None, viewer: int, keeper: bool,
    now: datetime,
) -> Screen:
    lines = [f"<b>{tr._(KIND_NAMES[post.kind])}</b> · {tr.isolate(category_label(tr, content, post.category))}", "",
             tr.isolate(post.text)]
    if post.availability:
        lines.append(tr._("🕘 {when}", when=post.availability))
    languages = [LANGUAGE_NAMES.get(code, code) for code in post.languages.split(",") if code]
    if languages:
        lines.append(tr._("🌐 {languages}", languages=", ".join(languages)))
    lines.append(tr._("👤 {who}", who=who(tr, content, poster)))
    lines.append(tr._("Scade il {date}", date=tr.date(post.expires_at, format="yMMMd")))
    space = content.spaces.get(post.space_id)
    category = content.timebank_categories.get(post.category)
    flagged = space is not None and space.time_bank is not None and post.category in space.time_bank.operator_present
    if flagged and category is not None and category.advice is not None:
        lines += ["", "⚠️ " + tr.isolate(category.advice.get(tr.language))]
    rows: list[list[Button]] = []
    if post.photo_file_id:
        rows.append([button(tr._("📷 Guarda la foto"), callbacks.TB_POST_PHOTO_SHOW, post.id)])
    if post.user_id == viewer:
        if post.status == "pending":
            lines += ["", tr._("⏳ Aspetta l'approvazione dell'operatore.")]
        rows.append([button(tr._("🔁 Rinnova"), callbacks.TB_POST_RENEW, post.id),
                     button(tr._("✖️ Chiudi l'annuncio"), callbacks.TB_POST_CLOSE, post.id)])
        rows.append([button(tr._("📷 Aggiungi una foto"), callbacks.TB_POST_PHOTO, post.id)])
    elif tb.is_live(post, now):
        label = tr._("🙋 Mi interessa") if post.kind == "offer" else tr._("🙋 Posso aiutare io")
        rows.append([button(label, callbacks.TB_ASK, post.id)])
    if keeper and post.status == "pending":
        rows.append([button(tr._("✅ Approva"), callbacks.TB_POST_DECIDE, post.id, "yes"),
                     button(tr._("❌ Rifiuta"), callbacks.TB_POST_DECIDE, post.id, "no")])
    rows.append(back_row(tr, callbacks.TB_HOME, post.space_id))
    return Screen("\n".join(lines), rows)


def render_new_categories(tr: Translator, content: Content, space: Space, bank: TimeBank, kind: str) -> Screen:
    rows = [[button(category_label(tr, content, category), callbacks.TB_NEW_CATEGORY, space.id, KINDS.index(kind), index + 1)]
            for index, category in enumerate(bank.categories) if category in content.timebank_categories]
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    text = tr._("<b>Offro aiuto</b>: in quale categoria?") if kind == "offer" else tr._("<b>Chiedo aiuto</b>: in quale categoria?")
    return Screen(text, rows)


def render_write_post(tr: Translator, content: Content, space: Space, bank: TimeBank, kind: str, category: str) -> Screen:
    lines = []
    advice = content.timebank_categories[category].advice
    if category in bank.operator_present:
        lines.append("⚠️ " + (tr.isolate(advice.get(tr.language)) if advice is not None else ""))
        lines.append(tr._("L'operatore dello spazio approva questo annuncio prima che gli altri lo vedano."))
        lines.append("")
    lines.append(tr._("Scrivi qui sotto, in una o due righe, cosa offri.") if kind == "offer"
                 else tr._("Scrivi qui sotto, in una o due righe, di cosa hai bisogno."))
    lines.append(tr._("Non scrivere il tuo numero di telefono: vi parlate attraverso il bot."))
    return Screen("\n".join(lines), [back_row(tr, callbacks.TB_NEW, space.id, kind)])


def render_ask_when(tr: Translator) -> Screen:
    return Screen(tr._("Quando sei di solito libero/a? Scrivilo (per esempio «il pomeriggio, dal lunedì al venerdì»), oppure tocca «Salta»."),
                  [[button(tr._("Salta"), callbacks.TB_SKIP_WHEN)]])


def render_published(tr: Translator, post: TimeBankPost) -> Screen:
    if post.status == "pending":
        text = tr._("✅ Annuncio ricevuto. L'operatore dello spazio lo guarda e poi lo pubblica: ti scrivo io.")
    else:
        text = tr._("✅ Annuncio pubblicato. Ti scrivo quando qualcuno risponde.")
    text += "\n" + tr._("Se vuoi, aggiungi una foto.")
    rows = [[button(tr._("📷 Aggiungi una foto"), callbacks.TB_POST_PHOTO, post.id)],
            [button(tr._("📋 I miei annunci e scambi"), callbacks.TB_MINE, post.space_id)],
            [button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, post.space_id), *menu_row(tr)]]
    return Screen(text, rows)


def render_mine(
    tr: Translator, content: Content, space: Space, posts: list[TimeBankPost], contacts: list[TimeBankContact],
    exchanges: list[TimeBankExchange], names: dict[int, TimeBankAccount], viewer: int,
) -> Screen:
    rows = [[button("📌 " + post_line(tr, content, post), callbacks.TB_POST, post.id)] for post in posts]
    for contact in contacts:
        other = names.get(tb.other_party(contact, viewer))
        mark = "💬" if contact.status == "accepted" else "⏳"
        rows.append([button(f"{mark} {other.first_name if other else '—'}", callbacks.TB_CONVERSATION, contact.id)])
    for exchange in exchanges:
        other = names.get(tb.other_party(exchange, viewer))
        mark = {"agreed": "🤝", "done": "✅", "cancelled": "✖️", "reversed": "↩️"}[exchange.status]
        label = f"{mark} {category_label(tr, content, exchange.category)} · {other.first_name if other else '—'}"
        rows.append([button(label, callbacks.TB_EXCHANGE, exchange.id)])
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    text = tr._("<b>I miei annunci, conversazioni e scambi</b>")
    if len(rows) == 1:
        text += "\n\n" + tr._("Niente per ora.")
    return Screen(text, rows)


def render_conversation(
    tr: Translator, content: Content, contact: TimeBankContact, post: TimeBankPost, other: TimeBankAccount | None,
    exchange: TimeBankExchange | None,
) -> Screen:
    lines = [tr._("<b>💬 Conversazione con {who}</b>", who=who(tr, content, other)),
             tr._("Sull'annuncio: {text}", text=clip(post.text, 80)), "",
             tr._("I messaggi passano dal bot: nessuno vede il tuo numero di telefono.")]
    rows = [[button(tr._("✍️ Scrivi un messaggio"), callbacks.TB_WRITE, contact.id)]]
    if exchange is None:
        rows.append([button(tr._("🤝 Ci siamo accordati: registra lo scambio"), callbacks.TB_AGREE, contact.id)])
    else:
        rows.append([button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange.id)])
    rows.append([button(tr._("👤 Condividi il mio username Telegram"), callbacks.TB_USERNAME, contact.id)])
    rows.append([button(tr._("🛑 Chiudi la conversazione"), callbacks.TB_END, contact.id),
                 button(tr._("⚠️ Segnala un abuso"), callbacks.TB_ABUSE_ASK, contact.id)])
    rows.append(back_row(tr, callbacks.TB_MINE, contact.space_id))
    return Screen("\n".join(lines), rows)


def hours_rows(tr: Translator, exchange_id: int, max_quarters: int) -> list[list[Button]]:
    """Every quarter hour up to 2 h, then half hours up to 4 h, then whole hours: never over 100 buttons."""
    steps = [q for q in range(1, max_quarters + 1) if q <= 8 or (q <= 16 and q % 2 == 0) or q % 4 == 0]
    buttons = [button(hours(tr, q), callbacks.TB_CONFIRM, exchange_id, q) for q in steps]
    return [buttons[index : index + 4] for index in range(0, len(buttons), 4)]


def render_exchange(
    tr: Translator, content: Content, exchange: TimeBankExchange, other: TimeBankAccount | None, viewer: int,
    thanked: bool,
) -> Screen:
    giving = exchange.giver_id == viewer
    lines = [tr._("<b>🤝 Scambio · {category}</b>", category=category_label(tr, content, exchange.category)),
             tr._("Aiuti {who}", who=who(tr, content, other)) if giving else tr._("Ti aiuta {who}", who=who(tr, content, other))]
    rows: list[list[Button]] = []
    if exchange.status == "agreed":
        if giving:
            lines.append(tr._("Quando avete finito, chi ha ricevuto l'aiuto conferma le ore."))
        else:
            lines.append(tr._("Quando avete finito, conferma qui quante ore ti ha dato."))
            rows.append([button(tr._("✅ Fatto: conferma le ore"), callbacks.TB_HOURS, exchange.id)])
        rows.append([button(tr._("✖️ Annulla lo scambio"), callbacks.TB_EXCHANGE_CANCEL, exchange.id)])
    elif exchange.status == "done":
        lines.append(tr._("✅ Fatto: {hours}.", hours=hours(tr, exchange.quarters or 0)))
        if not thanked:
            lines.append(tr._("Vuoi dire grazie? Le stelle restano anonime e servono solo alle statistiche."))
            rows.append([button("⭐" * stars, callbacks.TB_THANK, exchange.id, stars) for stars in (1, 2, 3)])
            rows.append([button("⭐" * stars, callbacks.TB_THANK, exchange.id, stars) for stars in (4, 5)])
        rows.append([button(tr._("⚖️ Non sono d'accordo: chiedi all'operatore"), callbacks.TB_DISPUTE, exchange.id)])
    elif exchange.status == "reversed":
        lines.append(tr._("↩️ Annullato dall'operatore: le ore sono tornate indietro."))
    else:
        lines.append(tr._("✖️ Scambio annullato."))
    rows.append(back_row(tr, callbacks.TB_MINE, exchange.space_id))
    return Screen("\n".join(lines), rows)


def render_hours(tr: Translator, exchange: TimeBankExchange, bank: TimeBank) -> Screen:
    text = tr._("Quante ore ti ha dato? (massimo {hours})", hours=hours(tr, bank.max_quarters))
    return Screen(text, [*hours_rows(tr, exchange.id, bank.max_quarters), back_row(tr, callbacks.TB_EXCHANGE, exchange.id)])


def ledger_line(tr: Translator, content: Content, line: tb.Line) -> str:
    what = tr._(LEDGER_KINDS[line.kind])
    if line.category:
        what += " · " + category_label(tr, content, line.category)
    if line.reason:
        what += " · " + clip(line.reason, 60)
    return f"{tr.short_date(line.at)} · <b>{hours(tr, line.amount, signed=True)}</b> · {tr.isolate(what)}"


def render_ledger(tr: Translator, content: Content, space: Space, account: TimeBankAccount, lines: list[tb.Line],
                  older: bool, today: date) -> Screen:
    text = [tr._("<b>📒 Saldo: {balance}</b>", balance=hours(tr, account.balance)), ""]
    text += [ledger_line(tr, content, line) for line in lines] or [tr._("Nessun movimento.")]
    rows = []
    if older:
        rows.append([button(tr._("Movimenti precedenti ▶️"), callbacks.TB_LEDGER, space.id, lines[-1].entry_id)])
    rows.append([button(tr._("🗓 Estratto conto del mese"), callbacks.TB_STATEMENT, space.id, month_code(today))])
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    return Screen("\n".join(text), rows)


def render_statement(tr: Translator, content: Content, space: Space, statement: tb.Statement, earliest: date) -> Screen:
    text = [tr._("<b>🗓 Estratto conto · {month}</b>", month=tr.date(statement.start, format="yMMMM")),
            tr._("Banca del tempo · {space}", space=space.name.get(tr.language)), "",
            tr._("Saldo all'inizio del mese: {hours}", hours=hours(tr, statement.opening)),
            tr._("Ore ricevute: {hours}", hours=hours(tr, statement.received)),
            tr._("Ore date: {hours}", hours=hours(tr, statement.given)),
            tr._("Saldo alla fine: <b>{hours}</b>", hours=hours(tr, statement.closing)), ""]
    text += [ledger_line(tr, content, line) for line in statement.lines[:30]]
    previous = (statement.start.replace(day=1) - timedelta(days=1)).replace(day=1)
    rows = []
    if previous >= earliest.replace(day=1):
        rows.append([button(tr._("◀️ Mese precedente"), callbacks.TB_STATEMENT, space.id, month_code(previous))])
    rows.append(back_row(tr, callbacks.TB_LEDGER, space.id, 0))
    return Screen("\n".join(text), rows)


# --------------------------------------------------------------------------------------------
# Helpers of the handlers


async def refuse(update: Update, v: Visitor, reason: Reason, screen: Screen | None = None) -> None:
    """A polite answer; the screen is shown when there is one (a refused button changes nothing)."""
    text = refusal(v.tr, reason)
    if update.callback_query is not None:
        await update.callback_query.answer(text[:200], show_alert=False)
        if screen is not None:
            await show(update, screen)
        return
    await show(update, screen or Screen(text, [menu_row(v.tr)]))


def data_of(update: Update) -> callbacks.Decoded:
    return callbacks.decode(update.callback_query.data)


async def tell(session: AsyncSession, rt: Runtime, user_id: int, build, key: str) -> None:  # type: ignore[no-untyped-def]
    """A message to someone other than the one pressing, in their language, through the outbox."""
    tr = await chat_translator(session, rt, user_id)
    await outbox.enqueue(session, chat_id=user_id, method="sendMessage", params=message_params(build(tr)),
                         dedupe_key=f"tb:{key}:{user_id}", now=rt.clock.now())


async def tell_keepers(session: AsyncSession, rt: Runtime, space_id: str, build, key: str) -> None:  # type: ignore[no-untyped-def]
    for operator in await users.users_with_role(session, "operator", space_id):
        await tell(session, rt, operator.id, build, key)


async def accounts_by_user(session: AsyncSession, space_id: str, user_ids: set[int]) -> dict[int, TimeBankAccount]:
    if not user_ids:
        return {}
    rows = await session.scalars(select(TimeBankAccount).where(TimeBankAccount.space_id == space_id,
                                                               TimeBankAccount.user_id.in_(user_ids)))
    return {account.user_id: account for account in rows.all()}


def bank_space(rt: Runtime, space_id: str) -> tuple[Space, TimeBank] | None:
    try:
        return tb.bank_of(rt.content, space_id)
    except Refused:
        return None


async def home_screen(rt: Runtime, v: Visitor, space_id: str) -> Screen:
    found = bank_space(rt, space_id)
    if found is None:
        async with rt.db.read() as session:
            mine = await _my_accounts(session, v.user_id)
        return render_banks(v.tr, rt.content, mine)
    space, bank = found
    async with rt.db.read() as session:
        account = await tb.account_of(session, space_id, v.user_id)
    if account is None:
        return render_join(v.tr, rt.content, space, bank, tb.is_keeper(v.roles, space_id))
    return render_home(v.tr, rt.content, space, account, tb.is_keeper(v.roles, space_id))


async def _my_accounts(session: AsyncSession, user_id: int) -> dict[str, TimeBankAccount]:
    rows = await session.scalars(select(TimeBankAccount).where(TimeBankAccount.user_id == user_id))
    return {account.space_id: account for account in rows.all()}


# --------------------------------------------------------------------------------------------
# Handlers: tenants


def space_button(v: Visitor, space: Space) -> list[Button]:
    """directory.SPACE_BUTTONS: the space's screen leads to its time bank."""
    if space.time_bank is None:
        return []
    return [button(v.tr._("🤝 Banca del tempo"), callbacks.TB_HOME, space.id)]


async def banks_list(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    if update.callback_query:
        await update.callback_query.answer()
    async with rt.db.read() as session:
        mine = await _my_accounts(session, v.user_id)
    await show(update, render_banks(v.tr, rt.content, mine))


async def home(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    await update.callback_query.answer()
    await show(update, await home_screen(rt, v, data_of(update).args[0]))


async def join(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id = decoded.args[0]
    estate = chosen(estates_of(rt.content, space_id), decoded.int(1))
    estate_id = estate.id if estate is not None else None
    try:
        async with rt.db.write() as session:
            joined = await tb.join(session, rt.content, space_id, v.user_id, first_name=v.first_name, estate_id=estate_id,
                                   language=v.language, now=rt.clock.now())
            if not joined.active:
                await tell_keepers(session, rt, space_id, lambda tr: Screen(
                    tr._("🤝 Nuova iscrizione alla banca del tempo: {who}. Approvi?", who=who(tr, rt.content, joined.account)),
                    [[button(tr._("✅ Approva l'iscrizione"), callbacks.TB_MEMBER_DO, joined.account.id, "approve")],
                     [button(tr._("👤 Vedi"), callbacks.TB_MEMBER, joined.account.id)]]), f"join:{joined.account.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    rt.wake_outbox()
    await update.callback_query.answer(v.tr._("Iscrizione fatta.") if joined.active else v.tr._("Iscrizione inviata."))
    await show(update, await home_screen(rt, v, space_id))


async def categories(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    space_id, kind = data_of(update).args
    found = bank_space(rt, space_id)
    if found is None or kind not in KIND_NAMES:
        await refuse(update, v, Reason.NO_BANK, await home_screen(rt, v, space_id))
        return
    try:
        async with rt.db.read() as session:
            await tb.active_member(session, space_id, v.user_id)
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_categories(v.tr, rt.content, found[0], found[1], kind))


async def browse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id, kind, page = decoded.args[0], chosen(KINDS, decoded.int(1) + 1), decoded.int(4)
    found = bank_space(rt, space_id)
    category = chosen(found[1].categories, decoded.int(2)) if found is not None else None
    language = chosen(LANGUAGES, decoded.int(3))
    if found is None or kind is None:
        await refuse(update, v, Reason.NO_BANK, await home_screen(rt, v, space_id))
        return
    try:
        async with rt.db.read() as session:
            account = await tb.active_member(session, space_id, v.user_id)
            page = max(page, 0)
            posts, total = await tb.browse(
                session, space_id, kind, rt.clock.now(), category=category, language=language, near_estate=account.estate_id,
                offset=page * POSTS_PER_PAGE, limit=POSTS_PER_PAGE)
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_browse(v.tr, rt.content, found[0], kind, category, language, page, posts, total))


async def _post_screen(rt: Runtime, v: Visitor, post_id: int) -> Screen | None:
    async with rt.db.read() as session:
        post = await session.get(TimeBankPost, post_id)
        if post is None:
            return None
        keeper = tb.is_keeper(v.roles, post.space_id)
        if post.user_id != v.user_id and not keeper:
            account = await tb.account_of(session, post.space_id, v.user_id)
            if account is None or account.status != "active" or post.status != "open":
                return None
        poster = await tb.account_of(session, post.space_id, post.user_id)
    return render_post(v.tr, rt.content, post, poster, v.user_id, keeper, rt.clock.now())


async def post_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    screen = await _post_screen(rt, v, data_of(update).int(0))
    if screen is None:
        await refuse(update, v, Reason.POST_CLOSED)
        return
    await update.callback_query.answer()
    await show(update, screen)


async def post_photo_show(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    post_id = data_of(update).int(0)
    screen = await _post_screen(rt, v, post_id)
    async with rt.db.read() as session:
        post = await session.get(TimeBankPost, post_id)
    if screen is None or post is None or not post.photo_file_id:
        await refuse(update, v, Reason.NOT_FOUND)
        return
    await update.callback_query.answer()
    await context.bot.send_photo(v.chat_id, post.photo_file_id, caption=clip(post.text, MAX_CAPTION))
    await context.bot.send_message(v.chat_id, screen.text, reply_markup=screen.keyboard)


async def post_change(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Renew, close, or ask for a photo of one's own post."""
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    post_id, now = decoded.int(0), rt.clock.now()
    try:
        async with rt.db.write() as session:
            if decoded.action is callbacks.TB_POST_RENEW:
                post = await tb.renew_post(session, rt.content, post_id, v.user_id, now)
                note = v.tr._("Rinnovato fino al {date}.", date=v.tr.date(post.expires_at, format="yMMMd"))
            elif decoded.action is callbacks.TB_POST_CLOSE:
                await tb.close_post(session, post_id, v.user_id)
                note = v.tr._("Annuncio chiuso.")
            else:
                post = await session.get(TimeBankPost, post_id)
                if post is None or post.user_id != v.user_id or post.status not in ("open", "pending"):
                    raise Refused(Reason.NOT_ALLOWED)
                await tb.set_prompt(session, v.user_id, "photo", post.space_id, now, ref=post_id)
                await update.callback_query.answer()
                await show(update, Screen(v.tr._("Mandami la foto qui sotto (una sola)."), [back_row(v.tr, callbacks.TB_POST, post_id)]))
                return
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer(note)
    await show(update, await _post_screen(rt, v, post_id) or await home_screen(rt, v, ""))


async def new_post(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    space_id, kind = data_of(update).args
    found = bank_space(rt, space_id)
    if found is None or kind not in KIND_NAMES:
        await refuse(update, v, Reason.NO_BANK, await home_screen(rt, v, space_id))
        return
    try:
        async with rt.db.read() as session:
            await tb.check_can_post(session, rt.content, space_id, v.user_id, kind, found[1].categories[0])
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_new_categories(v.tr, rt.content, found[0], found[1], kind))


async def new_post_category(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id, kind = decoded.args[0], chosen(KINDS, decoded.int(1) + 1) or ""
    try:
        space, bank = tb.bank_of(rt.content, space_id)
        category = chosen(bank.categories, decoded.int(2)) or ""
        async with rt.db.write() as session:
            await tb.check_can_post(session, rt.content, space_id, v.user_id, kind, category)
            await tb.set_prompt(session, v.user_id, "post_text", space_id, rt.clock.now(), post_kind=kind, category=category)
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_write_post(v.tr, rt.content, space, bank, kind, category))


async def _publish(rt: Runtime, v: Visitor, availability: str) -> Screen:
    now = rt.clock.now()
    async with rt.db.write() as session:
        prompt = await tb.prompt_of(session, v.user_id, now)
        if prompt is None or prompt.kind != "post_when":
            raise Refused(Reason.NOT_FOUND)
        await tb.drop_prompt(session, v.user_id)
        post = await tb.create_post(session, rt.content, prompt.space_id, v.user_id, kind=prompt.post_kind or "",
                                    category=prompt.category or "", text=prompt.draft_text or "", availability=availability, now=now)
        if post.status == "pending":
            account = await tb.account_of(session, post.space_id, v.user_id)
            await tell_keepers(session, rt, post.space_id, lambda tr: Screen(
                tr._("📌 Annuncio da approvare nella banca del tempo ({category}) di {who}:\n{text}",
                     category=category_label(tr, rt.content, post.category), who=who(tr, rt.content, account), text=post.text),
                [[button(tr._("✅ Approva"), callbacks.TB_POST_DECIDE, post.id, "yes"),
                  button(tr._("❌ Rifiuta"), callbacks.TB_POST_DECIDE, post.id, "no")]]), f"post:{post.id}")
    rt.wake_outbox()
    return render_published(v.tr, post)


async def skip_when(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    try:
        screen = await _publish(rt, v, "")
    except Refused as refused:
        await refuse(update, v, refused.reason, Screen(refusal(v.tr, refused.reason), [[button(v.tr._("🤝 Banca del tempo"), callbacks.TIMEBANKS)]]))
        return
    await update.callback_query.answer()
    await show(update, screen)


async def mine(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    space_id = data_of(update).args[0]
    found = bank_space(rt, space_id)
    if found is None:
        await refuse(update, v, Reason.NO_BANK, await home_screen(rt, v, space_id))
        return
    async with rt.db.read() as session:
        posts = await tb.my_posts(session, space_id, v.user_id)
        contacts = await tb.conversations(session, space_id, v.user_id)
        exchanges = await tb.exchanges_of(session, space_id, v.user_id)
        others = {tb.other_party(item, v.user_id) for item in (*contacts, *exchanges)}
        names = await accounts_by_user(session, space_id, others)
    await update.callback_query.answer()
    await show(update, render_mine(v.tr, rt.content, found[0], posts, contacts, exchanges, names, v.user_id))


async def ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    post_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            asked = await tb.ask(session, rt.content, post_id, v.user_id, rt.clock.now())
            poster = await tb.account_of(session, asked.post.space_id, asked.post.user_id)

            def build(tr: Translator) -> Screen:
                text = (tr._("🙋 {who} è interessato/a alla tua offerta: «{text}».", who=who(tr, rt.content, asked.asker), text=clip(asked.post.text, 80))
                        if asked.post.kind == "offer" else
                        tr._("🙋 {who} può aiutarti: «{text}».", who=who(tr, rt.content, asked.asker), text=clip(asked.post.text, 80)))
                text += "\n" + tr._("Se accetti, vi scrivete attraverso il bot, senza numeri di telefono.")
                return Screen(text, [[button(tr._("✅ Accetto"), callbacks.TB_ANSWER, asked.contact.id, "yes"),
                                      button(tr._("No, grazie"), callbacks.TB_ANSWER, asked.contact.id, "no")]])

            await tell(session, rt, asked.post.user_id, build, f"ask:{asked.contact.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("✅ Ho scritto a {name}. Ti avviso quando risponde.", name=poster.first_name if poster else "—"),
                              [[button(v.tr._("📋 I miei annunci e scambi"), callbacks.TB_MINE, asked.post.space_id)], menu_row(v.tr)]))


async def _conversation_screen(rt: Runtime, v: Visitor, contact_id: int) -> Screen:
    async with rt.db.read() as session:
        contact = await tb.open_conversation(session, contact_id, v.user_id)
        post = await session.get(TimeBankPost, contact.post_id)
        other = await tb.account_of(session, contact.space_id, tb.other_party(contact, v.user_id))
        exchange = await session.scalar(select(TimeBankExchange).where(TimeBankExchange.contact_id == contact.id))
    return render_conversation(v.tr, rt.content, contact, post, other, exchange)


async def answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id, choice = data_of(update).int(0), data_of(update).args[1]
    try:
        async with rt.db.write() as session:
            contact = await tb.answer(session, contact_id, v.user_id, choice == "yes", rt.clock.now())
            me = await tb.account_of(session, contact.space_id, v.user_id)

            def build(tr: Translator) -> Screen:
                if contact.status == "accepted":
                    return Screen(tr._("✅ {who} ha accettato. Potete scrivervi attraverso il bot.", who=who(tr, rt.content, me)),
                                  [[button(tr._("💬 Apri la conversazione"), callbacks.TB_CONVERSATION, contact.id)]])
                return Screen(tr._("{name} per ora non può. Guarda gli altri annunci!", name=me.first_name if me else "—"),
                              [[button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, contact.space_id)]])

            await tell(session, rt, contact.asker_id, build, f"answer:{contact.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    if contact.status == "accepted":
        await show(update, await _conversation_screen(rt, v, contact_id))
    else:
        await show(update, Screen(v.tr._("Va bene, ho risposto di no con gentilezza."), [menu_row(v.tr)]))


async def conversation(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    try:
        screen = await _conversation_screen(rt, v, data_of(update).int(0))
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, screen)


async def write(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            contact = await tb.open_conversation(session, contact_id, v.user_id)
            await tb.set_prompt(session, v.user_id, "message", contact.space_id, rt.clock.now(), ref=contact_id)
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("✍️ Scrivi il messaggio qui sotto: lo passo io. Il tuo numero resta nascosto."),
                              [back_row(v.tr, callbacks.TB_CONVERSATION, contact_id)]))


async def share_username(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    username = update.effective_user.username
    if not username:
        await update.callback_query.answer(v.tr._("Non hai uno username Telegram: puoi sceglierlo nelle impostazioni di Telegram."), show_alert=True)
        return
    try:
        async with rt.db.write() as session:
            contact = await tb.open_conversation(session, contact_id, v.user_id)
            me = await tb.account_of(session, contact.space_id, v.user_id)
            await tell(session, rt, tb.other_party(contact, v.user_id), lambda tr: Screen(
                tr._("👤 {name} ti ha dato il suo username Telegram: @{username}", name=me.first_name, username=username),
                [[button(tr._("💬 Apri la conversazione"), callbacks.TB_CONVERSATION, contact_id)]]), f"username:{contact_id}:{v.user_id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer(v.tr._("Fatto: ho mandato il tuo username."))


async def end(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            contact = await tb.end_conversation(session, contact_id, v.user_id, rt.clock.now())
            await tb.drop_prompt(session, v.user_id)
            me = await tb.account_of(session, contact.space_id, v.user_id)
            await tell(session, rt, tb.other_party(contact, v.user_id), lambda tr: Screen(
                tr._("{name} ha chiuso la conversazione. Grazie!", name=me.first_name if me else "—"),
                [[button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, contact.space_id)]]), f"end:{contact_id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Conversazione chiusa."), [[button(v.tr._("🤝 Banca del tempo"), callbacks.TB_HOME, contact.space_id)], menu_row(v.tr)]))


async def abuse_ask(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    try:
        async with rt.db.read() as session:
            await tb.contact_for(session, contact_id, v.user_id)
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Vuoi segnalare un abuso? La conversazione si chiude subito e l'operatore dello spazio legge gli ultimi messaggi."),
                              [[button(v.tr._("⚠️ Sì, segnala"), callbacks.TB_ABUSE, contact_id)],
                               back_row(v.tr, callbacks.TB_CONVERSATION, contact_id)]))


async def abuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            report = await tb.report_abuse(session, contact_id, v.user_id, rt.clock.now())
            await tb.drop_prompt(session, v.user_id)
            await tell_keepers(session, rt, report.space_id, lambda tr: Screen(
                tr._("⚠️ Segnalazione di abuso nella banca del tempo."),
                [[button(tr._("Apri la segnalazione"), callbacks.TB_REPORT, report.id)]]), f"report:{report.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Grazie: ho chiuso la conversazione e avvisato l'operatore dello spazio."), [menu_row(v.tr)]))


async def agree(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    contact_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            exchange = await tb.agree(session, rt.content, contact_id, v.user_id, rt.clock.now())
            other = tb.other_party(exchange, v.user_id)
            await tell(session, rt, other, lambda tr: Screen(
                tr._("🤝 Scambio registrato. Quando avete finito, chi ha ricevuto l'aiuto conferma le ore."),
                [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange.id)]]), f"agree:{exchange.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    await show(update, await _exchange_screen(rt, v, exchange.id))


async def _exchange_screen(rt: Runtime, v: Visitor, exchange_id: int) -> Screen:
    async with rt.db.read() as session:
        exchange = await tb.exchange_for(session, exchange_id, v.user_id)
        other = await tb.account_of(session, exchange.space_id, tb.other_party(exchange, v.user_id))
        thanked = await session.scalar(select(TimeBankThanks.id).where(
            TimeBankThanks.exchange_id == exchange_id, TimeBankThanks.user_id == v.user_id)) is not None
    return render_exchange(v.tr, rt.content, exchange, other, v.user_id, thanked)


async def exchange_view(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    try:
        screen = await _exchange_screen(rt, v, data_of(update).int(0))
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, screen)


async def hours_pick(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    exchange_id = data_of(update).int(0)
    try:
        async with rt.db.read() as session:
            exchange = await tb.exchange_for(session, exchange_id, v.user_id)
            if exchange.receiver_id != v.user_id:
                raise Refused(Reason.NOT_ALLOWED)
            if exchange.status != "agreed":
                raise Refused(Reason.ALREADY_DONE)
        _, bank = tb.bank_of(rt.content, exchange.space_id)
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, render_hours(v.tr, exchange, bank))


async def confirm(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    exchange_id, quarters = data_of(update).int(0), data_of(update).int(1)
    try:
        async with rt.db.write() as session:
            settled = await tb.confirm(session, rt.content, exchange_id, v.user_id, quarters, rt.clock.now())
            me = await tb.account_of(session, settled.exchange.space_id, v.user_id)

            def build(tr: Translator) -> Screen:
                text = tr._("✅ {name} ha confermato {hours} per il tuo aiuto. Grazie! Il tuo saldo: {balance}",
                            name=me.first_name, hours=hours(tr, quarters), balance=hours(tr, settled.giver_balance))
                return Screen(text, [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange_id)]])

            await tell(session, rt, settled.exchange.giver_id, build, f"done:{exchange_id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer(v.tr._("Il tuo saldo: {balance}", balance=hours(v.tr, settled.receiver_balance)))
    await show(update, await _exchange_screen(rt, v, exchange_id))


async def exchange_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    exchange_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            exchange = await tb.cancel_exchange(session, exchange_id, v.user_id)
            await tell(session, rt, tb.other_party(exchange, v.user_id), lambda tr: Screen(
                tr._("✖️ Lo scambio è stato annullato."), [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange_id)]]),
                f"cancel:{exchange_id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer()
    await show(update, await _exchange_screen(rt, v, exchange_id))


async def thank(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    exchange_id, stars = data_of(update).int(0), data_of(update).int(1)
    try:
        async with rt.db.write() as session:
            await tb.thank(session, exchange_id, v.user_id, stars, rt.clock.now())
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer(v.tr._("Grazie!"))
    await show(update, await _exchange_screen(rt, v, exchange_id))


async def dispute(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    exchange_id = data_of(update).int(0)
    try:
        async with rt.db.write() as session:
            report = await tb.dispute(session, exchange_id, v.user_id, rt.clock.now())
            await tell_keepers(session, rt, report.space_id, lambda tr: Screen(
                tr._("⚖️ Uno scambio della banca del tempo è contestato."),
                [[button(tr._("Apri la segnalazione"), callbacks.TB_REPORT, report.id)]]), f"report:{report.id}")
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    rt.wake_outbox()
    await update.callback_query.answer(v.tr._("Ho avvisato l'operatore dello spazio."))
    await show(update, await _exchange_screen(rt, v, exchange_id))


async def ledger_screen(rt: Runtime, v: Visitor, space_id: str, before: int) -> Screen:
    """Balance and history, ten entries a page (keyset paging on the entry id)."""
    found = bank_space(rt, space_id)
    if found is None:
        raise Refused(Reason.NO_BANK)
    async with rt.db.read() as session:
        account = await tb.account_of(session, space_id, v.user_id)
        if account is None:
            raise Refused(Reason.NOT_MEMBER)
        lines = await tb.history(session, account.id, before_entry=before or None, limit=HISTORY_LINES + 1)
    today = v.tr.local(rt.clock.now()).date()
    return render_ledger(v.tr, rt.content, found[0], account, lines[:HISTORY_LINES], len(lines) > HISTORY_LINES, today)


async def ledger(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id = decoded.args[0]
    try:
        screen = await ledger_screen(rt, v, space_id, decoded.int(1))
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, screen)


async def statement(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id, code = decoded.args[0], decoded.int(1)
    found = bank_space(rt, space_id)
    period = period_of_month_code(code)
    try:
        if found is None:
            raise Refused(Reason.NO_BANK)
        if period is None:
            raise Refused(Reason.NOT_FOUND)
        start, end = period.bounds(rt.settings.timezone)
        async with rt.db.read() as session:
            account = await tb.account_of(session, space_id, v.user_id)
            if account is None:
                raise Refused(Reason.NOT_MEMBER)
            month = await tb.statement(session, account.id, start, end, period.start)
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_statement(v.tr, rt.content, found[0], month, v.tr.local(account.created_at).date()))


async def languages(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    decoded = data_of(update)
    space_id, language = decoded.args[0], chosen(LANGUAGES, decoded.int(1))
    found = bank_space(rt, space_id)
    try:
        if found is None:
            raise Refused(Reason.NO_BANK)
        async with rt.db.write() as session:
            if language is None:
                account = await tb.active_member(session, space_id, v.user_id)
            else:
                account = await tb.toggle_language(session, space_id, v.user_id, language)
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer()
    await show(update, render_languages(v.tr, found[0], account))


async def digest(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    rt, v = runtime_of(context), await visitor(update, context)
    space_id, choice = data_of(update).args
    try:
        async with rt.db.write() as session:
            await tb.set_digest(session, space_id, v.user_id, choice == "on")
    except Refused as refused:
        await refuse(update, v, refused.reason, await home_screen(rt, v, space_id))
        return
    await update.callback_query.answer(v.tr._("Ti mando ogni settimana le nuove offerte vicino a te.") if choice == "on"
                                       else v.tr._("Niente più riepilogo settimanale."))
    await show(update, await home_screen(rt, v, space_id))


# --------------------------------------------------------------------------------------------
# Text and photos the time bank waits for


async def prompt_text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """TEXT_CONSUMERS: a post's text or availability, a message to relay, an adjustment's or reversal's reason."""
    rt = runtime_of(context)
    user_id, now = update.effective_user.id, rt.clock.now()
    async with rt.db.read() as session:
        prompt = await tb.prompt_of(session, user_id, now)
    if prompt is None or prompt.kind == "photo":
        return False
    v = await visitor(update, context)
    text = (update.effective_message.text or "").strip()
    try:
        if prompt.kind == "post_text":
            async with rt.db.write() as session:
                tb.clean_text(text, tb.MAX_POST_TEXT)
                await tb.set_prompt(session, user_id, "post_when", prompt.space_id, now, post_kind=prompt.post_kind,
                                    category=prompt.category, draft_text=text)
            screen = render_ask_when(v.tr)
        elif prompt.kind == "post_when":
            screen = await _publish(rt, v, text)
        elif prompt.kind == "message":
            screen = await _relay(rt, v, prompt.ref or 0, text)
        else:  # what the operators' desk waits for (handlers/timebank_desk.py)
            screen = await DESK_PROMPTS[prompt.kind](rt, v, prompt, text)
    except Refused as refused:
        async with rt.db.write() as session:
            if refused.reason is not Reason.BAD_TEXT:
                await tb.drop_prompt(session, user_id)
        await show(update, Screen(refusal(v.tr, refused.reason), [[button(v.tr._("🤝 Banca del tempo"), callbacks.TIMEBANKS)], menu_row(v.tr)]))
        return True
    rt.wake_outbox()
    await show(update, screen)
    return True


async def _relay(rt: Runtime, v: Visitor, contact_id: int, text: str) -> Screen:
    async with rt.db.write() as session:
        await tb.drop_prompt(session, v.user_id)
        relayed = await tb.relay(session, contact_id, v.user_id, text, rt.clock.now())
        me = await tb.account_of(session, relayed.contact.space_id, v.user_id)
        await tell(session, rt, relayed.to_user, lambda tr: Screen(
            tr._("💬 <b>{name}</b>: {text}", name=me.first_name, text=relayed.text),
            [[button(tr._("✍️ Rispondi"), callbacks.TB_WRITE, contact_id),
              button(tr._("💬 Conversazione"), callbacks.TB_CONVERSATION, contact_id)]]), f"msg:{relayed.message_id}")
    return Screen(v.tr._("✅ Messaggio mandato."), [[button(v.tr._("✍️ Scrivi ancora"), callbacks.TB_WRITE, contact_id),
                                                    button(v.tr._("💬 Conversazione"), callbacks.TB_CONVERSATION, contact_id)]])


async def prompt_photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> bool:
    """MEDIA_CONSUMERS: the photo of a post (kept as Telegram's file id)."""
    rt = runtime_of(context)
    user_id, now = update.effective_user.id, rt.clock.now()
    message = update.effective_message
    async with rt.db.read() as session:
        prompt = await tb.prompt_of(session, user_id, now)
    if prompt is None or prompt.kind != "photo" or not message.photo:
        return False
    v = await visitor(update, context)
    try:
        async with rt.db.write() as session:
            await tb.drop_prompt(session, user_id)
            await tb.set_post_photo(session, prompt.ref or 0, user_id, message.photo[-1].file_id)
    except Refused as refused:
        await show(update, Screen(refusal(v.tr, refused.reason), [menu_row(v.tr)]))
        return True
    await show(update, Screen(v.tr._("📷 Foto aggiunta all'annuncio."), [[button(v.tr._("📌 Vedi l'annuncio"), callbacks.TB_POST, prompt.ref)]]))
    return True


async def drop_prompt(rt: Runtime, user_id: int) -> bool:
    """CANCEL_HOOKS: /cancel stops whatever text the time bank was waiting for."""
    async with rt.db.write() as session:
        return await tb.drop_prompt(session, user_id)


# --------------------------------------------------------------------------------------------
# Digest, retention, search


def render_digest(tr: Translator, content: Content, item: tb.Digest) -> Screen:
    space = content.spaces.get(item.account.space_id)
    text = tr._("<b>🤝 Nuove offerte vicino a te</b> · {space}", space=space.name.get(tr.language) if space else "")
    rows = [[button(post_line(tr, content, post), callbacks.TB_POST, post.id)] for post in item.posts]
    rows.append([button(tr._("🔕 Niente riepilogo settimanale"), callbacks.TB_DIGEST, item.account.space_id, "off")])
    return Screen(text, rows)


async def send_digests(rt: Runtime) -> None:
    """Weekly 'new offers near you' for members who asked, through the outbox (one per member and week)."""
    now = rt.clock.now()
    while True:
        async with rt.db.write() as session:
            due = await tb.due_digests(session, now)
            for item in due:
                await tell(session, rt, item.account.user_id, lambda tr, item=item: render_digest(tr, rt.content, item),
                            f"digest:{item.account.id}:{now:%G-%V}")
        if len(due) < 50:
            return


async def purge_personal_data(rt: Runtime) -> None:
    async with rt.db.write() as session:
        await tb.purge(session, rt.clock.now())


async def search_rows(rt: Runtime, v: Visitor, query: str) -> list[list[Button]]:
    """directory.SEARCH_HOOKS: live posts of the visitor's banks that match the words, in any language."""
    async with rt.db.read() as session:
        posts = await tb.search_posts(session, rt.content, v.user_id, query.split(), rt.clock.now())
    return [[button("🤝 " + post_line(v.tr, rt.content, post), callbacks.TB_POST, post.id)] for post in posts]


directory.SPACE_BUTTONS.append(space_button)
directory.SEARCH_HOOKS.append(search_rows)
