"""The front desk bot: wiring, configuration, runners and the adapters around the domain."""

import os

# Opt in now to the types python-telegram-bot will use in its next major version (RetryAfter.retry_after as a
# timedelta, among others): our code reads both, and PTB otherwise warns on every 429.
os.environ.setdefault("PTB_TIMEDELTA", "1")
