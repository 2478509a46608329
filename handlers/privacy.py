"""Privacy rights in the bot: the notice, "My data" (what is stored, and a copy as two documents), "Forget me"
(two taps), the gate that keeps everything but the notice closed until it is accepted, and the nightly purge.

The rules are in storage/domain/privacy.py (sources in storage/personal_data/); this module only decodes, calls and
renders.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, time

from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot import callbacks
from bot.config import LOG_DAYS_KEPT, Retention
from bot.i18n import FSI, LANGUAGE_NAMES, N_, PDI, Translator
from bot.runtime import FrontDeskContext, Runtime
from bot.ui import MAX_CAPTION, Screen, back_row, button, clip, menu_row, pager_row, show
from handlers import feedback
from handlers.outgoing import tickets as outgoing_tickets
from handlers.common import paging
from storage.domain import audit, privacy
from storage.content import Contacts, Content
from storage.models import AuditRecord

log = logging.getLogger(__name__)

# What each section of storage/personal_data/* is called on screen and in the text copy. A section a new source
# adds without a label here is shown by its key.
SECTION_LABELS = {
    "profile": N_("👤 Profilo (nome, lingua)"),
    "roles": N_("🧰 Ruoli nello staff"),
    "invites": N_("✉️ Inviti"),
    "messages_to_send": N_("📨 Messaggi in partenza per te"),
    "bookings": N_("📅 Prenotazioni"),
    "waitlist": N_("⏳ Liste d'attesa"),
    "phone_numbers": N_("📞 Numeri di telefono"),
    "reports": N_("🔧 Segnalazioni (con foto e vocali)"),
    "me_too": N_("🙋 Segnalazioni che segui («succede anche a me»)"),
    "ticket_history": N_("💬 Commenti e azioni sulle segnalazioni"),
    "opinions": N_("⭐ Opinioni con il tuo nome"),
    "drafts": N_("📝 Bozze"),
    "questions_to_ask": N_("❔ Domande che ti faremo"),
    "guides": N_("🧭 Guide che hai seguito"),
    "guide_questions": N_("💬 Domande agli operatori delle guide"),
    "audit": N_("🔍 Dati di altri che hai consultato"),
    "daily_counts": N_("🔢 Quante segnalazioni, commenti e foto hai inviato al giorno"),
    "time_bank_memberships": N_("⏳ Banca del tempo: iscrizioni e saldo"),
    "time_bank_posts": N_("📌 Banca del tempo: le tue offerte e richieste"),
    "time_bank_messages": N_("💬 Banca del tempo: i tuoi messaggi ai vicini"),
    "time_bank_exchanges": N_("🤝 Banca del tempo: scambi"),
    "home": N_("🏠 Dove abiti (caseggiato, palazzo, scala)"),
    "follows": N_("🔔 Cosa segui"),
    "job_interests": N_("💼 Offerte di lavoro che ti interessano"),
    "notices_written": N_("📢 Avvisi che hai scritto"),
    "notices_received": N_("📬 Avvisi ricevuti"),
}
# Before the notice is accepted only these work (the rights apply from the first message).
OPEN_BEFORE_CONSENT = frozenset({
    callbacks.MENU, callbacks.CONSENT, callbacks.LANGUAGES, callbacks.SET_LANGUAGE, callbacks.PRIVACY,
    callbacks.MY_DATA, callbacks.MY_DATA_DOWNLOAD, callbacks.FORGET_ASK, callbacks.FORGET_CONFIRM,
})
COMMANDS_BEFORE_CONSENT = frozenset({"start", "menu", "language", "privacy", "help", "cancel"})


def section_label(tr: Translator, section: str) -> str:
    label = SECTION_LABELS.get(section)
    return tr._(label) if label else section


# --------------------------------------------------------------------------------------------
# The notice


def render_notice(tr: Translator, contacts: Contacts, retention: Retention, consented: bool) -> Screen:
    who = contacts.privacy
    if who is not None:
        controller = tr._(
            "<b>Chi tratta i dati.</b> Titolare: {controller}, {address}, {email}. Responsabile della protezione dei dati (DPO): {dpo}, {dpo_email}.",
            controller=who.controller, address=who.controller_address, email=who.controller_email, dpo=who.dpo,
            dpo_email=who.dpo_email)
    else:
        controller = tr._("<b>Chi tratta i dati.</b> Il gestore delle case popolari (MM Casa): chiedi i recapiti del titolare e del responsabile della protezione dei dati al numero verde {phone}.",
                          phone=contacts.free_phone)
    paragraphs = [
        tr._("<b>🔒 Informativa sulla privacy</b>"),
        controller,
        tr._("<b>Cosa e perché.</b> Prima che tu tocchi «Ho capito» conserviamo solo il tuo numero Telegram e la lingua. Dopo, anche il nome che usi su Telegram e quello che ci mandi: prenotazioni (con il telefono, se il servizio lo chiede), segnalazioni di guasti con foto e vocali, opinioni non anonime. Servono solo per le prenotazioni, per far riparare i guasti e per migliorare gli spazi."),
        tr._("<b>Base giuridica.</b> Il compito di interesse pubblico del gestore delle case popolari (art. 6.1.e del GDPR) e, per prenotazioni e opinioni, la tua richiesta (art. 6.1.b)."),
        tr._("<b>Chi li vede.</b> Il gestore, i custodi del tuo caseggiato e chi gestisce lo spazio che prenoti. Ogni volta che il personale apre i tuoi dati o li esporta resta registrato."),
        tr._("<b>Per quanto.</b> Bozze: {drafts} giorni. Testi dei messaggi: {outbox} giorni dopo l'invio. Prenotazioni: {bookings} giorni dopo l'appuntamento. Dati personali, foto e vocali delle segnalazioni chiuse: {tickets} giorni dopo la chiusura. Registro degli accessi: {audit} giorni. Registri tecnici del server: {logs} giorni.",
             drafts=retention.drafts_days, outbox=retention.outbox_days, bookings=retention.bookings_days,
             tickets=retention.tickets_days, audit=retention.audit_days, logs=LOG_DAYS_KEPT)
        + " " + tr._("Guide seguite e domande agli operatori: {guides} giorni dall'ultima modifica. Quello che scrivi o tocchi nel bot resta solo finché il bot ti risponde; poi, per un giorno, solo il numero della chat e l'ora.",
                     guides=retention.guides_days)
        + " " + tr._("Banca del tempo: messaggi tra vicini {messages} giorni dopo la fine della conversazione, testi degli annunci {posts} giorni dopo la scadenza. Chi ha ricevuto un avviso: {notices} giorni. «Mi interessa» per un lavoro: {interests} giorni.",
                     messages=retention.timebank_messages_days, posts=retention.timebank_posts_days,
                     notices=retention.notices_days, interests=retention.job_interests_days)
        + " " + tr._("Contatti tra vicini finiti senza uno scambio: {contacts} giorni. Se lasci la banca del tempo, il tuo nome, caseggiato e lingue: {members} giorni (il saldo delle ore resta, senza nome).",
                     contacts=retention.timebank_contacts_days, members=retention.timebank_members_days),
        tr._("<b>Se chiedi di cancellarli.</b> Cancelliamo profilo, telefoni, prenotazioni, bozze, opinioni con il tuo nome e le foto e i vocali delle tue segnalazioni. Le segnalazioni restano nel registro delle manutenzioni del gestore, ma senza il tuo nome, il tuo interno e le tue parole."),
        tr._("<b>I tuoi diritti.</b> Vedere e scaricare i tuoi dati, farli correggere, cancellarli, opporti: tocca «I miei dati» qui sotto (o Aiuto → I miei dati), oppure chiama il numero verde {phone}. Puoi anche fare reclamo al Garante per la protezione dei dati personali (garanteprivacy.it).",
             phone=contacts.free_phone),
    ]
    rows = [[button(tr._("🔐 I miei dati"), callbacks.MY_DATA)]]
    if not consented:
        rows.insert(0, [button(tr._("✅ Ho capito, continua"), callbacks.CONSENT)])
    rows.append(menu_row(tr))
    return Screen("\n\n".join(paragraphs), rows)


async def notice(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    if update.callback_query:
        await update.callback_query.answer()
    await show(update, render_notice(v.tr, rt.content.contacts, rt.settings.retention, v.consented))


# --------------------------------------------------------------------------------------------
# My data


def render_my_data(tr: Translator, found: dict[str, int]) -> Screen:
    """`found`: the number of records of each section (storage.domain.privacy.count_sections)."""
    lines = [tr._("<b>🔐 I miei dati</b>"), "", tr._("Ecco cosa conserviamo su di te:")]
    lines += [f"• {section_label(tr, section)}: {tr.number(number)}" for section, number in found.items()]
    if not found:
        lines.append(tr._("niente."))
    lines += ["", tr._("Puoi scaricarne una copia completa oppure chiederci di cancellare tutto.")]
    rows = [
        [button(tr._("📥 Scarica una copia"), callbacks.MY_DATA_DOWNLOAD)],
        [button(tr._("🗑 Cancella i miei dati"), callbacks.FORGET_ASK)],
        [button(tr._("🔒 Informativa privacy"), callbacks.PRIVACY)],
        menu_row(tr),
    ]
    return Screen("\n".join(lines), rows)


def copy_as_json(user_id: int, found: dict[str, list[dict]], now: datetime) -> bytes:
    document = {"telegram_id": user_id, "generated_at": now.isoformat(timespec="seconds"), "data": found}
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode("utf-8")


# The fields of the records (storage/personal_data/*) as the text copy names them; a field a new source adds
# without a label here is shown by its key.
FIELD_LABELS = {
    "id": N_("Numero Telegram"), "first_name": N_("Nome"), "name": N_("Nome"), "language": N_("Lingua scelta"),
    "telegram_language": N_("Lingua di Telegram"), "consent_at": N_("Informativa accettata il"),
    "created_at": N_("Creato il"), "last_seen_at": N_("Ultima visita"), "last_estate_id": N_("Ultimo caseggiato"),
    "prompts_enabled": N_("Domande dopo appuntamenti e riparazioni"), "blocked_at": N_("Bot bloccato il"),
    "role": N_("Ruolo"), "scope": N_("Ambito"), "granted_at": N_("Assegnato il"), "expires_at": N_("Scade il"),
    "used_at": N_("Usato il"), "kind": N_("Tipo"), "not_before": N_("Da inviare dopo il"), "code": N_("Codice"),
    "space_id": N_("Spazio"), "service_id": N_("Servizio"), "slot_start": N_("Inizio"), "slot_end": N_("Fine"),
    "status": N_("Stato"), "phone": N_("Telefono"), "cancelled_at": N_("Annullata il"),
    "cancel_reason": N_("Motivo dell'annullamento"), "marked_at": N_("Presenza segnata il"),
    "closed_at": N_("Chiusa il"), "updated_at": N_("Aggiornato il"), "category_id": N_("Categoria"),
    "estate_id": N_("Caseggiato"), "building_id": N_("Edificio"), "staircase": N_("Scala"), "floor": N_("Piano"),
    "area": N_("Dove"), "flat": N_("Interno"), "answers": N_("Risposte"), "description": N_("Descrizione"),
    "acknowledged_at": N_("Presa in carico il"), "resolved_at": N_("Risolta il"), "last_note": N_("Nota del custode"),
    "stars": N_("Voto"), "media": N_("Foto e vocali"), "since": N_("Dal"), "at": N_("Quando"), "text": N_("Testo"),
    "report": N_("Segnalazione"), "opinion": N_("Opinione"), "comment": N_("Commento"), "day": N_("Giorno"),
    "due_at": N_("Previsto il"), "action": N_("Azione"), "subject": N_("Oggetto"), "step": N_("Passo"),
    "tenant_name": N_("Nome dell'inquilino"), "tenant_contact": N_("Contatto dell'inquilino"),
    "added_at": N_("Aggiunto il"), "size": N_("Dimensione (byte)"), "mime_type": N_("Formato"),
    # guides (storage/personal_data/guides.py)
    "guide_id": N_("Guida"), "started_at": N_("Iniziata il"), "finished_at": N_("Finita il"),
    "worked": N_("Ha funzionato?"), "stuck": N_("Passi in cui eri bloccato"), "asked_at": N_("Chiesta il"),
    "answer": N_("Risposta"), "answered_at": N_("Risposta data il"),
}


# Coded values shown in words: the ticket's own labels (handlers/custodian.py, handlers/feedback.py) and these.
OTHER_VALUE_LABELS = {
    "active": N_("Attiva"), "cancelled": N_("Annullata"), "attended": N_("Presente"), "no_show": N_("Assente"),
    "waiting": N_("In attesa"), "offered": N_("Posto offerto"), "booked": N_("Prenotato"),
    "left": N_("Uscito dalla lista"), "expired": N_("Scaduto"), "flat": N_("Nel proprio appartamento"),
    "common": N_("Parti comuni"), "voice": N_("Messaggio vocale"),
}
VALUE_LABELS = {
    "status": {**outgoing_tickets.STATUS_LABELS, **OTHER_VALUE_LABELS},
    "kind": {**outgoing_tickets.EVENT_LABELS, **feedback.KIND_NAMES, **OTHER_VALUE_LABELS},
    "area": OTHER_VALUE_LABELS,
}
MOMENT_FIELDS = frozenset({"slot_start", "slot_end", "day", "since", "at", "not_before"})  # and every "*_at"


def _readable(tr: Translator, content: Content, key: str, value: object) -> str:
    """A value as a person reads it: local dates and times, names instead of ids, yes or no."""
    if isinstance(value, bool):
        return tr._("Sì") if value else tr._("No")
    coded = VALUE_LABELS.get(key, outgoing_tickets.ANSWER_LABELS if isinstance(value, str) else {})
    if isinstance(value, str) and value in coded:
        return tr._(coded[value])
    if key in ("space_id",) and value in content.spaces:
        return content.spaces[value].name.get(tr.language)
    if key == "service_id" and value in content.services:
        return content.services[value].title.get(tr.language)
    if key == "guide_id" and value in content.guides:
        return content.guides[value].title.get(tr.language)
    if key == "category_id" and value in content.problems:
        return content.problems[value].name.get(tr.language)
    if key in ("estate_id", "last_estate_id") and value in content.estates:
        return content.estates[value].name
    if key in ("language", "telegram_language") and isinstance(value, str):
        return LANGUAGE_NAMES.get(value, value)
    if isinstance(value, str) and (key.endswith("_at") or key in MOMENT_FIELDS):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        if len(value) == 10:
            return tr.date(moment.date(), format="medium")
        return tr.datetime(moment) if moment.tzinfo else value
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, default=str)


def _text_lines(tr: Translator, content: Content, item: dict, indent: str) -> list[str]:
    lines = []
    for key, value in item.items():
        label = tr._(FIELD_LABELS[key]) if key in FIELD_LABELS else key
        if isinstance(value, dict):
            lines += [f"{indent}{label}:", *_text_lines(tr, content, value, indent + "  ")]
        elif isinstance(value, list) and value and all(isinstance(part, dict) for part in value):
            lines.append(f"{indent}{label}:")
            for part in value:
                lines += [*_text_lines(tr, content, part, indent + "  "), ""]
        else:
            lines.append(f"{indent}{label}: {_readable(tr, content, key, value)}")
    return lines


def copy_as_text(tr: Translator, content: Content, user_id: int, found: dict[str, list[dict]], now: datetime) -> bytes:
    """The same data for a person to read, in their language: a title per section, one block per record."""
    lines = [tr._("I tuoi dati conservati da Quartieri Connessi (numero Telegram {id}), al {date}.", id=user_id,
                  date=tr.datetime(now)), ""]
    for section, records in found.items():
        lines += [section_label(tr, section), "=" * 40]
        for item in records:
            lines += [*_text_lines(tr, content, item, "  "), ""]
    return "\n".join(lines).replace(FSI, "").replace(PDI, "").encode("utf-8")


async def my_data(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    if update.callback_query:
        await update.callback_query.answer()
    # Only the numbers: one statement of counts (storage.domain.privacy.count_sections), not every record.
    await show(update, render_my_data(v.tr, await privacy.count_sections(rt.db, v.user_id)))


async def my_data_download(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    await update.callback_query.answer(v.tr._("Preparo i file…"))
    # Inline, one person's indexed rows: as a long read each of its ~30 statements waited a turn of
    # the busy loop on aiosqlite's thread (1.7-4 s p50 under load; docs/performance.md, writes under load, third pass).
    found = await privacy.collect(rt.db, v.user_id, long=False)
    now = rt.clock.now()
    stamp = f"{v.tr.local(now):%Y%m%d}"
    await context.bot.send_document(v.chat_id, document=copy_as_json(v.user_id, found, now), filename=f"my-data-{stamp}.json",
                                    caption=clip(v.tr._("I tuoi dati in formato JSON, per un programma."), MAX_CAPTION))
    after = Screen("", [back_row(v.tr, callbacks.MY_DATA)])
    await context.bot.send_document(v.chat_id, document=copy_as_text(v.tr, rt.content, v.user_id, found, now), filename=f"my-data-{stamp}.txt",
                                    caption=clip(v.tr._("I tuoi dati in un file di testo da leggere."), MAX_CAPTION),
                                    reply_markup=after.keyboard)


# --------------------------------------------------------------------------------------------
# Forget me: two taps


def render_forget_ask(tr: Translator) -> Screen:
    text = "\n\n".join((
        tr._("<b>🗑 Cancellare i tuoi dati?</b>"),
        tr._("Cancelliamo il tuo profilo, le prenotazioni (i posti tornano liberi), i numeri di telefono, le bozze, le segnalazioni che segui, i tuoi commenti, le opinioni con il tuo nome e le foto e i vocali delle tue segnalazioni."),
        tr._("Le tue segnalazioni restano nel registro delle manutenzioni del gestore, senza il tuo nome, il tuo interno e le tue parole. Non si può annullare."),
    ))
    return Screen(text, [
        [button(tr._("✅ Sì, cancella tutto"), callbacks.FORGET_CONFIRM)],
        [button(tr._("⬅️ No, torna indietro"), callbacks.MY_DATA)],
        menu_row(tr),
    ])


def render_forgotten(tr: Translator) -> Screen:
    # The menu button starts again as a new person (the welcome), like /start.
    return Screen(tr._("✅ Fatto: abbiamo cancellato i tuoi dati. Se ci scrivi di nuovo (/start), ricominci da capo come una persona nuova."),
                  [menu_row(tr)])


async def forget_ask(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    await update.callback_query.answer()
    await show(update, render_forget_ask(v.tr))


async def forget_confirm(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    now = rt.clock.now()
    await privacy.forget(rt.db, v.user_id, now, rt.settings.media_dir)
    await audit.record_now(rt.db, None, "forget", "a person, by themselves in the bot", now)
    rt.forget_user(v.user_id)
    await update.callback_query.answer()
    await show(update, render_forgotten(v.tr))


# --------------------------------------------------------------------------------------------
# The audit record, for admins

AUDIT_PER_PAGE = 15
AUDIT_ACTION_LABELS = {
    "ticket_view": N_("ha aperto la segnalazione"),
    "booking_view": N_("ha aperto la prenotazione"),
    "export": N_("ha scaricato"),
    "forget": N_("dati cancellati:"),
    "purge": N_("pulizia dei dati scaduti:"),
}


def render_audit(tr: Translator, records: list[tuple[AuditRecord, str | None]], page: int, pages: int, total: int) -> Screen:
    lines = [tr._("<b>🔍 Registro degli accessi ai dati</b>"),
             tr.n_("{n} registrazione, le più recenti prima.", "{n} registrazioni, le più recenti prima.", total), ""]
    for item, name in records:
        who = name or (str(item.actor_id) if item.actor_id is not None else tr._("sistema"))
        label = AUDIT_ACTION_LABELS.get(item.action)
        what = tr._(label) if label else item.action
        lines.append(f"{tr.isolate(tr.datetime(item.at))} · {tr.isolate(who)} · {what} {tr.isolate(item.subject)}")
    rows = [row for row in (pager_row(tr, callbacks.AUDIT_LIST, page, pages),) if row]
    rows.append(back_row(tr, callbacks.STAFF))
    return Screen("\n".join(lines), rows)


async def audit_list(update: Update, context: FrontDeskContext) -> None:
    rt, v = context.rt, await context.open()
    query = update.callback_query
    if not v.roles.is_admin:
        log.warning("user %s asked for the audit record", v.user_id)
        await query.answer(v.tr._("Il registro degli accessi è solo per gli amministratori."), show_alert=True)
        return
    await query.answer()
    wanted = context.data.int(0)
    total = await audit.count(rt.db)
    page, pages = paging(wanted, total, AUDIT_PER_PAGE)
    records = await audit.page(rt.db, offset=page * AUDIT_PER_PAGE, limit=AUDIT_PER_PAGE)
    await show(update, render_audit(v.tr, records, page, pages, total))


# --------------------------------------------------------------------------------------------
# The gate: before the notice is accepted, nothing else is open (so nothing else is stored)


async def consent_gate(update: Update, context: FrontDeskContext) -> None:
    """Runs before every other handler (bot/app.py, group -1). In a private chat, a person who has not accepted
    the notice gets the welcome for anything but the notice, the languages and their rights."""
    chat = update.effective_chat
    if chat is None or chat.type != "private" or update.effective_user is None:
        return
    query = update.callback_query
    message = update.message
    if query is None and message is None:
        return  # an edited message, a blocked bot (my_chat_member): nothing to answer, no row to create
    if query is not None:
        decoded = callbacks.decode(query.data)
        if decoded is not None and decoded.action in OPEN_BEFORE_CONSENT:
            return
    elif message is not None and message.text and message.text.startswith("/"):
        if message.text[1:].split()[0].split("@")[0] in COMMANDS_BEFORE_CONSENT:
            return
    v = await context.open()
    if v.consented:
        return
    from handlers.start import render_welcome  # the welcome is the start's screen

    if query is not None:
        await query.answer(v.tr._("Prima tocca «Ho capito» sotto l'informativa."))
    await show(update, render_welcome(v))
    raise ApplicationHandlerStop


# --------------------------------------------------------------------------------------------
# The nightly purge (bot/jobs.py runs this every few minutes; it purges once a night, after QC_PURGE_TIME)

PURGE_SUBJECT = "nightly"


async def nightly_purge(rt: Runtime) -> None:
    """Once a day after QC_PURGE_TIME (local): the retention rules in short transactions. The audit record of the
    run is what says it was done today, so a restart or a second instance does not run it again."""
    now = rt.clock.now()
    tz = rt.settings.timezone
    local = now.astimezone(tz)
    if local.time() < rt.settings.purge_time:
        return
    since = datetime.combine(local.date(), time(0, 0), tzinfo=tz)
    async with rt.db.read() as session:
        if await audit.recorded_since(session, "purge", PURGE_SUBJECT, since):
            return
    await audit.record_now(rt.db, None, "purge", f"{PURGE_SUBJECT}: started", now)
    purged = await privacy.purge(rt.db, rt.settings.retention, now, rt.settings.media_dir)
    await audit.record_now(rt.db, None, "purge", f"{PURGE_SUBJECT}: {sum(purged.values())} rows", rt.clock.now())
    log.info("nightly purge: %s", {rule: rows for rule, rows in purged.items() if rows} or "nothing due")

