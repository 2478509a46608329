"""Opinions and prompts without Telegram, on SQLite and PostgreSQL: drafts, named and anonymous opinions, one rating
per tenant per booking or ticket (a changed mind updates it), and the prompts' rules (the next day, at most one a
day, never when turned off, never for something already rated)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select

from storage.domain import bookings, feedback, outbox, tickets, users
from storage.domain.feedback import Claim, FeedbackError, Target
from storage.models import Booking, Feedback, FeedbackDraft, FeedbackPrompt, OutboxMessage, Ticket, TicketEvent, User
from storage.domain.tickets import Action, Actor
from storage.domain.users import Roles

ROME = ZoneInfo("Europe/Rome")
TENANT, NEIGHBOUR, STAFF = 1001, 1002, 2001
NOON = datetime(2027, 3, 2, 12, 0, tzinfo=ROME)


@pytest.fixture(autouse=True)
def tuesday_noon(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(NOON)


async def people(db, clock) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id, name in ((TENANT, "Amal"), (NEIGHBOUR, "Giuseppe"), (STAFF, "Rosa")):
            await users.touch_user(session, user_id, name, "it", clock.now())


async def attended_booking(db, clock, *, user_id: int = TENANT, service_id: str = "omero-digital-desk",  # type: ignore[no-untyped-def]
                           hours_ago: int = 2, mark: bool = True) -> int:
    """A booking whose slot began `hours_ago`, marked attended by staff through storage.domain.bookings (so the hooks run)."""
    start = clock.now() - timedelta(hours=hours_ago)
    async with db.write() as session:
        booking = Booking(user_id=user_id, chat_id=user_id, service_id=service_id, space_id="omero", slot_start=start,
                          slot_end=start + timedelta(minutes=30), status="active", name="Amal", language="it",
                          holds_quota=False, created_at=start - timedelta(days=3))
        session.add(booking)
        await session.flush()
        if mark:
            await bookings.mark(session, booking.id, STAFF, True, clock.now())
        return booking.id


async def resolved_ticket(db, clock, sample_content) -> int:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        draft = await tickets.start_draft(session, TENANT, clock.now())
        tickets.choose_category(draft, sample_content, "lift", clock.now())
        tickets.choose_estate(draft, sample_content, "omero-mompiani", clock.now())
        while draft.step != "review":
            step = draft.step
            if step == "building":
                tickets.choose_building(draft, sample_content, -1, clock.now())
            elif step == "floor":
                tickets.choose_floor(draft, sample_content, None, clock.now())
            elif step == "area":
                tickets.choose_area(draft, sample_content, "common", clock.now())
            elif step == "questions":
                tickets.answer_question(draft, sample_content, tickets.pending_questions(draft, sample_content)[0], "yes", clock.now())
            elif step == "description":
                tickets.set_description(draft, sample_content, "L'ascensore è fermo", clock.now())
            elif step == "photos":
                tickets.photos_done(draft, sample_content, clock.now())
        ticket = await tickets.open_ticket(session, draft, sample_content, Roles(), clock.now())
        custodian = Actor(STAFF, Roles(custodian_of=frozenset({"omero-mompiani"})))
        await tickets.change_status(session, ticket.id, Action.RESOLVE, custodian, clock.now())
        return ticket.id


async def prompts_of(db, user_id: int) -> list[FeedbackPrompt]:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return list((await session.scalars(select(FeedbackPrompt).where(FeedbackPrompt.user_id == user_id)
                                           .order_by(FeedbackPrompt.id))).all())


async def claim_due(db, clock) -> dict[int, Claim]:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        return {p.id: await feedback.claim(session, p, clock.now(), ROME) for p in await feedback.due_prompts(session, clock.now())}


# --------------------------------------------------------------------------------------------
# Opinions from the menu


async def test_a_named_rating_is_one_per_tenant_and_target_and_a_changed_mind_updates_it(db, clock, sample_content):
    await people(db, clock)
    for stars, comment in ((2, "Troppa attesa"), (5, None)):
        draft = await feedback.start_draft_now(db, TENANT, "rating", Target("omero", "omero-digital-desk"), sample_content, clock.now())
        assert draft.step == "stars"
        await feedback.change_draft_now(db, TENANT, lambda draft, now: feedback.set_stars(draft, stars, now), clock.now())
        if comment:
            assert await feedback.comment_now(db, TENANT, comment, clock.now(), ROME) is not None
        await feedback.send_draft_now(db, TENANT, clock.now(), ROME)
    async with db.read() as session:
        rows = (await session.scalars(select(Feedback))).all()
        assert await session.get(FeedbackDraft, TENANT) is None
    assert [(r.user_id, r.stars, r.comment, r.day) for r in rows] == [(TENANT, 5, None, date(2027, 3, 2))]


async def test_an_anonymous_complaint_keeps_only_the_space_the_text_and_the_day(db, clock, sample_content):
    await people(db, clock)
    draft = await feedback.start_draft_now(db, TENANT, "complaint", Target("zoia"), sample_content, clock.now())
    assert draft.step == "text" and not feedback.can_send(draft)
    draft, _sent = await feedback.comment_now(db, TENANT, "  Il bagno è sempre chiuso  ", clock.now(), ROME)
    assert draft.step == "review" and _sent is None
    await feedback.change_draft_now(db, TENANT, feedback.toggle_anonymous, clock.now())
    assert await feedback.send_draft_now(db, TENANT, clock.now(), ROME) == ("complaint", True)
    async with db.read() as session:
        row = await session.scalar(select(Feedback))
        assert await session.get(FeedbackDraft, TENANT) is None
        assert await session.scalar(select(func.count(OutboxMessage.id))) == 0
    assert (row.kind, row.space_id, row.user_id, row.booking_id, row.comment, row.day) == (
        "complaint", "zoia", None, None, "Il bagno è sempre chiuso", date(2027, 3, 2))
    assert len(row.id) >= 20 and not row.id.isdigit()  # random: the order of insertion says nothing


async def test_anonymous_ratings_are_separate_rows_and_named_ones_are_not(db, clock, sample_content):
    await people(db, clock)
    for anonymous in (True, True, False, False):
        await feedback.start_draft_now(db, TENANT, "rating", Target("omero"), sample_content, clock.now())
        await feedback.change_draft_now(db, TENANT, lambda draft, now: feedback.set_stars(draft, 4, now), clock.now())
        if anonymous:
            await feedback.change_draft_now(db, TENANT, feedback.toggle_anonymous, clock.now())
        await feedback.send_draft_now(db, TENANT, clock.now(), ROME)
    async with db.read() as session:
        owners = sorted((r.user_id or 0) for r in (await session.scalars(select(Feedback))).all())
    assert owners == [0, 0, TENANT]


@pytest.mark.parametrize("kind, target, stars", [
    ("rating", Target("nowhere"), None),
    ("rating", Target("omero", "zoia-coworking"), None),  # a service of another space
    ("suggestion", Target("omero", "omero-digital-desk"), None),  # suggestions are about a space
    ("gossip", Target("omero"), None),
    ("rating", Target("omero"), 6),
])
async def test_impossible_opinions_are_refused(db, clock, sample_content, kind, target, stars):
    await people(db, clock)
    with pytest.raises(FeedbackError):
        await feedback.start_draft_now(db, TENANT, kind, target, sample_content, clock.now())
        await feedback.change_draft_now(db, TENANT, lambda draft, now: feedback.set_stars(draft, stars, now), clock.now())


async def test_a_draft_left_too_long_is_forgotten(db, clock, sample_content):
    await people(db, clock)
    await feedback.start_draft_now(db, TENANT, "suggestion", Target("omero"), sample_content, clock.now())
    clock.advance(feedback.DRAFT_LIFETIME + timedelta(minutes=1))
    assert await feedback.comment_now(db, TENANT, "Più sedie", clock.now(), ROME) is None  # not taken as its text
    with pytest.raises(FeedbackError):
        await feedback.send_draft_now(db, TENANT, clock.now(), ROME)


# --------------------------------------------------------------------------------------------
# Ratings of a booking and of a fix


async def test_a_booking_is_rated_once_by_its_tenant_and_only_when_attended(db, clock):
    await people(db, clock)
    attended = await attended_booking(db, clock)
    unmarked = await attended_booking(db, clock, mark=False)
    for stars in (3, 4):
        async with db.write() as session:
            await feedback.rate_booking(session, attended, TENANT, stars, clock.now(), ROME)
    for booking_id, user_id in ((unmarked, TENANT), (attended, NEIGHBOUR)):
        with pytest.raises(FeedbackError):
            async with db.write() as session:
                await feedback.rate_booking(session, booking_id, user_id, 5, clock.now(), ROME)
    async with db.write() as session:
        await feedback.start_comment(session, TENANT, attended, clock.now())
    with pytest.raises(FeedbackError):  # the booking is theirs: it cannot be anonymous
        await feedback.change_draft_now(db, TENANT, feedback.toggle_anonymous, clock.now())
    _draft, sent = await feedback.comment_now(db, TENANT, "Molto gentili", clock.now(), ROME)
    assert (sent.booking_id, sent.stars) == (attended, 4)
    async with db.read() as session:
        assert await session.get(FeedbackDraft, TENANT) is None
        rows = (await session.scalars(select(Feedback))).all()
    assert [(r.booking_id, r.user_id, r.stars, r.comment, r.service_id) for r in rows] == [
        (attended, TENANT, 4, "Molto gentili", "omero-digital-desk")]


async def test_the_stars_of_a_fix_live_on_the_ticket_and_a_changed_mind_updates_them(db, clock, sample_content):
    await people(db, clock)
    ticket_id = await resolved_ticket(db, clock, sample_content)
    reporter = Actor(TENANT, Roles())
    async with db.write() as session:
        await tickets.change_status(session, ticket_id, Action.CONFIRM, reporter, clock.now())
    for stars in (2, 5, 5):
        async with db.write() as session:
            await feedback.rate_fix(session, ticket_id, reporter, stars, clock.now())
    with pytest.raises(tickets.TicketError):
        async with db.write() as session:
            await feedback.rate_fix(session, ticket_id, Actor(NEIGHBOUR, Roles()), 1, clock.now())
    async with db.read() as session:
        ticket = await session.get(Ticket, ticket_id)
        rated = (await session.scalars(select(TicketEvent.text).where(TicketEvent.ticket_id == ticket_id,
                                                                      TicketEvent.kind == "rated"))).all()
    assert ticket.stars == 5 and list(rated) == ["2", "5"]


# --------------------------------------------------------------------------------------------
# Prompts


async def test_an_attended_booking_is_followed_by_one_question_the_next_morning(db, clock):
    await people(db, clock)
    booking_id = await attended_booking(db, clock)
    [prompt] = await prompts_of(db, TENANT)
    assert (prompt.kind, prompt.ref, prompt.status) == ("booking", booking_id, "pending")
    assert prompt.due_at == datetime(2027, 3, 3, 10, 0, tzinfo=ROME)
    assert await claim_due(db, clock) == {}
    clock.set(datetime(2027, 3, 3, 10, 1, tzinfo=ROME))
    assert await claim_due(db, clock) == {prompt.id: Claim.ASK}
    async with db.read() as session:
        assert await outbox.GUARDS[feedback.PROMPT_GUARD](session, str(prompt.id), clock.now())
    async with db.write() as session:
        await feedback.rate_booking(session, booking_id, TENANT, 5, clock.now(), ROME)
    async with db.read() as session:  # answered meanwhile (from the thanks screen): the message is dropped
        assert not await outbox.GUARDS[feedback.PROMPT_GUARD](session, str(prompt.id), clock.now())


async def test_at_most_one_prompt_a_day_the_others_wait_for_the_next(db, clock):
    await people(db, clock)
    first = await attended_booking(db, clock, service_id="omero-digital-desk")
    second = await attended_booking(db, clock, service_id="omero-paperwork")
    clock.set(datetime(2027, 3, 3, 11, 0, tzinfo=ROME))
    claims = await claim_due(db, clock)
    assert sorted(claims.values()) == [Claim.ASK, Claim.LATER]
    prompts = {p.ref: p for p in await prompts_of(db, TENANT)}
    assert {prompts[first].status, prompts[second].status} == {"asked", "pending"}
    waiting = prompts[first] if prompts[first].status == "pending" else prompts[second]
    assert waiting.due_at == datetime(2027, 3, 4, 10, 0, tzinfo=ROME)
    clock.set(datetime(2027, 3, 4, 10, 5, tzinfo=ROME))
    assert await claim_due(db, clock) == {waiting.id: Claim.ASK}


async def test_no_prompts_for_a_tenant_who_turned_them_off(db, clock):
    await people(db, clock)
    await attended_booking(db, clock)
    await feedback.choose_prompts(db, TENANT, False)
    clock.set(datetime(2027, 3, 3, 10, 30, tzinfo=ROME))
    assert list((await claim_due(db, clock)).values()) == [Claim.SKIP]
    [prompt] = await prompts_of(db, TENANT)
    assert (prompt.status, prompt.day) == ("skipped", None)


async def test_a_resolved_ticket_question_counts_as_the_days_prompt_then_stars_come_after_confirming(db, clock, sample_content):
    await people(db, clock)
    ticket_id = await resolved_ticket(db, clock, sample_content)
    booking_id = await attended_booking(db, clock, hours_ago=1)
    clock.set(datetime(2027, 3, 3, 9, 0, tzinfo=ROME))
    async with db.write() as session:  # the custodian resolves again the next morning after a reopening
        await tickets.change_status(session, ticket_id, Action.REOPEN, Actor(TENANT, Roles()), clock.now())
        await tickets.change_status(session, ticket_id, Action.RESOLVE, Actor(STAFF, Roles(is_admin=True)), clock.now())
    kinds = {(p.kind, p.status, p.day) for p in await prompts_of(db, TENANT)}
    assert ("fix_question", "asked", date(2027, 3, 2)) in kinds
    clock.set(datetime(2027, 3, 3, 10, 30, tzinfo=ROME))
    async with db.write() as session:  # the tenant confirms: stars tomorrow, if not given meanwhile
        await tickets.change_status(session, ticket_id, Action.CONFIRM, Actor(TENANT, Roles()), clock.now())
    assert list((await claim_due(db, clock)).values()) == [Claim.ASK]  # the booking's question, on the 3rd
    clock.set(datetime(2027, 3, 4, 10, 30, tzinfo=ROME))
    claims = await claim_due(db, clock)
    fix_prompt = next(p for p in await prompts_of(db, TENANT) if p.kind == "fix")
    assert claims == {fix_prompt.id: Claim.ASK} and booking_id


async def test_a_fix_rated_before_the_prompt_is_not_asked_again(db, clock, sample_content):
    await people(db, clock)
    ticket_id = await resolved_ticket(db, clock, sample_content)
    async with db.write() as session:
        await tickets.change_status(session, ticket_id, Action.CONFIRM, Actor(TENANT, Roles()), clock.now())
        await feedback.rate_fix(session, ticket_id, Actor(TENANT, Roles()), 4, clock.now())
    clock.set(datetime(2027, 3, 3, 10, 30, tzinfo=ROME))
    assert list((await claim_due(db, clock)).values()) == [Claim.SKIP]


async def test_a_blocked_or_vanished_tenant_is_not_prompted(db, clock):
    await people(db, clock)
    await attended_booking(db, clock)
    async with db.write() as session:
        user = await session.get(User, TENANT)
        user.blocked_at = clock.now()
    clock.set(datetime(2027, 3, 3, 10, 30, tzinfo=ROME))
    assert list((await claim_due(db, clock)).values()) == [Claim.SKIP]
