"""A time bank member asks to be forgotten: nothing of theirs is left, the ledger still adds up to zero and the
neighbour they helped keeps the hours and the history lines (storage/personal_data/timebank.py)."""

from __future__ import annotations

from storage.domain import privacy
from storage.domain import timebank as tb
from storage.domain import timebank_books
from tests.scan import traces_of
from tests.unit.test_timebank import NOW, SPACE, agreed_exchange, assert_ledger_sound, balance, member

AMAL, GIUSEPPE = 770_055_001, 770_055_002


async def test_a_forgotten_member_leaves_no_trace_and_the_ledger_stays_whole(db, sample_content, tmp_path):
    amal_account, giuseppe_account = await member(db, sample_content, AMAL), await member(db, sample_content, GIUSEPPE)
    start = sample_content.spaces[SPACE].time_bank.starting_quarters
    exchange_id = await agreed_exchange(db, sample_content, AMAL, GIUSEPPE)
    async with db.write() as session:
        contact_id = (await session.get(tb.TimeBankExchange, exchange_id)).contact_id
        await tb.relay(session, contact_id, AMAL, "Ci vediamo martedì alle 10", NOW)
        await tb.confirm(session, sample_content, exchange_id, GIUSEPPE, 4, NOW)
        await tb.thank(session, exchange_id, GIUSEPPE, 5, NOW)

    mine = await privacy.collect(db, AMAL)  # what "My data" shows her
    assert mine["time_bank_memberships"][0]["hours"] == (start + 4) / 4
    assert mine["time_bank_messages"][0]["text"] == "Ci vediamo martedì alle 10"
    assert mine["time_bank_exchanges"][0]["role"] == "giver"

    counts = await privacy.forget(db, AMAL, NOW, tmp_path)
    assert counts["time bank memberships"] == 1 and counts["time bank posts"] == 1
    assert await traces_of(db, AMAL, "Ci vediamo martedì", "Aiuto con i moduli") == []
    # Her hours stay in an account of nobody; Giuseppe keeps his balance and his history.
    assert await balance(db, amal_account) == start + 4
    assert await balance(db, giuseppe_account) == start - 4
    async with db.read() as session:
        assert [line.kind for line in await timebank_books.history(session, giuseppe_account)] == ["exchange", "opening"]
    await assert_ledger_sound(db)
