"""The time bank's screens: labels and pure renders (a visitor or a translator in, a Screen out), shared by the
members' conversation (handlers/timebank.py), the keepers' desk (handlers/timebank_desk.py) and the time bank's
messages to other people (handlers/outgoing/timebank.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from babel.numbers import format_decimal

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_, Translator
from bot.ui import Button, Screen, back_row, button, clip, menu_row
from handlers.common import paging
from storage.domain import timebank as tb
from storage.domain import timebank_books
from storage.content import Content, Space, TimeBank
from storage.models import TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankPost
from storage.domain.stats import month_code
from storage.domain.timebank import Reason

POSTS_PER_PAGE = 6
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


def ledger_line(tr: Translator, content: Content, line: timebank_books.Line) -> str:
    what = tr._(LEDGER_KINDS[line.kind])
    if line.category:
        what += " · " + category_label(tr, content, line.category)
    if line.reason:
        what += " · " + clip(line.reason, 60)
    return f"{tr.short_date(line.at)} · <b>{hours(tr, line.amount, signed=True)}</b> · {tr.isolate(what)}"


def render_ledger(tr: Translator, content: Content, space: Space, account: TimeBankAccount, lines: list[timebank_books.Line],
                  older: bool, today: date) -> Screen:
    text = [tr._("<b>📒 Saldo: {balance}</b>", balance=hours(tr, account.balance)), ""]
    text += [ledger_line(tr, content, line) for line in lines] or [tr._("Nessun movimento.")]
    rows = []
    if older:
        rows.append([button(tr._("Movimenti precedenti ▶️"), callbacks.TB_LEDGER, space.id, lines[-1].entry_id)])
    rows.append([button(tr._("🗓 Estratto conto del mese"), callbacks.TB_STATEMENT, space.id, month_code(today))])
    rows.append(back_row(tr, callbacks.TB_HOME, space.id))
    return Screen("\n".join(text), rows)


def render_statement(tr: Translator, content: Content, space: Space, statement: timebank_books.Statement, earliest: date) -> Screen:
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
