"""Database.read_now and write_now: one transaction on a plain Connection (the user cache's miss, the language and
the notice's buttons), on SQLite and PostgreSQL."""

import asyncio

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from storage.domain import users
from storage.models import User


async def test_write_now_commits_and_read_now_sees_it(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 501, "Amal", "ar", clock.now())
    await users.set_language(db, 501, "en")
    await users.accept_notice(db, 501, clock.now(), "Amal")
    row, roles = await users.user_and_roles(db, 501, frozenset({501}))
    assert row.language == "en" and row.consent_at is not None and row.first_name == "Amal"
    assert roles.is_admin
    async with db.read() as session:  # and a session sees the same
        assert (await session.get(User, 501)).language == "en"
    assert await users.user_and_roles(db, 502, frozenset()) == (None, users.Roles())


async def test_write_now_rolls_back_what_failed(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 503, "Sara", "it", clock.now())

    def set_then_fail(connection):
        connection.execute(users._SET_LANGUAGE, {"user_id": 503, "language": "uk"})
        raise RuntimeError("half way")

    with pytest.raises(RuntimeError):
        await db.write_now(set_then_fail)
    assert (await db.read_now(lambda c: c.execute(select(User.language).where(User.id == 503)).scalar())) is None
    await users.set_language(db, 503, "ro")  # the kept connection is usable again
    assert (await db.read_now(lambda c: c.execute(select(User.language).where(User.id == 503)).scalar())) == "ro"


async def test_many_at_once_each_in_its_own_transaction(db, clock):
    async with db.write() as session:
        for user_id in range(600, 640):
            await users.touch_user(session, user_id, "T", "it", clock.now())
    languages = ("en", "ar", "es", "zh")
    await asyncio.gather(*(users.set_language(db, user_id, languages[user_id % 4]) for user_id in range(600, 640)),
                         *(users.user_and_roles(db, user_id, frozenset()) for user_id in range(600, 640)))
    rows = await asyncio.gather(*(users.user_and_roles(db, user_id, frozenset()) for user_id in range(600, 640)))
    assert [row.language for row, _roles in rows] == [languages[user_id % 4] for user_id in range(600, 640)]


async def test_the_prompts_choice_and_the_shortcuts_through_the_kept_connections(db, clock, sample_content):
    from storage.domain import feedback, shortcuts

    async with db.write() as session:
        await users.touch_user(session, 650, "Iva", "uk", clock.now())
    await feedback.choose_prompts(db, 650, False)
    assert (await users.user_and_roles(db, 650, frozenset()))[0].prompts_enabled is False
    assert await shortcuts.recent_services(db, 650, sample_content) == []
    assert await shortcuts.own_space(db, 650, None, sample_content) is None


async def test_first_contact_writes_the_row_touch_user_would(db, clock):
    now = clock.now()
    row = await users.first_contact(db, 660, "ar", now)
    async with db.write() as session:
        touched = await users.touch_user(session, 661, "Amal", "ar", now)
        expected = {column: getattr(touched, column) for column in ("first_name", "language", "telegram_language",
                                                                     "consent_at", "last_estate_id", "prompts_enabled",
                                                                     "blocked_at", "created_at", "last_seen_at")}
    assert {column: getattr(row, column) for column in expected} == expected
    await users.set_language(db, 660, "en")
    again = await users.first_contact(db, 660, "it", clock.now())  # an update of theirs was first: the row stays
    assert again.language == "en" and again.telegram_language == "ar"


async def test_a_one_statement_write_needs_no_begin_and_commit_on_postgresql(db, clock, monkeypatch):
    async with db.write() as session:
        await users.touch_user(session, 660, "Noor", "ar", clock.now())
    simple_queries: list[str] = []
    if not db.is_sqlite:  # asyncpg sends BEGIN and COMMIT as simple queries
        import asyncpg

        real_execute = asyncpg.Connection.execute

        async def spy(self, query, *args, **kwargs):  # type: ignore[no-untyped-def]
            simple_queries.append(query)
            return await real_execute(self, query, *args, **kwargs)

        monkeypatch.setattr(asyncpg.Connection, "execute", spy)
    await users.set_language(db, 660, "fr")
    await users.accept_notice(db, 660, clock.now(), "Noor")
    assert simple_queries == []
    row, _roles = await users.user_and_roles(db, 660, frozenset())
    assert row.language == "fr" and row.consent_at is not None and row.first_name == "Noor"


async def test_a_failing_one_statement_write_changes_nothing(db, clock):
    async with db.write() as session:
        await users.touch_user(session, 661, "Luz", "es", clock.now())
    with pytest.raises(IntegrityError):  # the primary key set to NULL: refused by both databases
        await db.write_one(lambda connection: connection.execute(
            users._SET_LANGUAGE.where(User.id == 661).values(id=None), {"user_id": 661, "language": "xx"}))
    assert (await users.user_and_roles(db, 661, frozenset()))[0].language is None


async def test_reads_side_by_side_come_back_in_their_order(db):
    from sqlalchemy import text

    from storage.db import READS_SIDE_BY_SIDE

    backend = "SELECT 0" if db.is_sqlite else "SELECT pg_backend_pid()"
    works = [lambda connection, n=n: (n, connection.execute(text(backend)).scalar_one()) for n in range(12)]
    results = await db.read_side_by_side(works)
    assert [n for n, _ in results] == list(range(12))
    # One connection on SQLite (one snapshot); on PostgreSQL one per lane, each statement a round trip of its own.
    assert len({connection for _, connection in results}) == (1 if db.is_sqlite else READS_SIDE_BY_SIDE)
    assert await db.read_side_by_side([]) == []
