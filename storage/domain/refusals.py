"""The one kind of "no" a domain operation gives: nothing was changed (raised inside the transaction, so leaving
`async with` rolls it back), and `reason` says why, for the handler to put in words (handlers/refusals.py).
Each aggregate names its reasons (storage.domain.tickets.TicketError, storage.domain.bookings.Refused, ...) as a subclass."""

from __future__ import annotations


class Refused(Exception):
    def __init__(self, reason: str, message: str | None = None) -> None:
        super().__init__(str(reason) if message is None else message)
        self.reason = reason
