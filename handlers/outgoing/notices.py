"""Notices and the bot's own broadcasts as their recipients read them, and the messages of a notice's life to
people other than the one pressing: the moderation request to editors, the answer to its author. The broadcast
sender (bot/broadcast_sender.py) renders each broadcast here at delivery, in the recipient's language; the
periodic jobs that create the programme's announcements and the Monday digest live here too. The author's own
screens are the notices conversation (handlers/notices.py).

Outbox kinds written here: `notice_moderation` (one per editor, ref = the notice). Broadcast kinds rendered
here: `notice`, `item`, `digest`.
"""

from __future__ import annotations

import html
from datetime import datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.i18n import LANGUAGE_NAMES, Translator
from bot.runtime import Runtime
from bot.ui import Button, Screen, button, clip
from handlers.common import chat_translator, message_params, space_name, translator_for
from handlers.neighbourhood_screens import follow_name, near_space_ids, occurrence_line, place_label
from storage.domain import broadcast, neighbourhood, outbox, users
from storage.content import Content
from storage.content.events import occurrences_between
from storage.models import Broadcast, TenantHome


# --- what recipients read (the broadcast sender renders each at delivery)


def audience_label(tr: Translator, content: Content, notice: Broadcast) -> str:
    ref = notice.audience_ref
    if notice.audience == "everyone":
        return tr._("tutti gli inquilini")
    if notice.audience == "space":
        return tr._("chi segue {space}", space=space_name(tr, content, ref))
    estate = content.estates.get(ref.split("/")[0])
    name = estate.name if estate is not None else ref
    if notice.audience == "building" and estate is not None:
        parts = ref.split("/")
        return tr._("{estate}: {place}", estate=name, place=place_label(tr, estate, parts[1], parts[2] if len(parts) > 2 else ""))
    return name


def notice_text(tr: Translator, notice: Broadcast) -> str:
    """The notice in the reader's language: the author's translation, or the original with a one-line note."""
    header = tr._("🚨 <b>Avviso urgente</b>") if notice.urgent else tr._("📢 <b>Avviso</b>")
    translated = (notice.translations or {}).get(tr.language)
    if translated:
        return f"{header}\n\n{html.escape(translated)}"
    body = f"{header}\n\n{html.escape(notice.text)}"
    if tr.language != notice.language:
        body += "\n\n<i>" + tr._("(Avviso scritto in {language}: non c'è una traduzione nella tua lingua.)",
                                 language=LANGUAGE_NAMES.get(notice.language, notice.language)) + "</i>"
    return body


def unfollow_row(tr: Translator, content: Content, kind: str, ref: str) -> list[Button]:
    return [button(tr._("🔕 Basta messaggi per «{what}»", what=clip(follow_name(tr, content, kind, ref), 30)),
                   callbacks.UNFOLLOW, kind, ref)]


def render_item_announcement(tr: Translator, content: Content, item_id: str) -> Screen | None:
    item = content.programme.items.get(item_id)
    if item is None:
        return None
    lines = [tr._("✨ <b>Novità a {space}</b>", space=space_name(tr, content, item.space_id)), "",
             f"<b>{tr.isolate(item.title.get(tr.language))}</b>", clip(item.description.get(tr.language), 600)]
    rows = [[button(tr._("👀 Guarda"), callbacks.WHATS_ON_ITEM, item.id)],
            unfollow_row(tr, content, "space", item.space_id), unfollow_row(tr, content, "kind", item.kind)]
    return Screen("\n".join(lines), rows)


def render_digest(tr: Translator, content: Content, monday_local, near: set[str]) -> Screen | None:  # type: ignore[no-untyped-def]
    pairs = occurrences_between(content.programme, monday_local, monday_local + timedelta(days=7), near or None)
    if not pairs:
        return None
    lines = [tr._("🗓 <b>Questa settimana vicino a te</b>"), ""] + [occurrence_line(tr, content, *pair) for pair in pairs[:15]]
    rows = [[button(tr._("🗓 Cosa c'è"), callbacks.WHATS_ON)], unfollow_row(tr, content, "digest", "-")]
    return Screen("\n".join(lines), rows)


def renderer(rt: Runtime):  # type: ignore[no-untyped-def]
    """The BroadcastSender's render: (broadcast, recipient row) -> the Bot API call, in the recipient's language."""

    async def render(item: Broadcast, row: broadcast.Claimed) -> tuple[str, dict] | None:
        tr = translator_for(rt, row.language)
        content = rt.content
        if item.kind == "notice":
            text = notice_text(tr, item)
            rows = [unfollow_row(tr, content, "space", item.audience_ref)] if item.audience == "space" else []
            if item.photo_file_id:
                screen = Screen(text, rows)
                params = {"photo": item.photo_file_id, "caption": text, "parse_mode": "HTML"}
                if screen.keyboard is not None:
                    params["reply_markup"] = screen.keyboard.to_dict()
                return "sendPhoto", params
            return "sendMessage", message_params(Screen(text, rows))
        if item.kind == "item":
            screen = render_item_announcement(tr, content, item.text)
            return ("sendMessage", message_params(screen)) if screen is not None else None
        if item.kind == "digest":
            async with rt.db.read() as session:
                home = await session.get(TenantHome, row.user_id)
            monday = datetime.combine(datetime.fromisoformat(item.text).date(), time(0, 0))
            screen = render_digest(tr, content, monday, near_space_ids(content, home.estate_id if home else None))
            return ("sendMessage", message_params(screen)) if screen is not None else None
        return None

    return render


# --- a notice's life, told to others through the outbox


async def ask_editors(session, rt: Runtime, notice: Broadcast, author: str, now) -> None:  # type: ignore[no-untyped-def]
    """A committee member's notice waits for an editor: every editor and admin gets it with approve / reject."""
    editors = {user.id for user in await users.users_with_role(session, "editor", "") if user.blocked_at is None}
    for chat_id in sorted(editors | set(rt.settings.admin_ids)):
        tr = await chat_translator(session, rt, chat_id)
        text = "\n".join((tr._("🗳 <b>Un avviso del comitato aspetta la tua approvazione.</b>"),
                          tr._("Da: {name}. A: {audience}.", name=author, audience=audience_label(tr, rt.content, notice)), "",
                          notice_text(tr, notice)))
        rows = [[button(tr._("✅ Approva e manda"), callbacks.NOTICE_APPROVE, notice.id), button(tr._("❌ Rifiuta"), callbacks.NOTICE_REJECT, notice.id)]]
        await outbox.enqueue(session, chat_id=chat_id, method="sendMessage", params=message_params(Screen(text, rows)),
                             dedupe_key=f"notice-moderation:{notice.id}:{chat_id}", now=now, kind="notice_moderation", ref=str(notice.id))


async def tell_author_moderated(session: AsyncSession, rt: Runtime, notice: Broadcast, approved: bool, now: datetime) -> None:
    """The author of a committee notice learns the editor's decision."""
    if notice.author_id is None:
        return
    tr = await chat_translator(session, rt, notice.author_id)
    text = tr._("✅ Il tuo avviso è stato approvato ed è in invio.") if approved else tr._("❌ Il tuo avviso non è stato approvato da un editor.")
    rows = [[button(tr._("🔄 Come procede"), callbacks.NOTICE_PROGRESS, notice.id)]] if approved else []
    await outbox.enqueue(session, chat_id=notice.author_id, method="sendMessage", params=message_params(Screen(text, rows)),
                         dedupe_key=f"notice-moderated:{notice.id}", now=now)


# --- the bot's own broadcasts (periodic jobs) and waking the sender


def wake_broadcasts(rt: Runtime) -> None:
    if rt.broadcasts is not None:
        rt.broadcasts.wake()


async def announce_new_items(rt: Runtime) -> None:
    """Periodic job: items added to the programme reach their followers once. On the very first run the whole
    programme counts as known (nobody follows anything yet, and nothing in it is news)."""
    now = rt.clock.now()
    async with rt.db.write() as session:
        if not await neighbourhood.anything_announced(session):
            await neighbourhood.mark_all_announced(session, rt.content.programme, now)
            return
        created = await neighbourhood.announce_new_items(session, rt.content.programme, now, rt.settings.timezone)
    if created:
        wake_broadcasts(rt)


async def weekly_digest(rt: Runtime) -> None:
    """Periodic job: on Monday morning, one digest for the tenants who asked for it."""
    now = rt.clock.now()
    monday = neighbourhood.digest_due(now, rt.settings.timezone)
    if monday is None:
        return
    async with rt.db.write() as session:
        created = await neighbourhood.queue_digest(session, monday, now, rt.settings.timezone)
    if created:
        wake_broadcasts(rt)


