"""The time bank of a space: membership, posts, contact without exposure, exchanges and a double-entry ledger.

Plain async code over a session (the caller owns the transaction and writes the outbox rows that report a change
in the same one); no Telegram here. Each operation is one intent; it returns what changed or raises `Refused`
with a reason the handler turns into a polite sentence.

The ledger (after TimeOverflow's accounts, transfers and movements, with its organization account): every member
has an account per bank and the bank has one of its own. A movement is a `LedgerTransaction` with two entries of
opposite sign, written together with the balances they change, so the balances of one bank always add up to zero.
The bank's account pays starting credits and adjustments. Amounts are whole quarters of an hour.

What the database enforces, so that double taps, stale buttons and racing instances cannot move hours twice:
- one membership per person and bank (unique key), one bank account per bank (partial unique index);
- an exchange is settled by `UPDATE … WHERE status = 'agreed' AND receiver_id = :me`, and one settlement
  transaction per exchange (partial unique index); a reversal names the transaction it reverses (unique);
- balances change with `balance = balance + :delta` on rows locked in account-id order (no deadlocks on
  PostgreSQL); entries are never updated, a correction is a new transaction.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import Connection, Executable, Row, bindparam, case, delete, func, insert, or_, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import Database, core_in_session, dialect_insert
from storage.domain import refusals
from storage.content import Content, Space, TimeBank
from storage.models import (
    LedgerEntry, LedgerTransaction, TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankMessage,
    TimeBankPost, TimeBankPrompt, TimeBankReport, TimeBankThanks,
)
from storage.domain.users import Roles

QUARTER = 0.25
MAX_POST_TEXT = 300
MAX_AVAILABILITY = 200
MAX_MESSAGE = 1000
PROMPT_LIFETIME = timedelta(hours=2)
DIGEST_EVERY = timedelta(days=7)
# Sequences that look like phone numbers are hidden in relayed messages: the bot never shows a phone number.
PHONE_LIKE = re.compile(r"(?:\+|00)?\d(?:[\s./-]?\d){5,}")


class Reason(StrEnum):
    NO_BANK = "no_bank"  # the space runs no time bank (or stopped)
    NOT_MEMBER = "not_member"
    ALREADY_MEMBER = "already_member"
    PENDING = "pending"  # waiting for the operator's approval
    PAUSED = "paused"
    REMOVED = "removed"
    NOT_ALLOWED = "not_allowed"  # not an operator of this bank, or not one's own thing
    NOT_FOUND = "not_found"
    BAD_HOURS = "bad_hours"  # zero, negative, not quarter hours, or over the space's maximum
    BAD_TEXT = "bad_text"  # empty or too long
    BAD_CATEGORY = "bad_category"
    ALREADY_DONE = "already_done"  # confirmed, answered, reversed or closed before
    NOT_PARTY = "not_party"  # the exchange or conversation is between other people
    BALANCE_TOO_LOW = "balance_too_low"  # requests wait until the balance is back above the lowest allowed
    OWN_POST = "own_post"
    POST_CLOSED = "post_closed"  # expired, closed, awaiting approval or rejected
    ALREADY_ASKED = "already_asked"
    NOT_ACCEPTED = "not_accepted"  # the conversation has not been accepted, or has ended


class Refused(refusals.Refused):
    """The change was not made; the transaction it was raised in must roll back (leaving `async with` does)."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason, reason.value)


def hours_of(quarters: int) -> float:
    return quarters * QUARTER


def quarters_of(hours: float | str) -> int:
    """Hours as quarters; Refused(BAD_HOURS) for anything that is not a whole number of quarter hours."""
    try:
        value = float(str(hours).replace(",", "."))
    except ValueError:
        raise Refused(Reason.BAD_HOURS) from None
    if not math.isfinite(value) or abs(round(value * 4) - value * 4) > 1e-9:  # NaN, infinity, or 0.3 hours
        raise Refused(Reason.BAD_HOURS)
    quarters = round(value * 4)
    return quarters


def check_quarters(bank: TimeBank, quarters: int) -> None:
    if not isinstance(quarters, int) or quarters < 1 or quarters > bank.max_quarters:
        raise Refused(Reason.BAD_HOURS)


def hide_phone_numbers(text: str, replacement: str = "•••") -> str:
    return PHONE_LIKE.sub(replacement, text)


def bank_of(content: Content, space_id: str) -> tuple[Space, TimeBank]:
    space = content.spaces.get(space_id)
    if space is None or space.time_bank is None:
        raise Refused(Reason.NO_BANK)
    return space, space.time_bank


def banks(content: Content) -> list[Space]:
    return [space for space in content.spaces.values() if space.time_bank is not None]


def is_keeper(roles: Roles, space_id: str) -> bool:
    """Operators of the space keep its bank; admins may step in."""
    return roles.is_admin or space_id in roles.operator_of


def _require_keeper(roles: Roles, space_id: str) -> None:
    if not is_keeper(roles, space_id):
        raise Refused(Reason.NOT_ALLOWED)


def clean_text(text: str | None, limit: int) -> str:
    cleaned = (text or "").strip()
    if not cleaned or len(cleaned) > limit:
        raise Refused(Reason.BAD_TEXT)
    return cleaned



# --------------------------------------------------------------------------------------------
# Accounts and the ledger


# Joining and the ledger's moves, built once and run as Core on the write's connection (joining a bank that pays
# a starting credit held the event loop ~6.4 ms through the ORM). Objects handed back are built from the rows.
_accounts, _transactions, _entries = TimeBankAccount.__table__, LedgerTransaction.__table__, LedgerEntry.__table__
_NEW_MEMBER = {name: dialect.insert(_accounts).on_conflict_do_nothing(index_elements=["space_id", "user_id"])
               for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_NEW_BANK = {name: dialect.insert(_accounts).on_conflict_do_nothing(index_elements=["space_id"], index_where=text("status = 'bank'"))
             for name, dialect in (("postgresql", postgresql), ("sqlite", sqlite))}
_BANK = select(_accounts).where(_accounts.c.space_id == bindparam("space"), _accounts.c.status == "bank")
_MEMBER = select(_accounts).where(_accounts.c.space_id == bindparam("space"), _accounts.c.user_id == bindparam("user"))
_ACCOUNT = select(_accounts).where(_accounts.c.id == bindparam("account"))
_ACTIVATE = update(_accounts).where(_accounts.c.id == bindparam("account"), _accounts.c.status == "pending").values(
    status="active", decided_at=bindparam("at", type_=_accounts.c.decided_at.type),
    decided_by=bindparam("by", type_=_accounts.c.decided_by.type))
_NEW_TRANSACTION = insert(_transactions).returning(*_transactions.c)
_MOVE = (update(_accounts).where(_accounts.c.id == bindparam("account"), _accounts.c.space_id == bindparam("space"))
         .values(balance=_accounts.c.balance + bindparam("delta", type_=_accounts.c.balance.type)).returning(_accounts.c.balance))
_NEW_ENTRY = insert(_entries)


def _account_of_row(row: Row) -> TimeBankAccount:
    """An account read as Core, as the object the callers know (in no session)."""
    return TimeBankAccount(**row._mapping)


async def bank_account(session: AsyncSession, space_id: str, now: datetime) -> TimeBankAccount:
    """bank_account_on in the session's transaction."""
    return await core_in_session(session, lambda connection: bank_account_on(connection, space_id, now))


def bank_account_on(connection: Connection, space_id: str, now: datetime) -> TimeBankAccount:
    """The bank's own account, created the first time it is needed (a race creates it once)."""
    connection.execute(_NEW_BANK[connection.dialect.name], dict(
        space_id=space_id, user_id=None, status="bank", balance=0, first_name="", languages="", digest=False, created_at=now))
    return _account_of_row(connection.execute(_BANK, {"space": space_id}).one())


async def account_of(session: AsyncSession, space_id: str, user_id: int) -> TimeBankAccount | None:
    return await session.scalar(
        select(TimeBankAccount).where(TimeBankAccount.space_id == space_id, TimeBankAccount.user_id == user_id)
    )


async def _member(session: AsyncSession, space_id: str, user_id: int, *, active: bool = True) -> TimeBankAccount:
    account = await account_of(session, space_id, user_id)
    if account is None:
        raise Refused(Reason.NOT_MEMBER)
    if active and account.status != "active":
        raise Refused({"pending": Reason.PENDING, "paused": Reason.PAUSED}.get(account.status, Reason.REMOVED))
    return account


async def transfer(session: AsyncSession, space_id: str, **movement: Any) -> LedgerTransaction:
    """transfer_on in the session's transaction (the arguments are transfer_on's). The balances move behind the
    session's back, so the accounts it holds are read again, as the ORM's UPDATE kept them in step."""
    done = await core_in_session(session, lambda connection: transfer_on(connection, space_id, **movement))
    for account_id in (movement["from_account"], movement["to_account"]):
        held = session.sync_session.identity_map.get(session.sync_session.identity_key(TimeBankAccount, account_id))
        if held is not None:
            await session.refresh(held, ["balance"])
    return done


def transfer_on(
    connection: Connection, space_id: str, *, kind: str, from_account: int, to_account: int, quarters: int,
    now: datetime, exchange_id: int | None = None, reverses_id: int | None = None, category: str | None = None,
    reason: str | None = None, by: int | None = None,
) -> LedgerTransaction:
    """Move `quarters` from one account to another of the same bank: one transaction, two entries, two balances.
    Raises IntegrityError when the settlement or the reversal already exists (the caller maps it)."""
    if quarters == 0 or from_account == to_account:
        raise Refused(Reason.BAD_HOURS)
    # The unique keys on settlement and reversal fire here, before any balance moves.
    movement = LedgerTransaction(**connection.execute(_NEW_TRANSACTION, dict(
        space_id=space_id, kind=kind, exchange_id=exchange_id, reverses_id=reverses_id, category=category,
        reason=reason, created_by=by, created_at=now,
    )).one()._mapping)
    deltas = {from_account: -quarters, to_account: quarters}
    for account_id in sorted(deltas):  # one lock order for every transfer: no deadlocks between two of them
        balance_after = connection.execute(
            _MOVE, {"account": account_id, "space": space_id, "delta": deltas[account_id]}).scalar_one()
        connection.execute(_NEW_ENTRY, dict(transaction_id=movement.id, account_id=account_id, amount=deltas[account_id],
                                            balance_after=balance_after, created_at=now))
    return movement


async def bank_sums(session: AsyncSession) -> dict[str, int]:
    """Sum of all balances per bank: zero for every bank, always (the invariant tests check)."""
    rows = await session.execute(select(TimeBankAccount.space_id, func.sum(TimeBankAccount.balance)).group_by(TimeBankAccount.space_id))
    return {space_id: int(total or 0) for space_id, total in rows.all()}


async def entry_mismatches(session: AsyncSession) -> int:
    """Accounts whose balance differs from the sum of their entries, plus transactions whose entries do not add up
    to zero: 0 when the ledger is sound."""
    sums = select(LedgerEntry.account_id, func.sum(LedgerEntry.amount).label("total")).group_by(LedgerEntry.account_id).subquery()
    accounts = await session.scalar(
        select(func.count()).select_from(TimeBankAccount).outerjoin(sums, sums.c.account_id == TimeBankAccount.id)
        .where(TimeBankAccount.balance != func.coalesce(sums.c.total, 0))
    )
    unbalanced = await session.scalar(
        select(func.count()).select_from(
            select(LedgerEntry.transaction_id).group_by(LedgerEntry.transaction_id)
            .having(func.sum(LedgerEntry.amount) != 0).subquery()
        )
    )
    return int(accounts or 0) + int(unbalanced or 0)


# --------------------------------------------------------------------------------------------
# Membership


@dataclass(frozen=True)
class Joined:
    account: TimeBankAccount
    active: bool  # False: waiting for the operator


def _activate(connection: Connection, bank: TimeBank, account: TimeBankAccount, now: datetime, by: int | None) -> TimeBankAccount:
    """pending → active, once (conditional UPDATE), with the starting credit paid by the bank. The credit moves
    first, so the two accounts are locked in the transfers' own order (by id) before the member's row is updated: a
    concurrent adjustment of the same member cannot deadlock with it. A second approval rolls back at the UPDATE.
    Returns the account as it is now."""
    if account.status != "pending":
        raise Refused(Reason.ALREADY_DONE)
    if bank.starting_quarters:
        own = bank_account_on(connection, account.space_id, now)
        transfer_on(connection, account.space_id, kind="opening", from_account=own.id, to_account=account.id,
                    quarters=bank.starting_quarters, now=now, by=by)
    if connection.execute(_ACTIVATE, {"account": account.id, "at": now, "by": by}).rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    return _account_of_row(connection.execute(_ACCOUNT, {"account": account.id}).one())


async def join(
    session: AsyncSession, content: Content, space_id: str, user_id: int, *, first_name: str, estate_id: str | None,
    language: str, now: datetime,
) -> Joined:
    """Join after accepting the rules: active at once where the space lets anyone join, else pending."""
    _, bank = bank_of(content, space_id)

    def join_on(connection: Connection) -> Joined:
        inserted = connection.execute(_NEW_MEMBER[connection.dialect.name], dict(
            space_id=space_id, user_id=user_id, status="pending", balance=0, first_name=first_name[:128],
            estate_id=estate_id, languages=language, digest=False, rules_accepted_at=now, created_at=now))
        account = _account_of_row(connection.execute(_MEMBER, {"space": space_id, "user": user_id}).one())
        if inserted.rowcount != 1:
            raise Refused(Reason.REMOVED if account.status == "removed" else Reason.ALREADY_MEMBER)
        if bank.join == "free":
            account = _activate(connection, bank, account, now, None)
        return Joined(account, account.status == "active")

    return await core_in_session(session, join_on)


async def decide_member(
    session: AsyncSession, content: Content, roles: Roles, space_id: str, account_id: int, action: str, by: int,
    now: datetime,
) -> TimeBankAccount:
    """An operator's decision on a member: approve (pending), pause (active), resume (paused), remove (any)."""
    _, bank = bank_of(content, space_id)
    _require_keeper(roles, space_id)
    account = await session.get(TimeBankAccount, account_id)
    if account is None or account.space_id != space_id or account.user_id is None:
        raise Refused(Reason.NOT_FOUND)
    if action == "approve":
        await core_in_session(session, lambda connection: _activate(connection, bank, account, now, by))
        await session.refresh(account)
        return account
    allowed_from = {"pause": ("active",), "resume": ("paused",), "remove": ("pending", "active", "paused")}
    to_status = {"pause": "paused", "resume": "active", "remove": "removed"}
    if action not in allowed_from:
        raise Refused(Reason.NOT_FOUND)
    changed = await session.execute(
        update(TimeBankAccount).where(TimeBankAccount.id == account_id, TimeBankAccount.status.in_(allowed_from[action]))
        .values(status=to_status[action], decided_at=now, decided_by=by)
    )
    if changed.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    if action in ("pause", "remove"):
        # Their posts leave the lists and their conversations end.
        await session.execute(update(TimeBankPost).where(
            TimeBankPost.space_id == space_id, TimeBankPost.user_id == account.user_id,
            TimeBankPost.status.in_(("open", "pending"))).values(status="closed"))
        await session.execute(update(TimeBankContact).where(
            TimeBankContact.space_id == space_id, TimeBankContact.status.in_(("asked", "accepted")),
            or_(TimeBankContact.asker_id == account.user_id, TimeBankContact.poster_id == account.user_id),
        ).values(status="ended", ended_at=now, ended_by=by))
    await session.refresh(account)
    return account


async def adjust(
    session: AsyncSession, content: Content, roles: Roles, space_id: str, account_id: int, quarters: int, reason: str,
    by: int, now: datetime,
) -> LedgerTransaction:
    """An operator's correction of a balance, paid by (or paid back to) the bank's account, with a reason."""
    bank_of(content, space_id)
    _require_keeper(roles, space_id)
    if not isinstance(quarters, int) or quarters == 0 or abs(quarters) > 400:
        raise Refused(Reason.BAD_HOURS)
    reason = clean_text(reason, 500)
    account = await session.get(TimeBankAccount, account_id)
    if account is None or account.space_id != space_id or account.user_id is None or account.status == "removed":
        raise Refused(Reason.NOT_FOUND)
    own = await bank_account(session, space_id, now)
    return await transfer(session, space_id, kind="adjustment", from_account=own.id, to_account=account.id,
                          quarters=quarters, now=now, reason=reason, by=by)


async def toggle_language(session: AsyncSession, space_id: str, user_id: int, language: str) -> TimeBankAccount:
    """The languages a member speaks (shown on their posts, used to filter): one switched on or off; never none."""
    account = await _member(session, space_id, user_id)
    spoken = [code for code in account.languages.split(",") if code]
    spoken = [code for code in spoken if code != language] if language in spoken else [*spoken, language]
    if spoken:
        account.languages = ",".join(spoken)
    return account


async def set_digest(session: AsyncSession, space_id: str, user_id: int, on: bool) -> TimeBankAccount:
    account = await _member(session, space_id, user_id)
    account.digest = on
    return account


async def active_member(session: AsyncSession, space_id: str, user_id: int) -> TimeBankAccount:
    """The person's account in this bank, refused unless they are an active member (stale or forged buttons)."""
    return await _member(session, space_id, user_id)


async def members(session: AsyncSession, space_id: str, status: str | None, offset: int, limit: int) -> list[TimeBankAccount]:
    query = select(TimeBankAccount).where(TimeBankAccount.space_id == space_id, TimeBankAccount.user_id.is_not(None))
    if status is not None:
        query = query.where(TimeBankAccount.status == status)
    return list((await session.scalars(query.order_by(TimeBankAccount.id).offset(offset).limit(limit))).all())


# --------------------------------------------------------------------------------------------
# Posts


async def create_post(
    session: AsyncSession, content: Content, space_id: str, user_id: int, *, kind: str, category: str, text: str,
    availability: str, now: datetime,
) -> TimeBankPost:
    """An offer or a request. Safety-flagged categories wait for the operator; a balance below the lowest allowed
    blocks requests (never offers)."""
    bank, account = await _may_post(session, content, space_id, user_id, kind, category)
    post = TimeBankPost(
        space_id=space_id, user_id=user_id, kind=kind, category=category, text=clean_text(text, MAX_POST_TEXT),
        availability=(availability or "").strip()[:MAX_AVAILABILITY], languages=account.languages,
        estate_id=account.estate_id, status="pending" if category in bank.operator_present else "open",
        created_at=now, expires_at=now + timedelta(days=bank.post_days),
    )
    session.add(post)
    await session.flush()
    return post


async def check_can_post(session: AsyncSession, content: Content, space_id: str, user_id: int, kind: str, category: str) -> None:
    """Before the text is asked for: the same rules create_post applies, so nobody writes a post in vain."""
    await _may_post(session, content, space_id, user_id, kind, category)


async def _may_post(session: AsyncSession, content: Content, space_id: str, user_id: int, kind: str,
                    category: str) -> tuple[TimeBank, TimeBankAccount]:
    """The bank and the poster's account, if this post may be written: a known kind and category, and a balance
    that allows a request."""
    _, bank = bank_of(content, space_id)
    if kind not in ("offer", "request"):
        raise Refused(Reason.NOT_FOUND)
    if category not in bank.categories:
        raise Refused(Reason.BAD_CATEGORY)
    account = await _member(session, space_id, user_id)
    if kind == "request" and account.balance < bank.lowest_quarters:
        raise Refused(Reason.BALANCE_TOO_LOW)
    return bank, account


def is_live(post: TimeBankPost, now: datetime) -> bool:
    return post.status == "open" and post.expires_at > now


async def _own_post(session: AsyncSession, post_id: int, user_id: int) -> TimeBankPost:
    post = await session.get(TimeBankPost, post_id)
    if post is None:
        raise Refused(Reason.NOT_FOUND)
    if post.user_id != user_id:
        raise Refused(Reason.NOT_ALLOWED)
    return post


async def expect_photo(session: AsyncSession, post_id: int, user_id: int, now: datetime) -> TimeBankPost:
    """The author's own open or pending post now waits for its photo (the next picture they send)."""
    post = await _own_post(session, post_id, user_id)
    if post.status not in ("open", "pending"):
        raise Refused(Reason.NOT_ALLOWED)
    await set_prompt(session, user_id, "photo", post.space_id, now, ref=post_id)
    return post


async def renew_post(session: AsyncSession, content: Content, post_id: int, user_id: int, now: datetime) -> TimeBankPost:
    post = await _own_post(session, post_id, user_id)
    _, bank = bank_of(content, post.space_id)
    await _member(session, post.space_id, user_id)
    if post.status not in ("open", "pending"):
        raise Refused(Reason.POST_CLOSED)
    post.expires_at = now + timedelta(days=bank.post_days)
    return post


async def close_post(session: AsyncSession, post_id: int, user_id: int) -> TimeBankPost:
    post = await _own_post(session, post_id, user_id)
    await _changed_once(session, post, update(TimeBankPost).where(
        TimeBankPost.id == post_id, TimeBankPost.status.in_(("open", "pending"))).values(status="closed"))
    return post


async def set_post_photo(session: AsyncSession, post_id: int, user_id: int, file_id: str) -> TimeBankPost:
    post = await _own_post(session, post_id, user_id)
    if post.status not in ("open", "pending"):
        raise Refused(Reason.POST_CLOSED)
    post.photo_file_id = file_id[:256]
    return post


async def decide_post(
    session: AsyncSession, content: Content, roles: Roles, post_id: int, approve: bool, by: int,
) -> TimeBankPost:
    post = await session.get(TimeBankPost, post_id)
    if post is None:
        raise Refused(Reason.NOT_FOUND)
    bank_of(content, post.space_id)
    _require_keeper(roles, post.space_id)
    await _changed_once(session, post, update(TimeBankPost).where(TimeBankPost.id == post_id, TimeBankPost.status == "pending")
                        .values(status="open" if approve else "rejected", decided_by=by))
    return post


async def browse(
    session: AsyncSession, space_id: str, kind: str, now: datetime, *, category: str | None = None,
    language: str | None = None, near_estate: str | None = None, offset: int = 0, limit: int = 6,
) -> tuple[list[TimeBankPost], int]:
    """Live posts, the viewer's estate first, then the newest; and how many there are."""
    where = [TimeBankPost.space_id == space_id, TimeBankPost.kind == kind, TimeBankPost.status == "open",
             TimeBankPost.expires_at > now]
    if category:
        where.append(TimeBankPost.category == category)
    if language:
        where.append(TimeBankPost.languages.contains(language))
    total = await session.scalar(select(func.count()).select_from(TimeBankPost).where(*where))
    near_first = case((TimeBankPost.estate_id == near_estate, 0), else_=1) if near_estate else TimeBankPost.id.is_(None)
    rows = await session.scalars(select(TimeBankPost).where(*where)
                                 .order_by(near_first, TimeBankPost.created_at.desc(), TimeBankPost.id.desc())
                                 .offset(offset).limit(limit))
    return list(rows.all()), int(total or 0)


# Built once and run through Database.read_now: every search outside a flow asks it, and most people belong to no
# bank; in a session it cost ~650-930 µs of CPU per search (SQLite), here ~180-210 µs.
_ACTIVE_SPACES = select(TimeBankAccount.space_id).where(TimeBankAccount.user_id == bindparam("user_id"),
                                                        TimeBankAccount.status == "active")


async def search_posts(
    db: Database, content: Content, user_id: int, words: Iterable[str], now: datetime, limit: int = 5,
) -> list[TimeBankPost]:
    """Live posts of the banks the person belongs to whose category matches a word in any language (names and
    keywords from categories.yaml) or whose text contains one."""
    words = [word.casefold() for word in words if len(word) >= 3]
    if not words:
        return []
    spaces = await db.read_now(lambda connection: connection.execute(_ACTIVE_SPACES, {"user_id": user_id}).scalars().all())
    if not spaces:
        return []
    categories = [
        category.id for category in content.timebank_categories.values()
        if any(word in text.casefold() for word in words
               for text in (*category.name.all_texts(), *(k for ks in category.keywords.values() for k in ks)))
    ]
    matches = [TimeBankPost.category.in_(categories)] if categories else []
    matches += [func.lower(TimeBankPost.text).contains(word) for word in words]
    async with db.read() as session:
        rows = await session.scalars(select(TimeBankPost).where(
            TimeBankPost.space_id.in_(spaces), TimeBankPost.status == "open", TimeBankPost.expires_at > now,
            TimeBankPost.user_id != user_id, or_(*matches)).order_by(TimeBankPost.created_at.desc()).limit(limit))
        return list(rows.all())


async def my_posts(session: AsyncSession, space_id: str, user_id: int) -> list[TimeBankPost]:
    rows = await session.scalars(select(TimeBankPost).where(
        TimeBankPost.space_id == space_id, TimeBankPost.user_id == user_id,
        TimeBankPost.status.in_(("open", "pending"))).order_by(TimeBankPost.id.desc()).limit(10))
    return list(rows.all())


async def pending_posts(session: AsyncSession, space_id: str) -> list[TimeBankPost]:
    rows = await session.scalars(select(TimeBankPost).where(TimeBankPost.space_id == space_id, TimeBankPost.status == "pending")
                                 .order_by(TimeBankPost.id).limit(10))
    return list(rows.all())


# --------------------------------------------------------------------------------------------
# Contact without exposure


@dataclass(frozen=True)
class Asked:
    contact: TimeBankContact
    post: TimeBankPost
    asker: TimeBankAccount  # first name and estate, all the poster learns before both accept


async def ask(session: AsyncSession, content: Content, post_id: int, user_id: int, now: datetime) -> Asked:
    """'I can help' / 'I'm interested': the poster will be asked to accept or decline."""
    post = await session.get(TimeBankPost, post_id)
    if post is None:
        raise Refused(Reason.NOT_FOUND)
    bank_of(content, post.space_id)
    asker = await _member(session, post.space_id, user_id)
    if post.user_id == user_id:
        raise Refused(Reason.OWN_POST)
    if not is_live(post, now):
        raise Refused(Reason.POST_CLOSED)
    inserted = await session.execute(
        dialect_insert(session)(TimeBankContact)
        .values(space_id=post.space_id, post_id=post.id, asker_id=user_id, poster_id=post.user_id, status="asked",
                created_at=now)
        .on_conflict_do_nothing(index_elements=["post_id", "asker_id"], index_where=text("status IN ('asked', 'accepted')"))
    )
    if inserted.rowcount != 1:
        raise Refused(Reason.ALREADY_ASKED)
    await session.execute(update(TimeBankPost).where(TimeBankPost.id == post.id, TimeBankPost.answered_at.is_(None)).values(answered_at=now))
    contact = (await session.scalars(select(TimeBankContact).where(
        TimeBankContact.post_id == post.id, TimeBankContact.asker_id == user_id, TimeBankContact.status == "asked"))).one()
    return Asked(contact, post, asker)


async def contact_for(session: AsyncSession, contact_id: int, user_id: int) -> TimeBankContact:
    """A conversation the person is part of (Refused otherwise: forged or foreign buttons)."""
    contact = await session.get(TimeBankContact, contact_id)
    _check_party(contact, user_id, contact and (contact.asker_id, contact.poster_id))
    return contact


async def _changed_once(session: AsyncSession, row: object, statement: Executable) -> None:
    """A conditional UPDATE of this one row (status guards in its WHERE): when it changes nothing, someone was first
    (ALREADY_DONE); otherwise the row is read again."""
    if (await session.execute(statement)).rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    await session.refresh(row)


def _check_party(row: object | None, user_id: int, parties: tuple[int, int] | None) -> None:
    """A conversation or an exchange exists and the person is one of its two parties."""
    if row is None:
        raise Refused(Reason.NOT_FOUND)
    if parties is None or user_id not in parties:
        raise Refused(Reason.NOT_PARTY)


def other_party(contact: TimeBankContact | TimeBankExchange, user_id: int) -> int:
    if isinstance(contact, TimeBankExchange):
        return contact.receiver_id if user_id == contact.giver_id else contact.giver_id
    return contact.poster_id if user_id == contact.asker_id else contact.asker_id


async def answer(session: AsyncSession, contact_id: int, user_id: int, accept: bool, now: datetime) -> TimeBankContact:
    """The poster accepts (both can now talk through the bot) or declines."""
    contact = await contact_for(session, contact_id, user_id)
    if contact.poster_id != user_id:
        raise Refused(Reason.NOT_ALLOWED)
    await _member(session, contact.space_id, user_id)
    await _changed_once(session, contact, update(TimeBankContact).where(
        TimeBankContact.id == contact_id, TimeBankContact.status == "asked").values(
        status="accepted" if accept else "declined", accepted_at=now if accept else None,
        ended_at=None if accept else now, ended_by=None if accept else user_id))
    return contact


async def open_conversation(session: AsyncSession, contact_id: int, user_id: int) -> TimeBankContact:
    contact = await contact_for(session, contact_id, user_id)
    if contact.status != "accepted":
        raise Refused(Reason.NOT_ACCEPTED)
    await _member(session, contact.space_id, user_id)
    return contact


@dataclass(frozen=True)
class Relayed:
    contact: TimeBankContact
    to_user: int
    text: str  # as the other person will read it: phone numbers hidden
    message_id: int


async def relay(session: AsyncSession, contact_id: int, user_id: int, text: str, now: datetime) -> Relayed:
    contact = await open_conversation(session, contact_id, user_id)
    await _member(session, contact.space_id, other_party(contact, user_id))
    shown = hide_phone_numbers(clean_text(text, MAX_MESSAGE))
    message = TimeBankMessage(contact_id=contact.id, sender_id=user_id, text=shown, created_at=now)
    session.add(message)
    await session.flush()
    return Relayed(contact, other_party(contact, user_id), shown, message.id)


async def end_conversation(session: AsyncSession, contact_id: int, user_id: int, now: datetime) -> TimeBankContact:
    contact = await contact_for(session, contact_id, user_id)
    await _changed_once(session, contact, update(TimeBankContact).where(
        TimeBankContact.id == contact_id, TimeBankContact.status.in_(("asked", "accepted")))
        .values(status="ended", ended_at=now, ended_by=user_id))
    return contact


async def report_abuse(session: AsyncSession, contact_id: int, user_id: int, now: datetime) -> TimeBankReport:
    """Ends the conversation at once and puts it before the space's operators (who may pause the member)."""
    contact = await contact_for(session, contact_id, user_id)
    reported = await session.execute(update(TimeBankContact).where(
        TimeBankContact.id == contact_id, TimeBankContact.status != "reported")
        .values(status="reported", ended_at=now, ended_by=user_id))
    if reported.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    report = TimeBankReport(space_id=contact.space_id, kind="abuse", contact_id=contact.id, reporter_id=user_id,
                            reported_id=other_party(contact, user_id), status="open", created_at=now)
    session.add(report)
    await session.flush()
    return report


async def conversations(session: AsyncSession, space_id: str, user_id: int) -> list[TimeBankContact]:
    rows = await session.scalars(select(TimeBankContact).where(
        TimeBankContact.space_id == space_id, or_(TimeBankContact.asker_id == user_id, TimeBankContact.poster_id == user_id),
        TimeBankContact.status.in_(("asked", "accepted"))).order_by(TimeBankContact.id.desc()).limit(10))
    return list(rows.all())


# --------------------------------------------------------------------------------------------
# Exchanges


async def agree(session: AsyncSession, content: Content, contact_id: int, user_id: int, now: datetime) -> TimeBankExchange:
    """Either party records that they agreed on the help: who gives is the one who offered (or answered a request)."""
    contact = await open_conversation(session, contact_id, user_id)
    bank_of(content, contact.space_id)
    post = await session.get(TimeBankPost, contact.post_id)
    giver, receiver = (contact.poster_id, contact.asker_id) if post.kind == "offer" else (contact.asker_id, contact.poster_id)
    inserted = await session.execute(
        dialect_insert(session)(TimeBankExchange)
        .values(space_id=contact.space_id, contact_id=contact.id, post_id=post.id, category=post.category,
                giver_id=giver, receiver_id=receiver, status="agreed", created_at=now)
        .on_conflict_do_nothing(index_elements=["contact_id"])
    )
    exchange = (await session.scalars(select(TimeBankExchange).where(TimeBankExchange.contact_id == contact.id))).one()
    if inserted.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    return exchange


async def exchange_for(session: AsyncSession, exchange_id: int, user_id: int) -> TimeBankExchange:
    exchange = await session.get(TimeBankExchange, exchange_id)
    _check_party(exchange, user_id, exchange and (exchange.giver_id, exchange.receiver_id))
    return exchange


@dataclass(frozen=True)
class Settled:
    exchange: TimeBankExchange
    movement: LedgerTransaction
    receiver_balance: int
    giver_balance: int


async def confirm(
    session: AsyncSession, content: Content, exchange_id: int, user_id: int, quarters: int, now: datetime,
) -> Settled:
    """The person who received the help confirms the hours; they move from receiver to giver, once."""
    exchange = await exchange_for(session, exchange_id, user_id)
    _, bank = bank_of(content, exchange.space_id)
    if exchange.receiver_id != user_id:
        raise Refused(Reason.NOT_ALLOWED)
    check_quarters(bank, quarters)
    receiver = await _member(session, exchange.space_id, user_id)
    giver = await account_of(session, exchange.space_id, exchange.giver_id)
    if giver is None or giver.status in ("removed", "pending"):
        raise Refused(Reason.NOT_MEMBER)
    settled = await session.execute(
        update(TimeBankExchange)
        .where(TimeBankExchange.id == exchange_id, TimeBankExchange.receiver_id == user_id, TimeBankExchange.status == "agreed")
        .values(status="done", quarters=quarters, done_at=now)
    )
    if settled.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    try:
        async with session.begin_nested():
            movement = await transfer(session, exchange.space_id, kind="exchange", from_account=receiver.id,
                                      to_account=giver.id, quarters=quarters, now=now, exchange_id=exchange_id,
                                      category=exchange.category, by=user_id)
    except IntegrityError:
        raise Refused(Reason.ALREADY_DONE) from None
    await session.execute(update(TimeBankExchange).where(TimeBankExchange.id == exchange_id).values(transaction_id=movement.id))
    await session.refresh(exchange)
    await session.refresh(receiver)
    await session.refresh(giver)
    return Settled(exchange, movement, receiver.balance, giver.balance)


async def cancel_exchange(session: AsyncSession, exchange_id: int, user_id: int) -> TimeBankExchange:
    exchange = await exchange_for(session, exchange_id, user_id)
    await _changed_once(session, exchange, update(TimeBankExchange).where(
        TimeBankExchange.id == exchange_id, TimeBankExchange.status == "agreed").values(status="cancelled"))
    return exchange


async def thank(session: AsyncSession, exchange_id: int, user_id: int, stars: int, now: datetime) -> TimeBankThanks:
    exchange = await exchange_for(session, exchange_id, user_id)
    if exchange.status != "done":
        raise Refused(Reason.NOT_ACCEPTED)
    if stars not in range(1, 6):
        raise Refused(Reason.NOT_FOUND)
    inserted = await session.execute(
        dialect_insert(session)(TimeBankThanks).values(exchange_id=exchange_id, space_id=exchange.space_id, user_id=user_id,
                                                stars=stars, created_at=now)
        .on_conflict_do_nothing(index_elements=["exchange_id", "user_id"])
    )
    if inserted.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    return (await session.scalars(select(TimeBankThanks).where(
        TimeBankThanks.exchange_id == exchange_id, TimeBankThanks.user_id == user_id))).one()


async def dispute(session: AsyncSession, exchange_id: int, user_id: int, now: datetime) -> TimeBankReport:
    """A party disagrees with a settled exchange: the operators may reverse it."""
    exchange = await exchange_for(session, exchange_id, user_id)
    if exchange.status != "done":
        raise Refused(Reason.NOT_ACCEPTED)
    existing = await session.scalar(select(TimeBankReport).where(
        TimeBankReport.exchange_id == exchange_id, TimeBankReport.reporter_id == user_id, TimeBankReport.status == "open"))
    if existing is not None:
        raise Refused(Reason.ALREADY_DONE)
    report = TimeBankReport(space_id=exchange.space_id, kind="dispute", contact_id=exchange.contact_id,
                            exchange_id=exchange.id, reporter_id=user_id, reported_id=other_party(exchange, user_id),
                            status="open", created_at=now)
    session.add(report)
    await session.flush()
    return report


async def exchanges_of(session: AsyncSession, space_id: str, user_id: int) -> list[TimeBankExchange]:
    rows = await session.scalars(select(TimeBankExchange).where(
        TimeBankExchange.space_id == space_id,
        or_(TimeBankExchange.giver_id == user_id, TimeBankExchange.receiver_id == user_id),
    ).order_by(TimeBankExchange.id.desc()).limit(10))
    return list(rows.all())


# --------------------------------------------------------------------------------------------
# Prompts: the text the time bank waits for


async def set_prompt(session: AsyncSession, user_id: int, kind: str, space_id: str, now: datetime, **values: object) -> None:
    await session.execute(delete(TimeBankPrompt).where(TimeBankPrompt.user_id == user_id))
    session.add(TimeBankPrompt(user_id=user_id, kind=kind, space_id=space_id, created_at=now, **values))
    await session.flush()


async def prompt_of(session: AsyncSession, user_id: int, now: datetime) -> TimeBankPrompt | None:
    prompt = await session.get(TimeBankPrompt, user_id)
    if prompt is not None and prompt.created_at + PROMPT_LIFETIME < now:
        await session.delete(prompt)
        return None
    return prompt


async def drop_prompt(session: AsyncSession, user_id: int) -> bool:
    return (await session.execute(delete(TimeBankPrompt).where(TimeBankPrompt.user_id == user_id))).rowcount > 0


