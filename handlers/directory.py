"""Spaces and services: the list by neighbourhood, a space with today's hours, a service, search, nearest spaces,
and the help pages (FAQ and useful numbers)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TypeVar

from telegram import ReplyKeyboardRemove, Update

from bot import callbacks
from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext, Visitor
from bot.ui import Screen, back_row, button, clip, menu_row, pager_row, show
from handlers.common import ask_for_location, reply
from storage.domain import geo, hours
from storage.content import Content, LocalText, Service, Space
from storage.domain.search import search

T = TypeVar("T")

SPACES_PER_PAGE = 5
SERVICES_PER_PAGE = 6
FAQ_PER_PAGE = 6
MODEL_LABELS = {
    "social_portineria": N_("Portineria sociale"),
    "animation": N_("Animazione e servizi innovativi"),
    "enterprise": N_("Impresa e comunità"),
}
# Hooks later features fill: extra buttons under a service (e.g. "Book") given (visitor, service).
SERVICE_BUTTONS: list = []
# A search hit of a kind this module does not show itself (e.g. "guide"): (visitor, content, kind, id) -> Button | None.
SEARCH_BUTTONS: list = []
# Extra buttons on a space's screen given (visitor, space), e.g. its time bank.
SPACE_BUTTONS: list = []
# Extra search results from the database given (runtime, visitor, query) -> rows, e.g. time bank posts.
SEARCH_HOOKS: list = []


def text_of(tr: Translator, value: LocalText | None, limit: int | None = None) -> str:
    """An editor's text in the reader's language, with a short note when only the Italian exists."""
    if value is None:
        return ""
    text = value.get(tr.language)
    if limit:
        text = clip(text, limit)
    return text


def italian_only_note(tr: Translator, *values: LocalText | None) -> str:
    if any(value is not None and value.is_fallback(tr.language) for value in values):
        return "\n\n<i>" + tr._("(Questo testo è disponibile solo in italiano.)") + "</i>"
    return ""


def today_line(tr: Translator, space: Space, now) -> str:  # type: ignore[no-untyped-def]
    local = tr.local(now)
    intervals = hours.opening_intervals(space, local.date())
    if intervals:
        spans = ", ".join(f"{tr.time(start)}–{tr.time(end)}" for start, end in intervals)
        line = tr._("🕘 Oggi: {hours}", hours=spans)
    else:
        line = tr._("🕘 Oggi: chiuso")
    if hours.is_open_at(space, local):
        return line + "\n" + tr._("🟢 Aperto ora")
    upcoming = hours.next_opening(space, local)
    if upcoming is None:
        return line + "\n" + tr._("🔴 Chiuso ora")
    return line + "\n" + tr._("🔴 Chiuso ora · riapre {when} alle {time}", when=tr.short_date(upcoming), time=tr.time(upcoming))


def render_spaces(v: Visitor, content: Content, page: int) -> Screen:
    tr = v.tr
    spaces = list(content.spaces.values())
    pages = max(1, math.ceil(len(spaces) / SPACES_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    chunk = spaces[page * SPACES_PER_PAGE : (page + 1) * SPACES_PER_PAGE]
    rows = [[button(tr.label(space.neighbourhood, space.name.get(tr.language)), callbacks.SPACE, space.id)] for space in chunk]
    pager = pager_row(tr, callbacks.SPACES, page, pages)
    if pager:
        rows.append(pager)
    rows.append([button(tr._("📍 Trova il più vicino"), callbacks.NEAREST)])
    rows.append(menu_row(tr))
    text = tr._("<b>Gli spazi di Quartieri Connessi</b>, per quartiere. Tocca uno spazio per orari, contatti e servizi.")
    if pages > 1:
        text += "\n" + tr._("Pagina {page} di {pages}", page=page + 1, pages=pages)
    return Screen(text, rows)


def render_space(v: Visitor, content: Content, space: Space, now, services_page: int = 0) -> Screen:  # type: ignore[no-untyped-def]
    tr = v.tr
    lines = [f"<b>{tr.isolate(space.name.get(tr.language))}</b>", tr._(MODEL_LABELS[space.model])]
    lines.append(tr._("📍 {address} ({neighbourhood}, Municipio {municipio})", address=space.address,
                      neighbourhood=space.neighbourhood, municipio=space.municipio))
    lines.append(today_line(tr, space, now))
    if space.phone:
        lines.append(tr._("☎️ {phone}", phone=space.phone))
    if space.email:
        lines.append(tr._("✉️ {email}", email=space.email))
    if space.operator:
        lines.append(tr._("Gestito da {operator}", operator=space.operator))
    if space.description is not None:
        lines.append("")
        lines.append(tr.isolate(text_of(tr, space.description, 600)))
    services = content.services_of(space.id)
    pages = max(1, math.ceil(len(services) / SERVICES_PER_PAGE))
    services_page = min(max(services_page, 0), pages - 1)
    chunk = services[services_page * SERVICES_PER_PAGE : (services_page + 1) * SERVICES_PER_PAGE]
    if services:
        lines.append("")
        lines.append(tr.n_("<b>{n} servizio</b>:", "<b>{n} servizi</b>:", len(services)))
    rows = [[button(service.title.get(tr.language), callbacks.SERVICE, service.id)] for service in chunk]
    pager = pager_row(tr, callbacks.SPACE_SERVICES, services_page, pages, space.id)
    if pager:
        rows.append(pager)
    rows += [row for row in (hook(v, space) for hook in SPACE_BUTTONS) if row]
    rows.append([button(tr._("🗺 Mappa e indirizzo"), callbacks.SPACE_MAP, space.id)])
    rows.append(back_row(tr, callbacks.SPACES, 0))
    text = "\n".join(lines) + italian_only_note(tr, space.description)
    return Screen(text, rows)


def render_service(v: Visitor, content: Content, service: Service) -> Screen:
    tr = v.tr
    space = content.spaces[service.space_id]
    category = content.categories.get(service.category)
    lines = [f"<b>{tr.isolate(service.title.get(tr.language))}</b>", tr._("📍 {space}", space=space.name.get(tr.language))]
    if category is not None:
        lines.append(tr._("Categoria: {category}", category=category.name.get(tr.language)))
    lines.append("")
    lines.append(tr.isolate(text_of(tr, service.description, 1500)))
    details = (
        (N_("👥 Per chi: {value}"), service.audience),
        (N_("💶 Costo: {value}"), service.cost),
        (N_("🕘 Quando: {value}"), service.when),
    )
    extra = [tr._(label, value=text_of(tr, value, 300)) for label, value in details if value is not None]
    if extra:
        lines.append("")
        lines.extend(extra)
    rows = [hook(v, service) for hook in SERVICE_BUTTONS]
    rows = [row for row in rows if row]
    rows.append(back_row(tr, callbacks.SPACE, space.id))
    note = italian_only_note(tr, service.title, service.description, service.audience, service.cost, service.when)
    return Screen("\n".join(lines) + note, rows)


def render_help(v: Visitor, content: Content, page: int) -> Screen:
    tr = v.tr
    faqs = content.faqs
    pages = max(1, math.ceil(len(faqs) / FAQ_PER_PAGE))
    page = min(max(page, 0), pages - 1)
    rows = [[button(faq.question.get(tr.language), callbacks.FAQ, faq.id)] for faq in faqs[page * FAQ_PER_PAGE : (page + 1) * FAQ_PER_PAGE]]
    pager = pager_row(tr, callbacks.HELP, page, pages)
    if pager:
        rows.append(pager)
    rows.insert(0, [button(tr._("🧭 Aiuto con i servizi online"), callbacks.GUIDES)])
    rows.append([button(tr._("☎️ Numeri utili"), callbacks.CONTACTS), button(tr._("🔒 Privacy"), callbacks.PRIVACY)])
    rows.append([button(tr._("🔐 I miei dati"), callbacks.MY_DATA)])
    rows.append(menu_row(tr))
    text = tr._("<b>Aiuto.</b> Le domande più frequenti. Puoi anche scrivermi una parola, per esempio «pacchi» o «SPID».")
    return Screen(text, rows)


def render_faq(v: Visitor, content: Content, faq_id: str) -> Screen | None:
    tr = v.tr
    faq = next((f for f in content.faqs if f.id == faq_id), None)
    if faq is None:
        return None
    text = f"<b>{tr.isolate(faq.question.get(tr.language))}</b>\n\n{tr.isolate(text_of(tr, faq.answer, 3000))}"
    return Screen(text + italian_only_note(tr, faq.question, faq.answer), [back_row(tr, callbacks.HELP, 0)])


def render_contacts(v: Visitor, content: Content) -> Screen:
    tr = v.tr
    contacts = content.contacts
    lines = [
        tr._("<b>Numeri utili</b>"),
        tr._("🚨 Emergenze (pericolo, incendio, fuga di gas): <b>{number}</b>", number=contacts.emergency_number),
        tr._("🛠 Guasti urgenti, 24 ore su 24: <b>{number}</b>", number=contacts.emergency_phone),
        tr._("☎️ Numero verde MM Casa (gratuito): <b>{number}</b>", number=contacts.free_phone),
    ]
    if contacts.website:
        lines.append(tr._("🌐 {website}", website=contacts.website))
    return Screen("\n".join(lines), [back_row(tr, callbacks.HELP, 0)])


def render_search(v: Visitor, content: Content, query: str, extra_rows: list | None = None) -> Screen:
    tr = v.tr
    hits = search(content, query, tr.language)
    rows = list(extra_rows or [])
    for hit in hits:
        if hit.kind == "service" and hit.id in content.services:
            service = content.services[hit.id]
            space = content.spaces[service.space_id]
            rows.append([button(tr.label(service.title.get(tr.language), space.neighbourhood), callbacks.SERVICE, hit.id)])
        elif hit.kind == "faq":
            faq = next((f for f in content.faqs if f.id == hit.id), None)
            if faq is not None:
                rows.append([button("❓ " + faq.question.get(tr.language), callbacks.FAQ, hit.id)])
        elif hit.kind == "space" and hit.id in content.spaces:
            rows.append([button("🏠 " + content.spaces[hit.id].name.get(tr.language), callbacks.SPACE, hit.id)])
        elif hit.kind == "problem" and hit.id in content.problems:
            rows.append([button("🔧 " + content.problems[hit.id].name.get(tr.language), callbacks.REPORT_CATEGORY, hit.id)])
        else:
            found = next((shown for hook in SEARCH_BUTTONS if (shown := hook(v, content, hit.kind, hit.id)) is not None), None)
            if found is not None:
                rows.append([found])
    rows.append(menu_row(tr))
    shown = clip(query, 60)
    if len(rows) == 1:
        text = tr._("Non ho trovato nulla per «{query}». Prova con un'altra parola, oppure guarda tutti gli spazi.", query=shown)
        rows.insert(0, [button(tr._("🏠 Spazi e servizi"), callbacks.SPACES, 0)])
    else:
        text = tr._("Ecco cosa ho trovato per «{query}»:", query=shown)
    return Screen(text, rows)


def render_nearest(v: Visitor, content: Content, lat: float, lon: float) -> Screen:
    tr = v.tr
    ranked = geo.spaces_by_distance(content, lat, lon)[:5]
    rows = [[button(f"{space.name.get(tr.language)} · {tr.distance(km)}", callbacks.SPACE, space.id)] for space, km in ranked]
    rows.append(menu_row(tr))
    return Screen(tr._("Gli spazi più vicini a te:"), rows)


# --- handlers: decode, call, render


async def spaces(update: Update, context: FrontDeskContext) -> None:
    await update.callback_query.answer()
    page = context.data.int(0)
    await show(update, render_spaces(await context.open(), context.rt.content, page))


async def _stale(update: Update, context: FrontDeskContext, v: Visitor) -> None:
    """The thing a button pointed at is gone (content changed): say so and show the list again."""
    await update.callback_query.answer(v.tr._("Questa voce non c'è più. Ecco l'elenco aggiornato."))
    await show(update, render_spaces(v, context.rt.content, 0))


async def _tapped(update: Update, context: FrontDeskContext, items: Mapping[str, T]) -> tuple[Visitor, T] | None:
    """The visitor and the space or service the button names (its first argument), or None once they have been
    told it is gone."""
    v = await context.open()
    found = items.get(context.data.args[0])
    if found is None:
        await _stale(update, context, v)
        return None
    return v, found


async def space(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    tapped = await _tapped(update, context, rt.content.spaces)
    if tapped is not None:
        v, found = tapped
        page = context.data.int(1) if context.data.action is callbacks.SPACE_SERVICES else 0
        await reply(update, render_space(v, rt.content, found, rt.clock.now(), page))


async def space_map(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    tapped = await _tapped(update, context, rt.content.spaces)
    if tapped is None:
        return
    v, found = tapped
    await update.callback_query.answer()
    await context.bot.send_venue(
        v.chat_id, latitude=found.lat, longitude=found.lon, title=found.name.get(v.language)[:128],
        address=found.address[:256],
    )
    # The venue went below the space's screen; repeat the screen so the buttons stay at the bottom.
    screen = render_space(v, rt.content, found, rt.clock.now())
    await context.bot.send_message(v.chat_id, screen.text, reply_markup=screen.keyboard)


async def service(update: Update, context: FrontDeskContext) -> None:
    tapped = await _tapped(update, context, context.rt.content.services)
    if tapped is not None:
        v, found = tapped
        await reply(update, render_service(v, context.rt.content, found))


async def help_pages(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    page = context.data.int(0) if update.callback_query else 0
    if update.callback_query:
        await update.callback_query.answer()
    await show(update, render_help(v, context.rt.content, page))


async def faq(update: Update, context: FrontDeskContext) -> None:
    v = await context.open()
    content = context.rt.content
    screen = render_faq(v, content, context.data.args[0])
    await update.callback_query.answer()
    await show(update, screen or render_help(v, content, 0))


async def contacts(update: Update, context: FrontDeskContext) -> None:
    await update.callback_query.answer()
    await show(update, render_contacts(await context.open(), context.rt.content))


async def nearest_prompt(update: Update, context: FrontDeskContext) -> None:
    """Telegram only asks for a location from a reply-keyboard button, so offer one."""
    v = await context.open()
    await ask_for_location(update, v.tr, v.chat_id, v.tr._("Tocca «Invia la mia posizione» qui sotto: ti mostro gli spazi più vicini."))


async def location_nearest(update: Update, context: FrontDeskContext) -> bool:
    """Default use of a shared location outside any flow: nearest spaces."""
    v = await context.open()
    location = update.effective_message.location
    await context.bot.send_message(v.chat_id, v.tr._("Grazie!"), reply_markup=ReplyKeyboardRemove())
    await show(update, render_nearest(v, context.rt.content, location.latitude, location.longitude))
    return True


async def search_text(update: Update, context: FrontDeskContext) -> bool:
    """Default use of free text outside any flow: search services, FAQ and problems."""
    v = await context.open()
    query = update.effective_message.text.strip()
    if query == v.tr._("Annulla"):
        await context.bot.send_message(v.chat_id, v.tr._("Va bene."), reply_markup=ReplyKeyboardRemove())
        await show(update, Screen(v.tr._("Cosa vuoi fare?"), [menu_row(v.tr)]))
        return True
    rt = context.rt
    extra = [row for hook in SEARCH_HOOKS for row in await hook(rt, v, query)]
    await show(update, render_search(v, rt.content, query, extra))
    return True

