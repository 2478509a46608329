"""The inbox (storage/domain/inbox.py): the updates Telegram handed over, kept until handled, then only ids and times for a
day (to recognise a repeated delivery) before the hourly "inbox-purge" job deletes them.

Nothing to export: a row holds the person's words and chat only while their update is being handled (seconds); when
it is marked handled its payload is emptied and its chat set to 0, so a handled row names nobody (and forgetting
scans none of them: the inbox is the largest table). Forgetting does not delete the person's unhandled rows: the
Forget me update itself is one of them, still being handled, a row is what recognises an update Telegram delivers
again, and updates sent right after it must still be answered (after a crash too). Those lose the chat's id instead.
"""

from __future__ import annotations

from sqlalchemy import Connection, bindparam, update

from storage.models import InboxUpdate
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_inbox = InboxUpdate.__table__
# Chat 0 only changes which queue a leftover joins after a crash; its order by update id stays.
_UNHANDLED = update(_inbox).where(_inbox.c.chat_id == bindparam("person"), _inbox.c.handled_at.is_(None)).values(chat_id=0)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    connection.execute(_UNHANDLED, {"person": forgetting.user_id})


register(PersonalDataSource(
    name="inbox",
    person_columns={"inbox": ("chat_id",)},
    personal_fields={"inbox": ("payload",)},
    forget=_forget,
))
