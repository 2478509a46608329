"""The time bank of a space: accounts (one per member, one for the bank itself), the double-entry ledger, posts
(offers and requests), contacts between members with the messages relayed through the bot, exchanges, thanks,
reports, and the text the bank waits for.

Hours are stored as whole **quarters of an hour** (1 = 15 minutes), so the ledger adds integers and never rounds.

Personal data and retention (storage/personal_data/timebank.py's rules, QC_RETAIN_TIMEBANK_*; "My data"/"Forget me" can find every row by
its `user_id` columns): memberships (`tb_accounts.user_id`, first name, estate, languages), posts (`tb_posts.user_id`,
text, availability, photo), contacts and relayed messages (`tb_contacts.asker_id/poster_id`,
`tb_messages.sender_id`, text), exchanges and thanks (`tb_exchanges.giver_id/receiver_id`, `tb_thanks.user_id`),
reports (`tb_reports.reporter_id`, text), prompts (`tb_prompts.user_id`). Ledger entries name accounts, not people.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger, Boolean, CheckConstraint, ForeignKey, Index, Integer, String, Text, UniqueConstraint, text,
)
from sqlalchemy.orm import Mapped, mapped_column

from storage.models.base import Base, Prompt, UtcDateTime, one_of

_BANK_ACCOUNT = text("status = 'bank'")
_SETTLEMENT = text("kind = 'exchange'")
_OPEN_CONTACT = text("status IN ('asked', 'accepted')")


class TimeBankAccount(Base):
    """A member of a space's time bank with their balance, or (status 'bank', user_id NULL) the bank's own account,
    which pays starting credits and adjustments so that the balances of one bank always add up to zero. A member
    who asked to be forgotten leaves an account of nobody (status 'forgotten', user_id NULL, no name): its balance
    stays, so the ledger still adds up to zero."""

    __tablename__ = "tb_accounts"
    __table_args__ = (
        UniqueConstraint("space_id", "user_id", name="uq_tb_accounts_space_user"),  # joining twice fails here
        Index("uq_tb_accounts_one_bank_account", "space_id", unique=True,
              sqlite_where=_BANK_ACCOUNT, postgresql_where=_BANK_ACCOUNT),
        Index("ix_tb_accounts_user", "user_id"),
        Index("ix_tb_accounts_space_status", "space_id", "status"),
        one_of("status", "bank", "pending", "active", "paused", "removed", "forgotten"),
        CheckConstraint("(user_id IS NULL) = (status IN ('bank', 'forgotten'))", name="bank_has_no_user"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int | None] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(12))
    balance: Mapped[int] = mapped_column(Integer, default=0)  # quarters of an hour
    first_name: Mapped[str] = mapped_column(String(128), default="")  # what other members see before both accept
    estate_id: Mapped[str | None] = mapped_column(String(64))
    languages: Mapped[str] = mapped_column(String(64), default="")  # comma-separated codes
    digest: Mapped[bool] = mapped_column(Boolean, default=False)  # weekly "new offers near you"
    digest_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rules_accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # approved, paused, removed
    decided_by: Mapped[int | None] = mapped_column(BigInteger)


class LedgerTransaction(Base):
    """One movement of hours: its entries add up to zero. Never edited; a reversal is a new transaction.

    The unique indexes make "nothing moves twice" a property of the database: one settlement per exchange, one
    reversal per transaction."""

    __tablename__ = "tb_transactions"
    __table_args__ = (
        Index("uq_tb_transactions_one_settlement", "exchange_id", unique=True,
              sqlite_where=_SETTLEMENT, postgresql_where=_SETTLEMENT),
        Index("ix_tb_transactions_space_created", "space_id", "created_at"),
        one_of("kind", "opening", "exchange", "adjustment", "reversal"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(12))
    exchange_id: Mapped[int | None] = mapped_column(Integer)
    reverses_id: Mapped[int | None] = mapped_column(Integer, ForeignKey("tb_transactions.id"), unique=True)
    category: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str | None] = mapped_column(Text)
    created_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class LedgerEntry(Base):
    __tablename__ = "tb_entries"
    __table_args__ = (
        Index("ix_tb_entries_account", "account_id", "id"),  # a member's history, newest first, from the index
        CheckConstraint("amount != 0", name="amount"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_transactions.id"), index=True)
    account_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_accounts.id"))
    amount: Mapped[int] = mapped_column(Integer)  # quarters; positive = credit
    balance_after: Mapped[int] = mapped_column(Integer)  # the account's balance once this entry applied
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TimeBankPost(Base):
    __tablename__ = "tb_posts"
    __table_args__ = (
        Index("ix_tb_posts_browse", "space_id", "kind", "status", "category", "created_at"),
        Index("ix_tb_posts_user", "user_id"),
        one_of("kind", "offer", "request"),
        one_of("status", "pending", "open", "closed", "rejected"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(8))
    category: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(String(300))
    availability: Mapped[str] = mapped_column(String(200), default="")
    languages: Mapped[str] = mapped_column(String(64), default="")
    photo_file_id: Mapped[str | None] = mapped_column(String(256))
    estate_id: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    decided_by: Mapped[int | None] = mapped_column(BigInteger)
    answered_at: Mapped[datetime | None] = mapped_column(UtcDateTime)  # the first "I can help" / "interested"


class TimeBankContact(Base):
    """A member answering a post: asked → accepted (both agreed to talk) | declined → ended | reported."""

    __tablename__ = "tb_contacts"
    __table_args__ = (
        Index("uq_tb_contacts_one_open", "post_id", "asker_id", unique=True,
              sqlite_where=_OPEN_CONTACT, postgresql_where=_OPEN_CONTACT),
        Index("ix_tb_contacts_asker", "asker_id"),
        Index("ix_tb_contacts_poster", "poster_id"),
        one_of("status", "asked", "accepted", "declined", "ended", "reported"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    post_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_posts.id", ondelete="CASCADE"))
    asker_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    poster_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    ended_by: Mapped[int | None] = mapped_column(BigInteger)


class TimeBankMessage(Base):
    """A message relayed between two members (kept for abuse reports: QC_RETAIN_TIMEBANK_MESSAGES_DAYS)."""

    __tablename__ = "tb_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    contact_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_contacts.id", ondelete="CASCADE"), index=True)
    sender_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TimeBankExchange(Base):
    """What two members agreed to do: agreed → done (hours moved) | cancelled; done → reversed by an operator."""

    __tablename__ = "tb_exchanges"
    __table_args__ = (
        Index("ix_tb_exchanges_giver", "giver_id"),
        Index("ix_tb_exchanges_receiver", "receiver_id"),
        Index("ix_tb_exchanges_space_done", "space_id", "done_at"),
        one_of("status", "agreed", "done", "cancelled", "reversed"),
        CheckConstraint("quarters IS NULL OR quarters > 0", name="quarters"),
        CheckConstraint("giver_id != receiver_id", name="two_people"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    contact_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_contacts.id", ondelete="CASCADE"), unique=True)
    post_id: Mapped[int] = mapped_column(Integer)
    category: Mapped[str] = mapped_column(String(64))
    giver_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    receiver_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    quarters: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    transaction_id: Mapped[int | None] = mapped_column(Integer)


class TimeBankThanks(Base):
    """A thank-you with stars after an exchange: counted in statistics, never shown per person."""

    __tablename__ = "tb_thanks"
    __table_args__ = (
        UniqueConstraint("exchange_id", "user_id", name="uq_tb_thanks_once"),
        CheckConstraint("stars BETWEEN 1 AND 5", name="stars"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    exchange_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_exchanges.id", ondelete="CASCADE"))
    space_id: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"))
    stars: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class TimeBankReport(Base):
    """Abuse in a conversation, or a dispute about an exchange, for the space's operators."""

    __tablename__ = "tb_reports"
    __table_args__ = (
        Index("ix_tb_reports_space_status", "space_id", "status"),
        one_of("kind", "abuse", "dispute"),
        one_of("status", "open", "closed"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(8))
    contact_id: Mapped[int] = mapped_column(Integer, ForeignKey("tb_contacts.id", ondelete="CASCADE"))
    exchange_id: Mapped[int | None] = mapped_column(Integer)
    reporter_id: Mapped[int] = mapped_column(BigInteger, ForeignKey("users.id", ondelete="CASCADE"), index=True)
    reported_id: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(8), default="open")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    closed_by: Mapped[int | None] = mapped_column(BigInteger)


class TimeBankPrompt(Prompt):
    """The text the time bank waits for from this person: a post being written, a message to relay, the reason
    of an adjustment or a reversal. One at a time; in the database so a restart loses nothing."""

    __tablename__ = "tb_prompts"
    __table_args__ = (
        one_of("kind", "post_text", "post_when", "photo", "message", "adjust", "reverse"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    space_id: Mapped[str] = mapped_column(String(64))
    ref: Mapped[int | None] = mapped_column(Integer)  # contact, account or transaction the text is for
    amount: Mapped[int | None] = mapped_column(Integer)  # an adjustment's quarters
    post_kind: Mapped[str | None] = mapped_column(String(8))
    category: Mapped[str | None] = mapped_column(String(64))
    draft_text: Mapped[str | None] = mapped_column(String(300))
