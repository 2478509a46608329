"""Everything unexpected gets a short, helpful answer in the tenant's language and a way on: unknown commands,
stickers, voice notes or photos outside a flow, group chats, and stale, foreign or forged buttons."""

from __future__ import annotations

import logging

from telegram import Update

from bot.runtime import FrontDeskContext
from bot.ui import Screen, menu_row, show
from handlers.start import home

log = logging.getLogger(__name__)


async def unknown_command(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    await show(update, Screen(v.tr._("Non conosco questo comando. Ecco cosa posso fare:"), [menu_row(v.tr)]))


async def unexpected_message(update: Update, context: FrontDeskContext) -> bool:
    """A sticker, a voice note, a photo, a file... when no flow is waiting for one."""
    v = await context.open()
    message = update.effective_message
    if message.voice or message.audio:
        text = v.tr._("Ho ricevuto un messaggio vocale, ma qui non so ascoltarlo. Se vuoi segnalare un guasto, tocca «Segnala un problema»: lì puoi mandare anche un vocale.")
    elif message.photo:
        text = v.tr._("Ho ricevuto una foto. Se riguarda un guasto, tocca «Segnala un problema» e allegala lì.")
    elif message.sticker:
        text = v.tr._("Bello! 😊 Per continuare, tocca un pulsante.")
    else:
        text = v.tr._("Non so cosa fare con questo messaggio. Tocca un pulsante per continuare.")
    await show(update, Screen(text, [menu_row(v.tr)]))
    return True


async def group_message(update: Update, context: FrontDeskContext) -> None:
    """In groups (the manager's chat) the bot only posts alerts; a command there gets a pointer to the private chat."""
    message = update.effective_message
    if message is None or not message.text or not message.text.startswith("/"):
        return
    v = await context.open()
    await message.reply_text(v.tr._("Scrivimi in privato: {bot}", bot="@" + context.bot.username))


async def stale_button(update: Update, context: FrontDeskContext) -> None:
    """Any callback no other handler took: an old version, a removed feature, or forged data."""
    query = update.callback_query
    v = await context.open()
    log.info("stale or unknown callback data from user %s", v.user_id)
    await query.answer(v.tr._("Questo pulsante non è più valido. Ecco il menu aggiornato."))
    await home(update, context, v)
