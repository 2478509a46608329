"""A tenant's "I'm interested" in a job offer, told to the space's operators (or the admins when the space has
none): the interest recorded and the messages queued in one transaction, each operator once, in their language.
Used by what's on (the name, or the saved phone) and by the typed phone (handlers/interest_phone.py)."""

from __future__ import annotations

from bot.runtime import Runtime, Visitor
from bot.ui import Screen
from handlers.common import chat_translator, message_params, space_name
from storage.content.events import Item
from storage.domain import neighbourhood, outbox, users


async def tell_interest(rt: Runtime, v: Visitor, item: Item, phone: str | None) -> bool:
    """Record the interest with the phone chosen (or none) and tell the space's operators; False when it was
    already recorded (nothing is told twice) or the offer closed."""
    now = rt.clock.now()
    async with rt.db.write() as session:
        fresh = await neighbourhood.register_interest(session, v.user_id, item, v.first_name, phone,
                                                       now.astimezone(rt.settings.timezone).date(), now)
        if fresh:
            recipients = [user.id for user in await users.users_with_role(session, "operator", item.space_id) if user.blocked_at is None]
            for chat_id in recipients or sorted(rt.settings.admin_ids):
                tr = await chat_translator(session, rt, chat_id)
                lines = [tr._("🙋 <b>{name}</b> è interessato/a all'offerta «{title}» ({space}).", name=v.first_name,
                              title=item.title.get(tr.language), space=space_name(tr, rt.content, item.space_id))]
                lines.append(tr._("Telefono: {phone}", phone=phone) if phone else tr._("Non ha lasciato un telefono: rispondi tramite lo spazio."))
                await outbox.enqueue(session, chat_id=chat_id, method="sendMessage", params=message_params(Screen("\n".join(lines))),
                                     dedupe_key=f"job-interest:{item.id}:{v.user_id}:{chat_id}", now=now, kind="job_interest", ref=item.id)
    rt.wake_outbox()
    return fresh
