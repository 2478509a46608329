""""I'm interested" in a job offer with a phone the tenant types (issue 15): checked and normalised, a clear word
on a bad number, sent to the space's operators only, kept with that interest only (not as the booking phone), in
"my data", erased by the retention rule, and forgotten with the tenant."""

from __future__ import annotations

import dataclasses

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import callbacks
from storage.domain import bookings, privacy
from storage.models import InterestPhonePrompt, JobInterest

ROME = ZoneInfo("Europe/Rome")
JOB = "zoia-pulizie-cortili"


@pytest.fixture(autouse=True)
def monday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(datetime(2026, 12, 7, 9, 0, tzinfo=ROME))  # the sample programme's first week


async def _to_the_phone_question(person) -> None:  # type: ignore[no-untyped-def]
    await person.tap_action(callbacks.WHATS_ON)
    await person.tap_action(callbacks.WHATS_ON_KIND, "jobs")
    await person.tap_action(callbacks.WHATS_ON_ITEM, JOB)
    await person.tap_action(callbacks.JOB_INTEREST, JOB)
    await person.tap_action(callbacks.JOB_INTEREST_TYPE, JOB)


async def test_a_typed_phone_reaches_the_operator_once_and_stays_with_that_interest_only(bot, clock):
    operator = await bot.tenant("Paolo")
    await bot.grant_role(operator, "operator", "zoia")
    bystander = await bot.tenant("Gino")
    sara = await bot.tenant("Sara")
    await _to_the_phone_question(sara)
    assert "Scrivi qui sotto il numero" in sara.screen.text and "333 123 4567" in sara.screen.text

    await sara.send("12 ab")  # digits, but no phone: said clearly, still waiting
    assert "«12 ab» non sembra un numero di telefono." in sara.screen.text
    await bot.deliver()
    assert not [text for text in operator.texts() if "Sara" in text]

    await sara.send("+39 (333) 123-4567")
    assert "Fatto: lo spazio ti chiamerà al +393331234567." in sara.screen.text
    await bot.deliver()
    told = [text for text in operator.texts() if "Sara" in text]
    assert len(told) == 1 and "+393331234567" in told[0]
    assert not [text for text in bystander.texts() if "3331234567" in text], "nothing public"
    rt = bot.runtime
    async with rt.db.read() as session:
        interest = await session.get(JobInterest, (sara.user_id, JOB))
        assert interest.phone == "+393331234567"
        assert await bookings.phone_on_file(rt.db, sara.user_id) is None, "not saved as the booking phone"
        assert await session.get(InterestPhonePrompt, sara.user_id) is None, "the question is answered"

    # Said again (a typed number once more): told once, and her first number stays.
    await sara.tap_action(callbacks.WHATS_ON_ITEM, JOB)
    await sara.press(sara.screen.message_id, callbacks.encode(callbacks.JOB_INTEREST_TYPE, JOB), force=True)
    await sara.send("02 1234 5678")
    assert "Avevi già detto che ti interessa" in sara.screen.text
    await bot.deliver()
    assert len([text for text in operator.texts() if "Sara" in text]) == 1

    # My data shows it; the phone goes after QC_RETAIN_BOOKINGS_DAYS (here the interest itself is set to be kept
    # longer, QC_RETAIN_JOB_INTERESTS_DAYS, so the phone's own rule shows), the interest after its own days.
    mine = await privacy.collect(rt.db, sara.user_id)
    assert mine["job_interests"][0]["phone"] == "+393331234567"
    retention = dataclasses.replace(rt.settings.retention, job_interests_days=rt.settings.retention.bookings_days * 2)
    later = clock.now() + timedelta(days=retention.bookings_days + 1)
    assert (await privacy.due_counts(rt.db, retention, later))["job_interest_phones"] == 1
    await privacy.purge(rt.db, retention, later, rt.settings.media_dir)
    async with rt.db.read() as session:
        kept = await session.get(JobInterest, (sara.user_id, JOB))
        assert kept is not None and kept.phone is None
    await privacy.purge(rt.db, retention, clock.now() + timedelta(days=retention.job_interests_days + 1), rt.settings.media_dir)
    async with rt.db.read() as session:
        assert await session.get(JobInterest, (sara.user_id, JOB)) is None


async def test_a_question_left_unanswered_is_cancelled_forgotten_and_a_forged_button_refused(bot):
    sara = await bot.tenant("Sara")
    await _to_the_phone_question(sara)
    await sara.send("/cancel")
    async with bot.runtime.db.read() as session:
        assert await session.get(InterestPhonePrompt, sara.user_id) is None
    await sara.send("333 123 4567")  # no longer a phone for the offer: nothing registered
    async with bot.runtime.db.read() as session:
        assert (await session.scalars(select(JobInterest))).all() == []

    # A forged button for something that is not a job offer: answered, nothing asked.
    await sara.press(sara.screen.message_id, callbacks.encode(callbacks.JOB_INTEREST_TYPE, "omero-te"), force=True)
    async with bot.runtime.db.read() as session:
        assert await session.get(InterestPhonePrompt, sara.user_id) is None

    # Forget me takes an open question too.
    await sara.send("/menu")
    await _to_the_phone_question(sara)
    assert (await privacy.collect(bot.runtime.db, sara.user_id))["job_interest_phone_question"][0]["job_id"] == JOB
    await privacy.forget(bot.runtime.db, sara.user_id, bot.runtime.clock.now(), bot.runtime.settings.media_dir)
    async with bot.runtime.db.read() as session:
        assert await session.get(InterestPhonePrompt, sara.user_id) is None
