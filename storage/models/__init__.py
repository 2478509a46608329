"""All tables. Each aggregate keeps its tables in its own module; importing this package registers them all."""

from storage.models.base import Base
from storage.models.core import Invite, OutboxMessage, RoleGrant, User

__all__ = ["Base", "Invite", "OutboxMessage", "RoleGrant", "User"]
