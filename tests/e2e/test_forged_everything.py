"""Forged everything: every action of the callback vocabulary (bot/callbacks.py ACTIONS, enumerated, so an action
added later is covered without writing a test), pressed with ids of objects that are not theirs by a tenant with
no role and by a member of staff of another estate and space.

An action passes when
- nothing changes in the database except the presser's own rows: their user row (language, last seen, prompts
  switch), rows whose user_id or chat_id is theirs (their own drafts, prompts, bookings, daily counts, messages to
  their own chat), slot_counters (a public slot's seats move with the presser's own booking, which is theirs),
  a free time bank's own account and the starting credit it pays the presser on joining, and the anonymous audit
  record of the presser forgetting themselves (pressed last);
- nobody else is notified: no outbox row and no message to any other chat;
- nothing the presser sees (the button's answer, every message in their chat) holds the victim's data.

An argument kind without a pool of forged values fails the test loudly: add a pool for it.
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from itertools import product
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from bot import callbacks
from storage.domain import tickets as ticket_domain
from storage.domain import timebank
from storage.domain import users
from storage.domain.feedback import new_id
from storage.models import (
    Base, Booking, Feedback, GuideQuestion, GuideRun, Invite, LedgerEntry, Ticket, TimeBankAccount, WaitlistEntry,
)
from storage.models.core import ROLES
from storage.domain.users import Roles
from tests.e2e.harness import Person, RunningBot

ROME = ZoneInfo("Europe/Rome")
START = datetime(2027, 3, 1, 8, 0, tzinfo=ROME)
SLOT = datetime(2027, 3, 2, 10, 0, tzinfo=ROME)  # Tuesday: omero-digital-desk
ESTATE, OTHER_ESTATE = "omero-mompiani", "zoia-cagnino"
SPACE, OTHER_SPACE = "omero", "zoia"
BANK = "capuana"  # Vittoria's time bank (Oscar keeps Zoia's)
ADMIN_ID = 9101
# The victim's data: none of it may reach the pressers.
NAME, PHONE, FLAT = "Vittoria Segreta", "347 555 0101", "int. 77"
DESCRIPTION = "Perdita nel bagno di Vittoria, citofonare Segreta"
COMMENT = "Reclamo riservato di Vittoria"
NOTE = "Nota per Vittoria: passo martedì"
OFFER = "Aiuto riservato con i moduli di Vittoria"  # her time bank post
RELAYED = "Messaggio riservato tra vicine"  # relayed in a time bank conversation
QUESTION = "Domanda riservata sullo SPID di Vittoria"  # asked at a guide's step
SECRETS = (NAME, "Vittoria", "Segreta", PHONE, "555 0101", FLAT, DESCRIPTION, COMMENT, NOTE, OFFER, RELAYED, QUESTION)
# Words the vocabulary uses (kinds, reasons, roles, periods, parts, answers, switches) plus nonsense.
WORDS = sorted({*ticket_domain.REJECT_REASONS, *ticket_domain.ANSWERS, *ticket_domain.AREAS, *ticket_domain.EDIT_PARTS,
                *ROLES, "attended", "no_show", "rating", "suggestion", "complaint", "on", "off", "week", "days", "month",
                "custom", "bookings", "tickets", "feedback", "start", "it", "ar", "zzz"})


@pytest.fixture
def bot_env() -> dict[str, str]:
    # The custodians' digest is due late in the evening: a job's own messages are not a presser's doing.
    return {"QC_ADMIN_IDS": str(ADMIN_ID), "QC_DIGEST_TIME": "23:00"}


@pytest.fixture(autouse=True)
def monday_morning(clock) -> None:  # type: ignore[no-untyped-def]
    clock.set(START)


async def victims_world(bot: RunningBot) -> dict[str, list]:
    """Vittoria's ticket (in her flat, with a note to her), a common-area ticket she filed, a booking with her
    phone, a waitlist entry, a signed complaint; an unused invite; a custodian's role grant; her time bank offer,
    answered by Nadia, agreed on, with a message between them; a question she asked at a guide's step. The pools of
    forged values per argument kind."""
    vittoria = await bot.tenant(NAME)
    rosa = await bot.tenant("Rosa")
    nadia = await bot.tenant("Nadia")
    await bot.grant_role(rosa, "custodian", ESTATE)
    now = bot.clock.now()
    async with bot.runtime.db.write() as session:
        flat = Ticket(code="QC-2027-000701", status="acknowledged", category_id="water-leak", urgency="urgent", ack_hours=4,
                      estate_id=ESTATE, building_id="15", staircase="B", floor=3, area="flat", flat=FLAT, answers={},
                      description=DESCRIPTION, reporter_id=vittoria.user_id, affected=1, created_at=now, updated_at=now,
                      acknowledged_at=now, last_note=NOTE, last_note_at=now, escalations=0)
        common = Ticket(code="QC-2027-000702", status="in_progress", category_id="lift", urgency="normal", ack_hours=48,
                        estate_id=ESTATE, building_id="15", area="common", answers={}, description=DESCRIPTION,
                        reporter_id=vittoria.user_id, affected=1, created_at=now, updated_at=now, acknowledged_at=now,
                        escalations=0)
        booking = Booking(user_id=vittoria.user_id, chat_id=vittoria.user_id, service_id="omero-digital-desk",
                          space_id=SPACE, slot_start=SLOT, slot_end=SLOT + timedelta(minutes=30), status="active",
                          name=NAME, phone=PHONE, language="it", holds_quota=False, created_at=now)
        waiting = WaitlistEntry(user_id=vittoria.user_id, chat_id=vittoria.user_id, service_id="omero-digital-desk",
                                space_id=SPACE, slot_start=SLOT + timedelta(minutes=30), slot_end=SLOT + timedelta(hours=1),
                                name=NAME, language="it", status="offered", created_at=now, offered_at=now,
                                offer_expires_at=now + timedelta(hours=2))
        complaint = Feedback(id=new_id(), kind="complaint", space_id=SPACE, service_id="", user_id=vittoria.user_id,
                             stars=None, comment=COMMENT, day=date(2027, 3, 1))
        session.add_all([flat, common, booking, waiting, complaint])
        invite = await users.create_invite(session, "custodian", ESTATE, now, ADMIN_ID)
        await session.flush()
        grant_id = (await users.list_grants(session))[0][0].id
        content = bot.runtime.content
        # Capuana's bank takes members on the operator's approval, so a presser who joins it is not let in.
        accounts = [(await timebank.join(session, content, BANK, person.user_id, first_name=person.name,
                                         estate_id="capuana-lopez", language="it", now=now)).account
                    for person in (vittoria, nadia)]
        for account in accounts:
            await timebank.decide_member(session, content, Roles(operator_of=frozenset({BANK})), BANK, account.id,
                                         "approve", ADMIN_ID, now)
        accounts = [account.id for account in accounts]
        offer = await timebank.create_post(session, content, BANK, vittoria.user_id, kind="offer", category="forms",
                                           text=OFFER, availability="", now=now)
        contact = (await timebank.ask(session, content, offer.id, nadia.user_id, now)).contact
        await timebank.answer(session, contact.id, vittoria.user_id, True, now)
        await timebank.relay(session, contact.id, nadia.user_id, RELAYED, now)
        exchange = await timebank.agree(session, content, contact.id, vittoria.user_id, now)
        run = GuideRun(user_id=vittoria.user_id, guide_id="pagopa", language="it", step=3, furthest_step=3, started_at=now,
                       updated_at=now)
        session.add(run)
        await session.flush()
        question = GuideQuestion(user_id=vittoria.user_id, chat_id=vittoria.user_id, guide_id="pagopa", step=3,
                                 space_id=SPACE, language="it", text=QUESTION, asked_at=now)
        session.add(question)
        await session.flush()
        ids = [flat.id, common.id, booking.id, waiting.id, grant_id, *accounts, offer.id, contact.id, exchange.id, run.id,
               question.id]
        pools = {
            "int": [*dict.fromkeys(ids), 0, 1, 5, 99, -1, 202703],
            "id": [invite.code, complaint.id, ESTATE, SPACE, BANK, "omero-digital-desk", "water-leak", flat.code],
            "word": WORDS,
            "stamp": [f"{SLOT:%Y%m%d%H%M}", f"{SLOT + timedelta(minutes=30):%Y%m%d%H%M}"],
            "date": [f"{SLOT:%Y%m%d}"],
            "small": [0, 1, 2, 999],
        }
    return {"pools": pools, "others": [vittoria.user_id, rosa.user_id, nadia.user_id, ADMIN_ID], "secrets": [*SECRETS, invite.code]}


def forged_args(action: callbacks.Action, pools: dict[str, list]) -> list[tuple]:
    """Every value of each argument's pool, the other arguments at each of their pool's first two values."""
    missing = [kind for kind in action.args if kind not in pools]
    assert not missing, f"action {action.code!r}: no forged values for argument kind(s) {missing}; add a pool"
    if not action.args:
        return [()]
    combos: dict[tuple, None] = {}
    for position, kind in enumerate(action.args):
        others = [pools[other][:2] for other in action.args]
        others[position] = pools[kind]
        for combo in product(*others):
            if all(callbacks.ARG_PATTERNS[k].match(str(v)) for k, v in zip(action.args, combo, strict=True)):
                combos[combo] = None
    return list(combos)


async def dump(bot: RunningBot, presser: int) -> dict[str, set]:
    """Every table's rows, without the presser's own (see the module's docstring)."""
    tables: dict[str, set] = {}
    async with bot.runtime.db.read() as session:
        # A time bank that takes members freely pays the presser a starting credit: a transaction between the bank's
        # own account and theirs is their doing, like a slot's counter moving with their own booking.
        accounts = set((await session.scalars(select(TimeBankAccount.id).where(TimeBankAccount.user_id == presser))).all())
        credited = set((await session.scalars(select(LedgerEntry.transaction_id).where(LedgerEntry.account_id.in_(accounts)))).all())
        for table in Base.metadata.sorted_tables:
            if table.name == "slot_counters":
                continue
            rows = set()
            for row in (await session.execute(select(table))).mappings():
                if table.name == "users" and row["id"] == presser:
                    continue
                if presser in (row.get("user_id"), row.get("chat_id"), row.get("author_id")):
                    continue  # their own rows, and the notice they start writing
                if table.name in ("announced_items", "leases"):
                    continue  # the bot's own bookkeeping on its own schedule: items announced, leases renewed
                if table.name == "inbox" and row["handled_at"] is not None and row["chat_id"] == 0:
                    continue  # the presser's own updates, handled: a handled row names nobody any more
                if (table.name == "tb_accounts" and row["status"] == "bank" or table.name == "tb_transactions"
                        and row["id"] in credited or table.name == "tb_entries" and row["transaction_id"] in credited):
                    continue
                if table.name == "audit_records" and row["action"] == "forget" and row["actor_id"] is None:
                    continue  # "a person forgot themselves": recorded without saying who (the presser, FORGET_CONFIRM)
                rows.add(json.dumps(dict(row), default=str, sort_keys=True))
            tables[table.name] = rows
    return tables


def seen_by(bot: RunningBot, person: Person, answers_from: int) -> str:
    answers = [answer.get("text") or "" for answer in list(bot.emu.callback_answers.values())[answers_from:]]
    messages = [" ".join([m.text or m.caption or "", *m.button_texts()]) for m in person.messages()]
    return "\n".join([*answers, *messages])


async def press_every_action(bot: RunningBot, presser: Person, world: dict) -> list[str]:
    leaks: list[str] = []
    watched = {chat: len(bot.messages(chat)) for chat in world["others"]}
    # Forgetting (no arguments: it acts on the presser alone) erases the presser, after which every button meets
    # the privacy notice: it goes last.
    # Each action's "after" is the next one's "before": the /cancel between them is then checked too, and the suite
    # reads every table half as often.
    before = await dump(bot, presser.user_id)
    for action in sorted(callbacks.ACTIONS.values(), key=lambda action: action is callbacks.FORGET_CONFIRM):
        answers_from = len(bot.emu.callback_answers)
        for args in forged_args(action, world["pools"]):
            await presser.press(presser.screen.message_id, callbacks.encode(action, *args), force=True)
        await bot.flush_outbox()  # whatever was queued for others is delivered, so it shows below
        after = await dump(bot, presser.user_id)
        changed = {name: (before[name] ^ after[name]) for name in before if before[name] != after[name]}
        # Forgetting takes no ids: whatever it changes is the presser's own (their rows lose their id, so the dump
        # can no longer tell them apart); tests/e2e/test_privacy.py checks what it leaves.
        if changed and action is not callbacks.FORGET_CONFIRM:
            leaks.append(f"{presser.name} {action.code}: changed {', '.join(sorted(changed))}: "
                         f"{[row[:160] for rows in changed.values() for row in list(rows)[:2]]}")
        told = {chat: len(bot.messages(chat)) - count for chat, count in watched.items() if len(bot.messages(chat)) != count}
        if told:
            leaks.append(f"{presser.name} {action.code}: messages to others {told}")
            watched.update({chat: len(bot.messages(chat)) for chat in told})
        shown = seen_by(bot, presser, answers_from)
        revealed = [secret for secret in world["secrets"] if secret in shown]
        if revealed:
            leaks.append(f"{presser.name} {action.code}: showed {revealed}")
        await presser.send("/cancel")  # each action from a clean slate: no draft of theirs left by the last one
        before = after
    return leaks


async def test_every_action_forged_by_a_tenant_and_by_staff_of_elsewhere_changes_shows_and_tells_nothing(bot):
    world = await victims_world(bot)
    mallory = await bot.tenant("Mallory")
    oscar = await bot.tenant("Oscar")
    await bot.grant_role(oscar, "custodian", OTHER_ESTATE)
    await bot.grant_role(oscar, "operator", OTHER_SPACE)
    await bot.deliver()
    leaks = await press_every_action(bot, mallory, world)
    leaks += await press_every_action(bot, oscar, world)
    assert not leaks, "\n".join(leaks)


def test_every_argument_kind_of_the_vocabulary_has_forged_values():
    pools = {kind: ["x"] for kind in ("int", "id", "word", "stamp", "date", "small")}
    for action in callbacks.ACTIONS.values():
        forged_args(action, pools)  # fails loudly for a kind without a pool
    assert set(callbacks.ARG_PATTERNS) == set(pools), "a new argument kind needs a pool in victims_world"
