"""Alerts are never lost and never doubled: Telegram failing 30% of the time, the bot killed between "ticket
saved" and "alert sent", a sender that died holding rows, a custodian who blocked the bot."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

from sqlalchemy import func, select

from handlers.outgoing import tickets as outgoing_tickets
from storage.domain import outbox, tickets
from storage.models import OutboxMessage
from storage.domain.users import Roles
from tests.e2e.harness import Person, RunningBot, start_bot
from tests.e2e.test_reports import (  # noqa: F401 (bot_env and manager_group are fixtures of these stories too)
    CODE,
    ESTATE,
    MANAGER_CHAT,
    alert_of,
    bot_env,
    make_custodian,
    manager_group,
    report_water_leak,
)


def alert_codes(bot: RunningBot, chat_id: int) -> Counter:
    """How many alerts of each ticket the chat received."""
    return Counter(
        match.group() for m in bot.emu.chat_messages(chat_id)
        if m.from_bot and m.kind == "text" and "Segnalazione" in (m.text or "") and (match := CODE.search(m.text))
    )


async def pending_rows(bot: RunningBot) -> int:
    async with bot.runtime.db.read() as session:
        return await session.scalar(select(func.count(OutboxMessage.id)).where(OutboxMessage.status == "pending")) or 0


async def file_tickets(bot: RunningBot, reporters: list[Person]) -> list[str]:
    """Tickets saved with their alerts, as the "Send" button does, without going through the chat."""
    rt = bot.runtime
    codes = []
    for person in reporters:
        async with rt.db.write() as session:
            draft = await tickets.start_draft(session, person.user_id, rt.clock.now())
            tickets.choose_category(draft, rt.content, "cleaning", rt.clock.now())
            tickets.choose_estate(draft, rt.content, ESTATE, rt.clock.now())
            tickets.choose_building(draft, rt.content, -1, rt.clock.now())
            tickets.choose_floor(draft, rt.content, 0, rt.clock.now())
            tickets.choose_area(draft, rt.content, "common", rt.clock.now())
            while draft.step == "questions":
                tickets.answer_question(draft, rt.content, tickets.pending_questions(draft, rt.content)[0], "no", rt.clock.now())
            tickets.set_description(draft, rt.content, f"Scale sporche ({person.name})", rt.clock.now())
            tickets.photos_done(draft, rt.content, rt.clock.now())
            ticket = await tickets.open_ticket(session, draft, rt.content, Roles(), rt.clock.now())
            await outgoing_tickets.announce_new_ticket(session, rt, ticket)
            codes.append(ticket.code)
    return codes


async def test_with_30_percent_of_calls_failing_every_alert_arrives_exactly_once(bot):
    custodians = [await make_custodian(bot, f"Custode {n}") for n in range(2)]
    reporters = [await bot.tenant(f"Inquilino {n}") for n in range(5)]
    # Deliver from the test alone: moving the clock while the background sender is inside a retry would end its
    # lease early, which real time never does so fast.
    await bot.runtime.outbox.stop()
    bot.emu.fault_rate("sendMessage", rate=0.3, statuses=(429, 502), seed=7)
    codes = await file_tickets(bot, reporters)
    for _ in range(200):
        await bot.flush_outbox()
        if not await pending_rows(bot):
            break
        bot.clock.advance(timedelta(minutes=15))  # past any retry_after or backoff, without sleeping
    bot.emu.clear_faults()
    assert not await pending_rows(bot)
    injected = Counter(r.error_code for r in bot.emu.refusals if r.injected)
    assert injected[429] > 0 and any(call[0] == "sendMessage" for call in bot.emu.calls)
    for person in custodians:
        assert alert_codes(bot, person.user_id) == Counter({code: 1 for code in codes})
    async with bot.runtime.db.read() as session:
        statuses = Counter((await session.scalars(select(OutboxMessage.status).where(OutboxMessage.kind == "alert"))).all())
    assert statuses == Counter({"sent": len(codes) * len(custodians)})


async def test_an_alert_saved_just_before_a_crash_goes_out_once_after_the_restart(bot):
    rosa = await make_custodian(bot, "Rosa")
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, send=False)
    await bot.runtime.outbox.stop()  # the sender is gone: nothing will be delivered by this process
    await amal.tap("Invia la segnalazione")
    code = CODE.search(amal.screen.text).group()
    settings = bot.service.settings
    await bot.service.stop()  # killed: the ticket and its alert rows are in the database, nothing was sent
    assert alert_codes(bot, rosa.user_id)[code] == 0

    for _ in range(2):  # the first start delivers; the second must not deliver again
        restarted = await start_bot(bot.emu, settings, bot.clock)
        try:
            await restarted.deliver()
        finally:
            await restarted.service.stop()
        assert alert_codes(bot, rosa.user_id)[code] == 1
        assert alert_codes(bot, MANAGER_CHAT)[code] == 1  # urgent: the manager chat too


async def test_rows_held_by_a_sender_that_died_go_out_when_its_lease_ends(bot):
    rosa = await make_custodian(bot, "Rosa")
    reporter = await bot.tenant("Amal")
    await bot.runtime.outbox.stop()
    [code] = await file_tickets(bot, [reporter])
    held = await outbox.claim_due(bot.runtime.db, bot.clock.now())  # claimed by a sender that then crashed
    assert held and alert_codes(bot, rosa.user_id)[code] == 0
    await bot.flush_outbox()
    assert alert_codes(bot, rosa.user_id)[code] == 0  # still leased to the dead sender
    bot.clock.advance(timedelta(minutes=2))
    await bot.flush_outbox()
    await bot.flush_outbox()
    assert alert_codes(bot, rosa.user_id)[code] == 1


async def test_a_custodian_who_blocked_the_bot_is_reported_and_the_alert_goes_to_the_manager(bot):
    rosa = await make_custodian(bot, "Rosa")
    bot.emu.block(rosa.user_id)
    reporters = [await bot.tenant("Amal"), await bot.tenant("Giuseppe")]
    [first] = await file_tickets(bot, reporters[:1])
    await bot.deliver()
    manager = bot.texts(MANAGER_CHAT)
    assert any("Rosa (custode) ha bloccato il bot" in text and first in text for text in manager)
    alert = alert_of(bot, MANAGER_CHAT, first)
    assert any("Prendo in carico" in label for label in alert.button_texts())

    # Now that the bot knows, the next alert goes straight to the manager chat.
    [second] = await file_tickets(bot, reporters[1:])
    await bot.deliver()
    assert alert_codes(bot, MANAGER_CHAT)[second] == 1 and alert_codes(bot, rosa.user_id)[second] == 0
