"""Ticket intents without Telegram: sending a report (daily cap, the merge of a report sent twice, look-alikes
first, alerts written in the same transaction) and the actions on a ticket (status changes, rejection, notes
and comments), each one call returning an outcome. A property test checks, for any cap and any number of sends,
that a ticket is opened and announced exactly when the cap allows, and announced once."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from storage.domain import ticket_intents, tickets, users
from storage.domain.limits import DailyCaps
from storage.domain.limits import LimitReached
from storage.domain.ticket_intents import DraftRefused, Merged
from storage.domain.tickets import Action, Actor, Change, TicketError
from storage.domain.users import Roles
from storage.models import DailyUsage, Ticket, TicketPrompt
from tests.unit.test_tickets import ACTORS, TENANT, _complete_draft, _open, _people

CAPS = DailyCaps()
_newcomers = itertools.count(5000)


@dataclass
class Recorder:
    """The announcer of these tests: what the domain asked to tell, in order."""

    told: list[tuple[str, str]] = field(default_factory=list)
    fail: bool = False

    async def new_ticket(self, session, ticket) -> None:  # type: ignore[no-untyped-def]
        self.told.append(("new", ticket.code))
        if self.fail:
            raise RuntimeError("the outbox write failed")

    async def change(self, session, change, actor_id, media=None) -> None:  # type: ignore[no-untyped-def]
        self.told.append((change.event.kind, change.ticket.code))


async def _draft(db, clock, content, user_id=TENANT, **choices) -> None:  # type: ignore[no-untyped-def]
    async with db.write() as session:
        await tickets.discard_draft(session, user_id)
        draft = await tickets.start_draft(session, user_id, clock.now())
        _complete_draft(draft, content, clock.now(), **choices)


async def _tickets(db, reporter_id=TENANT) -> int:  # type: ignore[no-untyped-def]
    async with db.read() as session:
        return await session.scalar(select(func.count()).select_from(Ticket).where(Ticket.reporter_id == reporter_id))


async def submit(db, clock, content, announcer, caps=CAPS, actor=ACTORS["tenant"], **options):  # type: ignore[no-untyped-def]
    return await ticket_intents.submit_report(db, actor, content, caps, clock.now(), announcer, **options)


async def test_a_report_opens_a_ticket_and_its_alerts_in_one_call_and_a_second_send_merges(db, clock, sample_content):
    await _people(db, clock)
    announcer = Recorder()
    await _draft(db, clock, sample_content)
    opened = await submit(db, clock, sample_content, announcer)
    assert isinstance(opened, Ticket) and announcer.told == [("new", opened.code)]
    await _draft(db, clock, sample_content)  # the very same report again, a minute later
    clock.advance(timedelta(minutes=1))
    merged = await submit(db, clock, sample_content, announcer)
    assert isinstance(merged, Merged) and merged.ticket.id == opened.id
    assert announcer.told == [("new", opened.code)] and await _tickets(db) == 1


async def test_look_alikes_come_first_unless_sent_anyway(db, clock, sample_content):
    await _people(db, clock)
    await _open(db, clock, sample_content, user_id=ACTORS["neighbour"].user_id, area="common")
    await _draft(db, clock, sample_content, area="common")
    announcer = Recorder()
    looks = await submit(db, clock, sample_content, announcer)
    assert isinstance(looks, list) and looks and announcer.told == []
    sent = await submit(db, clock, sample_content, announcer, skip_duplicates=True)
    assert isinstance(sent, Ticket)


async def test_no_draft_or_a_failed_alert_changes_nothing(db, clock, sample_content):
    await _people(db, clock)
    refused = await submit(db, clock, sample_content, Recorder())
    assert isinstance(refused, DraftRefused) and refused.draft is None and refused.error.reason == "not_found"
    await _draft(db, clock, sample_content)
    try:
        await submit(db, clock, sample_content, Recorder(fail=True))
    except RuntimeError:
        pass
    assert await _tickets(db) == 0  # the alert and the ticket commit together, or neither does
    async with db.read() as session:
        assert await session.scalar(select(func.sum(DailyUsage.used))) is None


async def test_actions_on_a_ticket_return_outcomes_and_announce_only_what_happened(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    announcer = Recorder()
    custodian, stranger = ACTORS["custodian"], ACTORS["stranger"]
    refused = await ticket_intents.change_status(db, ticket.id, Action.ACKNOWLEDGE, stranger, clock.now(), announcer)
    assert isinstance(refused, TicketError) and refused.reason == "not_allowed" and announcer.told == []
    done = await ticket_intents.change_status(db, ticket.id, Action.ACKNOWLEDGE, custodian, clock.now(), announcer)
    assert isinstance(done, Change) and done.ticket.status == "acknowledged"
    again = await ticket_intents.change_status(db, ticket.id, Action.ACKNOWLEDGE, custodian, clock.now(), announcer)
    assert isinstance(again, TicketError) and again.reason == "wrong_state"

    ask = await ticket_intents.expect_text(db, ticket.id, Action.NOTE, custodian, clock.now())
    assert isinstance(ask, Ticket) and ask.id == ticket.id
    noted = await ticket_intents.finish_text(db, "note", ticket.id, custodian, CAPS, clock.now(), announcer, text="Domani")
    assert isinstance(noted, Change) and noted.ticket.last_note == "Domani"
    empty = await ticket_intents.finish_text(db, "note", ticket.id, custodian, CAPS, clock.now(), announcer, text="  ")
    assert isinstance(empty, TicketError) and empty.reason == "invalid"
    async with db.read() as session:  # the prompt goes with a refused text too
        assert await session.get(TicketPrompt, custodian.user_id) is None

    assert isinstance(await ticket_intents.reject(db, ticket.id, custodian, "other", clock.now(), announcer), Ticket)
    rejected = await ticket_intents.reject(db, ticket.id, custodian, "private", clock.now(), announcer)
    assert isinstance(rejected, Change) and rejected.ticket.status == "rejected"
    assert [kind for kind, _code in announcer.told] == ["acknowledged", "note", "rejected"]


async def test_a_comment_over_the_daily_cap_changes_nothing(db, clock, sample_content):
    await _people(db, clock)
    ticket = await _open(db, clock, sample_content)
    announcer, one_comment = Recorder(), DailyCaps(comment=1)
    tenant = ACTORS["tenant"]
    first = await ticket_intents.finish_text(db, "comment", ticket.id, tenant, one_comment, clock.now(), announcer, text="Grazie")
    second = await ticket_intents.finish_text(db, "comment", ticket.id, tenant, one_comment, clock.now(), announcer, text="Ancora")
    assert isinstance(first, Change) and isinstance(second, LimitReached) and second.kind == "comment"
    assert announcer.told == [("comment", ticket.code)]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cap=st.integers(1, 3), sends=st.lists(st.sampled_from(["water-leak", "lift"]), min_size=1, max_size=5),
       anyway=st.booleans())
async def test_a_ticket_is_opened_and_announced_exactly_when_the_cap_allows(db, clock, sample_content, cap, sends, anyway):
    user_id = next(_newcomers)  # hypothesis reuses the database: each example is a tenant of its own
    async with db.write() as session:
        await users.touch_user(session, user_id, "Nuovo", "it", clock.now())
    actor = Actor(user_id, Roles())
    announcer, caps = Recorder(), DailyCaps(ticket=cap)
    opened = 0
    for index, category in enumerate(sends):
        await _draft(db, clock, sample_content, user_id, category=category, description=f"Guasto numero {index}")
        outcome = await submit(db, clock, sample_content, announcer, caps=caps, skip_duplicates=anyway, actor=actor)
        if isinstance(outcome, list):
            outcome = await submit(db, clock, sample_content, announcer, caps=caps, skip_duplicates=True, actor=actor)
        if opened < cap:
            assert isinstance(outcome, Ticket)
            opened += 1
        else:
            assert isinstance(outcome, LimitReached) and outcome.cap == cap
    assert await _tickets(db, user_id) == opened == len(announcer.told) == len({code for _kind, code in announcer.told})
