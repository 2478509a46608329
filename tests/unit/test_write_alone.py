"""Database.write_alone: one statement, its own transaction (one trip to SQLite's thread), the same result as
through a session on both backends."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from storage import users
from storage.models import User


async def _add_users(db, clock, *user_ids: int) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id in user_ids:
            await users.touch_user(session, user_id, f"Persona {user_id}", "it", clock.now())


async def test_a_lone_write_is_committed_and_counts_its_rows(db, clock) -> None:  # type: ignore[no-untyped-def]
    await _add_users(db, clock, 1, 2)
    await users.set_language(db, 1, "ar")
    consented_at = clock.now()
    changed = await db.write_alone(update(User).where(User.id == 2, User.consent_at.is_(None)).values(consent_at=consented_at))
    again = await db.write_alone(update(User).where(User.id == 2, User.consent_at.is_(None)).values(consent_at=clock.now()))
    async with db.read() as session:
        first, second = (await session.scalars(select(User).order_by(User.id))).all()
    assert (first.language, changed, again) == ("ar", 1, 0)
    assert second.consent_at == consented_at  # an aware datetime goes through the column type's conversion


async def test_a_statement_with_an_in_list_still_works(db, clock) -> None:  # type: ignore[no-untyped-def]
    await _add_users(db, clock, 1, 2, 3)
    changed = await db.write_alone(update(User).where(User.id.in_([1, 3])).values(language="uk"))
    async with db.read() as session:
        languages = (await session.scalars(select(User.language).order_by(User.id))).all()
    assert (changed, languages) == (2, ["uk", None, "uk"])


async def test_lone_writes_and_session_writes_take_turns(db, clock) -> None:  # type: ignore[no-untyped-def]
    await _add_users(db, clock, 1)
    seen_at = clock.now() + timedelta(hours=1)

    async def session_write() -> None:
        async with db.write() as session:
            await session.execute(update(User).where(User.id == 1).values(last_seen_at=seen_at))

    await asyncio.gather(*(users.set_language(db, 1, language) for language in ("en", "es", "ro")),
                         *(session_write() for _ in range(3)))
    async with db.read() as session:
        user = await session.get(User, 1)
    assert user.language in ("en", "es", "ro") and user.last_seen_at == seen_at
