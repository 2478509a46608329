"""The report conversation's screens: one pure render per step of the draft, the review, the tenant's own reports
and a report's public page (a visitor in, a Screen out). The conversation itself is handlers/reports.py."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Row

from bot import callbacks
from bot.i18n import N_
from bot.runtime import Visitor
from bot.ui import Button, Screen, back_row, button, clip, menu_row, pager_row, plain_text
from handlers.common import paging
from handlers.outgoing import tickets as outgoing_tickets
from handlers.outgoing.tickets import (
    STATUS_LABELS, category_name, describe_place, describe_public_place, resolution_rows, star_row, ticket_page,
)
from storage.domain import geo, tickets
from storage.content import Content, Estate
from storage.models import Ticket, TicketEvent
from storage.domain.tickets import Action, DraftView

ESTATES_PER_PAGE = 6
REPORTS_PER_PAGE = 6
OTHER_PROBLEM = "other"  # the catch-all problem category of the content, suggested when nothing fits
NO_FLOOR = 99  # the REPORT_FLOOR argument for "not on a floor" (roof, courtyard, the whole building)
FLOOR_BUTTONS = (-1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10)
TEXT_STEPS = frozenset({"tenant_name", "tenant_contact", "flat", "description"})
MEDIA_STEPS = frozenset({"description", "photos", "review"})
STEP_REFUSED = N_("Questo pulsante non vale più. Ecco dove eri rimasto/a.")
EDIT_LABELS = (
    ("category", N_("✏️ Problema")),
    ("place", N_("✏️ Luogo")),
    ("description", N_("✏️ Descrizione")),
    ("photos", N_("✏️ Foto")),
)



def draft_rows(v: Visitor) -> list[list[Button]]:
    """Under every step: drop the report, or leave it for later (it stays saved)."""
    return [[button(v.tr._("🗑 Annulla la segnalazione"), callbacks.REPORT_DISCARD), button(v.tr._("🏠 Menu"), callbacks.MENU)]]


def allowed_estates(v: Visitor, content: Content, draft: DraftView) -> list[Estate]:
    """Tenants pick any estate; a custodian filing for a tenant picks among the estates they look after."""
    estates = list(content.estates.values())
    if draft.on_behalf and not v.roles.is_admin:
        estates = [estate for estate in estates if estate.id in v.roles.custodian_of]
    return estates


# --------------------------------------------------------------------------------------------
# Screens of the draft, one per step


def render_categories(v: Visitor, content: Content, draft: DraftView | None, has_reports: bool) -> Screen:
    tr = v.tr
    ordered = sorted(content.problems.values(), key=lambda category: category.urgency != "emergency")
    rows = [
        [button(("🚨 " if category.urgency == "emergency" else "") + category.name.get(tr.language), callbacks.REPORT_CATEGORY, category.id)]
        for category in ordered
    ]
    if has_reports:
        rows.append([button(tr._("📋 Le mie segnalazioni"), callbacks.MY_REPORTS, 0)])
    rows.extend(draft_rows(v) if draft is not None else [menu_row(tr)])
    text = tr._("🔧 <b>Che problema c'è?</b> Tocca quello che ci somiglia di più.")
    other = content.problems.get(OTHER_PROBLEM)
    if other is not None:  # quoted from the content, so the words are the button's own in every language
        text += " " + tr._("Se non lo trovi, scegli «{other}».", other=other.name.get(tr.language))
    if draft is not None and draft.on_behalf:
        text = tr._("Per conto di: {name}", name=draft.tenant_name or "") + "\n\n" + text
    return Screen(text, rows)


def render_emergency(v: Visitor, content: Content, category_id: str) -> Screen:
    tr = v.tr
    category = content.problems[category_id]
    contacts = content.contacts
    lines = [
        tr._("🚨 <b>{problem}: è un'emergenza.</b>", problem=category.name.get(tr.language)),
        tr._("☎️ Chiama subito il <b>{number}</b>.", number=contacts.emergency_number),
    ]
    if category.note is not None:
        lines.append(tr.isolate(category.note.get(tr.language)))
    lines.append(tr._("🛠 Pronto intervento del gestore, 24 ore su 24: <b>{number}</b>", number=contacts.emergency_phone))
    lines.append(tr._("Quando sei al sicuro, puoi anche avvisare il custode con una segnalazione."))
    rows = [[button(tr._("📝 Sono al sicuro: fai la segnalazione"), callbacks.REPORT_EMERGENCY_FILE, category_id)], menu_row(tr)]
    return Screen("\n\n".join(lines), rows)


def render_estate_question(v: Visitor, content: Content, draft: DraftView, page: int = 0, offer_last: bool = True,
                           last_place: Ticket | Row | None = None) -> Screen:
    """"Again at <the estate of last time>?" when there was one, with the whole place of the last report as one
    button; else the list and the location button."""
    tr = v.tr
    rows: list[list[Button]] = []
    last = content.estates.get(v.last_estate_id or "") if offer_last and not draft.on_behalf else None
    location_row = [button(tr._("📍 Invia la mia posizione"), callbacks.REPORT_LOCATION)]
    if last_place is not None and offer_last and not draft.on_behalf:
        place = clip(plain_text(describe_place(tr, content, last_place)), 60)
        rows.append([button(tr._("✅ Stesso posto dell'ultima volta: {place}", place=place), callbacks.REPORT_SAME_PLACE)])
    if last is not None:
        rows.append([button(tr._("✅ Sì: {estate}", estate=last.name), callbacks.REPORT_ESTATE, last.id)])
        rows.append([button(tr._("📋 Un altro caseggiato"), callbacks.REPORT_ESTATE_LIST, 0)])
        rows.append(location_row)
        text = tr._("📍 <b>Dove?</b> Di nuovo a {estate} ({address})?", estate=last.name, address=last.address)
        return Screen(text, rows + draft_rows(v))
    estates = allowed_estates(v, content, draft)
    page, pages = paging(page, len(estates), ESTATES_PER_PAGE)
    for estate in estates[page * ESTATES_PER_PAGE : (page + 1) * ESTATES_PER_PAGE]:
        rows.append([button(f"{estate.name} · {estate.address}", callbacks.REPORT_ESTATE, estate.id)])
    pager = pager_row(tr, callbacks.REPORT_ESTATE_LIST, page, pages)
    if pager:
        rows.append(pager)
    if not draft.on_behalf:
        rows.append(location_row)
    text = tr._("📍 <b>Dove?</b> Scegli il tuo caseggiato, oppure manda la tua posizione e ti mostro i più vicini.")
    if draft.on_behalf:
        text = tr._("📍 <b>Dove?</b> Scegli il caseggiato dell'inquilino.")
    return Screen(text, rows + draft_rows(v))


def render_nearest_estates(v: Visitor, content: Content, lat: float, lon: float) -> Screen:
    tr = v.tr
    rows = [[button(f"{estate.name} · {tr.distance(km)}", callbacks.REPORT_ESTATE, estate.id)] for estate, km in geo.nearest_estates(content, lat, lon)]
    rows.append([button(tr._("📋 Tutti i caseggiati"), callbacks.REPORT_ESTATE_LIST, 0)])
    return Screen(tr._("📍 I caseggiati più vicini a te. Qual è il tuo?"), rows + draft_rows(v))


def building_label(v: Visitor, estate: Estate, building_id: str, staircase: str | None) -> str:
    building = next((b for b in estate.buildings if b.id == building_id), None)
    label = building.name if building is not None else building_id
    return label + (" · " + v.tr._("scala {staircase}", staircase=staircase) if staircase else "")


def render_building(v: Visitor, content: Content, draft: DraftView) -> Screen:
    tr = v.tr
    estate = content.estates[draft.estate_id]
    labels = [building_label(v, estate, building_id, staircase) for building_id, staircase in tickets.place_choices(estate)]
    rows: list[list[Button]] = []
    for index in range(0, len(labels), 2):  # two short labels per row keep long lists on one screen
        rows.append([button(label, callbacks.REPORT_BUILDING, index + offset) for offset, label in enumerate(labels[index : index + 2])])
    rows.append([button(tr._("🤷 Non so, o riguarda tutto il caseggiato"), callbacks.REPORT_BUILDING, -1)])
    return Screen(tr._("🏢 <b>Quale palazzo e quale scala?</b> ({estate})", estate=estate.name), rows + draft_rows(v))


def render_floor(v: Visitor) -> Screen:
    tr = v.tr
    named = [button(tr._("Seminterrato"), callbacks.REPORT_FLOOR, -1), button(tr._("Piano terra"), callbacks.REPORT_FLOOR, 0)]
    numbers = [button(str(floor), callbacks.REPORT_FLOOR, floor) for floor in FLOOR_BUTTONS if floor > 0]
    rows = [named, numbers[:5], numbers[5:]]
    rows.append([button(tr._("Nessun piano (tetto, cortile, tutto il palazzo)"), callbacks.REPORT_FLOOR, NO_FLOOR)])
    # "1" is the ground floor in Chinese, Ukrainian or American counting: say which one is meant.
    text = tr._("🔢 <b>A che piano?</b>") + "\n" + tr._("Il piano terra è quello a livello della strada; «1» è il primo piano sopra il piano terra.")
    return Screen(text, rows + draft_rows(v))


def render_area(v: Visitor, draft: DraftView) -> Screen:
    tr = v.tr
    flat = tr._("🚪 Nell'appartamento dell'inquilino") if draft.on_behalf else tr._("🚪 Nel mio appartamento")
    rows = [
        [button(flat, callbacks.REPORT_AREA, "flat")],
        [button(tr._("🏢 Nelle parti comuni (scale, cortile, cantine, ascensore)"), callbacks.REPORT_AREA, "common")],
    ]
    return Screen(tr._("🚪 <b>Il problema è dentro un appartamento o nelle parti comuni?</b>"), rows + draft_rows(v))


def render_flat(v: Visitor) -> Screen:
    tr = v.tr
    rows = [[button(tr._("Preferisco non dirlo"), callbacks.REPORT_FLAT_SKIP)]]
    return Screen(tr._("✍️ Scrivi il numero dell'appartamento o dell'interno (per esempio «int. 12»)."), rows + draft_rows(v))


def render_question(v: Visitor, content: Content, draft: DraftView) -> Screen:
    tr = v.tr
    category = content.problems[draft.category_id]
    index = tickets.pending_questions(draft, content)[0]
    question = category.questions[index]
    row = [button(tr._(label), callbacks.REPORT_ANSWER, index, answer) for answer, label in outgoing_tickets.ANSWER_LABELS.items()]
    text = tr._("❓ Domanda {number} di {total}", number=index + 1, total=len(category.questions))
    return Screen(text + "\n\n<b>" + tr.isolate(question.text.get(tr.language)) + "</b>", [row] + draft_rows(v))


def render_description(v: Visitor) -> Screen:
    return Screen(
        v.tr._("📝 <b>Descrivi il problema</b> con parole tue: cosa succede e da quando. Se preferisci, manda un messaggio vocale 🎤."),
        draft_rows(v),
    )


def render_photos(v: Visitor, draft: DraftView) -> Screen:
    tr = v.tr
    count = len(draft.photos or [])
    if count:
        text = tr._("📷 Foto {count} di {total} ricevuta. Mandane un'altra, oppure tocca «Avanti».", count=count, total=tickets.MAX_PHOTOS)
        label = tr._("➡️ Avanti")
    else:
        text = tr._("📷 Se puoi, manda fino a {total} foto del problema: aiutano il custode. Altrimenti tocca «Avanti senza foto».", total=tickets.MAX_PHOTOS)
        label = tr._("➡️ Avanti senza foto")
    return Screen(text, [[button(label, callbacks.REPORT_PHOTOS_DONE)]] + draft_rows(v))


def draft_summary(v: Visitor, content: Content, draft: DraftView) -> list[str]:
    tr = v.tr
    lines = []
    if draft.on_behalf:
        lines.append(tr._("👤 Per conto di: {name} · {contact}", name=draft.tenant_name or "", contact=draft.tenant_contact or "—"))
    if draft.category_id in content.problems:
        category = content.problems[draft.category_id]
        lines.append(f"🔧 {tr.isolate(category.name.get(tr.language))} · {tr._(outgoing_tickets.URGENCY_LABELS[category.urgency])}")
    lines.append("📍 " + describe_place(tr, content, draft))
    lines.extend(outgoing_tickets.answer_lines(tr, content, draft.category_id, draft.answers or {}))
    if draft.description:
        lines.append("📝 «" + tr.isolate(clip(draft.description, 800)) + "»")
    if draft.voice:
        lines.append(tr._("🎤 Messaggio vocale"))
    photos = len(draft.photos or [])
    lines.append(tr.n_("📷 {n} foto", "📷 {n} foto", photos) if photos else tr._("📷 Nessuna foto"))
    return lines


def render_review(v: Visitor, content: Content, draft: DraftView) -> Screen:
    tr = v.tr
    text = tr._("<b>Controlla la segnalazione.</b> Se è tutto giusto, tocca «Invia».") + "\n\n" + "\n".join(draft_summary(v, content, draft))
    edits = [*EDIT_LABELS, ("tenant", N_("✏️ Inquilino"))] if draft.on_behalf else list(EDIT_LABELS)
    edit_buttons = [button(tr._(label), callbacks.REPORT_EDIT, part) for part, label in edits]
    rows = [[button(tr._("✅ Invia la segnalazione"), callbacks.REPORT_SEND)]]
    rows += [edit_buttons[index : index + 2] for index in range(0, len(edit_buttons), 2)]
    return Screen(text, rows + draft_rows(v))


def render_step(v: Visitor, content: Content, draft: DraftView, notice: str | None = None,
                last_place: Ticket | Row | None = None) -> Screen:
    """The screen of the draft's current step, with a short notice on top (a category's advice, a confirmation)."""
    tr = v.tr
    screens: dict[str, Callable[[], Screen]] = {  # each step's screen, built only for the step the draft is at
        "tenant_name": lambda: Screen(
            tr._("📝 <b>Segnalazione per conto di un inquilino.</b> Scrivi il nome e il cognome dell'inquilino."), draft_rows(v)),
        "tenant_contact": lambda: Screen(
            tr._("☎️ Scrivi il telefono dell'inquilino o il suo interno, per poterlo ricontattare."), draft_rows(v)),
        "category": lambda: render_categories(v, content, draft, has_reports=False),
        "estate": lambda: render_estate_question(v, content, draft, last_place=last_place),
        "building": lambda: render_building(v, content, draft),
        "floor": lambda: render_floor(v),
        "area": lambda: render_area(v, draft),
        "flat": lambda: render_flat(v),
        "questions": lambda: render_question(v, content, draft),
        "description": lambda: render_description(v),
        "photos": lambda: render_photos(v, draft),
    }
    screen = screens.get(tickets.resume_step(draft, content), lambda: render_review(v, content, draft))()
    if notice:
        screen.text = notice + "\n\n" + screen.text
    return screen


def render_duplicates(v: Visitor, content: Content, found: list[Ticket]) -> Screen:
    tr = v.tr
    lines = [tr._("🔎 <b>Forse qualcuno l'ha già segnalato.</b> Nel caseggiato ci sono già queste segnalazioni aperte:")]
    rows = []
    for ticket in found:  # what anyone in the courtyard could see: never the flat, the words or who reported it
        lines.append(
            f"• <b>{tr.isolate(ticket.code)}</b> · {tr.isolate(category_name(tr, content, ticket.category_id))} · "
            f"{tr.isolate(describe_public_place(tr, content, ticket))} · {tr._(STATUS_LABELS[ticket.status])} · "
            f"{tr.short_date(ticket.created_at)}"
        )
        rows.append([button(tr._("🙋 È questo, succede anche a me: {code}", code=ticket.code), callbacks.REPORT_ME_TOO, ticket.id)])
    lines.append(tr._("Se è lo stesso problema, tocca «succede anche a me»: ti avvisiamo quando cambia qualcosa."))
    rows.append([button(tr._("📨 No, è un altro problema: invia"), callbacks.REPORT_SEND_ANYWAY)])
    rows.append([button(tr._("⬅️ Torna al riepilogo"), callbacks.REPORT_CONTINUE)])
    rows.append(menu_row(tr))
    return Screen("\n\n".join(lines), rows)


def render_sent(v: Visitor, content: Content, ticket: Ticket) -> Screen:
    tr = v.tr
    if ticket.filed_by is not None:
        text = tr._("✅ <b>Segnalazione inviata</b> per conto di {name}. Codice: <b>{code}</b>. Comunica il codice all'inquilino.",
                    name=ticket.tenant_name or "", code=ticket.code)
        return Screen(text, [[button(tr._("🛠 Segnalazioni aperte"), callbacks.TICKETS_OPEN, 0)], menu_row(tr)])
    lines = [
        tr._("✅ <b>Segnalazione inviata!</b> Il codice è <b>{code}</b>.", code=ticket.code),
        tr._("Cosa succede ora: il custode del caseggiato la riceve subito. Quando la prende in carico, o cambia qualcosa, ti scrivo qui."),
        tr._("Se il problema peggiora o c'è pericolo, chiama il {emergency} o il pronto intervento {phone}.",
             emergency=content.contacts.emergency_number, phone=content.contacts.emergency_phone),
    ]
    return Screen("\n\n".join(lines), [[button(tr._("📋 Le mie segnalazioni"), callbacks.MY_REPORTS, 0)], menu_row(tr)])


# --------------------------------------------------------------------------------------------
# My reports


def render_my_reports(v: Visitor, content: Content, items: list[Ticket], total: int, page: int) -> Screen:
    tr = v.tr
    rows, _, _ = ticket_page(tr, content, items, total, page, REPORTS_PER_PAGE, view=callbacks.REPORT_VIEW,
                             turn=callbacks.MY_REPORTS, category_width=24)
    rows.append([button(tr._("➕ Nuova segnalazione"), callbacks.REPORT_NEW)])
    rows.append(menu_row(tr))
    text = tr._("<b>Le tue segnalazioni</b>, dalla più recente. Tocca per vedere come va.") if total else tr._("Non hai ancora fatto segnalazioni.")
    return Screen(text, rows)


def render_public_report(v: Visitor, content: Content, ticket: Ticket) -> Screen:
    """What a tenant who said "me too" sees: the problem, where in the common parts, its state and dates; never the
    reporter's words, flat, name or the notes written to the reporter."""
    tr = v.tr
    lines = [
        f"<b>{tr.isolate(ticket.code)}</b> · {tr.isolate(category_name(tr, content, ticket.category_id))}",
        "📍 " + describe_public_place(tr, content, ticket),
        tr._("Stato: <b>{status}</b>", status=tr._(STATUS_LABELS[ticket.status])),
        tr._("Segnalata il {date} · ultimo aggiornamento il {updated}", date=tr.short_date(ticket.created_at),
             updated=tr.short_date(ticket.updated_at)),
    ]
    if ticket.affected > 1:
        lines.append(tr.n_("👥 {n} inquilino interessato", "👥 {n} inquilini interessati", ticket.affected))
    lines += ["", tr._("Segui questo problema: ti scrivo quando cambia stato.")]
    return Screen("\n".join(lines), [back_row(tr, callbacks.MY_REPORTS, 0)])


def render_report(v: Visitor, content: Content, ticket: Ticket, events: list[TicketEvent], photos: int, now: datetime,
                  following: bool) -> Screen:
    tr = v.tr
    lines = [
        f"<b>{tr.isolate(ticket.code)}</b> · {tr.isolate(category_name(tr, content, ticket.category_id))}",
        "📍 " + describe_place(tr, content, ticket),
        tr._("Stato: <b>{status}</b>", status=tr._(STATUS_LABELS[ticket.status])),
    ]
    if ticket.description:
        lines.append("📝 «" + tr.isolate(clip(ticket.description, 600)) + "»")
    if photos:
        lines.append(tr.n_("📷 {n} foto", "📷 {n} foto", photos))
    if ticket.affected > 1:
        lines.append(tr.n_("👥 {n} inquilino interessato", "👥 {n} inquilini interessati", ticket.affected))
    if ticket.status == "rejected":
        lines.append(tr._("Motivo: {reason}", reason=outgoing_tickets.reject_reason_text(tr, ticket)))
    elif ticket.last_note:
        lines.append(tr._("🗒 Ultima nota del custode: «{note}»", note=clip(ticket.last_note, 500)))
    if ticket.stars:
        lines.append(tr._("Il tuo voto: {stars}", stars="⭐" * ticket.stars))
    lines += ["", tr._("<b>Storia</b>"), *outgoing_tickets.history_lines(tr, events)]
    rows = []
    if tickets.can_answer_resolution(ticket, v.user_id, now):
        lines += ["", tr._("Il custode dice che è risolto. È vero?")]
        rows += resolution_rows(tr, ticket.id)
    elif tickets.can_rate(ticket, v.user_id):
        lines += ["", tr._("Com'è andata? Dai un voto all'intervento, da 1 a 5 stelle.")]
        rows.append(star_row(ticket.id))
    if following and ticket.status in tickets.TRANSITIONS[Action.COMMENT][0]:
        rows.append([button(tr._("💬 Aggiungi un messaggio o una foto"), callbacks.REPORT_COMMENT, ticket.id)])
    rows.append(back_row(tr, callbacks.MY_REPORTS, 0))
    return Screen("\n".join(lines), rows)
