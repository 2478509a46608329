"""What's on for tenants: this week near me (one tap from the main menu), by space, by kind; an item with its
sign-up (the booking engine's own screens and rules), the .ics for the calendar, "I'm interested" in a job offer;
what they follow; where they live.

Every button carries ids only; each action checks again what it needs (the item exists and is open, the booking
is the tenant's), because data can be forged.
"""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from datetime import date, datetime, timedelta

from icalendar import Calendar, Event, Timezone, vRecur
from telegram import InputFile, Update

from bot import callbacks
from bot.i18n import N_, Translator
from bot.runtime import FrontDeskContext, Runtime, Visitor
from bot.ui import Button, Screen, back_row, button, clip, menu_row, pager_row, show
from handlers.outgoing.bookings import enqueue_offer, reminder_params
from handlers.outgoing.interests import tell_interest
from handlers.common import paging, space_name
from handlers.neighbourhood_screens import KIND_LABELS, follow_name, near_space_ids, occurrence_line, place_label, places
from storage.db import core_in_session
from storage.domain import booking_intents, bookings, neighbourhood
from storage.domain.bookings import Refused
from storage.content import Content, Estate
from storage.content.events import KINDS, Item, occurrences_between

WEEK_LINES = 12
ESTATES_PER_PAGE = 8


# --- small pure helpers


def _local(rt: Runtime) -> datetime:
    return rt.clock.now().astimezone(rt.settings.timezone).replace(tzinfo=None)


# --- screens


def render_week(v: Visitor, content: Content, now_local: datetime, near: set[str]) -> Screen:
    """This week near me: the tenant's space first, then the others, one line per occurrence."""
    tr = v.tr
    pairs = occurrences_between(content.programme, now_local, now_local + timedelta(days=7))
    ordered = [pair for pair in pairs if pair[1].space_id in near] + [pair for pair in pairs if pair[1].space_id not in near]
    lines = [tr._("🗓 <b>Cosa c'è nei prossimi 7 giorni</b>")]
    if near:
        lines.append(tr._("Prima quello che c'è vicino a te ({space}).", space=space_name(tr, content, next(iter(near)))))
    else:
        lines.append(tr._("Dicci dove abiti e ti mostriamo prima quello che c'è vicino a te."))
    lines.append("")
    lines += [occurrence_line(tr, content, *pair) for pair in ordered[:WEEK_LINES]] or [tr._("Questa settimana non c'è niente in programma.")]
    if len(ordered) > WEEK_LINES:
        lines.append(tr.n_("…e altri {n} appuntamenti: cercali per spazio.", "…e altri {n} appuntamenti: cercali per spazio.", len(ordered) - WEEK_LINES))
    items = list(dict.fromkeys(item.id for _occurrence, item in ordered))[:6]
    rows = [[button(clip(content.programme.items[item_id].title.get(tr.language), 40), callbacks.WHATS_ON_ITEM, item_id)] for item_id in items]
    rows.append([button(tr._(KIND_LABELS[kind]), callbacks.WHATS_ON_KIND, kind) for kind in KINDS])
    rows.append([button(tr._("🏠 Per spazio"), callbacks.WHATS_ON_SPACES), button(tr._("🔔 Cosa seguo"), callbacks.FOLLOWS)])
    rows.append([button(tr._("📍 Dove abito"), callbacks.HOME, 0)])
    rows.append(menu_row(tr))
    return Screen("\n".join(lines), rows)


def render_spaces(v: Visitor, content: Content) -> Screen:
    tr = v.tr
    rows = [[button(space.name.get(tr.language), callbacks.WHATS_ON_SPACE, space.id)]
            for space in content.spaces.values() if content.programme.of_space(space.id)]
    return Screen(tr._("In quale spazio?"), [*rows, back_row(tr, callbacks.WHATS_ON)])


def _item_rows(tr: Translator, items: list[Item], content: Content | None = None) -> list[list[Button]]:
    """One button per item; with `content`, the space's name too (lists across spaces repeat titles)."""
    def label(item: Item) -> str:
        title = item.title.get(tr.language)
        return clip(f"{title} · {space_name(tr, content, item.space_id)}" if content is not None else title, 56)

    return [[button(label(item), callbacks.WHATS_ON_ITEM, item.id)] for item in items[:20]]


def render_space_programme(v: Visitor, content: Content, space_id: str, today: date, following: bool) -> Screen:
    tr = v.tr
    items = [item for item in content.programme.of_space(space_id) if item.is_open(today)]
    text = tr._("<b>{space}</b>: cosa c'è in programma.", space=space_name(tr, content, space_id))
    if not items:
        text += "\n\n" + tr._("Per ora niente in programma.")
    follow = (button(tr._("🔕 Non seguire più questo spazio"), callbacks.UNFOLLOW, "space", space_id) if following
              else button(tr._("🔔 Avvisami delle novità di questo spazio"), callbacks.FOLLOW, "space", space_id))
    return Screen(text, [*_item_rows(tr, items), [follow], back_row(tr, callbacks.WHATS_ON_SPACES)])


def render_kind(v: Visitor, content: Content, kind: str, today: date, following: bool) -> Screen:
    tr = v.tr
    items = [item for item in content.programme.of_kind(kind) if item.is_open(today)]
    text = tr._("<b>{kind}</b> in tutti gli spazi.", kind=tr._(KIND_LABELS[kind]))
    if not items:
        text += "\n\n" + tr._("Per ora niente in programma.")
    follow = (button(tr._("🔕 Non avvisarmi più"), callbacks.UNFOLLOW, "kind", kind) if following
              else button(tr._("🔔 Avvisami quando ce ne sono di nuovi"), callbacks.FOLLOW, "kind", kind))
    others = [button(tr._(KIND_LABELS[other]), callbacks.WHATS_ON_KIND, other) for other in KINDS if other != kind]
    return Screen(text, [*_item_rows(tr, items, content), [follow], others, back_row(tr, callbacks.WHATS_ON)])


def item_lines(tr: Translator, content: Content, item: Item, now_local: datetime) -> list[str]:
    lines = [f"<b>{tr.isolate(item.title.get(tr.language))}</b>", tr._("📍 {space}", space=space_name(tr, content, item.space_id)), ""]
    lines.append(tr.isolate(item.description.get(tr.language)))
    if item.kind == "courses":
        lines += ["", tr.n_("🎓 Corso di {n} incontro:", "🎓 Corso di {n} incontri:", len(item.occurrences))]
        lines += [tr._("• {day} {start}–{end}", day=tr.short_date(o.start.date()), start=tr.time(o.start.time()), end=tr.time(o.end.time()))
                  for o in item.occurrences]
    elif item.kind == "activities":
        upcoming = item.upcoming(now_local)[:3]
        if upcoming:
            lines += ["", tr._("Prossime date:")]
            lines += [tr._("• {day} {start}–{end}", day=tr.short_date(o.start.date()), start=tr.time(o.start.time()), end=tr.time(o.end.time()))
                      for o in upcoming]
    for label, text in ((N_("Ruolo: {text}"), item.role), (N_("Orario: {text}"), item.hours),
                        (N_("Requisiti: {text}"), item.requirements), (N_("Prerequisiti: {text}"), item.prerequisites),
                        (N_("Per chi: {text}"), item.audience), (N_("Costo: {text}"), item.cost)):
        if text is not None:
            lines.append(tr._(label, text=text.get(tr.language)))
    if item.offered_by:
        lines.append(tr._("Offerta da: {name}", name=item.offered_by))
    if item.closes is not None:
        lines.append(tr._("Candidature fino a {day}", day=tr.date(item.closes, "long")))
    lines.append(tr._("Lingue parlate: {languages}", languages=", ".join(code.upper() for code in item.languages)))
    return lines


def render_item(v: Visitor, content: Content, item: Item, now_local: datetime, *, seats: dict[datetime, int],
                enrolled: bool, interested: bool) -> Screen:
    """`seats`: seats left by occurrence start (UTC) for the next bookable ones; `enrolled`: a course's sign-up."""
    tr = v.tr
    tz = tr.timezone
    lines = item_lines(tr, content, item, now_local)
    rows: list[list[Button]] = []
    if item.kind == "activities" and item.capacity is not None:
        for start, left in list(seats.items())[:3]:
            label = tr._("✍️ {day} {time} ({seats})", day=tr.short_date(start), time=tr.time(start),
                         seats=tr.n_("{n} posto", "{n} posti", left) if left else tr._("lista d'attesa"))
            rows.append([button(label, callbacks.BOOK_SLOT, item.id, bookings.stamp_of(start, tz))])
    elif item.kind == "courses" and item.capacity is not None:
        if enrolled:
            lines += ["", tr._("✅ Sei iscritto/a a tutti gli incontri.")]
            rows.append([button(tr._("❌ Annulla l'iscrizione"), callbacks.COURSE_LEAVE, item.id)])
        elif seats:
            left = min(seats.values())
            lines += ["", tr.n_("Resta {n} posto.", "Restano {n} posti.", left) if left else tr._("Il corso è al completo.")]
            if left:
                rows.append([button(tr._("✍️ Iscriviti al corso"), callbacks.COURSE_JOIN, item.id)])
    elif item.kind == "jobs":
        if interested:
            lines += ["", tr._("✅ Hai già detto che ti interessa: lo spazio ti contatterà.")]
        else:
            rows.append([button(tr._("🙋 Mi interessa"), callbacks.JOB_INTEREST, item.id)])
    if item.kind != "jobs":
        rows.append([button(tr._("📅 Aggiungi al mio calendario"), callbacks.WHATS_ON_ICS, item.id)])
    rows.append(back_row(tr, callbacks.WHATS_ON))
    return Screen("\n".join(lines), rows)


def render_interest_ask(v: Visitor, content: Content, item: Item, phone: str | None) -> Screen:
    tr = v.tr
    text = "\n\n".join((
        tr._("Se confermi, chi gestisce {space} riceverà il tuo nome, «{name}», per contattarti sull'offerta «{title}».",
             space=space_name(tr, content, item.space_id), name=v.first_name, title=item.title.get(tr.language)),
        tr._("Puoi aggiungere il tuo telefono. Non lo vedrà nessun altro."),
    ))
    rows = []
    if phone:
        rows.append([button(tr._("📞 Nome e telefono {phone}", phone=phone), callbacks.JOB_INTEREST_SEND, item.id, "phone")])
    rows.append([button(tr._("✍️ Scrivi un numero"), callbacks.JOB_INTEREST_TYPE, item.id)])
    rows.append([button(tr._("👤 Solo il nome"), callbacks.JOB_INTEREST_SEND, item.id, "name")])
    rows.append([button(tr._("⬅️ Indietro"), callbacks.WHATS_ON_ITEM, item.id)])
    return Screen(text, rows)


def render_follows(v: Visitor, content: Content, topics: set[str]) -> Screen:
    tr = v.tr
    rows = []
    for kind in KINDS:
        on = f"kind:{kind}" in topics
        rows.append([button(("🔔 " if on else "🔕 ") + tr._(KIND_LABELS[kind]), callbacks.UNFOLLOW if on else callbacks.FOLLOW, "kind", kind)])
    for space in content.spaces.values():
        on = f"space:{space.id}" in topics
        rows.append([button(("🔔 " if on else "🔕 ") + space.name.get(tr.language), callbacks.UNFOLLOW if on else callbacks.FOLLOW, "space", space.id)])
    on = "digest" in topics
    rows.append([button(("🔔 " if on else "🔕 ") + tr._("Riepilogo del lunedì mattina"), callbacks.UNFOLLOW if on else callbacks.FOLLOW, "digest", "-")])
    rows.append(back_row(tr, callbacks.WHATS_ON))
    text = tr._("<b>Cosa seguo.</b> Tocca per accendere 🔔 o spegnere 🔕. Le novità arrivano una volta sola, mai tra le 21 e le 8.")
    return Screen(text, rows)


def render_unfollowed(v: Visitor, content: Content, kind: str, ref: str) -> Screen:
    tr = v.tr
    what = follow_name(tr, content, kind, ref)
    return Screen(tr._("🔕 Fatto: non ti scriviamo più per «{what}».", what=what),
                  [[button(tr._("🔔 Riattiva"), callbacks.FOLLOW, kind, ref)], [button(tr._("🔔 Cosa seguo"), callbacks.FOLLOWS)], menu_row(tr)])


def render_home_estates(v: Visitor, content: Content, page: int) -> Screen:
    tr = v.tr
    estates = list(content.estates.values())
    page, pages = paging(page, len(estates), ESTATES_PER_PAGE)
    rows = [[button(estate.name, callbacks.HOME_ESTATE, estate.id)] for estate in estates[page * ESTATES_PER_PAGE:(page + 1) * ESTATES_PER_PAGE]]
    pager = pager_row(tr, callbacks.HOME, page, pages)
    if pager:
        rows.append(pager)
    rows.append(back_row(tr, callbacks.WHATS_ON))
    return Screen(tr._("📍 <b>Dove abiti?</b> Scegli il tuo complesso: così ti arrivano gli avvisi del tuo palazzo e vedi prima le attività vicine."), rows)


def render_home_places(v: Visitor, estate: Estate) -> Screen:
    tr = v.tr
    rows = [[button(place_label(tr, estate, building, staircase), callbacks.HOME_BUILDING, estate.id, index)]
            for index, (building, staircase) in enumerate(places(estate))]
    rows.append([button(tr._("Non so / tutto il complesso"), callbacks.HOME_BUILDING, estate.id, -1)])
    rows.append(back_row(tr, callbacks.HOME, 0))
    return Screen(tr._("<b>{estate}</b>: quale palazzo e scala?", estate=estate.name), rows)


# --- .ics


def calendar_file(item: Item, content: Content, tz_name: str, language: str, now_local: datetime) -> bytes:
    """The item's dates as an iCalendar file: one event with its RRULE and exceptions for a recurring activity,
    one event per session otherwise. Built by the icalendar library."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(tz_name)
    space = content.spaces.get(item.space_id)
    calendar = Calendar()
    calendar.add("prodid", "-//Quartieri Connessi//Cosa c'e//IT")
    calendar.add("version", "2.0")
    occurrences = list(item.occurrences) if item.recurrence or item.kind == "courses" else item.upcoming(now_local)[:1]
    if item.recurrence:
        occurrences = occurrences[:1]
    for number, occurrence in enumerate(occurrences):
        event = Event()
        event.add("uid", f"{item.id}-{number}@quartieri-connessi")
        event.add("summary", item.title.get(language))
        event.add("description", item.description.get(language))
        event.add("dtstart", occurrence.start.replace(tzinfo=tz))
        event.add("dtend", occurrence.end.replace(tzinfo=tz))
        event.add("dtstamp", now_local.replace(tzinfo=tz))
        if space is not None:
            event.add("location", f"{space.name.get(language)}, {space.address}, Milano")
        if item.recurrence:
            event.add("rrule", vRecur.from_ical(item.recurrence))
            for day in item.exceptions:
                event.add("exdate", datetime.combine(day, occurrence.start.time()).replace(tzinfo=tz))
        calendar.add_component(event)
    calendar.subcomponents.insert(0, _vtimezone(tz_name))  # where add_missing_timezones() puts it
    return calendar.to_ical()


@functools.lru_cache(maxsize=4)
def _vtimezone(tz_name: str) -> Timezone:
    """The zone's VTIMEZONE, over the library's default span (1970-2038): building it was over half of a file's
    ~10 ms, held on the event loop, so it is built once, as icalendar's documentation asks."""
    return Timezone.from_tzid(tz_name)


# --- handlers


async def _answer(update: Update, text: str | None = None) -> None:
    if update.callback_query is not None:
        await update.callback_query.answer(text)


async def _week_screen(rt: Runtime, v: Visitor) -> Screen:
    async with rt.db.read() as session:
        home = await neighbourhood.home_of(session, v.user_id)
    near = near_space_ids(rt.content, home.estate_id if home is not None else v.last_estate_id)
    return render_week(v, rt.content, _local(rt), near)


async def whats_on(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    await _answer(update)
    await show(update, await _week_screen(rt, await context.open()))


async def by_spaces(update: Update, context: FrontDeskContext) -> None:
    await _answer(update)
    await show(update, render_spaces(await context.open(), context.rt.content))


async def by_space(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    space_id = context.data.args[0]
    if space_id not in rt.content.spaces:
        await _answer(update, v.tr._("Questo spazio non è più in elenco."))
        await show(update, render_spaces(v, rt.content))
        return
    await _answer(update)
    async with rt.db.read() as session:
        following = f"space:{space_id}" in await neighbourhood.follows_of(session, v.user_id)
    await show(update, render_space_programme(v, rt.content, space_id, _local(rt).date(), following))


async def by_kind(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    kind = context.data.args[0]
    if kind not in KINDS:
        await _answer(update)
        await show(update, await _week_screen(rt, v))
        return
    await _answer(update)
    async with rt.db.read() as session:
        following = f"kind:{kind}" in await neighbourhood.follows_of(session, v.user_id)
    await show(update, render_kind(v, rt.content, kind, _local(rt).date(), following))


async def _item_or_gone(update: Update, rt: Runtime, v: Visitor, item_id: str) -> Item | None:
    item = rt.content.programme.items.get(item_id)
    if item is None or not item.is_open(_local(rt).date()):
        await _answer(update, v.tr._("Questa proposta non è più in programma."))
        await show(update, await _week_screen(rt, v))
        return None
    return item


async def _item_screen(rt: Runtime, v: Visitor, item: Item) -> Screen:
    now = rt.clock.now()
    seats: dict[datetime, int] = {}
    enrolled = interested = False
    service = rt.content.services.get(item.id)
    async with rt.db.read() as session:
        if service is not None and service.booking is not None:
            space = rt.content.spaces[item.space_id]
            free = await core_in_session(
                session, lambda connection: bookings.free_slots(connection, service, space, now, rt.settings.timezone))
            seats = {entry.slot.start: entry.left for entry in free}
            if item.kind == "courses":
                enrolled = bool(await bookings.active_for_service(session, v.user_id, item.id))
        if item.kind == "jobs":
            interested = await neighbourhood.has_interest(session, v.user_id, item.id)
    return render_item(v, rt.content, item, _local(rt), seats=seats, enrolled=enrolled, interested=interested)


def about_an_item(handler: Callable[[Update, FrontDeskContext, Item], Awaitable[None]],
                  ) -> Callable[[Update, FrontDeskContext], Awaitable[None]]:
    """For the buttons about one item of the programme (its id first): the handler gets the item, or the person is
    told it is no longer on and sees the week."""

    @functools.wraps(handler)
    async def opened(update: Update, context: FrontDeskContext) -> None:
        item = await _item_or_gone(update, context.rt, await context.open(), context.data.args[0])
        if item is not None:
            await handler(update, context, item)

    return opened


async def _show_item(update: Update, rt: Runtime, v: Visitor, item: Item, note: str | None = None, *,
                     note_above: bool = False) -> None:
    """Answer the button (with a short note) and show the item, the note written above it too with `note_above`."""
    await _answer(update, note)
    screen = await _item_screen(rt, v, item)
    if note_above:
        screen.text = f"{note}\n\n{screen.text}"
    await show(update, screen)


@about_an_item
async def item_view(update: Update, context: FrontDeskContext, item: Item) -> None:
    await _show_item(update, context.rt, await context.open(), item)


@about_an_item
async def calendar(update: Update, context: FrontDeskContext, item: Item) -> None:
    rt, v = context.rt, await context.open()
    if item.kind == "jobs":
        await _answer(update)
        return
    await _answer(update, v.tr._("Ecco il file per il tuo calendario."))
    data = calendar_file(item, rt.content, rt.settings.timezone.key, v.language, _local(rt))
    # The person's own answer: sent now, not through the outbox.
    rows = [[button(v.tr._("⬅️ Indietro"), callbacks.WHATS_ON_ITEM, item.id)], menu_row(v.tr)]
    await context.bot.send_document(v.chat_id, InputFile(data, filename=f"{item.id}.ics"),
                                    caption=v.tr._("📅 {title}: aprilo per aggiungerlo al calendario.", title=item.title.get(v.language)),
                                    reply_markup=Screen("", rows).keyboard)


@about_an_item
async def course_join(update: Update, context: FrontDeskContext, item: Item) -> None:
    """One sign-up, a seat in every session: all the bookings in one transaction, or none."""
    rt, v = context.rt, await context.open()
    service = rt.content.services.get(item.id)
    if item.kind != "courses" or service is None or service.booking is None:
        await _show_item(update, rt, v, item)
        return
    space = rt.content.spaces[item.space_id]
    now = rt.clock.now()
    tz = rt.settings.timezone
    note = v.tr._("Iscrizione fatta: hai un posto in ogni incontro.")
    try:
        await booking_intents.join_course(
            rt.db, service, space, [occurrence.start for occurrence in item.occurrences], user_id=v.user_id,
            chat_id=v.chat_id, name=v.first_name, language=v.language, now=now, tz=tz,
            reminder_params=lambda booked: reminder_params(v.tr, rt.content, booked))
    except Refused as refusal:
        note = {
            bookings.Reason.FULL: v.tr._("Il corso è al completo: non ti abbiamo iscritto/a."),
            bookings.Reason.ALREADY_BOOKED: v.tr._("Eri già iscritto/a."),
        }.get(refusal.reason, v.tr._("Non è stato possibile iscriverti: il corso è cambiato."))
    rt.wake_outbox()
    await _show_item(update, rt, v, item, note, note_above=True)


@about_an_item
async def course_leave(update: Update, context: FrontDeskContext, item: Item) -> None:
    rt, v = context.rt, await context.open()
    now = rt.clock.now()
    rules = rt.content.services[item.id].booking if item.id in rt.content.services else None
    async with rt.db.write() as session:
        cancelled = await bookings.leave_course(session, v.user_id, item.id, now, rules)
        for cancellation in cancelled:
            if cancellation.offer is not None:
                await enqueue_offer(session, rt, cancellation.offer, now)
    rt.wake_outbox()
    note = v.tr._("Iscrizione annullata.") if cancelled else v.tr._("Non c'era un'iscrizione da annullare.")
    await _show_item(update, rt, v, item, note, note_above=True)


@about_an_item
async def job_interest(update: Update, context: FrontDeskContext, item: Item) -> None:
    rt, v = context.rt, await context.open()
    if item.kind != "jobs":
        await _show_item(update, rt, v, item)
        return
    await _answer(update)
    phone = await bookings.phone_on_file(rt.db, v.user_id)
    await show(update, render_interest_ask(v, rt.content, item, phone))


@about_an_item
async def job_interest_send(update: Update, context: FrontDeskContext, item: Item) -> None:
    """With the tenant's consent (this tap), the space's operators get their name and the phone they chose."""
    rt, v, decoded = context.rt, await context.open(), context.data
    if item.kind != "jobs" or decoded.args[1] not in ("name", "phone"):
        await _show_item(update, rt, v, item)
        return
    phone = await bookings.phone_on_file(rt.db, v.user_id) if decoded.args[1] == "phone" else None
    fresh = await tell_interest(rt, v, item, phone)
    await _show_item(update, rt, v, item, v.tr._("Fatto: lo spazio ti contatterà.") if fresh else None)


async def follows(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    await _answer(update)
    async with rt.db.read() as session:
        topics = await neighbourhood.follows_of(session, v.user_id)
    await show(update, render_follows(v, rt.content, topics))


def _topic(kind: str, ref: str) -> str:
    return "digest" if kind == "digest" else f"{kind}:{ref}"


async def follow_toggle(update: Update, context: FrontDeskContext) -> None:
    """FOLLOW shows what the tenant follows now; UNFOLLOW (also the one tap under every announcement) confirms in
    place, with a way to turn it on again."""
    rt = context.rt
    v = await context.open()
    decoded = context.data
    kind, ref = decoded.args
    topic = _topic(kind, ref)
    if not neighbourhood.topic_valid(topic, rt.content):
        await _answer(update)
        await show(update, await _week_screen(rt, v))
        return
    following = decoded.action is callbacks.FOLLOW
    async with rt.db.write() as session:
        if following:
            await neighbourhood.follow(session, v.user_id, topic, rt.clock.now())
        else:
            await neighbourhood.unfollow(session, v.user_id, topic)
        topics = await neighbourhood.follows_of(session, v.user_id)
    await _answer(update, v.tr._("🔔 Ti avviseremo delle novità.") if following else v.tr._("🔕 Non ti scriviamo più per questo."))
    await show(update, render_follows(v, rt.content, topics) if following else render_unfollowed(v, rt.content, kind, ref))


async def home_estates(update: Update, context: FrontDeskContext) -> None:
    await _answer(update)
    await show(update, render_home_estates(await context.open(), context.rt.content,
                                           context.data.int(0)))


async def home_estate(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    estate = rt.content.estates.get(context.data.args[0])
    await _answer(update)
    await show(update, render_home_places(v, estate) if estate is not None else render_home_estates(v, rt.content, 0))


async def home_place(update: Update, context: FrontDeskContext) -> None:
    rt = context.rt
    v = await context.open()
    decoded = context.data
    estate = rt.content.estates.get(decoded.args[0])
    index = decoded.int(1)
    choices = places(estate) if estate is not None else []
    if estate is None or not -1 <= index < len(choices):
        await _answer(update)
        await show(update, render_home_estates(v, rt.content, 0))
        return
    building, staircase = choices[index] if index >= 0 else ("", "")
    async with rt.db.write() as session:
        await neighbourhood.set_home(session, v.user_id, estate.id, building, staircase, rt.clock.now())
    where = place_label(v.tr, estate, building, staircase) if building else estate.name
    await _answer(update, v.tr._("📍 Salvato: {place}", place=where))
    await show(update, await _week_screen(rt, v))
