"""The time bank: memberships, posts, conversations and the messages relayed in them, exchanges, thanks, reports
and the texts the bank waits for.

Forgetting a member keeps the ledger whole: their account stays as an account of nobody (status 'forgotten', no
id, no name, estate or languages) with its balance, so every bank still adds up to zero and the neighbours they
helped keep their hours and history lines. Everything that links them to a neighbour goes: their posts, every
conversation they took part in (with its messages, exchange record, thanks and reports), reports about them.
How long the time bank keeps what it keeps is `retention` below (bot.config.Retention's timebank_* days), applied
by the nightly purge with every other source's rules.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Connection, and_, bindparam, delete, or_, select, update

from storage.models import (
    LedgerTransaction, TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankMessage, TimeBankPost,
    TimeBankPrompt, TimeBankReport, TimeBankThanks,
)
from storage.personal_data._helpers import (
    fields_blanked_when, forget_with, how_many, listed, record, rows_deleted_when, rows_older_than, theirs, theirs_listed,
    unlinked,
)
from storage.domain.privacy import Forgetting, PersonalDataSource, register


_ACCOUNTS = theirs_listed(TimeBankAccount.user_id, order=TimeBankAccount.__table__.c.id)
_POSTS = theirs_listed(TimeBankPost.user_id, order=TimeBankPost.__table__.c.id)
_SENT = theirs_listed(TimeBankMessage.sender_id, order=TimeBankMessage.__table__.c.id)
_EXCHANGES = (select(TimeBankExchange.__table__)
              .where(or_(TimeBankExchange.__table__.c.giver_id == bindparam("person"),
                         TimeBankExchange.__table__.c.receiver_id == bindparam("person")))
              .order_by(TimeBankExchange.__table__.c.id))


def _export(connection: Connection, user_id: int) -> dict[str, list[dict]]:
    accounts = listed(connection, _ACCOUNTS, user_id)
    posts = listed(connection, _POSTS, user_id)
    sent = listed(connection, _SENT, user_id)
    exchanges = listed(connection, _EXCHANGES, user_id)
    return {
        "time_bank_memberships": [
            {**record(account, "space_id", "status", "first_name", "estate_id", "languages", "digest", "created_at",
                      "rules_accepted_at"), "hours": account.balance / 4}
            for account in accounts
        ],
        "time_bank_posts": [record(post, "space_id", "kind", "category", "text", "availability", "status", "created_at",
                                   "expires_at") for post in posts],
        "time_bank_messages": [record(message, "text", "created_at") for message in sent],
        "time_bank_exchanges": [
            {"role": "giver" if exchange.giver_id == user_id else "receiver",
             **record(exchange, "space_id", "category", "status", "created_at", "done_at"),
             "hours": (exchange.quarters or 0) / 4}
            for exchange in exchanges
        ],
    }


def _counts(user_id: ColumnElement[int]) -> dict[str, ColumnElement[int]]:
    return {
        "time_bank_memberships": how_many(TimeBankAccount, TimeBankAccount.user_id == user_id),
        "time_bank_posts": how_many(TimeBankPost, TimeBankPost.user_id == user_id),
        "time_bank_messages": how_many(TimeBankMessage, TimeBankMessage.sender_id == user_id),
        "time_bank_exchanges": how_many(TimeBankExchange,
                                        or_(TimeBankExchange.giver_id == user_id, TimeBankExchange.receiver_id == user_id)),
    }


# Forgetting's statements, built once (storage/personal_data/_helpers.py).
_accounts, _contacts, _posts, _exchanges = (TimeBankAccount.__table__, TimeBankContact.__table__, TimeBankPost.__table__,
                                            TimeBankExchange.__table__)
_thanks, _reports, _messages = TimeBankThanks.__table__, TimeBankReport.__table__, TimeBankMessage.__table__
_person = bindparam("person")
_theirs = or_(_contacts.c.asker_id == _person, _contacts.c.poster_id == _person,
              _contacts.c.post_id.in_(select(_posts.c.id).where(_posts.c.user_id == _person)))
_their_contacts = select(_contacts.c.id).where(_theirs)
_their_exchanges = select(_exchanges.c.id).where(_exchanges.c.contact_id.in_(_their_contacts))
_FORGET = (
    # Children first: SQLite and PostgreSQL would cascade, but saying it keeps the counts and the order plain.
    (delete(_thanks).where(or_(_thanks.c.exchange_id.in_(_their_exchanges), _thanks.c.user_id == _person)), None),
    (delete(_reports).where(or_(_reports.c.contact_id.in_(_their_contacts), _reports.c.reporter_id == _person,
                                _reports.c.reported_id == _person)), None),
    (delete(_exchanges).where(_exchanges.c.contact_id.in_(_their_contacts)), "time bank exchanges"),
    (delete(_messages).where(_messages.c.contact_id.in_(_their_contacts)), None),
    (delete(_contacts).where(_theirs), "time bank conversations"),
    (theirs(TimeBankPost.user_id), "time bank posts"),
    (theirs(TimeBankPrompt.user_id), None),
    (update(_accounts).where(_accounts.c.user_id == _person)
     .values(user_id=None, status="forgotten", first_name="", estate_id=None, languages="", digest=False),
     "time bank memberships"),
    # What they did as an operator stays, without who.
    *((unlinked(column), None) for column in (TimeBankAccount.decided_by, LedgerTransaction.created_by,
                                               TimeBankPost.decided_by, TimeBankContact.ended_by, TimeBankReport.closed_by)),
)


def _forget(connection: Connection, forgetting: Forgetting) -> None:
    for statement, label in _FORGET:
        forget_with(connection, forgetting, statement, label)


def _conversation_over(cutoff: datetime) -> ColumnElement[bool]:
    return and_(TimeBankContact.status.in_(("declined", "ended", "reported")), TimeBankContact.ended_at < cutoff)


def _messages_due(cutoff: datetime) -> ColumnElement[bool]:
    return TimeBankMessage.contact_id.in_(select(TimeBankContact.id).where(_conversation_over(cutoff)))


def _contact_due(cutoff: datetime) -> ColumnElement[bool]:
    """A conversation that led nowhere (no exchange, no report: those keep it for the ledger and the operators)."""
    return and_(
        TimeBankContact.status.in_(("declined", "ended")), TimeBankContact.ended_at < cutoff,
        ~select(TimeBankExchange.id).where(TimeBankExchange.contact_id == TimeBankContact.id).exists(),
        ~select(TimeBankReport.id).where(TimeBankReport.contact_id == TimeBankContact.id).exists(),
    )


def _post_text_due(cutoff: datetime) -> ColumnElement[bool]:
    return and_(TimeBankPost.expires_at < cutoff, TimeBankPost.text != "")


def _removed_member_due(cutoff: datetime) -> ColumnElement[bool]:
    return and_(TimeBankAccount.status == "removed", TimeBankAccount.decided_at < cutoff, TimeBankAccount.first_name != "")


register(PersonalDataSource(
    name="time_bank",
    person_columns={
        "tb_accounts": ("user_id", "decided_by"), "tb_transactions": ("created_by",),
        "tb_posts": ("user_id", "decided_by"), "tb_contacts": ("asker_id", "poster_id", "ended_by"),
        "tb_messages": ("sender_id",), "tb_exchanges": ("giver_id", "receiver_id"), "tb_thanks": ("user_id",),
        "tb_reports": ("reporter_id", "reported_id", "closed_by"), "tb_prompts": ("user_id",),
    },
    personal_fields={
        "tb_accounts": ("first_name", "estate_id", "languages"), "tb_posts": ("text", "availability", "photo_file_id"),
        "tb_messages": ("text",), "tb_prompts": ("draft_text",),
    },
    export=_export,
    counts=_counts,
    forget=_forget,
    retention=(
        rows_deleted_when("time_bank_messages", "timebank_messages_days", TimeBankMessage.id, _messages_due),
        rows_deleted_when("time_bank_conversations", "timebank_contacts_days", TimeBankContact.id, _contact_due),
        fields_blanked_when("time_bank_post_texts", "timebank_posts_days", TimeBankPost.id, _post_text_due,
                            {"text": "", "availability": "", "photo_file_id": None}),
        fields_blanked_when("time_bank_removed_members", "timebank_members_days", TimeBankAccount.id,
                            _removed_member_due, {"first_name": "", "estate_id": None, "languages": ""}),
        rows_older_than("time_bank_prompts", "drafts_days", TimeBankPrompt.user_id, TimeBankPrompt.created_at),
    ),
))
