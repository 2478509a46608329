"""What the time bank's screens read, and who may see it: plain reads over the database, no Telegram.

The handlers (handlers/timebank.py, handlers/timebank_desk.py) ask here for what a screen shows; the rules of who
sees a post, a conversation, an exchange, a member or a report live here and in storage/domain/timebank.py, so a
forged button is refused the same way whichever screen it asks for.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.domain import timebank as tb
from storage.domain import timebank_books
from storage.domain.timebank import Reason, Refused
from storage.domain.users import Roles
from storage.models import (
    LedgerEntry, LedgerTransaction, TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankMessage, TimeBankPost,
    TimeBankReport, TimeBankThanks,
)


async def accounts_by_user(session: AsyncSession, space_id: str, user_ids: set[int]) -> dict[int, TimeBankAccount]:
    """The accounts of these people in one bank (names to show beside posts and reports)."""
    if not user_ids:
        return {}
    rows = await session.scalars(select(TimeBankAccount).where(TimeBankAccount.space_id == space_id,
                                                               TimeBankAccount.user_id.in_(user_ids)))
    return {account.user_id: account for account in rows.all()}


async def accounts_of_person(session: AsyncSession, user_id: int) -> dict[str, TimeBankAccount]:
    """One person's accounts, by space (the list of banks they belong to)."""
    rows = await session.scalars(select(TimeBankAccount).where(TimeBankAccount.user_id == user_id))
    return {account.space_id: account for account in rows.all()}


@dataclass(frozen=True)
class PostView:
    post: TimeBankPost
    poster: TimeBankAccount | None
    keeper: bool  # the viewer keeps this bank (sees pending and closed posts, and the operators' buttons)


async def visible_post(session: AsyncSession, roles: Roles, post_id: int, user_id: int) -> PostView | None:
    """A post as this person may see it: their own, any for the bank's operators, otherwise only an open post to
    an active member of its bank; None when they may not."""
    post = await session.get(TimeBankPost, post_id)
    if post is None:
        return None
    keeper = tb.is_keeper(roles, post.space_id)
    if post.user_id != user_id and not keeper:
        account = await tb.account_of(session, post.space_id, user_id)
        if account is None or account.status != "active" or post.status != "open":
            return None
    return PostView(post, await tb.account_of(session, post.space_id, post.user_id), keeper)


@dataclass(frozen=True)
class ConversationView:
    contact: TimeBankContact
    post: TimeBankPost | None
    other: TimeBankAccount | None
    exchange: TimeBankExchange | None


async def conversation(session: AsyncSession, contact_id: int, user_id: int) -> ConversationView:
    """A conversation about a post, for one of its two parties (refused for anyone else)."""
    contact = await tb.open_conversation(session, contact_id, user_id)
    return ConversationView(
        contact, await session.get(TimeBankPost, contact.post_id),
        await tb.account_of(session, contact.space_id, tb.other_party(contact, user_id)),
        await session.scalar(select(TimeBankExchange).where(TimeBankExchange.contact_id == contact.id)),
    )


@dataclass(frozen=True)
class ExchangeView:
    exchange: TimeBankExchange
    other: TimeBankAccount | None
    thanked: bool  # this person has already thanked the other for it


async def exchange(session: AsyncSession, exchange_id: int, user_id: int) -> ExchangeView:
    """An exchange, for one of its two parties (refused for anyone else)."""
    found = await tb.exchange_for(session, exchange_id, user_id)
    thanked = await session.scalar(select(TimeBankThanks.id).where(
        TimeBankThanks.exchange_id == exchange_id, TimeBankThanks.user_id == user_id)) is not None
    return ExchangeView(found, await tb.account_of(session, found.space_id, tb.other_party(found, user_id)), thanked)


async def member_for_keeper(session: AsyncSession, roles: Roles, account_id: int) -> TimeBankAccount:
    """A member's account, for an operator of its bank only (the bank's own account is nobody's member)."""
    account = await session.get(TimeBankAccount, account_id)
    if account is None or account.user_id is None:
        raise Refused(Reason.NOT_FOUND)
    if not tb.is_keeper(roles, account.space_id):
        raise Refused(Reason.NOT_ALLOWED)
    return account


async def reversible_movement(session: AsyncSession, roles: Roles, transaction_id: int) -> LedgerTransaction:
    """An exchange or adjustment an operator of its bank may undo (`timebank_books.reverse` checks again)."""
    movement = await session.get(LedgerTransaction, transaction_id)
    if movement is None or movement.kind not in ("exchange", "adjustment"):
        raise Refused(Reason.NOT_FOUND)
    if not tb.is_keeper(roles, movement.space_id):
        raise Refused(Reason.NOT_ALLOWED)
    return movement


async def people_touched(session: AsyncSession, transaction_id: int) -> list[TimeBankAccount]:
    """The members whose balance a movement changed (the bank's own account aside): who is told of a reversal."""
    rows = await session.scalars(select(TimeBankAccount).join(LedgerEntry, LedgerEntry.account_id == TimeBankAccount.id)
                                 .where(LedgerEntry.transaction_id == transaction_id, TimeBankAccount.user_id.is_not(None)))
    return list(rows.all())


@dataclass(frozen=True)
class ReportView:
    report: TimeBankReport
    reporter: TimeBankAccount | None
    reported: TimeBankAccount | None
    messages: list[TimeBankMessage]  # the conversation's last messages, oldest first
    exchange: TimeBankExchange | None


async def report_for_keeper(session: AsyncSession, roles: Roles, report_id: int) -> ReportView:
    """An abuse report or a dispute with what the operator needs to judge it; for the bank's operators only."""
    report = await timebank_books.report_for_keeper(session, roles, report_id)
    accounts = await accounts_by_user(session, report.space_id, {report.reporter_id, report.reported_id})
    return ReportView(
        report, accounts.get(report.reporter_id), accounts.get(report.reported_id),
        await timebank_books.conversation_messages(session, report.contact_id),
        await session.get(TimeBankExchange, report.exchange_id) if report.exchange_id else None,
    )
