"""Roles and invites: the permission rules, without Telegram, on SQLite and PostgreSQL."""

import asyncio
from datetime import timedelta

from storage.domain import users


async def test_first_contact_creates_the_user_and_consent_is_recorded_once(db, clock):
    async with db.write() as session:
        user = await users.touch_user(session, 1001, "Amal", "ar", clock.now())
        assert user.consent_at is None
        await users.record_consent(session, 1001, clock.now())
    first = clock.now()
    clock.advance(timedelta(days=1))
    async with db.write() as session:
        await users.record_consent(session, 1001, clock.now())
        user = await users.touch_user(session, 1001, "Amal", "ar", clock.now())
        assert abs((user.consent_at - first).total_seconds()) < 1


async def test_admins_come_from_configuration(db, clock):
    async with db.read() as session:
        roles = await users.load_roles(session, 42, frozenset({42}))
    assert roles.is_admin and roles.can_invite("admin") and roles.handles_estate("anything")


async def test_invite_grants_the_role_once(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 7, "Giuseppe", "it", clock.now())
        await users.touch_user(session, 8, "Rosa", "it", clock.now())
        invite = await users.create_invite(session, "custodian", "omero-15", clock.now(), None)
    async with db.write() as session:
        result = await users.redeem_invite(session, invite.code, 7, clock.now())
    assert result.ok and result.role == "custodian"
    async with db.write() as session:
        again = await users.redeem_invite(session, invite.code, 8, clock.now())
        roles_7 = await users.load_roles(session, 7, frozenset())
        roles_8 = await users.load_roles(session, 8, frozenset())
    assert again.reason == "used"
    assert roles_7.custodian_of == {"omero-15"} and roles_7.handles_estate("omero-15")
    assert not roles_7.handles_estate("other") and not roles_8.is_staff


async def test_expired_and_unknown_invites_change_nothing(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 9, "Li", "zh", clock.now())
        invite = await users.create_invite(session, "editor", "", clock.now(), None)
    clock.advance(users.INVITE_LIFETIME + timedelta(minutes=1))
    async with db.write() as session:
        assert (await users.redeem_invite(session, invite.code, 9, clock.now())).reason == "expired"
        assert (await users.redeem_invite(session, "nope", 9, clock.now())).reason == "unknown"
        assert not (await users.load_roles(session, 9, frozenset())).is_staff


async def test_two_people_racing_for_one_invite_get_one_winner(db, clock):
    async with db.write() as session:
        for uid in range(100, 110):
            await users.touch_user(session, uid, f"u{uid}", "it", clock.now())
        invite = await users.create_invite(session, "committee", "omero-15", clock.now(), None)

    async def claim(uid: int) -> bool:
        async with db.write() as session:
            return (await users.redeem_invite(session, invite.code, uid, clock.now())).ok

    results = await asyncio.gather(*(claim(uid) for uid in range(100, 110)), return_exceptions=True)
    assert sum(r is True for r in results) == 1


async def test_editors_invite_only_roles_that_see_no_personal_data():
    editor = users.Roles(is_editor=True)
    assert editor.can_invite("committee")
    for role in ("custodian", "operator", "admin", "editor"):  # tenants' reports, who booked, exports, roles
        assert not editor.can_invite(role), role
    assert all(users.Roles(is_admin=True).can_invite(role) for role in ("custodian", "operator", "editor", "admin"))
    assert not users.Roles().can_invite("committee")


async def test_nobody_redeems_their_own_invite(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 42, "Elena", "it", clock.now())
        await users.touch_user(session, 43, "Rosa", "it", clock.now())
        invite = await users.create_invite(session, "custodian", "omero-15", clock.now(), 42)
    async with db.write() as session:
        assert (await users.redeem_invite(session, invite.code, 42, clock.now())).reason == "own"
        assert not (await users.load_roles(session, 42, frozenset())).is_staff
    async with db.write() as session:
        redeemed = await users.redeem_invite(session, invite.code, 43, clock.now())
        assert redeemed.ok and redeemed.created_by == 42
