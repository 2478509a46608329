"""Reports and tickets without Telegram, on SQLite and PostgreSQL: drafts step by step, codes, duplicates and
"me too", the life cycle with its permissions, escalation and closing as time passes, and a property test that
no sequence of actions reaches an illegal state or lets the wrong person change anything."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from storage.domain import open311, tickets
from storage.domain import ticket_lists, users
from storage.models import ReportDraft, Ticket, TicketSubscriber, User
from storage.domain.tickets import Action, Actor, TicketError
from storage.domain.users import Roles
from tests.unit.report_drafts import fill_draft

ESTATE = "omero-mompiani"
OTHER_ESTATE = "zoia-cagnino"
TENANT, NEIGHBOUR, STRANGER, CUSTODIAN, OTHER_CUSTODIAN, ADMIN = 1001, 1002, 1003, 2001, 2002, 3001
ACTORS = {
    "tenant": Actor(TENANT, Roles()),
    "neighbour": Actor(NEIGHBOUR, Roles()),
    "stranger": Actor(STRANGER, Roles()),
    "committee": Actor(STRANGER, Roles(committee_of=frozenset({ESTATE}))),
    "custodian": Actor(CUSTODIAN, Roles(custodian_of=frozenset({ESTATE}))),
    "other_custodian": Actor(OTHER_CUSTODIAN, Roles(custodian_of=frozenset({OTHER_ESTATE}))),
    "admin": Actor(ADMIN, Roles(is_admin=True)),
}
PHOTO = {"kind": "photo", "file_id": "photo-1", "path": "2026/01/a.jpg", "size": 10, "mime_type": "image/jpeg"}


async def _people(db, clock) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        for user_id, name in ((TENANT, "Amal"), (NEIGHBOUR, "Giuseppe"), (STRANGER, "Li"), (CUSTODIAN, "Rosa"),
                              (OTHER_CUSTODIAN, "Marco"), (ADMIN, "Admin")):
            await users.touch_user(session, user_id, name, "it", clock.now())


def _complete_draft(draft: ReportDraft, content, now, *, category="water-leak", estate=ESTATE, description="Acqua dal soffitto",  # type: ignore[no-untyped-def]
                    area="flat") -> None:
    fill_draft(draft, content, now, category=category, estate=estate, description=description, area=area)
    tickets.photos_done(draft, content, now)


async def _open(db, clock, content, user_id=TENANT, **choices) -> Ticket:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        draft = await tickets.start_draft(session, user_id, clock.now())
        _complete_draft(draft, content, clock.now(), **choices)
        return await tickets.open_ticket(session, draft, content, Roles(), clock.now())


async def _offered_draft(session, clock, content, user_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    """A complete draft of the same problem, and the ids the server offers its author to join."""
    draft = await tickets.start_draft(session, user_id, clock.now())
    _complete_draft(draft, content, clock.now(), area="common")
    return [ticket.id for ticket in await tickets.find_duplicates(session, draft, clock.now())]


async def _neighbour_joins(session, clock, content, ticket_id: int) -> None:  # type: ignore[no-untyped-def]
    """The neighbour, offered the ticket while writing the same problem, says "me too" and follows it."""
    await _offered_draft(session, clock, content, NEIGHBOUR)
    await tickets.me_too(session, ticket_id, ACTORS["neighbour"], clock.now())


async def _act(db, clock, ticket_id: int, action: Action, actor: str):  # type: ignore[no-untyped-def]
    async with db.write() as session:
        return await tickets.change_status(session, ticket_id, action, ACTORS[actor], clock.now())


async def _reload(db, ticket_id: int) -> Ticket:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return await session.get(Ticket, ticket_id)


# --------------------------------------------------------------------------------------------
# Drafts


def test_a_draft_asks_each_step_in_order_and_skips_what_does_not_apply(sample_content, clock):
    now = clock.now()
    draft = ReportDraft(user_id=1, step="category", done=[], on_behalf=False, answers={}, photos=[], created_at=now, updated_at=now)
    seen = [draft.step]
    tickets.choose_category(draft, sample_content, "water-leak", now)
    seen.append(draft.step)
    tickets.choose_estate(draft, sample_content, ESTATE, now)
    seen.append(draft.step)
    tickets.choose_building(draft, sample_content, 1, now)
    tickets.choose_floor(draft, sample_content, None, now)
    seen.append(draft.step)
    tickets.choose_area(draft, sample_content, "common", now)  # no flat question for common areas
    seen.append(draft.step)
    for index in range(3):
        tickets.answer_question(draft, sample_content, index, "no", now)
    seen.append(draft.step)
    tickets.set_description(draft, sample_content, "  perde il tubo  ", now)
    seen.append(draft.step)
    for _ in range(tickets.MAX_PHOTOS):
        tickets.add_photo(draft, sample_content, PHOTO, now)
    seen.append(draft.step)
    assert seen == ["category", "estate", "building", "area", "questions", "description", "photos", "review"]
    assert (draft.building_id, draft.staircase, draft.floor, draft.flat) == ("13", "B", None, None)
    assert draft.description == "perde il tubo" and tickets.missing_parts(draft, sample_content) == []
    with pytest.raises(TicketError):
        tickets.add_photo(draft, sample_content, PHOTO, now)


def test_editing_a_part_from_the_review_asks_that_part_again_then_returns(sample_content, clock):
    now = clock.now()
    draft = ReportDraft(user_id=1, step="category", done=[], on_behalf=False, answers={}, photos=[], created_at=now, updated_at=now)
    _complete_draft(draft, sample_content, now)
    assert draft.step == "review"
    tickets.begin_edit(draft, "place", now)
    assert draft.step == "estate"
    tickets.choose_estate(draft, sample_content, OTHER_ESTATE, now)
    assert draft.step == "building" and draft.building_id is None
    tickets.choose_building(draft, sample_content, -1, now)
    tickets.choose_floor(draft, sample_content, 0, now)
    tickets.choose_area(draft, sample_content, "common", now)
    assert draft.step == "review" and draft.editing is None
    tickets.begin_edit(draft, "category", now)
    tickets.choose_category(draft, sample_content, "lift", now)
    assert draft.step == "questions" and draft.answers == {}
    while draft.step == "questions":
        tickets.answer_question(draft, sample_content, tickets.pending_questions(draft, sample_content)[0], "unknown", now)
    assert draft.step == "review"
    tickets.begin_edit(draft, "description", now)
    assert draft.step == "description" and draft.description is None
    tickets.set_voice(draft, sample_content, {**PHOTO, "kind": "voice"}, now)
    assert draft.step == "review" and tickets.missing_parts(draft, sample_content) == []
    with pytest.raises(TicketError):
        tickets.begin_edit(draft, "tenant", now)  # only reports filed for someone have a tenant part


def test_an_old_button_of_an_earlier_step_changes_that_answer_and_asks_only_what_is_missing(sample_content, clock):
    now = clock.now()
    draft = ReportDraft(user_id=1, step="category", done=[], on_behalf=False, answers={}, photos=[], created_at=now, updated_at=now)
    _complete_draft(draft, sample_content, now)
    tickets.choose_floor(draft, sample_content, 5, now)  # a floor button from a screen further up the chat
    assert draft.floor == 5 and draft.step == "review"
    with pytest.raises(TicketError):
        tickets.choose_building(draft, sample_content, 99, now)
    with pytest.raises(TicketError):
        tickets.answer_question(draft, sample_content, 7, "yes", now)


# --------------------------------------------------------------------------------------------
# Opening tickets


async def test_sending_opens_a_ticket_with_a_yearly_code_and_forgets_the_draft(db, clock, sample_content):
    await _people(db, clock)
    async with db.write() as session:
        draft = await tickets.start_draft(session, TENANT, clock.now())
        _complete_draft(draft, sample_content, clock.now())
        tickets.begin_edit(draft, "photos", clock.now())
        tickets.add_photo(draft, sample_content, PHOTO, clock.now())
        tickets.photos_done(draft, sample_content, clock.now())
        ticket = await tickets.open_ticket(session, draft, sample_content, Roles(), clock.now())
    second = await _open(db, clock, sample_content, NEIGHBOUR)
    year = clock.now().year
    assert ticket.code == f"QC-{year}-000001" and second.code == f"QC-{year}-000002"
    assert ticket.status == "new" and ticket.urgency == "urgent" and ticket.answers
    assert ticket.escalate_at == ticket.created_at + timedelta(hours=sample_content.problems["water-leak"].ack_hours)
    async with db.read() as session:
        assert await tickets.get_draft(session, TENANT) is None
        assert (await session.get(User, TENANT)).last_estate_id == ESTATE
        media = await ticket_lists.media_of(session, ticket.id)
        events = await ticket_lists.events_of(session, ticket.id)
    assert [m.kind for m in media] == ["photo"] and len(media[0].token) >= 30
    assert [e.kind for e in events] == ["opened"]


async def test_an_incomplete_draft_is_not_sent(db, clock, sample_content):
    await _people(db, clock)
    async with db.write() as session:
        draft = await tickets.start_draft(session, TENANT, clock.now())
        tickets.choose_category(draft, sample_content, "cleaning", clock.now())
        with pytest.raises(TicketError) as refused:
            await tickets.open_ticket(session, draft, sample_content, Roles(), clock.now())
    assert refused.value.reason == "invalid" and "estate" in str(refused.value)


async def test_only_a_custodian_of_the_estate_files_on_behalf_of_a_tenant(db, clock, sample_content):
    await _people(db, clock)
    async with db.write() as session:
        draft = await tickets.start_draft(session, CUSTODIAN, clock.now(), on_behalf=True)
        assert draft.step == "tenant_name"
        tickets.set_tenant_name(draft, sample_content, "  Maria   Rossi ", clock.now())
        tickets.set_tenant_contact(draft, sample_content, "02 1234567", clock.now())
        _complete_draft(draft, sample_content, clock.now())
        with pytest.raises(TicketError):
            await tickets.open_ticket(session, draft, sample_content, ACTORS["other_custodian"].roles, clock.now())
        ticket = await tickets.open_ticket(session, draft, sample_content, ACTORS["custodian"].roles, clock.now())
    assert ticket.reporter_id is None and ticket.filed_by == CUSTODIAN
    assert (ticket.tenant_name, ticket.tenant_contact) == ("Maria Rossi", "02 1234567")


async def test_codes_stay_unique_when_many_tenants_send_at_once(db, clock, sample_content):
    async with db.write() as session:
        for user_id in range(100, 112):
            await users.touch_user(session, user_id, f"u{user_id}", "it", clock.now())

    async def send(user_id: int) -> str:
        return (await _open(db, clock, sample_content, user_id)).code

    codes = await asyncio.gather(*(send(user_id) for user_id in range(100, 112)))
    assert len(set(codes)) == 12 and max(codes).endswith("000012")


# --------------------------------------------------------------------------------------------
# Duplicates and "me too"


async def test_open_tickets_of_the_same_estate_and_category_are_suggested_for_30_days(db, clock, sample_content):
    await _people(db, clock)
    first = await _open(db, clock, sample_content, area="common")
    await _open(db, clock, sample_content, NEIGHBOUR, category="cleaning")
    await _open(db, clock, sample_content, STRANGER)  # inside Li's flat: never suggested to anyone else
    async with db.write() as session:
        draft = await tickets.start_draft(session, NEIGHBOUR, clock.now())
        _complete_draft(draft, sample_content, clock.now())
        assert [t.id for t in await tickets.find_duplicates(session, draft, clock.now())] == [first.id]
        assert draft.offered == [first.id]  # recorded: the only ticket "me too" accepts from this draft
        other_building = await tickets.start_draft(session, STRANGER, clock.now())
        _complete_draft(other_building, sample_content, clock.now())
        other_building.building_id = "21"
        assert await tickets.find_duplicates(session, other_building, clock.now()) == []
        own = await tickets.start_draft(session, TENANT, clock.now())
        _complete_draft(own, sample_content, clock.now())
        assert await tickets.find_duplicates(session, own, clock.now()) == []
        assert await tickets.find_duplicates(session, draft, clock.now() + timedelta(days=31)) == []


async def test_me_too_subscribes_once_and_counts_the_tenant_as_affected(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content, area="common")
    async with db.write() as session:
        assert await _offered_draft(session, clock, sample_content, NEIGHBOUR) == [ticket.id]
        change = await tickets.me_too(session, ticket.id, ACTORS["neighbour"], clock.now())
        assert change.ticket.affected == 2
    for who in ("neighbour", "tenant"):
        with pytest.raises(TicketError) as refused:
            async with db.write() as session:
                await _offered_draft(session, clock, sample_content, ACTORS[who].user_id)
                await tickets.me_too(session, ticket.id, ACTORS[who], clock.now())
        assert refused.value.reason == "not_allowed"
    async with db.read() as session:
        followers = await ticket_lists.followers(session, await session.get(Ticket, ticket.id))
        mine = await ticket_lists.tickets_of(session, NEIGHBOUR, limit=10)
    assert {user.id for user in followers} == {TENANT, NEIGHBOUR} and [t.id for t in mine] == [ticket.id]


async def test_the_report_entry_reads_the_draft_and_whether_the_tenant_has_tickets_at_once(db, clock, sample_content):
    await _people(db, clock)
    assert await ticket_lists.draft_and_has_tickets(db, TENANT) == (None, False)
    assert not await ticket_lists.has_tickets(db, TENANT)
    ticket = await _open(db, clock, sample_content, area="common")
    async with db.write() as session:
        await _neighbour_joins(session, clock, sample_content, ticket.id)  # leaves the neighbour's draft behind
        await tickets.start_draft(session, STRANGER, clock.now())
    assert await ticket_lists.draft_and_has_tickets(db, TENANT) == (None, True)  # filed
    neighbours_draft, joined = await ticket_lists.draft_and_has_tickets(db, NEIGHBOUR)
    strangers_draft, has_any = await ticket_lists.draft_and_has_tickets(db, STRANGER)
    assert neighbours_draft.user_id == NEIGHBOUR and joined
    assert strangers_draft.user_id == STRANGER and not has_any
    assert strangers_draft.step == "category" and strangers_draft.done == [] and strangers_draft.created_at.tzinfo is not None
    assert [await ticket_lists.has_tickets(db, user_id) for user_id in (TENANT, NEIGHBOUR, STRANGER)] == [True, True, False]


async def test_a_forged_me_too_for_a_ticket_never_offered_is_refused_and_changes_nothing(db, clock, sample_content):
    await _people(db, clock)
    private = await _open(db, clock, sample_content)  # Amal's flat
    public = await _open(db, clock, sample_content, category="lift", area="common")
    async with db.write() as session:
        await tickets.start_draft(session, STRANGER, clock.now())  # a draft, but nothing was offered for it
    for ticket in (private, public):
        with pytest.raises(TicketError) as refused:
            async with db.write() as session:
                await tickets.me_too(session, ticket.id, ACTORS["stranger"], clock.now())
        assert refused.value.reason == "not_allowed"
        assert (await _reload(db, ticket.id)).affected == 1
    # Even offered by a forged draft row, a ticket inside a flat is never joined.
    with pytest.raises(TicketError):
        async with db.write() as session:
            draft = await tickets.get_draft(session, STRANGER)
            draft.offered = [private.id]
            await tickets.me_too(session, private.id, ACTORS["stranger"], clock.now())
    async with db.read() as session:
        assert await ticket_lists.tickets_of(session, STRANGER, limit=10) == []


async def test_the_same_tenants_identical_report_within_an_hour_is_found_to_merge(db, clock, sample_content):
    await _people(db, clock)
    first = await _open(db, clock, sample_content)
    async with db.write() as session:
        again = await tickets.start_draft(session, TENANT, clock.now())
        _complete_draft(again, sample_content, clock.now())
        assert (await tickets.find_identical(session, again, clock.now())).id == first.id
        other_words = await tickets.start_draft(session, NEIGHBOUR, clock.now())
        _complete_draft(other_words, sample_content, clock.now())
        assert await tickets.find_identical(session, other_words, clock.now()) is None  # another tenant
        again.description = "Acqua dal soffitto, e ora anche dalla parete"
        assert await tickets.find_identical(session, again, clock.now()) is None
        again.description = first.description
        assert await tickets.find_identical(session, again, clock.now() + timedelta(minutes=61)) is None


async def test_a_prompt_expires_after_thirty_minutes(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    asked = clock.now()
    async with db.write() as session:
        await tickets.set_prompt(session, CUSTODIAN, ticket.id, "note", asked)
        prompt = await tickets.get_prompt(session, CUSTODIAN)
    assert tickets.prompt_is_live(prompt, asked + timedelta(minutes=30))
    assert not tickets.prompt_is_live(prompt, asked + timedelta(minutes=31))


async def test_a_subscriber_is_told_of_changes_of_state_without_the_custodians_words(db, clock, sample_content):
    from bot.i18n import translator
    from handlers.outgoing.tickets import render_tenant_notice

    await _people(db, clock)
    ticket = await _open(db, clock, sample_content, area="common")
    async with db.write() as session:
        await _neighbour_joins(session, clock, sample_content, ticket.id)
        change = await tickets.reject(session, ticket.id, ACTORS["custodian"], "other", clock.now(),
                                      "Amal, il tubo è tuo: chiama l'idraulico al 02 555")
    tr = translator("it", "Europe/Rome")
    to_reporter = render_tenant_notice(tr, sample_content, change.ticket, change.event, TENANT, clock.now()).text
    to_subscriber = render_tenant_notice(tr, sample_content, change.ticket, change.event, NEIGHBOUR, clock.now()).text
    assert "02 555" in to_reporter
    assert "02 555" not in to_subscriber and "Amal" not in to_subscriber and "Motivo: Altro motivo" in to_subscriber


# --------------------------------------------------------------------------------------------
# Life cycle and permissions


async def test_custodian_takes_charge_works_and_resolves_then_the_tenant_confirms_and_rates(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    assert (await _act(db, clock, ticket.id, Action.ACKNOWLEDGE, "custodian")).ticket.status == "acknowledged"
    assert (await _reload(db, ticket.id)).escalate_at is None
    await _act(db, clock, ticket.id, Action.START, "custodian")
    async with db.write() as session:
        await tickets.add_note(session, ticket.id, ACTORS["custodian"], "Arriva l'idraulico giovedì", clock.now())
    await _act(db, clock, ticket.id, Action.RESOLVE, "admin")
    clock.advance(timedelta(days=2))
    assert (await _act(db, clock, ticket.id, Action.CONFIRM, "tenant")).ticket.status == "closed"
    async with db.write() as session:
        with pytest.raises(TicketError):
            await tickets.rate(session, ticket.id, ACTORS["tenant"], 6, clock.now())
        await tickets.rate(session, ticket.id, ACTORS["tenant"], 4, clock.now())
    with pytest.raises(TicketError) as again:
        async with db.write() as session:
            await tickets.rate(session, ticket.id, ACTORS["tenant"], 5, clock.now())
    assert again.value.reason == "wrong_state"
    final = await _reload(db, ticket.id)
    async with db.read() as session:
        kinds = [e.kind for e in await ticket_lists.events_of(session, ticket.id)]
    assert (final.stars, final.last_note) == (4, "Arriva l'idraulico giovedì")
    assert kinds == ["opened", "acknowledged", "in_progress", "note", "resolved", "confirmed", "rated"]


@pytest.mark.parametrize("who", ["tenant", "stranger", "committee", "other_custodian"])
async def test_only_custodians_of_the_estate_and_admins_change_a_ticket(db, clock, sample_content, who):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    for action in (Action.ACKNOWLEDGE, Action.START, Action.RESOLVE):
        with pytest.raises(TicketError) as refused:
            await _act(db, clock, ticket.id, action, who)
        assert refused.value.reason == "not_allowed"
    with pytest.raises(TicketError):
        async with db.write() as session:
            await tickets.reject(session, ticket.id, ACTORS[who], "private", clock.now())
    with pytest.raises(TicketError):
        async with db.write() as session:
            await tickets.add_note(session, ticket.id, ACTORS[who], "ciao", clock.now())
    unchanged = await _reload(db, ticket.id)
    assert (unchanged.status, unchanged.last_note, unchanged.updated_at) == ("new", None, ticket.updated_at)


async def test_the_reporter_reopens_within_14_days_and_not_after(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    await _act(db, clock, ticket.id, Action.RESOLVE, "custodian")
    with pytest.raises(TicketError):
        await _act(db, clock, ticket.id, Action.REOPEN, "neighbour")
    clock.advance(timedelta(days=13))
    reopened = (await _act(db, clock, ticket.id, Action.REOPEN, "tenant")).ticket
    assert reopened.status == "reopened" and reopened.escalate_at is not None
    await _act(db, clock, ticket.id, Action.RESOLVE, "custodian")
    clock.advance(timedelta(days=15))
    with pytest.raises(TicketError) as late:
        await _act(db, clock, ticket.id, Action.REOPEN, "tenant")
    assert late.value.reason == "too_late"
    async with db.write() as session:
        closed = await tickets.close_expired(session, clock.now())
    assert [c.ticket.status for c in closed] == ["closed"]
    async with db.write() as session:
        assert await tickets.close_expired(session, clock.now()) == []


async def test_not_for_us_needs_a_known_reason_and_keeps_the_custodians_words(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    with pytest.raises(TicketError):
        async with db.write() as session:
            await tickets.reject(session, ticket.id, ACTORS["custodian"], "because", clock.now())
    async with db.write() as session:
        change = await tickets.reject(session, ticket.id, ACTORS["custodian"], "other", clock.now(), "Chiamare A2A")
    assert (change.ticket.status, change.ticket.reject_reason, change.ticket.last_note) == ("rejected", "other", "Chiamare A2A")
    with pytest.raises(TicketError) as refused:
        await _act(db, clock, ticket.id, Action.ACKNOWLEDGE, "custodian")
    assert refused.value.reason == "wrong_state"


async def test_comments_and_photos_come_from_the_reporter_only(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content, area="common")
    async with db.write() as session:
        await _neighbour_joins(session, clock, sample_content, ticket.id)
    with pytest.raises(TicketError):  # a subscriber follows the problem; they do not write to the custodians
        async with db.write() as session:
            await tickets.add_comment(session, ticket.id, ACTORS["neighbour"], clock.now(), text="anche da me")
    async with db.write() as session:
        change, media = await tickets.add_comment(session, ticket.id, ACTORS["tenant"], clock.now(), media=PHOTO, text="ecco")
        assert change.event.kind == "photo" and media.token
        with pytest.raises(TicketError):
            await tickets.add_comment(session, ticket.id, ACTORS["tenant"], clock.now(), text="   ")
    with pytest.raises(TicketError):
        async with db.write() as session:
            await tickets.add_comment(session, ticket.id, ACTORS["stranger"], clock.now(), text="spam")
    async with db.read() as session:
        assert (await ticket_lists.media_by_token(session, media.token)).ticket_id == ticket.id


# --------------------------------------------------------------------------------------------
# Time passing


async def test_a_ticket_nobody_takes_in_charge_escalates_then_again_every_day(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)  # urgent: 2 hours
    async with db.write() as session:
        assert await tickets.escalate_due(session, clock.now()) == []
    clock.advance(timedelta(hours=2, minutes=1))
    async with db.write() as session:
        assert [c.ticket.escalations for c in await tickets.escalate_due(session, clock.now())] == [1]
        assert await tickets.escalate_due(session, clock.now()) == []
    clock.advance(timedelta(days=1))
    async with db.write() as session:
        assert [c.ticket.escalations for c in await tickets.escalate_due(session, clock.now())] == [2]
    await _act(db, clock, ticket.id, Action.ACKNOWLEDGE, "custodian")
    clock.advance(timedelta(days=3))
    async with db.write() as session:
        assert await tickets.escalate_due(session, clock.now()) == []


async def test_a_backlog_of_overdue_tickets_is_escalated_a_batch_at_a_time_each_once(db, clock, sample_content):
    await _people(db, clock)
    opened = [await _open(db, clock, sample_content) for _ in range(5)]
    clock.advance(timedelta(hours=2, minutes=1))
    batches = []
    while True:
        async with db.write() as session:
            batch = [change.ticket.id for change in await tickets.escalate_due(session, clock.now(), limit=2)]
        if not batch:
            break
        batches.append(batch)
    assert [len(batch) for batch in batches] == [2, 2, 1]
    assert sorted(ticket_id for batch in batches for ticket_id in batch) == sorted(ticket.id for ticket in opened)


async def test_a_custodians_digest_is_claimed_once_a_day(db, clock):
    async with db.write() as session:
        assert await ticket_lists.claim_digest(session, CUSTODIAN, "2026-03-02", clock.now())
        assert not await ticket_lists.claim_digest(session, CUSTODIAN, "2026-03-02", clock.now())
        assert await ticket_lists.claim_digest(session, CUSTODIAN, "2026-03-03", clock.now())


# --------------------------------------------------------------------------------------------
# Any sequence of actions by anyone: states stay legal, refusals change nothing

STEP = st.tuples(
    st.sampled_from([a for a in Action if a not in (Action.VIEW, Action.STAFF_VIEW)]),
    st.sampled_from(sorted(ACTORS)),
    st.sampled_from([0, 1, 24 * 8, 24 * 15]),  # hours that pass before the step
)


def _snapshot(ticket: Ticket) -> tuple:
    return (ticket.status, ticket.stars, ticket.last_note, ticket.affected, ticket.reject_reason, ticket.resolved_at,
            ticket.closed_at, ticket.updated_at)


async def _attempt(db, clock, ticket_id: int, action: Action, actor: Actor):  # type: ignore[no-untyped-def]
    now = clock.now()
    async with db.write() as session:
        if action is Action.REJECT:
            return await tickets.reject(session, ticket_id, actor, "unclear", now)
        if action is Action.NOTE:
            return await tickets.add_note(session, ticket_id, actor, "nota", now)
        if action is Action.RATE:
            return await tickets.rate(session, ticket_id, actor, 3, now)
        if action is Action.COMMENT:
            return (await tickets.add_comment(session, ticket_id, actor, now, text="commento"))[0]
        if action is Action.ME_TOO:  # as if the server had offered this ticket for the actor's draft
            draft = await tickets.start_draft(session, actor.user_id, now)
            draft.offered = [ticket_id]
            return await tickets.me_too(session, ticket_id, actor, now)
        return await tickets.change_status(session, ticket_id, action, actor, now)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(STEP, min_size=1, max_size=12))
async def test_no_sequence_of_actions_reaches_an_illegal_state_or_obeys_the_wrong_person(db, clock, sample_content, steps):
    async with db.write() as session:
        for user_id in {actor.user_id for actor in ACTORS.values()}:
            await users.touch_user(session, user_id, "x", "it", clock.now())
    ticket = await _open(db, clock, sample_content, area="common")  # a flat's ticket nobody else may join
    for action, who, hours in steps:
        clock.advance(timedelta(hours=hours))
        actor = ACTORS[who]
        before = await _reload(db, ticket.id)
        async with db.read() as session:
            subscribed = await tickets.is_subscribed(session, ticket.id, actor.user_id)
        allowed = tickets.authorize(action, before, actor, subscribed=subscribed)
        try:
            change = await _attempt(db, clock, ticket.id, action, actor)
        except TicketError as error:
            after = await _reload(db, ticket.id)
            assert _snapshot(after) == _snapshot(before), f"{who} {action} was refused ({error.reason}) but changed the ticket"
            assert allowed or error.reason == "not_allowed"
            continue
        assert allowed, f"{who} was allowed to {action} a {before.status} ticket"
        sources, target = tickets.TRANSITIONS[action]
        assert before.status in sources
        assert change.ticket.status == (target or before.status)
        assert change.ticket.status in tickets.STATUSES
        if change.ticket.status in tickets.FINAL_STATUSES:
            assert change.ticket.closed_at is not None and change.ticket.escalate_at is None
        if change.ticket.status not in tickets.AWAITING_ACK:
            assert change.ticket.escalate_at is None or change.ticket.status == "reopened"
    async with db.read() as session:
        events = await ticket_lists.events_of(session, ticket.id)
        subscribers = (await session.scalars(select(TicketSubscriber).where(TicketSubscriber.ticket_id == ticket.id))).all()
    final = await _reload(db, ticket.id)
    assert final.affected == 1 + len(subscribers) and events[-1].status == final.status


# --------------------------------------------------------------------------------------------
# Open311 documents


async def test_open311_documents_carry_no_personal_data_and_no_tenant_words(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(
        db, clock, sample_content,
        description="Sono Amal, int. 12 scala B: chiamatemi al 347 123 4567 o amal@example.org, perde il tubo",
    )
    document = open311.service_request(sample_content, ticket, "https://x/open311/media/token")
    text = str(document)
    for personal in ("Amal", "347", "4567", "int. 12", "amal@example.org", "piano", "tenant", "reporter", "tubo"):
        assert personal not in text, personal
    building = sample_content.estates[ESTATE].buildings[0].name
    assert document["description"] == f"Perdita d'acqua · {building} scala {ticket.staircase}, in un alloggio"
    assert document["status"] == "open" and document["status_notes"] == open311.STATUS_NOTES["new"]
    assert document["address"].startswith("viale Omero") and document["lat"] == sample_content.estates[ESTATE].lat
    assert open311.ticket_statuses({"closed"}) == {"resolved", "closed", "rejected"}
    with pytest.raises(open311.Open311Error):
        open311.parse_statuses("open,maybe")
    with pytest.raises(open311.Open311Error):
        open311.parse_datetime("start_date", "yesterday")
