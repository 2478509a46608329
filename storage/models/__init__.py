"""All tables. Each aggregate keeps its tables in its own module; importing this package registers them all."""

from storage.models.base import Base
from storage.models.bookings import Booking, BookingContact, BookingPrompt, BookingQuota, SlotCounter, WaitlistEntry
from storage.models.core import Invite, OutboxMessage, RoleGrant, User
from storage.models.feedback import CommitteeDigest, Feedback, FeedbackDraft, FeedbackPrompt
from storage.models.tickets import (
    ReportDraft, Ticket, TicketCounter, TicketDigest, TicketEvent, TicketMedia, TicketPrompt, TicketSubscriber,
)
from storage.models.neighbourhood import (
    AnnouncedItem, Broadcast, BroadcastRecipient, Follow, JobInterest, NoticePrompt, TenantHome,
)
from storage.models.user_changes import UserChange

__all__ = [
    "Base", "Booking", "BookingContact", "BookingPrompt", "BookingQuota", "SlotCounter", "WaitlistEntry",
    "Invite", "OutboxMessage", "RoleGrant", "User",
    "CommitteeDigest", "Feedback", "FeedbackDraft", "FeedbackPrompt",
    "ReportDraft", "Ticket", "TicketCounter", "TicketDigest", "TicketEvent", "TicketMedia", "TicketPrompt",
    "TicketSubscriber",
    "UserChange",
    "AnnouncedItem", "Broadcast", "BroadcastRecipient", "Follow", "JobInterest", "NoticePrompt", "TenantHome",
]
