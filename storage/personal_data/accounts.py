"""The person themselves (users), the roles they hold or granted, invites, and the outbox of messages to them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Invite, OutboxMessage, RoleGrant, User, UserChange
from storage.personal_data._helpers import (
    count, forget_with, how_many, listed, record, rows_deleted_when, rows_older_than, theirs, theirs_listed, unlinked,
)
from storage.domain.privacy import Forgetting, PersonalDataSource, PurgeBatch, RetentionRule, register

# --- the user row: last of all, once every other source has let go of the person


_PROFILE_READ = theirs_listed(User.id)


def _export_profile(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    user = next(iter(listed(connection, _PROFILE_READ, user_id)), None)
    if user is None:
        return {}
    return {"profile": [record(user, "id", "first_name", "language", "telegram_language", "consent_at", "created_at",
                               "last_seen_at", "last_estate_id", "prompts_enabled", "blocked_at")]}


def _counts_profile(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"profile": how_many(User, User.id == user_id)}


_PROFILE = theirs(User.id)


def _forget_profile(connection: Connection, forgetting: Forgetting) -> None:
    forget_with(connection, forgetting, _PROFILE, "profile")


def _never_accepted(cutoff: datetime):  # type: ignore[no-untyped-def]
    """People who opened the bot but never accepted the notice (only their id and language are kept), and hold
    no role, not seen since the cutoff."""
    return and_(User.consent_at.is_(None), User.last_seen_at < cutoff,
                ~User.id.in_(select(RoleGrant.user_id)), ~User.id.in_(select(OutboxMessage.chat_id)))


register(PersonalDataSource(
    name="profile",
    person_columns={"users": ("id",)},
    personal_fields={"users": ("first_name", "language", "telegram_language", "last_estate_id")},
    export=_export_profile,
    counts=_counts_profile,
    forget=_forget_profile,
    retention=(rows_deleted_when("never_accepted_users", "drafts_days", User.id, _never_accepted),),
    forget_order=100,
))


# --- roles and invites


_invites = Invite.__table__
_GRANTS = theirs_listed(RoleGrant.user_id, order=RoleGrant.__table__.c.id)
_INVITES = (select(_invites).where((_invites.c.created_by == bindparam("person")) | (_invites.c.used_by == bindparam("person")))
            .order_by(_invites.c.created_at))


def _export_roles(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    grants = listed(connection, _GRANTS, user_id)
    invites = listed(connection, _INVITES, user_id)
    return {
        "roles": [record(grant, "role", "scope", "granted_at") for grant in grants],
        "invites": [record(invite, "role", "scope", "created_at", "expires_at", "used_at") for invite in invites],
    }


def _counts_roles(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"roles": how_many(RoleGrant, RoleGrant.user_id == user_id),
            "invites": how_many(Invite, (Invite.created_by == user_id) | (Invite.used_by == user_id))}


_ROLES = theirs(RoleGrant.user_id)
# What they did as staff stays, without their id.
_AS_STAFF = tuple(unlinked(column) for column in (RoleGrant.granted_by, Invite.created_by, Invite.used_by))


def _forget_roles(connection: Connection, forgetting: Forgetting) -> None:
    forget_with(connection, forgetting, _ROLES, "roles")
    for statement in _AS_STAFF:
        forget_with(connection, forgetting, statement)


register(PersonalDataSource(
    name="roles",
    person_columns={"role_grants": ("user_id", "granted_by"), "invites": ("created_by", "used_by")},
    export=_export_roles,
    counts=_counts_roles,
    forget=_forget_roles,
    retention=(rows_older_than("invites", "audit_days", Invite.code, Invite.expires_at),),
))


# --- the outbox: messages to the person, and the texts of delivered messages after QC_RETAIN_OUTBOX_DAYS


_outbox = OutboxMessage.__table__
_PENDING = theirs_listed(OutboxMessage.chat_id, _outbox.c.status == "pending", order=_outbox.c.not_before)


def _export_outbox(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    pending = listed(connection, _PENDING, user_id)
    return {"messages_to_send": [record(row, "kind", "not_before", "created_at") for row in pending]}


def _counts_outbox(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {"messages_to_send": how_many(OutboxMessage, OutboxMessage.chat_id == user_id, OutboxMessage.status == "pending")}


_MESSAGES = theirs(OutboxMessage.chat_id)


def _forget_outbox(connection: Connection, forgetting: Forgetting) -> None:
    forget_with(connection, forgetting, _MESSAGES, "messages")


def _delivered_before(cutoff: datetime):  # type: ignore[no-untyped-def]
    return (
        OutboxMessage.status != "pending",
        func.coalesce(OutboxMessage.sent_at, OutboxMessage.created_at) < cutoff,
        OutboxMessage.text_purged_at.is_(None),
    )


async def _count_outbox_texts(session: AsyncSession, cutoff: datetime) -> int:
    return await count(session, OutboxMessage, *_delivered_before(cutoff))


async def _purge_outbox_texts(session: AsyncSession, cutoff: datetime, now: datetime, limit: int) -> PurgeBatch:
    # The row stays (its message_id lets later changes edit the alert in each chat); its text goes.
    ids = list((await session.scalars(select(OutboxMessage.id).where(*_delivered_before(cutoff)).limit(limit))).all())
    if ids:
        await session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                              .values(params={}, last_error=None, text_purged_at=now))
    return PurgeBatch(len(ids))


register(PersonalDataSource(
    name="outbox",
    person_columns={"outbox": ("chat_id",)},
    personal_fields={"outbox": ("params",)},
    export=_export_outbox,
    counts=_counts_outbox,
    forget=_forget_outbox,
    retention=(RetentionRule("outbox_texts", "outbox_days", _count_outbox_texts, _purge_outbox_texts),),
    forget_order=80,
))


# --- role-change notes: only an id, kept an hour so other instances drop the person from their cache; nothing to
# show in a copy


_ROLE_CHANGES = theirs(UserChange.user_id)


def _forget_role_changes(connection: Connection, forgetting: Forgetting) -> None:
    # The user row and their grants go in the same transaction, so no instance can find roles to cache afterwards.
    forget_with(connection, forgetting, _ROLE_CHANGES)


register(PersonalDataSource(
    name="role_changes",
    person_columns={"user_changes": ("user_id",)},
    forget=_forget_role_changes,
))
