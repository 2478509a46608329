"""The time bank's books, read and corrected: the keepers' reversals and abuse reports, balance, history and the
monthly statement, the figures, the weekly digest and the retention of personal data. Membership, posts, contacts
and exchanges are storage/domain/timebank.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import distinct, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.content import Content
from storage.models import (
    LedgerEntry, LedgerTransaction, TimeBankAccount, TimeBankExchange, TimeBankMessage, TimeBankPost, TimeBankReport,
    TimeBankThanks,
)
from storage.domain.timebank import (
    DIGEST_EVERY, Reason, Refused, _require_keeper, bank_of, browse, clean_text, transfer,
)
from storage.domain.users import Roles

# --------------------------------------------------------------------------------------------
# Operators: reversals and reports


async def reverse(
    session: AsyncSession, content: Content, roles: Roles, transaction_id: int, reason: str, by: int, now: datetime,
) -> LedgerTransaction:
    """Undo an exchange or an adjustment with a new transaction of opposite sign and a reason; once."""
    original = await session.get(LedgerTransaction, transaction_id)
    if original is None or original.kind not in ("exchange", "adjustment"):
        raise Refused(Reason.NOT_FOUND)
    bank_of(content, original.space_id)
    _require_keeper(roles, original.space_id)
    reason = clean_text(reason, 500)
    entries = (await session.scalars(select(LedgerEntry).where(LedgerEntry.transaction_id == transaction_id))).all()
    credited = next(entry for entry in entries if entry.amount > 0)
    debited = next(entry for entry in entries if entry.amount < 0)
    try:
        async with session.begin_nested():
            movement = await transfer(session, original.space_id, kind="reversal", from_account=credited.account_id,
                                      to_account=debited.account_id, quarters=credited.amount, now=now,
                                      reverses_id=original.id, exchange_id=original.exchange_id,
                                      category=original.category, reason=reason, by=by)
    except IntegrityError:
        raise Refused(Reason.ALREADY_DONE) from None
    if original.exchange_id is not None:
        await session.execute(update(TimeBankExchange).where(
            TimeBankExchange.id == original.exchange_id, TimeBankExchange.status == "done").values(status="reversed"))
    return movement


async def open_reports(session: AsyncSession, space_id: str) -> list[TimeBankReport]:
    rows = await session.scalars(select(TimeBankReport).where(TimeBankReport.space_id == space_id, TimeBankReport.status == "open")
                                 .order_by(TimeBankReport.id).limit(10))
    return list(rows.all())


async def report_for_keeper(session: AsyncSession, roles: Roles, report_id: int) -> TimeBankReport:
    report = await session.get(TimeBankReport, report_id)
    if report is None:
        raise Refused(Reason.NOT_FOUND)
    _require_keeper(roles, report.space_id)
    return report


async def close_report(session: AsyncSession, roles: Roles, report_id: int, by: int, now: datetime) -> TimeBankReport:
    report = await report_for_keeper(session, roles, report_id)
    changed = await session.execute(update(TimeBankReport).where(TimeBankReport.id == report_id, TimeBankReport.status == "open")
                                    .values(status="closed", closed_at=now, closed_by=by))
    if changed.rowcount != 1:
        raise Refused(Reason.ALREADY_DONE)
    await session.refresh(report)
    return report


async def conversation_messages(session: AsyncSession, contact_id: int, limit: int = 10) -> list[TimeBankMessage]:
    rows = await session.scalars(select(TimeBankMessage).where(TimeBankMessage.contact_id == contact_id)
                                 .order_by(TimeBankMessage.id.desc()).limit(limit))
    return list(reversed(rows.all()))


# --------------------------------------------------------------------------------------------
# Balance, history, statement


@dataclass(frozen=True)
class Line:
    """One entry of a member's history, with what it was."""

    entry_id: int
    at: datetime
    amount: int
    balance_after: int
    kind: str
    category: str | None
    reason: str | None
    transaction_id: int


def _lines_query(account_id: int):  # type: ignore[no-untyped-def]
    return (
        select(LedgerEntry.id, LedgerEntry.created_at, LedgerEntry.amount, LedgerEntry.balance_after,
               LedgerTransaction.kind, LedgerTransaction.category, LedgerTransaction.reason, LedgerTransaction.id)
        .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)
        .where(LedgerEntry.account_id == account_id)
    )


async def history(session: AsyncSession, account_id: int, *, before_entry: int | None = None, limit: int = 10) -> list[Line]:
    """The newest entries first, a page at a time by entry id (keyset paging: as fast on page 100 as on page 1)."""
    query = _lines_query(account_id)
    if before_entry is not None:
        query = query.where(LedgerEntry.id < before_entry)
    rows = await session.execute(query.order_by(LedgerEntry.id.desc()).limit(limit))
    return [Line(*row) for row in rows.all()]


@dataclass(frozen=True)
class Statement:
    start: date
    opening: int
    closing: int
    received: int  # quarters credited in the month
    given: int  # quarters debited in the month (as a positive number)
    lines: list[Line]


async def statement(session: AsyncSession, account_id: int, start: datetime, end: datetime, month: date) -> Statement:
    before = await session.scalar(select(LedgerEntry.balance_after).where(
        LedgerEntry.account_id == account_id, LedgerEntry.created_at < start).order_by(LedgerEntry.id.desc()).limit(1))
    rows = await session.execute(_lines_query(account_id).where(LedgerEntry.created_at >= start, LedgerEntry.created_at < end)
                                 .order_by(LedgerEntry.id).limit(200))
    lines = [Line(*row) for row in rows.all()]
    opening = int(before or 0)
    return Statement(month, opening, lines[-1].balance_after if lines else opening,
                     sum(line.amount for line in lines if line.amount > 0),
                     -sum(line.amount for line in lines if line.amount < 0), lines)


# --------------------------------------------------------------------------------------------
# Statistics, digest, retention


@dataclass(frozen=True)
class BankFigures:
    space_id: str
    members: int
    active_members: int  # with an exchange settled in the period
    unanswered_offers: int
    hours_by_month: dict[str, int]  # "YYYY-MM" -> quarters exchanged
    hours_by_category: dict[str, int]  # quarters, only categories with at least MIN_GROUP people
    thanks: int
    average_stars: float | None


MIN_GROUP = 5  # figures about fewer people than this are not shown


async def figures(session: AsyncSession, space_id: str, start: datetime, end: datetime, now: datetime) -> BankFigures:
    members_count = await session.scalar(select(func.count()).select_from(TimeBankAccount).where(
        TimeBankAccount.space_id == space_id, TimeBankAccount.status == "active"))
    done = [TimeBankExchange.space_id == space_id, TimeBankExchange.status == "done",
            TimeBankExchange.done_at >= start, TimeBankExchange.done_at < end]
    givers = select(TimeBankExchange.giver_id.label("user_id")).where(*done)
    receivers = select(TimeBankExchange.receiver_id.label("user_id")).where(*done)
    active = await session.scalar(select(func.count(distinct(givers.union(receivers).subquery().c.user_id))))
    unanswered = await session.scalar(select(func.count()).select_from(TimeBankPost).where(
        TimeBankPost.space_id == space_id, TimeBankPost.kind == "offer", TimeBankPost.status == "open",
        TimeBankPost.expires_at > now, TimeBankPost.answered_at.is_(None)))
    rows = (await session.execute(select(TimeBankExchange.done_at, TimeBankExchange.category, TimeBankExchange.quarters,
                                         TimeBankExchange.giver_id, TimeBankExchange.receiver_id).where(*done))).all()
    by_month: dict[str, int] = {}
    by_category: dict[str, int] = {}
    people: dict[str, set[int]] = {}
    for done_at, category, quarters, giver, receiver in rows:
        month = done_at.strftime("%Y-%m")
        by_month[month] = by_month.get(month, 0) + quarters
        by_category[category] = by_category.get(category, 0) + quarters
        people.setdefault(category, set()).update((giver, receiver))
    thanks = (await session.execute(select(func.count(), func.avg(TimeBankThanks.stars)).where(
        TimeBankThanks.space_id == space_id, TimeBankThanks.created_at >= start, TimeBankThanks.created_at < end))).one()
    return BankFigures(
        space_id, int(members_count or 0), int(active or 0), int(unanswered or 0), by_month,
        {category: quarters for category, quarters in by_category.items() if len(people[category]) >= MIN_GROUP},
        int(thanks[0] or 0), float(thanks[1]) if thanks[0] and thanks[0] >= MIN_GROUP else None,
    )


@dataclass(frozen=True)
class Digest:
    account: TimeBankAccount
    posts: list[TimeBankPost]


async def due_digests(session: AsyncSession, now: datetime, limit: int = 50) -> list[Digest]:
    """Members who asked for the weekly 'new offers near you' and are due one; each is marked sent (conditional
    UPDATE, so two instances never both send it). Members with nothing new are marked too, and told nothing."""
    due = (await session.scalars(select(TimeBankAccount).where(
        TimeBankAccount.digest.is_(True), TimeBankAccount.status == "active",
        or_(TimeBankAccount.digest_sent_at.is_(None), TimeBankAccount.digest_sent_at <= now - DIGEST_EVERY),
    ).order_by(TimeBankAccount.id).limit(limit))).all()
    digests = []
    for account in due:
        since = account.digest_sent_at or account.created_at
        claimed = await session.execute(update(TimeBankAccount).where(
            TimeBankAccount.id == account.id,
            or_(TimeBankAccount.digest_sent_at.is_(None), TimeBankAccount.digest_sent_at <= now - DIGEST_EVERY),
        ).values(digest_sent_at=now))
        if claimed.rowcount != 1:
            continue
        posts, _ = await browse(session, account.space_id, "offer", now, near_estate=account.estate_id, limit=20)
        fresh = [post for post in posts if post.created_at > since and post.user_id != account.user_id][:5]
        if fresh:
            digests.append(Digest(account, fresh))
    return digests
