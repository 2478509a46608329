"""Messages of the time bank to people other than the one pressing: notices to members and to the space's
keepers, in their own language, and the weekly "new offers near you" digest (a periodic job); all through the
outbox."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot import callbacks
from bot.i18n import Translator
from bot.runtime import Runtime
from bot.ui import Screen, button
from handlers.common import chat_translator, message_params
from handlers.timebank_screens import post_line
from storage.domain import outbox, users
from storage.domain import timebank_books
from storage.content import Content

async def tell(session: AsyncSession, rt: Runtime, user_id: int, build, key: str) -> None:  # type: ignore[no-untyped-def]
    """A message to someone other than the one pressing, in their language, through the outbox."""
    tr = await chat_translator(session, rt, user_id)
    await outbox.enqueue(session, chat_id=user_id, method="sendMessage", params=message_params(build(tr)),
                         dedupe_key=f"tb:{key}:{user_id}", now=rt.clock.now())


async def tell_keepers(session: AsyncSession, rt: Runtime, space_id: str, build, key: str) -> None:  # type: ignore[no-untyped-def]
    for operator in await users.users_with_role(session, "operator", space_id):
        await tell(session, rt, operator.id, build, key)


# --------------------------------------------------------------------------------------------
# Digest, retention, search


def render_digest(tr: Translator, content: Content, item: timebank_books.Digest) -> Screen:
    space = content.spaces.get(item.account.space_id)
    text = tr._("<b>🤝 Nuove offerte vicino a te</b> · {space}", space=space.name.get(tr.language) if space else "")
    rows = [[button(post_line(tr, content, post), callbacks.TB_POST, post.id)] for post in item.posts]
    rows.append([button(tr._("🔕 Niente riepilogo settimanale"), callbacks.TB_DIGEST, item.account.space_id, "off")])
    return Screen(text, rows)


async def send_digests(rt: Runtime) -> None:
    """Weekly 'new offers near you' for members who asked, through the outbox (one per member and week)."""
    now = rt.clock.now()
    while True:
        async with rt.db.write() as session:
            due = await timebank_books.due_digests(session, now)
            for item in due:
                await tell(session, rt, item.account.user_id, lambda tr, item=item: render_digest(tr, rt.content, item),
                            f"digest:{item.account.id}:{now:%G-%V}")
        if len(due) < 50:
            return
