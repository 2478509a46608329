"""All tables. Each aggregate keeps its tables in its own module; importing this package registers them all."""

from storage.models.base import Base
from storage.models.bookings import Booking, BookingContact, BookingPrompt, BookingQuota, SlotCounter, WaitlistEntry
from storage.models.core import Invite, OutboxMessage, RoleGrant, User
from storage.models.privacy import AuditRecord
from storage.models.inbox import InboxUpdate
from storage.models.leases import Lease
from storage.models.feedback import CommitteeDigest, Feedback, FeedbackDraft, FeedbackPrompt
from storage.models.guides import GuidePrompt, GuideQuestion, GuideRun, GuideStuck
from storage.models.limits import DailyUsage
from storage.models.timebank import (
    LedgerEntry, LedgerTransaction, TimeBankAccount, TimeBankContact, TimeBankExchange, TimeBankMessage, TimeBankPost,
    TimeBankPrompt, TimeBankReport, TimeBankThanks,
)
from storage.models.tickets import (
    ReportDraft, Ticket, TicketCounter, TicketDigest, TicketEvent, TicketMedia, TicketPrompt, TicketSubscriber,
)
from storage.models.neighbourhood import (
    AnnouncedItem, Broadcast, BroadcastRecipient, Follow, JobInterest, NoticePrompt, TenantHome,
)
from storage.models.user_changes import UserChange
from storage.models.interest_phone import InterestPhonePrompt

__all__ = [
    "AuditRecord",
    "Base", "Booking", "BookingContact", "BookingPrompt", "BookingQuota", "SlotCounter", "WaitlistEntry",
    "Invite", "OutboxMessage", "RoleGrant", "User",
    "InboxUpdate",
    "Lease",
    "CommitteeDigest", "Feedback", "FeedbackDraft", "FeedbackPrompt",
    "GuidePrompt", "GuideQuestion", "GuideRun", "GuideStuck",
    "DailyUsage",
    "ReportDraft", "Ticket", "TicketCounter", "TicketDigest", "TicketEvent", "TicketMedia", "TicketPrompt",
    "TicketSubscriber",
    "UserChange",
    "LedgerEntry", "LedgerTransaction", "TimeBankAccount", "TimeBankContact", "TimeBankExchange", "TimeBankMessage",
    "TimeBankPost", "TimeBankPrompt", "TimeBankReport", "TimeBankThanks",
    "AnnouncedItem", "Broadcast", "BroadcastRecipient", "Follow", "JobInterest", "NoticePrompt", "TenantHome",
    "InterestPhonePrompt",
]
