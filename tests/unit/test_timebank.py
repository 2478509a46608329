"""Time bank domain: membership, posts, contact, exchanges and the double-entry ledger (property tests with
hypothesis), bad input and races; the invariant "per bank the balances add up to zero" is checked after each.
On SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.domain import timebank as tb
from storage.domain import timebank_books
from storage.domain import users
from storage.content import Content
from storage.domain.timebank import Reason, Refused
from storage.domain.users import Roles

NOW = datetime(2027, 3, 1, 9, 0, tzinfo=timezone.utc)
SPACE = "capuana"  # Quarto Oggiaro: joining needs the operator's approval
FREE_SPACE = "omero"  # anyone may join
OPERATOR = Roles(operator_of=frozenset({SPACE, FREE_SPACE}))


async def add_users(db, *user_ids: int) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id in user_ids:
            await users.touch_user(session, user_id, f"User{user_id}", "it", NOW)
            await users.record_consent(session, user_id, NOW, f"User{user_id}")  # as the bot asks before anything


async def member(db, content: Content, user_id: int, space_id: str = SPACE) -> int:  # type: ignore[no-untyped-def]
    """Join and (where needed) get approved; returns the account id."""
    await add_users(db, user_id)
    async with db.write() as session:
        joined = await tb.join(session, content, space_id, user_id, first_name=f"User{user_id}",
                               estate_id="capuana-case", language="it", now=NOW)
        if not joined.active:
            await tb.decide_member(session, content, OPERATOR, space_id, joined.account.id, "approve", 1, NOW)
        return joined.account.id


async def assert_ledger_sound(db) -> None:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        assert all(total == 0 for total in (await tb.bank_sums(session)).values())
        assert await tb.entry_mismatches(session) == 0


async def agreed_exchange(db, content: Content, giver: int, receiver: int, space_id: str = SPACE) -> int:  # type: ignore[no-untyped-def]
    """The giver offers help with forms, the receiver asks, the giver accepts, they agree."""
    async with db.write() as session:
        post = await tb.create_post(session, content, space_id, giver, kind="offer", category="forms",
                                    text="Aiuto con i moduli", availability="sera", now=NOW)
        asked = await tb.ask(session, content, post.id, receiver, NOW)
        await tb.answer(session, asked.contact.id, giver, True, NOW)
        exchange = await tb.agree(session, content, asked.contact.id, receiver, NOW)
        return exchange.id


async def balance(db, account_id: int) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return (await session.get(tb.TimeBankAccount, account_id)).balance


# --- pure rules


@given(st.integers(min_value=-400, max_value=400))
def test_quarters_round_trip(quarters):
    assert tb.quarters_of(tb.hours_of(quarters)) == quarters


@pytest.mark.parametrize("text", ["0.3", "1.1", "abc", "nan", "0,33"])
def test_hours_that_are_not_quarters_are_refused(text):
    with pytest.raises(Refused):
        tb.quarters_of(text)


def test_comma_decimals_are_read():
    assert tb.quarters_of("1,5") == 6


def test_bounds_of_an_exchange(sample_content):
    bank = sample_content.spaces[SPACE].time_bank
    for bad in (0, -1, -4, bank.max_quarters + 1):
        with pytest.raises(Refused) as refused:
            tb.check_quarters(bank, bad)
        assert refused.value.reason is Reason.BAD_HOURS
    tb.check_quarters(bank, 1)
    tb.check_quarters(bank, bank.max_quarters)


def test_phone_numbers_are_hidden_in_relayed_text():
    assert "333" not in tb.hide_phone_numbers("chiamami al 333 123 4567 grazie")
    assert "0039" not in tb.hide_phone_numbers("+39 02-1234567 oppure 0039021234567")
    assert tb.hide_phone_numbers("ci vediamo alle 15, scala B 3") == "ci vediamo alle 15, scala B 3"


def test_sample_content_runs_three_banks(sample_content):
    banks = tb.banks(sample_content)
    assert {space.id for space in banks} == {"capuana", "omero", "zoia"}
    assert sample_content.spaces["capuana"].neighbourhood == "Quarto Oggiaro"
    assert all("home_repairs" in space.time_bank.operator_present for space in banks)


# --- membership


async def test_joining_twice_is_refused_and_starting_credit_is_paid_once(db, sample_content):
    await add_users(db, 10)
    async with db.write() as session:
        joined = await tb.join(session, sample_content, SPACE, 10, first_name="Amal", estate_id=None, language="ar", now=NOW)
    assert not joined.active and joined.account.balance == 0
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.join(session, sample_content, SPACE, 10, first_name="Amal", estate_id=None, language="ar", now=NOW)
    assert refused.value.reason is Reason.ALREADY_MEMBER
    with pytest.raises(Refused) as refused:  # only operators of the space approve
        async with db.write() as session:
            await tb.decide_member(session, sample_content, Roles(operator_of=frozenset({"zoia"})), SPACE,
                                   joined.account.id, "approve", 2, NOW)
    assert refused.value.reason is Reason.NOT_ALLOWED
    async with db.write() as session:
        await tb.decide_member(session, sample_content, OPERATOR, SPACE, joined.account.id, "approve", 1, NOW)
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.decide_member(session, sample_content, OPERATOR, SPACE, joined.account.id, "approve", 1, NOW)
    assert refused.value.reason is Reason.ALREADY_DONE
    assert await balance(db, joined.account.id) == sample_content.spaces[SPACE].time_bank.starting_quarters
    await assert_ledger_sound(db)


async def test_the_accounts_shown_after_a_move_carry_the_balance_it_left(db, sample_content):
    """Joining, approving and adjusting move hours as Core statements; what the caller gets back, and an account the
    session already held, show the balance after the move (the ORM's UPDATE used to keep them in step)."""
    from storage.models import TimeBankAccount

    starting = {space: sample_content.spaces[space].time_bank.starting_quarters for space in (SPACE, FREE_SPACE)}
    await add_users(db, 10, 11)
    async with db.write() as session:
        free = await tb.join(session, sample_content, FREE_SPACE, 10, first_name="Amal", estate_id=None, language="ar", now=NOW)
        pending = await tb.join(session, sample_content, SPACE, 11, first_name="Rosa", estate_id=None, language="it", now=NOW)
    assert (free.active, free.account.status, free.account.balance) == (True, "active", starting[FREE_SPACE])
    assert (pending.active, pending.account.balance) == (False, 0)
    async with db.write() as session:
        approved = await tb.decide_member(session, sample_content, OPERATOR, SPACE, pending.account.id, "approve", 1, NOW)
        assert (approved.status, approved.balance, approved.decided_by) == ("active", starting[SPACE], 1)
        held = await session.get(TimeBankAccount, free.account.id)
        await tb.adjust(session, sample_content, OPERATOR, FREE_SPACE, free.account.id, 3, "festa", 1, NOW)
        assert held.balance == starting[FREE_SPACE] + 3
    assert await balance(db, free.account.id) == starting[FREE_SPACE] + 3
    await assert_ledger_sound(db)


async def test_concurrent_approvals_and_adjustments_pay_the_starting_credit_once(db, sample_content):
    await add_users(db, 13)
    async with db.write() as session:
        joined = await tb.join(session, sample_content, SPACE, 13, first_name="B", estate_id=None, language="it", now=NOW)

    async def approve() -> bool:
        try:
            async with db.write() as session:
                await tb.decide_member(session, sample_content, OPERATOR, SPACE, joined.account.id, "approve", 1, NOW)
            return True
        except Refused:
            return False

    async def adjust() -> None:
        async with db.write() as session:
            await tb.adjust(session, sample_content, OPERATOR, SPACE, joined.account.id, 1, "festa", 1, NOW)

    outcomes = await asyncio.gather(*(approve() for _ in range(10)), *(adjust() for _ in range(10)))
    assert sum(outcome is True for outcome in outcomes[:10]) == 1
    assert await balance(db, joined.account.id) == sample_content.spaces[SPACE].time_bank.starting_quarters + 10
    await assert_ledger_sound(db)


async def test_free_joining_is_active_at_once(db, sample_content):
    account_id = await member(db, sample_content, 11, FREE_SPACE)
    assert await balance(db, account_id) == sample_content.spaces[FREE_SPACE].time_bank.starting_quarters


async def test_concurrent_joins_make_one_membership(db, sample_content):
    await add_users(db, 12)

    async def try_join() -> bool:
        try:
            async with db.write() as session:
                await tb.join(session, sample_content, FREE_SPACE, 12, first_name="A", estate_id=None, language="it", now=NOW)
            return True
        except Refused:
            return False

    assert sum(await asyncio.gather(*(try_join() for _ in range(20)))) == 1
    await assert_ledger_sound(db)


async def test_a_removed_member_cannot_post_ask_or_rejoin(db, sample_content):
    giver_account = await member(db, sample_content, 20)
    await member(db, sample_content, 21)
    async with db.write() as session:
        post = await tb.create_post(session, sample_content, SPACE, 20, kind="offer", category="forms", text="Moduli",
                                    availability="", now=NOW)
    async with db.write() as session:
        await tb.decide_member(session, sample_content, OPERATOR, SPACE, giver_account, "remove", 1, NOW)
    for attempt in (
        lambda s: tb.create_post(s, sample_content, SPACE, 20, kind="offer", category="forms", text="x", availability="", now=NOW),
        lambda s: tb.join(s, sample_content, SPACE, 20, first_name="x", estate_id=None, language="it", now=NOW),
        lambda s: tb.ask(s, sample_content, post.id, 21, NOW),  # their post left the list
    ):
        with pytest.raises(Refused) as refused:
            async with db.write() as session:
                await attempt(session)
        assert refused.value.reason in (Reason.REMOVED, Reason.POST_CLOSED)


# --- posts


async def test_safety_flagged_posts_wait_for_the_operator(db, sample_content):
    await member(db, sample_content, 30)
    async with db.write() as session:
        post = await tb.create_post(session, sample_content, SPACE, 30, kind="offer", category="home_repairs",
                                    text="Monto mensole", availability="sabato", now=NOW)
    assert post.status == "pending"
    async with db.read() as session:
        assert (await tb.browse(session, SPACE, "offer", NOW))[1] == 0
    async with db.write() as session:
        await tb.decide_post(session, sample_content, OPERATOR, post.id, True, 1)
    async with db.read() as session:
        found, total = await tb.browse(session, SPACE, "offer", NOW, category="home_repairs")
    assert total == 1 and found[0].id == post.id
    async with db.read() as session:  # expired posts leave the list until renewed
        assert (await tb.browse(session, SPACE, "offer", NOW + timedelta(days=31)))[1] == 0
    async with db.write() as session:
        await tb.renew_post(session, sample_content, post.id, 30, NOW + timedelta(days=31))
    async with db.read() as session:
        assert (await tb.browse(session, SPACE, "offer", NOW + timedelta(days=40)))[1] == 1


async def test_a_low_balance_blocks_requests_not_offers(db, sample_content):
    account_id = await member(db, sample_content, 40)
    lowest = sample_content.spaces[SPACE].time_bank.lowest_quarters
    current = await balance(db, account_id)
    async with db.write() as session:
        await tb.adjust(session, sample_content, OPERATOR, SPACE, account_id, lowest - 1 - current, "correzione", 1, NOW)
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.create_post(session, sample_content, SPACE, 40, kind="request", category="shopping", text="Spesa",
                                 availability="", now=NOW)
    assert refused.value.reason is Reason.BALANCE_TOO_LOW
    async with db.write() as session:
        await tb.create_post(session, sample_content, SPACE, 40, kind="offer", category="shopping", text="Spesa",
                             availability="", now=NOW)
    await assert_ledger_sound(db)


async def test_a_member_says_which_languages_they_speak_and_posts_carry_them(db, sample_content):
    await member(db, sample_content, 45)
    async with db.write() as session:
        await tb.toggle_language(session, SPACE, 45, "ar")
        account = await tb.toggle_language(session, SPACE, 45, "it")  # off: Arabic stays
        assert account.languages == "ar"
        assert (await tb.toggle_language(session, SPACE, 45, "ar")).languages == "ar"  # never none
        post = await tb.create_post(session, sample_content, SPACE, 45, kind="offer", category="conversation",
                                    text="Parlo arabo", availability="", now=NOW)
    assert post.languages == "ar"
    async with db.read() as session:
        assert (await tb.browse(session, SPACE, "offer", NOW, language="ar"))[1] == 1
        assert (await tb.browse(session, SPACE, "offer", NOW, language="it"))[1] == 0


# --- contact and exchanges


async def test_the_whole_exchange_moves_hours_once(db, sample_content):
    giver_account, receiver_account = await member(db, sample_content, 50), await member(db, sample_content, 51)
    start = sample_content.spaces[SPACE].time_bank.starting_quarters
    exchange_id = await agreed_exchange(db, sample_content, 50, 51)
    async with db.write() as session:
        relayed = await tb.relay(session, (await session.get(tb.TimeBankExchange, exchange_id)).contact_id, 51,
                                 "Ciao, il mio numero è 333 1234567", NOW)
    assert relayed.to_user == 50 and "333" not in relayed.text
    for bad_user, bad_quarters, reason in ((50, 4, Reason.NOT_ALLOWED), (99, 4, Reason.NOT_PARTY),
                                           (51, 0, Reason.BAD_HOURS), (51, -4, Reason.BAD_HOURS), (51, 17, Reason.BAD_HOURS)):
        with pytest.raises(Refused) as refused:
            async with db.write() as session:
                await tb.confirm(session, sample_content, exchange_id, bad_user, bad_quarters, NOW)
        assert refused.value.reason is reason
    async with db.write() as session:
        settled = await tb.confirm(session, sample_content, exchange_id, 51, 6, NOW)
    assert (settled.receiver_balance, settled.giver_balance) == (start - 6, start + 6)
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.confirm(session, sample_content, exchange_id, 51, 6, NOW)
    assert refused.value.reason is Reason.ALREADY_DONE
    async with db.write() as session:
        await tb.thank(session, exchange_id, 51, 5, NOW)
    with pytest.raises(Refused):
        async with db.write() as session:
            await tb.thank(session, exchange_id, 51, 4, NOW)
    # A dispute, and the operator reverses: new entries, never edits; a second reversal is refused.
    async with db.write() as session:
        await tb.dispute(session, exchange_id, 50, NOW)
        reversal = await timebank_books.reverse(session, sample_content, OPERATOR, settled.movement.id, "non fatto", 1, NOW)
    assert reversal.reverses_id == settled.movement.id
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await timebank_books.reverse(session, sample_content, OPERATOR, settled.movement.id, "di nuovo", 1, NOW)
    assert refused.value.reason is Reason.ALREADY_DONE
    assert (await balance(db, receiver_account), await balance(db, giver_account)) == (start, start)
    async with db.read() as session:
        lines = await timebank_books.history(session, receiver_account)
    assert [line.kind for line in lines] == ["reversal", "exchange", "opening"]
    await assert_ledger_sound(db)


async def test_contact_needs_both_to_accept_and_abuse_ends_it(db, sample_content):
    await member(db, sample_content, 60)
    await member(db, sample_content, 61)
    async with db.write() as session:
        post = await tb.create_post(session, sample_content, SPACE, 60, kind="request", category="conversation",
                                    text="Parlare italiano", availability="", now=NOW)
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.ask(session, sample_content, post.id, 60, NOW)
    assert refused.value.reason is Reason.OWN_POST
    async with db.write() as session:
        asked = await tb.ask(session, sample_content, post.id, 61, NOW)
    with pytest.raises(Refused) as refused:
        async with db.write() as session:
            await tb.ask(session, sample_content, post.id, 61, NOW)
    assert refused.value.reason is Reason.ALREADY_ASKED
    with pytest.raises(Refused) as refused:  # nothing is relayed before the poster accepts
        async with db.write() as session:
            await tb.relay(session, asked.contact.id, 61, "ciao", NOW)
    assert refused.value.reason is Reason.NOT_ACCEPTED
    with pytest.raises(Refused):  # only the poster answers
        async with db.write() as session:
            await tb.answer(session, asked.contact.id, 61, True, NOW)
    async with db.write() as session:
        await tb.answer(session, asked.contact.id, 60, True, NOW)
        report = await tb.report_abuse(session, asked.contact.id, 60, NOW)
    assert report.reported_id == 61
    with pytest.raises(Refused) as refused:  # one report per conversation
        async with db.write() as session:
            await tb.report_abuse(session, asked.contact.id, 61, NOW)
    assert refused.value.reason is Reason.ALREADY_DONE
    with pytest.raises(Refused):
        async with db.write() as session:
            await tb.relay(session, asked.contact.id, 61, "ciao", NOW)


async def test_retention_purges_old_messages_and_posts(db, sample_content):
    await member(db, sample_content, 70)
    await member(db, sample_content, 71)
    exchange_id = await agreed_exchange(db, sample_content, 70, 71)
    async with db.write() as session:
        contact_id = (await session.get(tb.TimeBankExchange, exchange_id)).contact_id
        await tb.relay(session, contact_id, 71, "ciao", NOW)
        await tb.end_conversation(session, contact_id, 71, NOW)
    from pathlib import Path

    from bot.config import Retention
    from storage.domain import privacy

    retention = Retention()
    early = await privacy.purge(db, retention, NOW + timedelta(days=retention.timebank_messages_days - 1), Path("/nonexistent"))
    assert early["time_bank_messages"] == 0 and early["time_bank_post_texts"] == 0
    counts = await privacy.purge(db, retention, NOW + timedelta(days=400), Path("/nonexistent"))
    assert counts["time_bank_messages"] == 1 and counts["time_bank_post_texts"] == 1
    async with db.read() as session:  # the exchange keeps its conversation (the ledger points at it)
        assert await session.get(tb.TimeBankContact, contact_id) is not None
        assert (await session.get(tb.TimeBankPost, (await session.get(tb.TimeBankContact, contact_id)).post_id)).text == ""


# --- the ledger under random operations and races


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.sampled_from(["adjust", "exchange", "reverse"]), st.integers(0, 3), st.integers(0, 3),
                          st.integers(-20, 20)), min_size=1, max_size=12))
def test_any_sequence_of_operations_keeps_every_bank_at_zero(sqlite_template, tmp_path_factory, sample_content, operations):
    from tests.conftest import run_blocking

    async def scenario() -> None:
        import shutil

        from storage.db import Database

        path = tmp_path_factory.mktemp("ledger") / "qc.sqlite3"
        shutil.copy(sqlite_template, path)
        db = Database(f"sqlite+aiosqlite:///{path}")
        try:
            accounts = [await member(db, sample_content, 100 + index) for index in range(4)]
            movements: list[int] = []
            for operation, first, second, amount in operations:
                try:
                    async with db.write() as session:
                        if operation == "adjust":
                            made = await tb.adjust(session, sample_content, OPERATOR, SPACE, accounts[first], amount, "prova", 1, NOW)
                            movements.append(made.id)
                        elif operation == "exchange" and first != second:
                            post = await tb.create_post(session, sample_content, SPACE, 100 + first, kind="offer",
                                                        category="forms", text="x", availability="", now=NOW)
                            asked = await tb.ask(session, sample_content, post.id, 100 + second, NOW)
                            await tb.answer(session, asked.contact.id, 100 + first, True, NOW)
                            exchange_id = (await tb.agree(session, sample_content, asked.contact.id, 100 + first, NOW)).id
                            settled = await tb.confirm(session, sample_content, exchange_id, 100 + second, abs(amount), NOW)
                            movements.append(settled.movement.id)
                        elif operation == "reverse" and movements:
                            await timebank_books.reverse(session, sample_content, OPERATOR, movements[first % len(movements)], "r", 1, NOW)
                except Refused:
                    pass
                await assert_ledger_sound(db)
        finally:
            await db.dispose()

    run_blocking(scenario())


async def test_two_hundred_concurrent_confirmations_move_each_exchange_once(db, sample_content):
    giver_account, receiver_account = await member(db, sample_content, 200), await member(db, sample_content, 201)
    other_account = await member(db, sample_content, 202)
    exchanges = [await agreed_exchange(db, sample_content, 200, 201) for _ in range(5)]
    exchanges += [await agreed_exchange(db, sample_content, 201, 202) for _ in range(5)]
    exchanges += [await agreed_exchange(db, sample_content, 202, 200) for _ in range(5)]
    receivers = {**{e: 201 for e in exchanges[:5]}, **{e: 202 for e in exchanges[5:10]}, **{e: 200 for e in exchanges[10:]}}
    before = [await balance(db, a) for a in (giver_account, receiver_account, other_account)]

    async def try_confirm(index: int) -> Reason | None:
        exchange_id = exchanges[index % len(exchanges)]
        try:
            async with db.write() as session:
                await tb.confirm(session, sample_content, exchange_id, receivers[exchange_id], 1 + index % 4, NOW)
            return None
        except Refused as refused:
            return refused.reason

    outcomes = await asyncio.gather(*(try_confirm(index) for index in range(200)))
    assert outcomes.count(None) == len(exchanges)
    assert set(outcomes) == {None, Reason.ALREADY_DONE}
    async with db.read() as session:
        done = [await session.get(tb.TimeBankExchange, e) for e in exchanges]
    moved = {account: 0 for account in (200, 201, 202)}
    for exchange in done:
        assert exchange.status == "done"
        moved[exchange.giver_id] += exchange.quarters
        moved[exchange.receiver_id] -= exchange.quarters
    after = [await balance(db, a) for a in (giver_account, receiver_account, other_account)]
    assert after == [before[0] + moved[200], before[1] + moved[201], before[2] + moved[202]]
    await assert_ledger_sound(db)


async def test_statement_and_figures(db, sample_content):
    accounts = [await member(db, sample_content, 300 + index) for index in range(6)]
    for index in range(5):
        exchange_id = await agreed_exchange(db, sample_content, 300 + index, 300 + index + 1)
        async with db.write() as session:
            await tb.confirm(session, sample_content, exchange_id, 300 + index + 1, 4, NOW + timedelta(days=1))
    async with db.read() as session:
        month = await timebank_books.statement(session, accounts[1], NOW.replace(day=1), NOW.replace(month=4, day=1), NOW.date())
        figures = await timebank_books.figures(session, SPACE, NOW.replace(day=1), NOW.replace(month=4, day=1), NOW)
    assert (month.received, month.given) == (4 + 8, 4)
    assert month.closing == month.opening + month.received - month.given
    assert figures.members == 6 and figures.active_members == 6
    assert figures.hours_by_month == {"2027-03": 20} and figures.hours_by_category == {"forms": 20}
    assert figures.unanswered_offers == 0


async def test_weekly_digest_once_per_week(db, sample_content):
    await member(db, sample_content, 400)
    await member(db, sample_content, 401)
    async with db.write() as session:
        await tb.set_digest(session, SPACE, 401, True)
    async with db.write() as session:
        await tb.create_post(session, sample_content, SPACE, 400, kind="offer", category="sewing", text="Orli",
                             availability="", now=NOW + timedelta(hours=1))
    async with db.write() as session:
        digests = await timebank_books.due_digests(session, NOW + timedelta(hours=2))
    assert [d.account.user_id for d in digests] == [401] and len(digests[0].posts) == 1
    async with db.write() as session:
        assert await timebank_books.due_digests(session, NOW + timedelta(days=3)) == []


async def test_the_csv_export_lists_settled_exchanges_without_names(db, sample_content):
    import io
    from datetime import date
    from zoneinfo import ZoneInfo

    from storage.domain.export import ExportRequest, write_csv
    from storage.domain.stats import Period

    await member(db, sample_content, 500)
    await member(db, sample_content, 501)
    exchange_id = await agreed_exchange(db, sample_content, 500, 501)
    async with db.write() as session:
        await tb.confirm(session, sample_content, exchange_id, 501, 6, NOW)
    out = io.StringIO(newline="")
    rows = await write_csv(db, ExportRequest("timebank", Period(date(2027, 3, 1), date(2027, 3, 31))), out,
                           sample_content, ZoneInfo("Europe/Rome"))
    text = out.getvalue()
    assert rows == 1 and text.startswith("\ufeffGiorno;Spazio;Categoria;Ore;Stato\r\n01/03/2027;")
    assert text.rstrip().endswith(";1,50;Fatto") and "User50" not in text


async def test_an_operators_csv_holds_only_the_banks_they_keep(db, sample_content):
    """The desk's export is `qcbot export`'s with `ExportRequest.spaces`: another bank's exchanges are not in it."""
    from datetime import date
    from zoneinfo import ZoneInfo

    from storage.domain.export import ExportRequest, csv_bytes
    from storage.domain.stats import Period

    for user_id in (510, 511):
        await member(db, sample_content, user_id)
    exchange_id = await agreed_exchange(db, sample_content, 510, 511)
    async with db.write() as session:
        await tb.confirm(session, sample_content, exchange_id, 511, 4, NOW)
    march, rome = Period(date(2027, 3, 1), date(2027, 3, 31)), ZoneInfo("Europe/Rome")
    _, kept = await csv_bytes(db, ExportRequest("timebank", march, spaces=(SPACE,)), sample_content, rome)
    _, other = await csv_bytes(db, ExportRequest("timebank", march, spaces=(FREE_SPACE,)), sample_content, rome)
    assert (kept, other) == (1, 0)
    with pytest.raises(ValueError):
        await csv_bytes(db, ExportRequest("bookings", march, spaces=(SPACE,)), sample_content, rome)


async def test_who_sees_a_post_conversation_and_exchange(db, sample_content):
    """storage/domain/timebank_views: the author and the bank's operators see a pending post, an active member only
    an open one, a stranger nothing; a conversation and an exchange only their two parties."""
    from storage.domain import timebank_views as views

    author, neighbour, stranger = 520, 521, 522
    for user_id in (author, neighbour):
        await member(db, sample_content, user_id)
    await add_users(db, stranger)
    async with db.write() as session:
        post = await tb.create_post(session, sample_content, SPACE, author, kind="offer", category="forms",
                                    text="Aiuto con i moduli", availability="sera", now=NOW)
    async with db.read() as session:
        seen = {who: await views.visible_post(session, roles, post.id, who)
                for who, roles in ((author, Roles()), (neighbour, Roles()), (stranger, Roles()), (1, OPERATOR))}
    assert seen[author] is not None and not seen[author].keeper and seen[author].poster.user_id == author
    assert seen[stranger] is None and seen[1] is not None and seen[1].keeper
    assert (seen[neighbour] is not None) == (post.status == "open")
    exchange_id = await agreed_exchange(db, sample_content, author, neighbour)
    async with db.read() as session:
        view = await views.exchange(session, exchange_id, neighbour)
        assert view.other.user_id == author and not view.thanked
        with pytest.raises(Refused):
            await views.exchange(session, exchange_id, stranger)
        conversation = await views.conversation(session, view.exchange.contact_id, author)
        assert conversation.exchange.id == exchange_id and conversation.other.user_id == neighbour
        with pytest.raises(Refused):
            await views.conversation(session, view.exchange.contact_id, stranger)
