"""Floods held off: the polite words of the per-user daily caps (storage/domain/limits.py) and the burst guard that runs
before every other handler (bot/limits.py keeps the window)."""

from __future__ import annotations

import logging

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext
from storage.domain.limits import LimitReached

log = logging.getLogger(__name__)

LIMIT_NOTICES = {
    "ticket": N_("Oggi hai già inviato {cap} segnalazioni: è il massimo per un giorno. La segnalazione resta salvata: "
                 "puoi inviarla domani. Se c'è pericolo, chiama il {emergency} o il pronto intervento {phone}."),
    "comment": N_("Oggi hai già scritto {cap} messaggi al custode: è il massimo per un giorno. Riprova domani."),
    "photo": N_("Oggi hai già mandato {cap} foto: è il massimo per un giorno. Riprova domani."),
    "me_too": N_("Oggi hai già detto «succede anche a me» {cap} volte: è il massimo per un giorno. Riprova domani."),
}
SLOW_DOWN = N_("✋ Stai mandando molti messaggi di seguito. Aspetta un minuto, poi riprova: ti rispondo volentieri.")


def limit_notice(tr: Translator, error: LimitReached, emergency: str = "112", phone: str = "") -> str:
    return tr._(LIMIT_NOTICES[error.kind], cap=error.cap, emergency=emergency, phone=phone)


async def burst_guard(update: Update, context: FrontDeskContext) -> None:
    """Group -1, before every handler: a person sending more than QC_BURST_UPDATES updates within QC_BURST_SECONDS
    gets one "slow down" and then silence (a pressed button is still answered, without words) for
    QC_BURST_SILENCE seconds. Staff are exempt; other tenants are unaffected (the window is per person)."""
    user = update.effective_user
    if user is None or update.effective_chat is None or update.effective_chat.type != "private":
        return
    rt = context.rt
    verdict = rt.bursts.hit(user.id, rt.clock.now())
    if verdict == "pass":
        return
    v = await context.open()  # from the user cache: a read only the first time in a minute
    if v.roles.is_staff:
        return
    if update.callback_query is not None:
        await update.callback_query.answer()
    if verdict == "warn":
        log.warning("user %s sent a burst of updates: silent for %s s", user.id, rt.settings.burst_silence_seconds)
        await context.bot.send_message(v.chat_id, v.tr._(SLOW_DOWN))
    raise ApplicationHandlerStop
