"""The time bank of Quarto Oggiaro (the Capuana space), end to end against the strict emulator.

Amal writes in Arabic and Giulia in Italian; both live in Quarto Oggiaro. They join (the operator approves), Amal
offers help with forms, Giulia asks for it and answers Amal's offer; they accept, talk through the bot (a phone
number typed in a message never reaches the other), agree, finish, Giulia confirms the hours and both see their
balances. The operator adjusts a balance with a reason and reverses a disputed exchange; Amal reports abuse and
the operator pauses Giulia, whose old buttons then change nothing. The ledger adds up to zero at the end.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import callbacks
from bot.i18n import LANGUAGES, translator
from handlers import timebank_screens
from handlers.outgoing import timebank as outgoing_timebank
from storage.domain import timebank as tb
from storage.models import TimeBankAccount, TimeBankExchange, TimeBankMessage, TimeBankPost
from tests.e2e.harness import Person, RunningBot

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 2, 10, 0, tzinfo=ROME)
SPACE, ESTATE, OTHER_ESTATE = "capuana", "capuana-piazzetta", "capuana-lopez"
ESTATE_BUTTONS = {ESTATE: 1, OTHER_ESTATE: 2}  # their positions + 1 among the space's estates
KIND, CATEGORY = {"offer": 0, "request": 1}, {"forms": 3, "sewing": 5, "home_repairs": 6}  # positions in capuana's bank


@pytest.fixture(autouse=True)
def tuesday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


async def account(bot: RunningBot, person: Person) -> TimeBankAccount:
    async with bot.runtime.db.read() as session:
        return await tb.account_of(session, SPACE, person.user_id)


def hours_in(language: str, quarters: int) -> str:
    return timebank_screens.hours(translator(language), quarters)


async def join(bot: RunningBot, person: Person, operator: Person, estate: str) -> None:
    """From the space's screen: the time bank, the rules, the estate; the operator approves."""
    await person.tap_action(callbacks.SPACES, 0)
    await person.tap_action(callbacks.SPACES, 1)  # Quarto Oggiaro is on the second page
    await person.tap_action(callbacks.SPACE, SPACE)
    await person.tap_action(callbacks.TB_HOME, SPACE)
    await person.tap_action(callbacks.TB_JOIN, SPACE, ESTATE_BUTTONS[estate])
    await bot.deliver()
    member = await account(bot, person)
    assert member.status == "pending"
    await operator.tap_action(callbacks.TB_MEMBER_DO, member.id, "approve")
    await bot.deliver()
    assert (await account(bot, person)).status == "active"


async def open_bank(person: Person) -> None:
    """The bank's screen: from the newest message that leads there, or the one showing it already."""
    try:
        await person.tap_action(callbacks.TB_HOME, SPACE)
    except AssertionError:  # deeper in: back through "my posts and exchanges", unless the bank is on screen
        if not any(data == callbacks.encode(callbacks.TB_LEDGER, SPACE, 0) for row in person.screen.buttons() for _, data in row):
            await person.tap_action(callbacks.TB_MINE, SPACE)
            await person.tap_action(callbacks.TB_HOME, SPACE)


async def post(person: Person, kind: str, category: str, text: str, when: str | None) -> None:
    await open_bank(person)
    await person.tap_action(callbacks.TB_NEW, SPACE, kind)
    await person.tap_action(callbacks.TB_NEW_CATEGORY, SPACE, KIND[kind], CATEGORY[category])
    await person.send(text)
    if when is None:
        await person.tap_action(callbacks.TB_SKIP_WHEN)
    else:
        await person.send(when)


async def test_two_neighbours_exchange_hours_and_the_operator_keeps_the_bank(bot: RunningBot) -> None:
    operator = await bot.tenant("Lucia", "it")
    await bot.grant_role(operator, "operator", SPACE)
    amal, giulia = await bot.tenant("Amal", "ar"), await bot.tenant("Giulia", "it")
    start = bot.runtime.content.spaces[SPACE].time_bank.starting_quarters

    await join(bot, amal, operator, ESTATE)
    await join(bot, giulia, operator, OTHER_ESTATE)
    # Joining twice is refused politely; the membership stays as it is.
    query = await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.TB_JOIN, SPACE, 1), force=True)
    assert "già iscritto" in bot.emu.callback_answers[query].get("text", "")
    assert (await account(bot, giulia)).estate_id == OTHER_ESTATE

    # Amal speaks Arabic and Italian: her posts say so.
    await open_bank(amal)
    await amal.tap_action(callbacks.TB_LANGUAGES, SPACE, 0)
    await amal.tap_action(callbacks.TB_LANGUAGES, SPACE, LANGUAGES.index("it") + 1)
    assert "✅" in str(amal.screen.button_texts())
    # Amal offers help with forms; Giulia asks for help, then answers Amal's offer.
    await post(amal, "offer", "forms", "أساعد في ملء الاستمارات والطلبات", "بعد الظهر")
    await post(giulia, "request", "forms", "Mi serve aiuto con il modulo dell'ISEE", None)
    async with bot.runtime.db.read() as session:
        offer = await session.scalar(select(TimeBankPost).where(TimeBankPost.user_id == amal.user_id))
    assert offer.status == "open" and offer.availability == "بعد الظهر" and offer.languages == "ar,it"
    # The existing search finds posts of the banks one belongs to, by category in any language or by their words.
    await giulia.send("moduli")
    assert any(data == callbacks.encode(callbacks.TB_POST, offer.id) for row in giulia.screen.buttons() for _, data in row)
    await open_bank(giulia)
    await giulia.tap_action(callbacks.TB_CATEGORIES, SPACE, "offer")
    await giulia.tap_action(callbacks.TB_BROWSE, SPACE, KIND["offer"], CATEGORY["forms"], 0, 0)
    await giulia.tap_action(callbacks.TB_POST, offer.id)
    assert "Amal" in giulia.screen.text and "piazzetta Capuana" in giulia.screen.text
    await giulia.tap_action(callbacks.TB_ASK, offer.id)
    await bot.deliver()
    # Amal sees only Giulia's first name and estate, and accepts.
    invitation = amal.screen
    assert "Giulia" in invitation.text and str(giulia.user_id) not in invitation.text
    contact_id = int(invitation.buttons()[0][0][1].split("|")[2])
    await amal.tap_action(callbacks.TB_ANSWER, contact_id, "yes")
    await bot.deliver()
    await giulia.tap_action(callbacks.TB_CONVERSATION, contact_id)
    await giulia.tap_action(callbacks.TB_WRITE, contact_id)
    await giulia.send("Ciao Amal! Domani alle 15? Il mio numero è 333 123 4567")
    await bot.deliver()
    relayed = amal.screen.text
    assert "Domani alle 15" in relayed and "333" not in relayed and "4567" not in relayed
    await amal.tap_action(callbacks.TB_WRITE, contact_id)
    await amal.send("نعم، غدًا الساعة ٣")
    await bot.deliver()
    assert "غدًا" in giulia.screen.text
    async with bot.runtime.db.read() as session:
        assert len((await session.scalars(select(TimeBankMessage))).all()) == 2

    # They agree, Giulia (who receives the help) confirms one hour and a half, the hours move once.
    await giulia.tap_action(callbacks.TB_CONVERSATION, contact_id)
    await giulia.tap_action(callbacks.TB_AGREE, contact_id)
    await bot.deliver()
    async with bot.runtime.db.read() as session:
        exchange = await session.scalar(select(TimeBankExchange).where(TimeBankExchange.contact_id == contact_id))
    assert (exchange.giver_id, exchange.receiver_id) == (amal.user_id, giulia.user_id)
    # Amal cannot confirm hours for herself; nobody confirms zero, negative or too many hours.
    query = await amal.press(amal.screen.message_id, callbacks.encode(callbacks.TB_CONFIRM, exchange.id, 6), force=True)
    assert bot.emu.callback_answers[query].get("text")
    for quarters in (0, -4, 17):
        await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.TB_CONFIRM, exchange.id, quarters), force=True)
    assert (await account(bot, giulia)).balance == start
    await giulia.tap_action(callbacks.TB_HOURS, exchange.id)
    await giulia.tap_action(callbacks.TB_CONFIRM, exchange.id, 6)
    await bot.deliver()
    await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.TB_CONFIRM, exchange.id, 6), force=True)
    assert (await account(bot, giulia)).balance == start - 6
    assert (await account(bot, amal)).balance == start + 6
    assert hours_in("ar", 6) in amal.screen.text  # "Giulia confirmed 1.5 h", in Arabic
    await giulia.tap_action(callbacks.TB_THANK, exchange.id, 5)
    # Both see their balances, each in their language.
    await open_bank(giulia)
    await giulia.tap_action(callbacks.TB_LEDGER, SPACE, 0)
    assert hours_in("it", start - 6) in giulia.screen.text and "Scambio" in giulia.screen.text
    await open_bank(amal)
    await amal.tap_action(callbacks.TB_LEDGER, SPACE, 0)
    assert hours_in("ar", start + 6) in amal.screen.text
    await amal.tap_action(callbacks.TB_STATEMENT, SPACE, 202703)
    assert hours_in("ar", 6) in amal.screen.text

    # The operator adjusts Giulia's balance with a reason.
    giulia_account = await account(bot, giulia)
    await operator.send("/start")
    await operator.tap_action(callbacks.TIMEBANKS)
    await operator.tap_action(callbacks.TB_HOME, SPACE)
    await operator.tap_action(callbacks.TB_KEEPER, SPACE)
    await operator.tap_action(callbacks.TB_MEMBERS, SPACE, 1, 0)
    await operator.tap_action(callbacks.TB_MEMBER, giulia_account.id)
    await operator.tap_action(callbacks.TB_ADJUST, giulia_account.id, 4)
    await operator.send("Aiuto alla festa del cortile")
    await bot.deliver()
    assert (await account(bot, giulia)).balance == start - 6 + 4
    assert "festa del cortile" in giulia.screen.text

    # Amal disputes the exchange; the operator reverses it with a reason: new entries, balances back.
    await amal.tap_action(callbacks.TB_MINE, SPACE)
    await amal.tap_action(callbacks.TB_EXCHANGE, exchange.id)
    await amal.tap_action(callbacks.TB_DISPUTE, exchange.id)
    await bot.deliver()
    report_data = operator.find_button("")[1]
    assert report_data.startswith("1|kyr|")
    await operator.tap_action(callbacks.TB_REPORT, int(report_data.split("|")[2]))
    async with bot.runtime.db.read() as session:
        exchange = await session.get(TimeBankExchange, exchange.id)
    await operator.tap_action(callbacks.TB_REVERSE, exchange.transaction_id)
    await operator.send("Lo scambio non era finito")
    await bot.deliver()
    assert (await account(bot, amal)).balance == start
    assert (await account(bot, giulia)).balance == start + 4
    assert "Lo scambio non era finito" in amal.screen.text

    # Amal reports abuse in the conversation; the operator pauses Giulia, whose old buttons change nothing.
    await amal.tap_action(callbacks.TB_MINE, SPACE)
    await amal.press(amal.screen.message_id, callbacks.encode(callbacks.TB_ABUSE_ASK, contact_id), force=True)
    await amal.tap_action(callbacks.TB_ABUSE, contact_id)
    await bot.deliver()
    report_data = operator.find_button("")[1]
    await operator.tap_action(callbacks.TB_REPORT, int(report_data.split("|")[2]))
    assert "Domani alle 15" in operator.screen.text  # the operator reads the last messages
    await operator.tap_action(callbacks.TB_MEMBER_DO, giulia_account.id, "pause")
    await bot.deliver()
    assert (await account(bot, giulia)).status == "paused"
    sent_before = len(amal.messages())
    await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.TB_WRITE, contact_id), force=True)
    await giulia.press(giulia.screen.message_id, callbacks.encode(callbacks.TB_NEW, SPACE, "request"), force=True)
    await giulia.send("ciao di nuovo")
    await bot.deliver()
    assert len(amal.messages()) == sent_before

    async with bot.runtime.db.read() as session:
        assert (await tb.bank_sums(session))[SPACE] == 0
        assert await tb.entry_mismatches(session) == 0


async def test_a_safety_flagged_post_waits_for_the_operator_and_shows_advice(bot: RunningBot) -> None:
    operator = await bot.tenant("Lucia", "it")
    await bot.grant_role(operator, "operator", SPACE)
    rosa = await bot.tenant("Rosa", "it")
    await join(bot, rosa, operator, ESTATE)
    await open_bank(rosa)
    await rosa.tap_action(callbacks.TB_NEW, SPACE, "offer")
    await rosa.tap_action(callbacks.TB_NEW_CATEGORY, SPACE, KIND["offer"], CATEGORY["home_repairs"])
    assert "⚠️" in rosa.screen.text and "approva" in rosa.screen.text
    await rosa.send("Monto mensole e cambio lampadine")
    await rosa.tap_action(callbacks.TB_SKIP_WHEN)
    await bot.deliver()
    async with bot.runtime.db.read() as session:
        pending = await session.scalar(select(TimeBankPost).where(TimeBankPost.user_id == rosa.user_id))
    assert pending.status == "pending"
    await operator.tap_action(callbacks.TB_POST_DECIDE, pending.id, "yes")
    await bot.deliver()
    assert "pubblicato" in rosa.screen.text
    # Rosa asked for the weekly digest; a week later a neighbour's new offer reaches her through the outbox.
    await rosa.tap_action(callbacks.TB_HOME, SPACE)
    await rosa.tap_action(callbacks.TB_DIGEST, SPACE, "on")
    sara = await bot.tenant("Sara", "it")
    await join(bot, sara, operator, OTHER_ESTATE)
    await post(sara, "offer", "sewing", "Faccio orli e piccoli rammendi", "sabato mattina")
    bot.clock.advance(timedelta(days=1))
    await outgoing_timebank.send_digests(bot.runtime)
    await bot.deliver()
    assert "Nuove offerte vicino a te" in rosa.screen.text and "orli" in str(rosa.screen.button_texts())
    await outgoing_timebank.send_digests(bot.runtime)  # once a week, not at every run
    await bot.deliver()
    assert sum("Nuove offerte" in text for text in rosa.texts()) == 1
    # /stats shows the time bank to its operator; fewer than five members: figures hidden.
    await operator.send("/stats")
    await operator.tap_action(callbacks.TB_STATS, 0)
    assert "Meno di 5" in operator.screen.text
