"""The time bank of a space, for tenants: join from the space's screen, post offers and requests, answer them,
talk through the bot without showing anything but first name and estate, agree an exchange, confirm the hours,
thank; balance, history and the monthly statement; the weekly digest; time bank posts in the search.

Every handler decodes, calls one domain operation of storage/domain/timebank.py and renders its outcome; refusals become
one polite sentence (REFUSALS) and the current screen. Messages to the other person go through the outbox. The
operators' side (members, posts to approve, reports, adjustments, reversals, figures) is handlers/timebank_desk.py.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from telegram import Update

from bot import callbacks
from bot.i18n import LANGUAGES, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import MAX_CAPTION, Button, Screen, back_row, button, clip, menu_row, show
from handlers import refusals
from handlers.common import waiting_for
from handlers.outgoing.timebank import tell, tell_keepers
from handlers.timebank_screens import (
    HISTORY_LINES, KINDS, KIND_NAMES, POSTS_PER_PAGE, category_label, chosen, estates_of, hours, post_line, refusal,
    render_ask_when, render_banks, render_browse, render_categories, render_conversation, render_exchange,
    render_home, render_hours, render_join, render_languages, render_ledger, render_mine, render_new_categories,
    render_post, render_published, render_statement, render_write_post, who,
)
from storage.domain import timebank as tb
from storage.domain import timebank_books
from storage.domain import timebank_views as views
from storage.content import Space, TimeBank
from storage.models import TimeBankPrompt
from storage.domain.stats import period_of_month_code
from storage.domain.timebank import Reason, Refused

# Texts the operators' desk waits for (an adjustment's or a reversal's reason), filled by bot/app.py (wire) with
# handlers/timebank_desk.py's: kind -> (runtime, visitor, prompt, text) -> the screen to show.
DESK_PROMPTS: dict[str, Callable[[Runtime, Visitor, TimeBankPrompt, str], Awaitable[Screen]]] = {}


# --------------------------------------------------------------------------------------------
# Helpers of the handlers


async def refuse(update: Update, v: Visitor, reason: Reason, screen: Screen | None = None) -> None:
    """A polite answer; the screen is shown when there is one (a refused button changes nothing)."""
    await refusals.refuse(update, v, refusal(v.tr, reason), screen=screen)


async def _answer_refusal(update: Update, context: FrontDeskContext, refused: Refused) -> None:
    await refuse(update, await context.open(), refused.reason)


async def _answer_refusal_at_home(update: Update, context: FrontDeskContext, refused: Refused) -> None:
    v = await context.open()
    await refuse(update, v, refused.reason, await home_screen(context.rt, v, context.data.args[0]))


def refusals_answered(*, home: bool = False) -> Callable[[refusals.Handler], refusals.Handler]:
    """A button's refusal is one polite sentence and changes nothing; with `home`, the bank's screen (the button's
    first argument is the space) is shown again beside it."""
    return refusals.answered(Refused, _answer_refusal_at_home if home else _answer_refusal)


async def done(update: Update, rt: Runtime, screen: Screen, note: str | None = None) -> None:
    """A change has committed: what it queued for others leaves now, the button is answered (with a short note),
    the screen shown."""
    rt.wake_outbox()
    await update.callback_query.answer(note)
    await show(update, screen)


async def show_or_refuse(update: Update, v: Visitor, building: Awaitable[Screen]) -> None:
    """Answer a pressed button with the screen being built, or politely if the domain refused it."""
    try:
        screen = await building
    except Refused as refused:
        await refuse(update, v, refused.reason)
        return
    await update.callback_query.answer()
    await show(update, screen)


def bank_space(rt: Runtime, space_id: str) -> tuple[Space, TimeBank] | None:
    try:
        return tb.bank_of(rt.content, space_id)
    except Refused:
        return None


def bank_for_kind(rt: Runtime, space_id: str, kind: str | None) -> tuple[Space, TimeBank]:
    """The space and its bank for a button about offers or requests; a forged kind is refused as a missing bank."""
    if kind not in KIND_NAMES:
        raise Refused(Reason.NO_BANK)
    return tb.bank_of(rt.content, space_id)


async def home_screen(rt: Runtime, v: Visitor, space_id: str) -> Screen:
    found = bank_space(rt, space_id)
    if found is None:
        async with rt.db.read() as session:
            mine = await views.accounts_of_person(session, v.user_id)
        return render_banks(v.tr, rt.content, mine)
    space, bank = found
    async with rt.db.read() as session:
        account = await tb.account_of(session, space_id, v.user_id)
    if account is None:
        return render_join(v.tr, rt.content, space, bank, tb.is_keeper(v.roles, space_id))
    return render_home(v.tr, rt.content, space, account, tb.is_keeper(v.roles, space_id))


# --------------------------------------------------------------------------------------------
# Handlers: tenants


def space_button(v: Visitor, space: Space) -> list[Button]:
    """directory.SPACE_BUTTONS: the space's screen leads to its time bank."""
    if space.time_bank is None:
        return []
    return [button(v.tr._("🤝 Banca del tempo"), callbacks.TB_HOME, space.id)]


async def banks_list(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    if update.callback_query:
        await update.callback_query.answer()
    async with rt.db.read() as session:
        mine = await views.accounts_of_person(session, v.user_id)
    await show(update, render_banks(v.tr, rt.content, mine))


async def home(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await update.callback_query.answer()
    await show(update, await home_screen(rt, v, context.data.args[0]))


@refusals_answered(home=True)
async def join(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id = decoded.args[0]
    estate = chosen(estates_of(rt.content, space_id), decoded.int(1))
    estate_id = estate.id if estate is not None else None
    async with rt.db.write() as session:
        joined = await tb.join(session, rt.content, space_id, v.user_id, first_name=v.first_name, estate_id=estate_id,
                               language=v.language, now=rt.clock.now())
        if not joined.active:
            await tell_keepers(session, rt, space_id, lambda tr: Screen(
                tr._("🤝 Nuova iscrizione alla banca del tempo: {who}. Approvi?", who=who(tr, rt.content, joined.account)),
                [[button(tr._("✅ Approva l'iscrizione"), callbacks.TB_MEMBER_DO, joined.account.id, "approve")],
                 [button(tr._("👤 Vedi"), callbacks.TB_MEMBER, joined.account.id)]]), f"join:{joined.account.id}")
    await done(update, rt, await home_screen(rt, v, space_id),
               v.tr._("Iscrizione fatta.") if joined.active else v.tr._("Iscrizione inviata."))


@refusals_answered(home=True)
async def categories(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    space_id, kind = context.data.args
    space, bank = bank_for_kind(rt, space_id, kind)
    async with rt.db.read() as session:
        await tb.active_member(session, space_id, v.user_id)
    await update.callback_query.answer()
    await show(update, render_categories(v.tr, rt.content, space, bank, kind))


@refusals_answered(home=True)
async def browse(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id, kind, page = decoded.args[0], chosen(KINDS, decoded.int(1) + 1), decoded.int(4)
    space, bank = bank_for_kind(rt, space_id, kind)
    category = chosen(bank.categories, decoded.int(2))
    language = chosen(LANGUAGES, decoded.int(3))
    async with rt.db.read() as session:
        account = await tb.active_member(session, space_id, v.user_id)
        page = max(page, 0)
        posts, total = await tb.browse(
            session, space_id, kind, rt.clock.now(), category=category, language=language, near_estate=account.estate_id,
            offset=page * POSTS_PER_PAGE, limit=POSTS_PER_PAGE)
    await update.callback_query.answer()
    await show(update, render_browse(v.tr, rt.content, space, kind, category, language, page, posts, total))


async def _visible_post(rt: Runtime, v: Visitor, post_id: int) -> views.PostView | None:
    async with rt.db.read() as session:
        return await views.visible_post(session, v.roles, post_id, v.user_id)


def _render_post(rt: Runtime, v: Visitor, seen: views.PostView) -> Screen:
    return render_post(v.tr, rt.content, seen.post, seen.poster, v.user_id, seen.keeper, rt.clock.now())


async def _post_screen(rt: Runtime, v: Visitor, post_id: int) -> Screen | None:
    seen = await _visible_post(rt, v, post_id)
    return _render_post(rt, v, seen) if seen is not None else None


async def _open_post_screen(rt: Runtime, v: Visitor, post_id: int) -> Screen:
    """The post's screen, refused as closed when the visitor may not see it."""
    screen = await _post_screen(rt, v, post_id)
    if screen is None:
        raise Refused(Reason.POST_CLOSED)
    return screen


async def post_view(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_or_refuse(update, v, _open_post_screen(rt, v, context.data.int(0)))


async def post_photo_show(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    seen = await _visible_post(rt, v, context.data.int(0))
    if seen is None or not seen.post.photo_file_id:
        await refuse(update, v, Reason.NOT_FOUND)
        return
    screen = _render_post(rt, v, seen)
    await update.callback_query.answer()
    await context.bot.send_photo(v.chat_id, seen.post.photo_file_id, caption=clip(seen.post.text, MAX_CAPTION))
    await context.bot.send_message(v.chat_id, screen.text, reply_markup=screen.keyboard)


@refusals_answered()
async def post_change(update: Update, context: FrontDeskContext) -> None:
    """Renew, close, or ask for a photo of one's own post."""
    rt, v = context.rt, await context.open()
    decoded = context.data
    post_id, now = decoded.int(0), rt.clock.now()
    async with rt.db.write() as session:
        if decoded.action is callbacks.TB_POST_RENEW:
            post = await tb.renew_post(session, rt.content, post_id, v.user_id, now)
            note = v.tr._("Rinnovato fino al {date}.", date=v.tr.date(post.expires_at, format="yMMMd"))
        elif decoded.action is callbacks.TB_POST_CLOSE:
            await tb.close_post(session, post_id, v.user_id)
            note = v.tr._("Annuncio chiuso.")
        else:
            await tb.expect_photo(session, post_id, v.user_id, now)
            await update.callback_query.answer()
            await show(update, Screen(v.tr._("Mandami la foto qui sotto (una sola)."), [back_row(v.tr, callbacks.TB_POST, post_id)]))
            return
    await update.callback_query.answer(note)
    await show(update, await _post_screen(rt, v, post_id) or await home_screen(rt, v, ""))


@refusals_answered(home=True)
async def new_post(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    space_id, kind = context.data.args
    space, bank = bank_for_kind(rt, space_id, kind)
    async with rt.db.read() as session:
        await tb.check_can_post(session, rt.content, space_id, v.user_id, kind, bank.categories[0])
    await update.callback_query.answer()
    await show(update, render_new_categories(v.tr, rt.content, space, bank, kind))


@refusals_answered(home=True)
async def new_post_category(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id, kind = decoded.args[0], chosen(KINDS, decoded.int(1) + 1) or ""
    space, bank = tb.bank_of(rt.content, space_id)
    category = chosen(bank.categories, decoded.int(2)) or ""
    async with rt.db.write() as session:
        await tb.check_can_post(session, rt.content, space_id, v.user_id, kind, category)
        await tb.set_prompt(session, v.user_id, "post_text", space_id, rt.clock.now(), post_kind=kind, category=category)
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


async def skip_when(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    try:
        screen = await _publish(rt, v, "")
    except Refused as refused:
        await refuse(update, v, refused.reason, Screen(refusal(v.tr, refused.reason), [[button(v.tr._("🤝 Banca del tempo"), callbacks.TIMEBANKS)]]))
        return
    await update.callback_query.answer()
    await show(update, screen)


@refusals_answered(home=True)
async def mine(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    space_id = context.data.args[0]
    space, _ = tb.bank_of(rt.content, space_id)
    async with rt.db.read() as session:
        posts = await tb.my_posts(session, space_id, v.user_id)
        contacts = await tb.conversations(session, space_id, v.user_id)
        exchanges = await tb.exchanges_of(session, space_id, v.user_id)
        others = {tb.other_party(item, v.user_id) for item in (*contacts, *exchanges)}
        names = await views.accounts_by_user(session, space_id, others)
    await update.callback_query.answer()
    await show(update, render_mine(v.tr, rt.content, space, posts, contacts, exchanges, names, v.user_id))


@refusals_answered()
async def ask(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    post_id = context.data.int(0)
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
    await done(update, rt, Screen(v.tr._("✅ Ho scritto a {name}. Ti avviso quando risponde.", name=poster.first_name if poster else "—"),
                                  [[button(v.tr._("📋 I miei annunci e scambi"), callbacks.TB_MINE, asked.post.space_id)], menu_row(v.tr)]))


async def _conversation_screen(rt: Runtime, v: Visitor, contact_id: int) -> Screen:
    async with rt.db.read() as session:
        seen = await views.conversation(session, contact_id, v.user_id)
    return render_conversation(v.tr, rt.content, seen.contact, seen.post, seen.other, seen.exchange)


@refusals_answered()
async def answer(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id, choice = context.data.int(0), context.data.args[1]
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
    rt.wake_outbox()
    await update.callback_query.answer()
    if contact.status == "accepted":
        await show(update, await _conversation_screen(rt, v, contact_id))
    else:
        await show(update, Screen(v.tr._("Va bene, ho risposto di no con gentilezza."), [menu_row(v.tr)]))


async def conversation(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_or_refuse(update, v, _conversation_screen(rt, v, context.data.int(0)))


@refusals_answered()
async def write(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    async with rt.db.write() as session:
        contact = await tb.open_conversation(session, contact_id, v.user_id)
        await tb.set_prompt(session, v.user_id, "message", contact.space_id, rt.clock.now(), ref=contact_id)
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("✍️ Scrivi il messaggio qui sotto: lo passo io. Il tuo numero resta nascosto."),
                              [back_row(v.tr, callbacks.TB_CONVERSATION, contact_id)]))


@refusals_answered()
async def share_username(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    username = update.effective_user.username
    if not username:
        await update.callback_query.answer(v.tr._("Non hai uno username Telegram: puoi sceglierlo nelle impostazioni di Telegram."), show_alert=True)
        return
    async with rt.db.write() as session:
        contact = await tb.open_conversation(session, contact_id, v.user_id)
        me = await tb.account_of(session, contact.space_id, v.user_id)
        await tell(session, rt, tb.other_party(contact, v.user_id), lambda tr: Screen(
            tr._("👤 {name} ti ha dato il suo username Telegram: @{username}", name=me.first_name, username=username),
            [[button(tr._("💬 Apri la conversazione"), callbacks.TB_CONVERSATION, contact_id)]]), f"username:{contact_id}:{v.user_id}")
    rt.wake_outbox()
    await update.callback_query.answer(v.tr._("Fatto: ho mandato il tuo username."))


@refusals_answered()
async def end(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    async with rt.db.write() as session:
        contact = await tb.end_conversation(session, contact_id, v.user_id, rt.clock.now())
        await tb.drop_prompt(session, v.user_id)
        me = await tb.account_of(session, contact.space_id, v.user_id)
        await tell(session, rt, tb.other_party(contact, v.user_id), lambda tr: Screen(
            tr._("{name} ha chiuso la conversazione. Grazie!", name=me.first_name if me else "—"),
            [[button(tr._("🤝 Banca del tempo"), callbacks.TB_HOME, contact.space_id)]]), f"end:{contact_id}")
    await done(update, rt, Screen(v.tr._("Conversazione chiusa."), [[button(v.tr._("🤝 Banca del tempo"), callbacks.TB_HOME, contact.space_id)], menu_row(v.tr)]))


@refusals_answered()
async def abuse_ask(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    async with rt.db.read() as session:
        await tb.contact_for(session, contact_id, v.user_id)
    await update.callback_query.answer()
    await show(update, Screen(v.tr._("Vuoi segnalare un abuso? La conversazione si chiude subito e l'operatore dello spazio legge gli ultimi messaggi."),
                              [[button(v.tr._("⚠️ Sì, segnala"), callbacks.TB_ABUSE, contact_id)],
                               back_row(v.tr, callbacks.TB_CONVERSATION, contact_id)]))


@refusals_answered()
async def abuse(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    async with rt.db.write() as session:
        report = await tb.report_abuse(session, contact_id, v.user_id, rt.clock.now())
        await tb.drop_prompt(session, v.user_id)
        await tell_keepers(session, rt, report.space_id, lambda tr: Screen(
            tr._("⚠️ Segnalazione di abuso nella banca del tempo."),
            [[button(tr._("Apri la segnalazione"), callbacks.TB_REPORT, report.id)]]), f"report:{report.id}")
    await done(update, rt, Screen(v.tr._("Grazie: ho chiuso la conversazione e avvisato l'operatore dello spazio."), [menu_row(v.tr)]))


@refusals_answered()
async def agree(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    contact_id = context.data.int(0)
    async with rt.db.write() as session:
        exchange = await tb.agree(session, rt.content, contact_id, v.user_id, rt.clock.now())
        other = tb.other_party(exchange, v.user_id)
        await tell(session, rt, other, lambda tr: Screen(
            tr._("🤝 Scambio registrato. Quando avete finito, chi ha ricevuto l'aiuto conferma le ore."),
            [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange.id)]]), f"agree:{exchange.id}")
    await done(update, rt, await _exchange_screen(rt, v, exchange.id))


async def _exchange_screen(rt: Runtime, v: Visitor, exchange_id: int) -> Screen:
    async with rt.db.read() as session:
        seen = await views.exchange(session, exchange_id, v.user_id)
    return render_exchange(v.tr, rt.content, seen.exchange, seen.other, v.user_id, seen.thanked)


async def exchange_view(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await show_or_refuse(update, v, _exchange_screen(rt, v, context.data.int(0)))


@refusals_answered()
async def hours_pick(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    exchange_id = context.data.int(0)
    async with rt.db.read() as session:
        exchange = await tb.exchange_for(session, exchange_id, v.user_id)
        if exchange.receiver_id != v.user_id:
            raise Refused(Reason.NOT_ALLOWED)
        if exchange.status != "agreed":
            raise Refused(Reason.ALREADY_DONE)
    _, bank = tb.bank_of(rt.content, exchange.space_id)
    await update.callback_query.answer()
    await show(update, render_hours(v.tr, exchange, bank))


@refusals_answered()
async def confirm(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    exchange_id, quarters = context.data.int(0), context.data.int(1)
    async with rt.db.write() as session:
        settled = await tb.confirm(session, rt.content, exchange_id, v.user_id, quarters, rt.clock.now())
        me = await tb.account_of(session, settled.exchange.space_id, v.user_id)

        def build(tr: Translator) -> Screen:
            text = tr._("✅ {name} ha confermato {hours} per il tuo aiuto. Grazie! Il tuo saldo: {balance}",
                        name=me.first_name, hours=hours(tr, quarters), balance=hours(tr, settled.giver_balance))
            return Screen(text, [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange_id)]])

        await tell(session, rt, settled.exchange.giver_id, build, f"done:{exchange_id}")
    await done(update, rt, await _exchange_screen(rt, v, exchange_id),
               v.tr._("Il tuo saldo: {balance}", balance=hours(v.tr, settled.receiver_balance)))


@refusals_answered()
async def exchange_cancel(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    exchange_id = context.data.int(0)
    async with rt.db.write() as session:
        exchange = await tb.cancel_exchange(session, exchange_id, v.user_id)
        await tell(session, rt, tb.other_party(exchange, v.user_id), lambda tr: Screen(
            tr._("✖️ Lo scambio è stato annullato."), [[button(tr._("🤝 Vedi lo scambio"), callbacks.TB_EXCHANGE, exchange_id)]]),
            f"cancel:{exchange_id}")
    await done(update, rt, await _exchange_screen(rt, v, exchange_id))


@refusals_answered()
async def thank(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    exchange_id, stars = context.data.int(0), context.data.int(1)
    async with rt.db.write() as session:
        await tb.thank(session, exchange_id, v.user_id, stars, rt.clock.now())
    await update.callback_query.answer(v.tr._("Grazie!"))
    await show(update, await _exchange_screen(rt, v, exchange_id))


@refusals_answered()
async def dispute(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    exchange_id = context.data.int(0)
    async with rt.db.write() as session:
        report = await tb.dispute(session, exchange_id, v.user_id, rt.clock.now())
        await tell_keepers(session, rt, report.space_id, lambda tr: Screen(
            tr._("⚖️ Uno scambio della banca del tempo è contestato."),
            [[button(tr._("Apri la segnalazione"), callbacks.TB_REPORT, report.id)]]), f"report:{report.id}")
    await done(update, rt, await _exchange_screen(rt, v, exchange_id), v.tr._("Ho avvisato l'operatore dello spazio."))


async def ledger_screen(rt: Runtime, v: Visitor, space_id: str, before: int) -> Screen:
    """Balance and history, ten entries a page (keyset paging on the entry id)."""
    space, _ = tb.bank_of(rt.content, space_id)
    async with rt.db.read() as session:
        account = await tb.account_of(session, space_id, v.user_id)
        if account is None:
            raise Refused(Reason.NOT_MEMBER)
        lines = await timebank_books.history(session, account.id, before_entry=before or None, limit=HISTORY_LINES + 1)
    today = v.tr.local(rt.clock.now()).date()
    return render_ledger(v.tr, rt.content, space, account, lines[:HISTORY_LINES], len(lines) > HISTORY_LINES, today)


@refusals_answered(home=True)
async def ledger(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    screen = await ledger_screen(rt, v, context.data.args[0], context.data.int(1))
    await update.callback_query.answer()
    await show(update, screen)


@refusals_answered(home=True)
async def statement(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id, code = decoded.args[0], decoded.int(1)
    space, _ = tb.bank_of(rt.content, space_id)
    period = period_of_month_code(code)
    if period is None:
        raise Refused(Reason.NOT_FOUND)
    start, end = period.bounds(rt.settings.timezone)
    async with rt.db.read() as session:
        account = await tb.account_of(session, space_id, v.user_id)
        if account is None:
            raise Refused(Reason.NOT_MEMBER)
        month = await timebank_books.statement(session, account.id, start, end, period.start)
    await update.callback_query.answer()
    await show(update, render_statement(v.tr, rt.content, space, month, v.tr.local(account.created_at).date()))


@refusals_answered(home=True)
async def languages(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    decoded = context.data
    space_id, language = decoded.args[0], chosen(LANGUAGES, decoded.int(1))
    space, _ = tb.bank_of(rt.content, space_id)
    async with rt.db.write() as session:
        if language is None:
            account = await tb.active_member(session, space_id, v.user_id)
        else:
            account = await tb.toggle_language(session, space_id, v.user_id, language)
    await update.callback_query.answer()
    await show(update, render_languages(v.tr, space, account))


@refusals_answered(home=True)
async def digest(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    space_id, choice = context.data.args
    async with rt.db.write() as session:
        await tb.set_digest(session, space_id, v.user_id, choice == "on")
    await update.callback_query.answer(v.tr._("Ti mando ogni settimana le nuove offerte vicino a te.") if choice == "on"
                                       else v.tr._("Niente più riepilogo settimanale."))
    await show(update, await home_screen(rt, v, space_id))


# --------------------------------------------------------------------------------------------
# Text and photos the time bank waits for


async def prompt_text(update: Update, context: FrontDeskContext) -> bool:
    """TEXT_CONSUMERS: a post's text or availability, a message to relay, an adjustment's or reversal's reason."""
    prompt = await waiting_for(update, context, tb.prompt_of)
    if prompt is None or prompt.kind == "photo":
        return False
    rt, v = context.rt, await context.open()
    user_id, now = v.user_id, rt.clock.now()
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


async def prompt_photo(update: Update, context: FrontDeskContext) -> bool:
    """MEDIA_CONSUMERS: the photo of a post (kept as Telegram's file id)."""
    message = update.effective_message
    prompt = await waiting_for(update, context, tb.prompt_of)
    if prompt is None or prompt.kind != "photo" or not message.photo:
        return False
    rt, v = context.rt, await context.open()
    user_id = v.user_id
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


async def search_rows(rt: Runtime, v: Visitor, query: str) -> list[list[Button]]:
    """directory.SEARCH_HOOKS: live posts of the visitor's banks that match the words, in any language."""
    posts = await tb.search_posts(rt.db, rt.content, v.user_id, query.split(), rt.clock.now())
    return [[button("🤝 " + post_line(v.tr, rt.content, post), callbacks.TB_POST, post.id)] for post in posts]
