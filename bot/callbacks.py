"""The one vocabulary of callback data.

A button carries the least it needs: a version, an action code and a few ids, never state (that is in the
database). `encode` refuses anything Telegram would refuse (over 64 bytes) or that `decode` could not read back;
`decode` returns None for data that is stale (an older version), foreign or forged, and the caller answers with
a polite note and the current screen. Feature modules add their actions to the sections below.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

VERSION = "1"
SEPARATOR = "|"
MAX_BYTES = 64
ARG_PATTERNS = {
    "id": re.compile(r"^[A-Za-z0-9_.-]{1,40}$"),
    "int": re.compile(r"^-?\d{1,12}$"),
    "word": re.compile(r"^[a-z_]{1,16}$"),
    "stamp": re.compile(r"^\d{12}$"),  # YYYYMMDDHHMM, local time of a slot
    "date": re.compile(r"^\d{8}$"),  # YYYYMMDD
}


@dataclass(frozen=True)
class Action:
    code: str
    args: tuple[str, ...] = ()

    @property
    def prefix(self) -> str:
        return f"{VERSION}{SEPARATOR}{self.code}"


@dataclass(frozen=True)
class Decoded:
    action: Action
    args: tuple[str, ...]

    def int(self, index: int) -> int:
        return int(self.args[index])


ACTIONS: dict[str, Action] = {}


def _define(code: str, *args: str) -> Action:
    if code in ACTIONS:
        raise ValueError(f"callback action code {code!r} defined twice")
    unknown = [a for a in args if a not in ARG_PATTERNS]
    if unknown:
        raise ValueError(f"unknown callback argument kind(s) {unknown}")
    ACTIONS[code] = action = Action(code, args)
    return action


# --- navigation and languages (foundation)
MENU = _define("m")
CONSENT = _define("ok")
LANGUAGES = _define("lm")
SET_LANGUAGE = _define("ls", "word")
SPACES = _define("sl", "int")  # page
SPACE = _define("s", "id")
SPACE_MAP = _define("sm", "id")
SPACE_SERVICES = _define("ss", "id", "int")  # space, page
SERVICE = _define("sv", "id")
HELP = _define("h", "int")  # FAQ page
FAQ = _define("f", "id")
CONTACTS = _define("c")
NEAREST = _define("nr")  # explains how to share a location
PRIVACY = _define("pv")

# --- entry points of the main menu owned by later features
BOOK = _define("b")
REPORT = _define("r")
FEEDBACK = _define("fb")
STAFF = _define("st")

# --- roles and invites
INVITE_ROLE = _define("ir", "word")  # pick a role to invite
INVITE_SCOPE = _define("is", "word", "id")  # role, estate or space
ROLES_LIST = _define("rl", "int")
ROLE_REVOKE = _define("rr", "int")


def encode(action: Action, *args: object) -> str:
    if len(args) != len(action.args):
        raise ValueError(f"callback {action.code!r} takes {len(action.args)} argument(s), got {len(args)}")
    parts = [VERSION, action.code]
    for kind, value in zip(action.args, args, strict=True):
        text = str(value)
        if not ARG_PATTERNS[kind].match(text):
            raise ValueError(f"callback {action.code!r}: {text!r} is not a valid {kind}")
        parts.append(text)
    data = SEPARATOR.join(parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"callback data {data!r} is over {MAX_BYTES} bytes")
    return data


def decode(data: object) -> Decoded | None:
    if not isinstance(data, str) or len(data.encode()) > MAX_BYTES:
        return None
    parts = data.split(SEPARATOR)
    if len(parts) < 2 or parts[0] != VERSION:
        return None
    action = ACTIONS.get(parts[1])
    args = tuple(parts[2:])
    if action is None or len(args) != len(action.args):
        return None
    if not all(ARG_PATTERNS[kind].match(value) for kind, value in zip(action.args, args, strict=True)):
        return None
    return Decoded(action, args)


def matches(action: Action) -> Callable[[object], bool]:
    """A pattern for PTB's CallbackQueryHandler: only well-formed data of this action reaches the handler."""

    def check(data: object) -> bool:
        decoded = decode(data)
        return decoded is not None and decoded.action is action

    return check
