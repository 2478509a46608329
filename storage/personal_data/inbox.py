"""The inbox (storage/domain/inbox.py): the updates Telegram handed over, kept until handled, then only ids and times for a
day (to recognise a repeated delivery) before the hourly "inbox-purge" job deletes them.

Nothing to export: a row holds the person's words only while their update is being handled (seconds), and after
that only the chat's id and when it came; My data would show its own request. Forgetting does not delete the
person's unhandled rows: the Forget me update itself is one of them, still being handled, a row is what recognises
an update Telegram delivers again, and updates sent right after it must still be answered (after a crash too).
Those lose the chat's id instead (the payload is emptied when they are marked handled), so once the update is
marked nothing in the inbox names the person; their handled rows are deleted.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, delete, update

from storage.models import InboxUpdate
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_inbox = InboxUpdate.__table__
_HANDLED = delete(_inbox).where(_inbox.c.chat_id == bindparam("person"), _inbox.c.handled_at.is_not(None))
# Chat 0 only changes which queue a leftover joins after a crash; its order by update id stays.
_UNHANDLED = update(_inbox).where(_inbox.c.chat_id == bindparam("person"), _inbox.c.handled_at.is_(None)).values(chat_id=0)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    for statement in (_HANDLED, _UNHANDLED):
        connection.execute(statement, {"person": forgetting.user_id})


register(PersonalDataSource(
    name="inbox",
    person_columns={"inbox": ("chat_id",)},
    personal_fields={"inbox": ("payload",)},
    forget=_forget,
))
