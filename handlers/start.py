"""/start, the welcome with the privacy notice, the main menu, languages, /help."""

from __future__ import annotations

from telegram import BotCommand, Update

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, LANGUAGES, N_, translator
from bot.runtime import FrontDeskContext, Visitor
from bot.ui import Button, Screen, button, menu_row, show
from storage.content import Content
from storage.domain import users

# The commands menu, set per language at start (see bot/app.py). Descriptions are marked here, translated there.
COMMANDS = (
    ("start", N_("Ricomincia da capo")),
    ("menu", N_("Menu principale")),
    ("language", N_("Cambia lingua")),
    ("help", N_("Aiuto e numeri utili")),
    ("cancel", N_("Annulla quello che stai facendo")),
)

PRIVACY_NOTICE = N_(
    "<b>Privacy.</b> Finché non tocchi «Ho capito» conserviamo solo il tuo numero Telegram e la lingua. Dopo, anche il tuo nome e quello che ci mandi (prenotazioni, segnalazioni, opinioni), solo per rispondere alle tue richieste. Puoi vedere, scaricare o cancellare i tuoi dati quando vuoi: Aiuto → I miei dati."
)


def commands_for(language: str) -> list[BotCommand]:
    tr = translator(language)
    return [BotCommand(name, tr._(description)) for name, description in COMMANDS]


def render_welcome(v: Visitor) -> Screen:
    tr = v.tr
    text = "\n\n".join(
        (
            tr._("👋 Benvenuto/a, {name}! Sono lo sportello di <b>Quartieri Connessi</b>, gli spazi nei cortili delle case popolari di Milano.", name=v.first_name or "👋"),
            tr._("Qui trovi i servizi degli spazi, prenoti un appuntamento, segnali un guasto e ci dici come va."),
            tr._(PRIVACY_NOTICE),
            tr._("Lingua: {language}. Per cambiarla, tocca la tua lingua qui sotto.", language=LANGUAGE_NAMES[v.language]),
        )
    )
    # The languages are on the first screen itself, so a tenant who does not read Italian changes it in one tap.
    return Screen(text, [
        [button(tr._("✅ Ho capito, continua"), callbacks.CONSENT)],
        [button(tr._("📄 Leggi l'informativa completa"), callbacks.PRIVACY)],
        *language_rows(v),
    ])


def render_main_menu(v: Visitor, content: Content | None = None) -> Screen:
    tr = v.tr
    rows = [
        *own_space_rows(v, content),
        [button(tr._("🏠 Spazi e servizi"), callbacks.SPACES, 0)],
        [button(tr._("🗓 Cosa c'è questa settimana"), callbacks.WHATS_ON)],
        [button(tr._("📅 Prenota"), callbacks.BOOK)],
        [button(tr._("🔧 Segnala un problema"), callbacks.REPORT)],
        [button(tr._("⭐ La tua opinione"), callbacks.FEEDBACK)],
        [button(tr._("🤝 Banca del tempo"), callbacks.TIMEBANKS)],
        [button(tr._("❓ Aiuto"), callbacks.HELP, 0), button(tr._("🌐 Lingua"), callbacks.LANGUAGES)],
    ]
    if v.roles.is_staff or v.roles.committee_of:
        rows.append([button(tr._("🧰 Strumenti per lo staff"), callbacks.STAFF)])
    text = tr._("Cosa vuoi fare? Tocca un pulsante, oppure scrivi cosa cerchi (per esempio «riparazioni» o «computer»).")
    return Screen(text, rows)


def own_space_rows(v: Visitor, content: Content | None) -> list[list[Button]]:
    """For a tenant who reported from an estate before: their space (hours today, services) in one tap."""
    estate = content.estates.get(v.last_estate_id or "") if content is not None else None
    space = content.spaces.get(estate.space_id) if estate is not None else None
    return [[button(v.tr._("📍 Il tuo spazio: {space}", space=space.name.get(v.language)), callbacks.SPACE, space.id)]] if space else []


def language_rows(v: Visitor) -> list[list[Button]]:
    """Every language by its own name, two a row, the current one ticked."""
    buttons = [
        button(("✅ " if code == v.language else "") + LANGUAGE_NAMES[code], callbacks.SET_LANGUAGE, code)
        for code in LANGUAGES
    ]
    return [buttons[index : index + 2] for index in range(0, len(buttons), 2)]


def render_languages(v: Visitor) -> Screen:
    return Screen(v.tr._("Scegli la tua lingua:"), [*language_rows(v), menu_row(v.tr)])


async def home(update: Update, context: FrontDeskContext, v: Visitor | None = None) -> None:
    """The main menu, or the welcome while the tenant has not read the privacy notice."""
    v = v or await context.open()
    content = context.rt.content
    await show(update, render_main_menu(v, content) if v.consented else render_welcome(v))


async def start_command(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    payload = context.args[0] if context.args else ""
    if payload.startswith("inv_"):
        from handlers.admin import redeem  # invites are staff business; kept beside the other role screens

        await redeem(update, context, v, payload.removeprefix("inv_"))
        return
    await show(update, render_welcome(v) if not v.consented else render_main_menu(v, context.rt.content))


async def menu(update: Update, context: FrontDeskContext) -> None:
    if update.callback_query:
        await update.callback_query.answer()
    await home(update, context)


async def consent(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    await update.callback_query.answer()
    await users.accept_notice(rt.db, update.effective_user.id, rt.clock.now(), update.effective_user.first_name or "")
    rt.update_cached_user(update.effective_user.id, consented=True)
    await context.reopen()
    await home(update, context)


async def languages(update: Update, context: FrontDeskContext) -> None:
    if update.callback_query:
        await update.callback_query.answer()
    await show(update, render_languages(await context.open()))


async def set_language(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    query = update.callback_query
    language = context.data.args[0]
    if language not in LANGUAGES:
        await query.answer()
        await show(update, render_languages(await context.open()))
        return
    await users.set_language(rt.db, update.effective_user.id, language)
    rt.update_cached_user(update.effective_user.id, language=language)
    v = await context.reopen()
    await query.answer(v.tr._("Lingua: {language}", language=LANGUAGE_NAMES[language]))
    await home(update, context, v)
