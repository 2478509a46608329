"""The one vocabulary of callback data.

A button carries the least it needs: a version, an action code and a few ids, never state (that is in the
database). `encode` refuses anything Telegram would refuse (over 64 bytes) or that `decode` could not read back;
`decode` returns None for data that is stale (an older version), foreign or forged, and the caller answers with
a polite note and the current screen. Feature modules add their actions to the sections below.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

VERSION = "1"
SEPARATOR = "|"
MAX_BYTES = 64
ARG_PATTERNS = {
    "id": re.compile(r"^[A-Za-z0-9_.-]{1,40}$"),
    "int": re.compile(r"^-?\d{1,12}$"),
    "word": re.compile(r"^[a-z_]{1,16}$"),
    "stamp": re.compile(r"^\d{12}$"),  # YYYYMMDDHHMM, local time of a slot
    "date": re.compile(r"^\d{8}$"),  # YYYYMMDD
    "small": re.compile(r"^\d{1,3}$"),  # a position in a short list (0-999): leaves room beside a 40-byte id
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

# --- booking (BOOK above is the main menu entry: spaces with bookable services)
BOOK_SPACE = _define("bs", "id")  # space: its bookable services
BOOK_DAYS = _define("bd", "id", "int")  # service, page of days
BOOK_TIMES = _define("bt", "id", "date")  # service, local day
BOOK_SLOT = _define("bk", "id", "stamp")  # service, slot: the summary to confirm (or the phone question)
BOOK_CONFIRM = _define("bc", "id", "stamp")
BOOK_PHONE = _define("bp", "id", "stamp")  # give another phone number for this slot
MY_BOOKINGS = _define("bm")
BOOKING = _define("bv", "int")  # booking id
BOOKING_CANCEL_ASK = _define("bx", "int")
BOOKING_CANCEL = _define("by", "int")
WAITLIST_DAYS = _define("wd", "id")  # service: the full days, whose times lead to the waitlist
WAITLIST_JOIN = _define("wj", "id", "stamp")
WAITLIST_ENTRY = _define("wv", "int")  # entry id
WAITLIST_LEAVE = _define("wl", "int")  # also declines an offer
WAITLIST_ACCEPT = _define("wa", "int")
AGENDA = _define("ga", "int", "int")  # days from today (0 today, 1 tomorrow), page
AGENDA_BOOKING = _define("gb", "int")
AGENDA_MARK = _define("gm", "int", "word")  # booking, attended | no_show
AGENDA_CANCEL = _define("gc", "int")  # choose a reason
AGENDA_CANCEL_REASON = _define("gr", "int", "word")  # booking, reason key (or "other": type one)

# --- reports (REPORT above is the main menu entry: new report, or continue the draft)
REPORT_NEW = _define("rn")  # drop any draft and start again
REPORT_CONTINUE = _define("rc")
REPORT_DISCARD = _define("rx")
REPORT_ON_BEHALF = _define("rob")  # staff: a report for a tenant without Telegram
REPORT_CATEGORY = _define("rk", "id")  # problem category (emergencies show 112 first)
REPORT_EMERGENCY_FILE = _define("re", "id")  # after the emergency numbers: file the report anyway
REPORT_ESTATE = _define("ra", "id")
REPORT_ESTATE_LIST = _define("ral", "int")  # page
REPORT_LOCATION = _define("rlo")  # ask for the location, to list the nearest estates
REPORT_SAME_PLACE = _define("rsp")  # the place of the tenant's last report, all of it in one tap
REPORT_BUILDING = _define("rb", "int")  # index of building/staircase in the estate, -1 = don't know
REPORT_FLOOR = _define("rf", "int")  # floor, or NO_FLOOR
REPORT_AREA = _define("rar", "word")  # flat | common
REPORT_FLAT_SKIP = _define("rfs")
REPORT_ANSWER = _define("rq", "int", "word")  # question index, yes | no | unknown
REPORT_PHOTOS_DONE = _define("rpd")
REPORT_EDIT = _define("red", "word")  # part of the report to change from the review
REPORT_SEND = _define("rs")  # check for duplicates, then send
REPORT_SEND_ANYWAY = _define("rsa")  # not one of the suggested duplicates
REPORT_ME_TOO = _define("rm", "int")  # ticket id
MY_REPORTS = _define("rmy", "int")  # page
REPORT_VIEW = _define("rv", "int")
REPORT_COMMENT = _define("rco", "int")
REPORT_CONFIRM = _define("rok", "int")
REPORT_REOPEN = _define("rro", "int")
REPORT_RATE = _define("rst", "int", "int")  # ticket, stars
TICKETS_OPEN = _define("to", "int")  # staff: open tickets of their estates, page
TICKET_STAFF_VIEW = _define("tv", "int")
TICKET_ACK = _define("ta", "int")
TICKET_START = _define("tp", "int")
TICKET_RESOLVE = _define("tr", "int")
TICKET_REJECT = _define("tx", "int")  # choose a reason
TICKET_REJECT_REASON = _define("ty", "int", "word")  # ticket, reason key (or "other": type one)
TICKET_NOTE = _define("tn", "int")


# --- feedback (FEEDBACK above is the main menu entry) and statistics
FEEDBACK_SPACES = _define("fs", "word")  # kind (rating | suggestion | complaint): pick a space
FEEDBACK_SPACE = _define("fp", "word", "id")  # kind, space: its services to rate, or the text to write
FEEDBACK_RATE_SPACE = _define("frs", "id")  # space as a whole: the stars
FEEDBACK_RATE_SERVICE = _define("frv", "id")  # service: the stars
FEEDBACK_STARS = _define("fst", "int")  # stars for the draft being written
FEEDBACK_ANONYMOUS = _define("fan")  # toggle anonymity of the draft
FEEDBACK_SEND = _define("fse")
FEEDBACK_DISCARD = _define("fdx")
FEEDBACK_PROMPTS = _define("fpr", "word")  # on | off: questions after appointments and fixes
BOOKING_STARS = _define("fbs", "int", "int")  # booking, stars (the prompt after an attended booking)
BOOKING_COMMENT = _define("fbc", "int")  # booking: the next message is a comment on its rating
STATS = _define("sx")  # pick a period
STATS_MONTHS = _define("sxl")  # pick a month
STATS_SHOW = _define("sxs", "word", "int")  # period (week | days | month | custom), YYYYMM for custom else 0
STATS_CHART = _define("sxc", "word", "int")
STATS_EXPORT = _define("sxe", "word", "word", "int")  # what (bookings | tickets | feedback), period, YYYYMM

# --- privacy rights (handlers/privacy.py); PRIVACY above is the notice
MY_DATA = _define("pd")  # what is stored about me
MY_DATA_DOWNLOAD = _define("pdd")  # a copy as two documents (JSON and text)
FORGET_ASK = _define("pfa")  # first tap: what forgetting does
FORGET_CONFIRM = _define("pfc")  # second tap: forget me
AUDIT_LIST = _define("pal", "int")  # admins: who read or exported personal data, page
# --- guides to digital services (handlers/guides.py): guide id and 1-based step; the run is the presser's own
GUIDES = _define("gdl")  # Help with online services: the guides, "Continue" first
GUIDE = _define("gdo", "id")  # a guide's opening screen: who for, what you need, how long
GUIDE_START = _define("gds", "id")  # first step (also "Start again")
GUIDE_RESUME = _define("gdr", "id")  # where the tenant stopped
GUIDE_STEP = _define("gdp", "id", "int")  # show this step (back from "I'm stuck", an operator's answer)
GUIDE_NEXT = _define("gdn", "id", "int")  # this step is done
GUIDE_BACK = _define("gdb", "id", "int")  # the step before this one
GUIDE_STUCK = _define("gdk", "id", "int")  # I'm stuck here: tips, help desk, question
GUIDE_DESK = _define("gdd", "id", "int")  # book the digital help desk for this step
GUIDE_DESK_SERVICE = _define("gdv", "id")  # help desk chosen among several, for the step just marked "stuck"
GUIDE_ASK = _define("gda", "id", "int")  # ask the operators a question about this step
GUIDE_ASK_SPACE = _define("gdq", "id")  # space whose operators get the question being written
GUIDE_WORKED = _define("gdw", "int", "word")  # run, yes | no
GUIDE_REPLY = _define("gdy", "int")  # staff: answer this question (the next text message)
# --- time bank (storage/domain/timebank.py): members, posts, conversations, exchanges; operators keep the bank
TIMEBANKS = _define("kl0")  # the banks: the visitor's first
TB_HOME = _define("k", "id")  # space
TB_JOIN = _define("kj", "id", "small")  # space, its estate's position + 1 (0: another): accepts the rules, joins
TB_CATEGORIES = _define("kc", "id", "word")  # space, offer | request: pick a category to browse
# space, kind (0 offer, 1 request), category position + 1 (0 all), language position + 1 (0 all), page
TB_BROWSE = _define("kb", "id", "small", "small", "small", "small")
TB_POST = _define("kp", "int")
TB_POST_PHOTO_SHOW = _define("kpv", "int")
TB_POST_PHOTO = _define("kpf", "int")  # the next photo goes on the post
TB_POST_RENEW = _define("kpr", "int")
TB_POST_CLOSE = _define("kpc", "int")
TB_NEW = _define("ko", "id", "word")  # space, kind: pick a category
TB_NEW_CATEGORY = _define("koc", "id", "small", "small")  # space, kind (0 offer, 1 request), category position
TB_SKIP_WHEN = _define("kos")  # publish without saying when one is free
TB_MINE = _define("km", "id")  # space: my posts, conversations, exchanges
TB_ASK = _define("ka", "int")  # post: "I can help" / "I'm interested"
TB_ANSWER = _define("kn", "int", "word")  # contact, yes | no
TB_CONVERSATION = _define("kv", "int")
TB_WRITE = _define("kw", "int")  # the next text goes to the other person
TB_USERNAME = _define("ku", "int")
TB_END = _define("ke", "int")
TB_ABUSE_ASK = _define("kxa", "int")
TB_ABUSE = _define("kx", "int")
TB_AGREE = _define("kg", "int")  # contact: record the exchange
TB_EXCHANGE = _define("kz", "int")
TB_HOURS = _define("kh", "int")  # exchange: pick the hours
TB_CONFIRM = _define("kk", "int", "int")  # exchange, quarters of an hour
TB_EXCHANGE_CANCEL = _define("kq", "int")
TB_THANK = _define("kt", "int", "int")  # exchange, stars
TB_DISPUTE = _define("kd", "int")
TB_LEDGER = _define("kle", "id", "int")  # space, older than this entry (0: newest)
TB_STATEMENT = _define("ks", "id", "int")  # space, YYYYMM (0: this month)
TB_DIGEST = _define("kdg", "id", "word")  # space, on | off
TB_LANGUAGES = _define("kla", "id", "small")  # space, a language's position + 1 to switch (0: just show)
TB_KEEPER = _define("ky", "id")  # operators: the bank's desk
TB_MEMBERS = _define("kym", "id", "small", "small")  # space, status position (handlers.timebank), page
TB_MEMBER = _define("kyv", "int")  # account
TB_MEMBER_DO = _define("kyd", "int", "word")  # account, approve | pause | resume | remove
TB_ADJUST = _define("kya", "int", "int")  # account, quarters (signed): then the reason
TB_POST_DECIDE = _define("kyp", "int", "word")  # post, yes | no
TB_REPORT = _define("kyr", "int")
TB_REPORT_CLOSE = _define("kyc", "int")
TB_REVERSE = _define("kyx", "int")  # ledger transaction: then the reason
TB_STATS = _define("kys", "int")  # YYYYMM (0: this month)
TB_EXPORT = _define("kye", "int")  # YYYYMM
# --- what's on, follows, where I live (handlers/whats_on.py); notices and broadcasts (handlers/notices.py)
WHATS_ON = _define("wo")  # the main menu entry: this week near me
WHATS_ON_SPACES = _define("wsp")
WHATS_ON_SPACE = _define("wss", "id")
WHATS_ON_KIND = _define("wk", "word")  # activities | courses | jobs
WHATS_ON_ITEM = _define("wi", "id")
WHATS_ON_ICS = _define("wic", "id")
COURSE_JOIN = _define("wcj", "id")
COURSE_LEAVE = _define("wcl", "id")
JOB_INTEREST = _define("win", "id")  # what will be shared: choose
JOB_INTEREST_SEND = _define("wis", "id", "word")  # job, name | phone
JOB_INTEREST_TYPE = _define("wit", "id")  # job: the tenant types the phone to share (handlers/interest_phone.py)
FOLLOWS = _define("wfs")
FOLLOW = _define("wf", "word", "id")  # space | kind | digest, ref ("-" for digest)
UNFOLLOW = _define("wu", "word", "id")  # the one tap under every announcement
HOME = _define("hm", "int")  # where I live: estates, page
HOME_ESTATE = _define("he", "id")
HOME_BUILDING = _define("hb", "id", "int")  # estate, index of building/staircase (-1: don't know)
NOTICE_NEW = _define("nn")
NOTICE_AUDIENCES = _define("na", "int")  # notice: who may receive it
NOTICE_EVERYONE = _define("nev", "int")
NOTICE_SPACE = _define("nsp", "int", "id")  # notice, space: its followers
NOTICE_ESTATE = _define("nes", "int", "id")  # notice, estate: the whole estate, then maybe a building or staircase
NOTICE_BUILDING = _define("nb", "int", "int")  # notice, index of building/staircase in the notice's estate
NOTICE_URGENT = _define("nu", "int")  # toggle
NOTICE_EXPIRY = _define("nx", "int", "int")  # notice, hours (0: none)
NOTICE_TRANSLATE = _define("nt", "int", "word")  # notice, language: the next message is its translation
NOTICE_PREVIEW = _define("np", "int")
NOTICE_CONFIRM = _define("nc", "int")
NOTICE_PROGRESS = _define("ng", "int")
NOTICE_STOP = _define("ns", "int")
NOTICE_APPROVE = _define("nok", "int")
NOTICE_REJECT = _define("nno", "int")


# A screen encodes every button it shows, mostly the same ones again: each distinct button is checked once.
@lru_cache(maxsize=8192, typed=True)
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
    return _decode_text(data) if isinstance(data, str) else None


# A press is decoded by the button router (bot.app.Buttons) and again by its handler: decode a string once.
@lru_cache(maxsize=4096)
def _decode_text(data: str) -> Decoded | None:
    if len(data.encode()) > MAX_BYTES:
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
