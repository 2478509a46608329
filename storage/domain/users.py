"""Users, their roles and the invites that grant roles. Plain async code over the database, no Telegram."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import Connection, Row, bindparam, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, dialect_insert
from storage.models import Invite, RoleGrant, User, UserChange
from storage.models.core import ROLES

INVITE_LIFETIME = timedelta(days=7)
# Roles whose scope is an estate, a space, or nothing.
ESTATE_ROLES = ("custodian", "committee")
SPACE_ROLES = ("operator",)
EDITOR_INVITES = ("committee",)  # the roles an editor may invite: none of them sees personal data


@dataclass(frozen=True)
class Roles:
    """What a user may do. Admins come from configuration as well as from grants."""

    is_admin: bool = False
    is_editor: bool = False
    custodian_of: frozenset[str] = field(default_factory=frozenset)  # estate ids
    committee_of: frozenset[str] = field(default_factory=frozenset)  # estate ids
    operator_of: frozenset[str] = field(default_factory=frozenset)  # space ids

    @property
    def is_staff(self) -> bool:
        return self.is_admin or self.is_editor or bool(self.custodian_of or self.operator_of)

    @property
    def can_edit_content(self) -> bool:
        return self.is_admin or self.is_editor

    @property
    def handles_tickets(self) -> bool:
        """Sees and acts on tenants' reports: admins, and custodians of at least one estate."""
        return self.is_admin or bool(self.custodian_of)

    @property
    def keeps_bookings(self) -> bool:
        """Sees an agenda of bookings: admins, custodians (their estates' spaces) and operators (their spaces)."""
        return self.is_admin or bool(self.custodian_of or self.operator_of)

    def can_invite(self, role: str) -> bool:
        # Only admins grant roles that see personal data (custodians: tenants' reports; operators: who booked;
        # editors: exports) or that grant roles; editors invite committee members, who see figures only.
        return self.is_admin or (self.is_editor and role in EDITOR_INVITES)

    def handles_estate(self, estate_id: str) -> bool:
        return self.is_admin or estate_id in self.custodian_of


@dataclass(frozen=True)
class InviteResult:
    ok: bool
    reason: str = ""  # "unknown", "expired", "used", "own"
    role: str = ""
    scope: str = ""
    created_by: int | None = None


async def touch_user(
    session: AsyncSession, user_id: int, first_name: str, telegram_language: str | None, now: datetime
) -> User:
    """Fetch the user, creating them on first contact. Before the privacy notice is accepted only the Telegram id
    and language are kept (and when they came); the name is kept, and kept fresh, once it is."""
    user = await session.get(User, user_id)
    if user is None:
        user = User(
            id=user_id,
            first_name="",
            telegram_language=telegram_language,
            created_at=now,
            last_seen_at=now,
            prompts_enabled=True,
        )
        session.add(user)
        await session.flush()
        return user
    if user.consent_at is not None:
        user.first_name = first_name[:128]
    user.telegram_language = telegram_language
    user.last_seen_at = now
    user.blocked_at = None  # they wrote to us, so they have not blocked the bot
    return user


# The statements of every cache miss and of the most frequent writes, built once and run as Core: building a
# statement and computing its cache key on every call, the ORM's identity map lookup, its object per row, and its
# UPDATE machinery (which evaluates the WHERE clause against the loaded objects) cost more CPU than the statements
# themselves (an ORM UPDATE ~1.5 ms, the same UPDATE prebuilt as Core ~0.65 ms; docs/performance.md, issue 18).
_users, _grants = User.__table__, RoleGrant.__table__
_USER_ROW = select(_users).where(_users.c.id == bindparam("user_id"))
_ROLE_GRANTS = select(_grants.c.role, _grants.c.scope).where(_grants.c.user_id == bindparam("user_id"))
_SET_LANGUAGE = update(_users).where(_users.c.id == bindparam("user_id")).values(
    language=bindparam("language", type_=_users.c.language.type))
_RECORD_CONSENT = update(_users).where(_users.c.id == bindparam("user_id"), _users.c.consent_at.is_(None)).values(
    consent_at=bindparam("now", type_=_users.c.consent_at.type),
    first_name=bindparam("first_name", type_=_users.c.first_name.type))


async def user_row(session: AsyncSession, user_id: int) -> Row | None:
    """The user's columns, read-only (what the user cache keeps); touch_user when the row must change."""
    return (await session.execute(_USER_ROW, {"user_id": user_id})).first()


async def first_contact(db: Database, user_id: int, telegram_language: str | None, now: datetime) -> Row:
    """touch_user for someone never seen (the user cache found no row), through Database.write_now: the same new
    row, inserted unless an update of theirs handled elsewhere was first, and read back."""
    def insert(connection: Connection) -> Row:
        connection.execute(dialect_insert(connection)(_users).values(
            id=user_id, first_name="", telegram_language=telegram_language, created_at=now, last_seen_at=now,
            prompts_enabled=True).on_conflict_do_nothing(index_elements=[_users.c.id]))
        return connection.execute(_USER_ROW, {"user_id": user_id}).one()

    return await db.write_now(insert)


# How stale last_seen_at may get: refreshing it on every visit would make every cache miss a write transaction.
LAST_SEEN_PRECISION = timedelta(hours=1)


def needs_touch(user: User | Row | None, first_name: str, telegram_language: str | None, now: datetime) -> bool:
    """Whether touch_user would change anything that matters: a new user, a new name (once the notice is accepted)
    or Telegram language, a user who had blocked the bot, or last_seen_at older than LAST_SEEN_PRECISION."""
    return (
        user is None
        or (user.consent_at is not None and user.first_name != first_name[:128])
        or user.telegram_language != telegram_language
        or user.blocked_at is not None
        or now - user.last_seen_at >= LAST_SEEN_PRECISION
    )


async def set_language(db: Database, user_id: int, language: str) -> None:
    await db.write_one(lambda connection: connection.execute(_SET_LANGUAGE, {"user_id": user_id, "language": language}))


async def record_consent(session: AsyncSession, user_id: int, now: datetime, first_name: str = "") -> None:
    """The privacy notice was accepted: from now on the name Telegram gives is kept (staff see who reported).
    A User already loaded in this session is not refreshed (a Core UPDATE)."""
    await session.execute(_RECORD_CONSENT, _consent(user_id, now, first_name))


async def mark_blocked(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Telegram said 403: this person blocked the bot. Nothing more is sent to them until they write again."""
    await session.execute(update(User).where(User.id == user_id).values(blocked_at=now))


async def accept_notice(db: Database, user_id: int, now: datetime, first_name: str) -> None:
    """record_consent on its own (the notice's button): one statement, through Database.write_one."""
    await db.write_one(lambda connection: connection.execute(_RECORD_CONSENT, _consent(user_id, now, first_name)))


def _consent(user_id: int, now: datetime, first_name: str) -> dict:
    return {"user_id": user_id, "now": now, "first_name": first_name[:128]}


async def load_roles(session: AsyncSession, user_id: int, admin_ids: frozenset[int]) -> Roles:
    return _roles((await session.execute(_ROLE_GRANTS, {"user_id": user_id})).all(), user_id, admin_ids)


async def user_and_roles(db: Database, user_id: int, admin_ids: frozenset[int]) -> tuple[Row | None, Roles]:
    """user_row and load_roles in one read (the user cache's miss), through Database.read_now."""
    def read(connection: Connection) -> tuple[Row | None, Roles]:
        row = connection.execute(_USER_ROW, {"user_id": user_id}).first()
        return row, _roles(connection.execute(_ROLE_GRANTS, {"user_id": user_id}).all(), user_id, admin_ids)

    return await db.read_now(read)


def _roles(grants: Sequence[Row], user_id: int, admin_ids: frozenset[int]) -> Roles:
    by_role: dict[str, set[str]] = {role: set() for role in ROLES}
    for grant in grants:
        by_role[grant.role].add(grant.scope)
    return Roles(
        is_admin=user_id in admin_ids or bool(by_role["admin"]),
        is_editor=bool(by_role["editor"]),
        custodian_of=frozenset(by_role["custodian"]),
        committee_of=frozenset(by_role["committee"]),
        operator_of=frozenset(by_role["operator"]),
    )


async def grant_role(
    session: AsyncSession, user_id: int, role: str, scope: str, now: datetime, granted_by: int | None
) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    existing = await session.scalar(
        select(RoleGrant).where(RoleGrant.user_id == user_id, RoleGrant.role == role, RoleGrant.scope == scope)
    )
    if existing is None:
        session.add(RoleGrant(user_id=user_id, role=role, scope=scope, granted_at=now, granted_by=granted_by))
        await note_user_changed(session, user_id, now)
        await session.flush()


async def revoke_role(session: AsyncSession, grant_id: int, now: datetime) -> bool:
    user_id = await session.scalar(select(RoleGrant.user_id).where(RoleGrant.id == grant_id))
    if user_id is None:
        return False
    result = await session.execute(delete(RoleGrant).where(RoleGrant.id == grant_id))
    await note_user_changed(session, user_id, now)
    return result.rowcount > 0


# How long a change is kept for instances to see: far longer than their poll (bot/runtime.USER_CHANGES_POLL_SECONDS).
USER_CHANGES_KEPT = timedelta(hours=1)


async def note_user_changed(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Tell every instance to forget what it cached about this user (roles changed). Old notes are pruned here:
    role changes are rare, so this costs nothing on the paths that run for every update."""
    await session.execute(delete(UserChange).where(UserChange.at < now - USER_CHANGES_KEPT))
    session.add(UserChange(user_id=user_id, at=now))


async def last_user_change(session: AsyncSession) -> int:
    return await session.scalar(select(func.max(UserChange.id))) or 0


async def users_changed_after(session: AsyncSession, after_id: int) -> list[tuple[int, int]]:
    """(id, user_id) of the changes noted after the one with this id, oldest first."""
    rows = await session.execute(select(UserChange.id, UserChange.user_id).where(UserChange.id > after_id).order_by(UserChange.id))
    return [(change_id, user_id) for change_id, user_id in rows.all()]


async def list_grants(session: AsyncSession) -> list[tuple[RoleGrant, User]]:
    rows = await session.execute(
        select(RoleGrant, User).join(User, User.id == RoleGrant.user_id).order_by(RoleGrant.role, RoleGrant.scope)
    )
    return [(grant, user) for grant, user in rows.all()]


async def users_with_role(session: AsyncSession, role: str, scope: str) -> list[User]:
    rows = await session.scalars(
        select(User).join(RoleGrant, RoleGrant.user_id == User.id).where(RoleGrant.role == role, RoleGrant.scope == scope)
    )
    return list(rows.all())


async def create_invite(
    session: AsyncSession, role: str, scope: str, now: datetime, created_by: int | None,
    lifetime: timedelta = INVITE_LIFETIME,
) -> Invite:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; use one of {', '.join(ROLES)}")
    invite = Invite(
        code=secrets.token_urlsafe(12), role=role, scope=scope, created_by=created_by, created_at=now,
        expires_at=now + lifetime,
    )
    session.add(invite)
    await session.flush()
    return invite


async def redeem_invite(session: AsyncSession, code: str, user_id: int, now: datetime) -> InviteResult:
    """Single use: the conditional UPDATE makes two people opening the same link at once get one winner."""
    invite = await session.get(Invite, code)
    if invite is None:
        return InviteResult(False, "unknown")
    if invite.used_at is not None:
        return InviteResult(False, "used")
    if invite.expires_at <= now:
        return InviteResult(False, "expired")
    if invite.created_by is not None and invite.created_by == user_id:
        return InviteResult(False, "own")  # nobody grants themselves a role through their own link
    claimed = await session.execute(
        update(Invite).where(Invite.code == code, Invite.used_at.is_(None)).values(used_at=now, used_by=user_id)
    )
    if claimed.rowcount != 1:
        return InviteResult(False, "used")
    await grant_role(session, user_id, invite.role, invite.scope, now, invite.created_by)
    return InviteResult(True, role=invite.role, scope=invite.scope, created_by=invite.created_by)


async def reachable_admins(session: AsyncSession, configured: frozenset[int]) -> list[int]:
    """Admins (from QC_ADMIN_IDS and from grants) the bot can write to: they have started it and not blocked it."""
    granted = select(RoleGrant.user_id).where(RoleGrant.role == "admin")
    rows = await session.scalars(
        select(User.id).where(or_(User.id.in_(configured), User.id.in_(granted)), User.blocked_at.is_(None))
        .order_by(User.id)
    )
    return list(rows.all())
