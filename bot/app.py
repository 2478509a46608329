"""Builds the PTB Application once: request backends, the per-chat processor, every handler in one commented
list, the error handler, and the start/stop of the outbox sender and periodic jobs.

Runners (bot/runners.py) decide how updates arrive (polling, webhook, sandbox); this module does not care.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
import traceback
from collections import OrderedDict, defaultdict
from collections.abc import Awaitable, Callable
from typing import NamedTuple
from functools import lru_cache

from sqlalchemy import Select, bindparam, exists, select
from telegram import LinkPreviewOptions, Update
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import (
    AIORateLimiter,
    Application,
    ApplicationBuilder,
    BaseRateLimiter,
    BaseUpdateProcessor,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    Defaults,
    ExtBot,
    MessageHandler,
    TypeHandler,
    filters,
)

from bot import callbacks, jobs
from bot.i18n import LANGUAGES
from bot.inbox import REPEAT_NOTE, purge_handled
from bot.jobs import STATISTICS_FIRST_WARM_AFTER, PeriodicJob, warm_statistics, watch_content
from bot.outbox_sender import OutboxSender, retry_seconds
from bot.runtime import USER_CHANGES_POLL_SECONDS, WAKES_AFTER_UPDATE, DeferredWakes, FrontDeskContext, Runtime
from bot.telegram_http import TelegramRequest
from bot.ui import Screen, menu_row, show, slim_pressed_message
from bot.webhook_answers import AnswersInResponse
from handlers import admin, directory, fallback, staff, start
from handlers import agenda, booking
from handlers import custodian, reports
from handlers import feedback, stats
from handlers import guides, limits, privacy, timebank, timebank_desk
from handlers import interest_phone, notices, whats_on
from handlers.outgoing import bookings as outgoing_bookings
from handlers.outgoing import tickets as outgoing_tickets
from handlers.outgoing import notices as outgoing_notices
from handlers.outgoing import timebank as outgoing_timebank
from bot.broadcast_sender import BroadcastSender
from storage.domain import bookings as booking_rules
from storage.domain import feedback as feedback_rules
from storage.domain import guides as guide_rules
from storage.domain import outbox, search
from storage.domain import stats as statistics
from storage.domain import tickets as ticket_rules
from storage.models import (
    BookingPrompt, FeedbackDraft, GuidePrompt, InterestPhonePrompt, NoticePrompt, ReportDraft, TicketPrompt, TimeBankPrompt,
)

log = logging.getLogger(__name__)

# A consumer takes a message if a flow is waiting for it (a report's description, a booking's phone number...)
# and returns True; the first that takes it wins, the last is the default use outside any flow.
Consumer = Callable[[Update, FrontDeskContext], Awaitable[bool]]
TEXT_CONSUMERS: list[Consumer] = [
    notices.prompt_text, booking.phone_text, agenda.reason_text, custodian.prompt_text, feedback.comment_text,
    reports.draft_text, guides.prompt_text, timebank.prompt_text, interest_phone.phone_text, directory.search_text,
]
LOCATION_CONSUMERS: list[Consumer] = [reports.draft_location, directory.location_nearest]
MEDIA_CONSUMERS: list[Consumer] = [
    notices.prompt_media, custodian.prompt_media, reports.draft_media, timebank.prompt_photo, fallback.unexpected_message,
]
# A flow keeps what it waits for in a row keyed by user_id. Routing asks once which of these tables hold a row for
# the sender and skips the consumers whose table holds none: free text outside any flow (the usual case) used to
# cost one read per flow before the search. A consumer not listed here always runs.
WAITS_IN_TABLE: dict[Consumer, type] = {
    booking.phone_text: BookingPrompt, agenda.reason_text: BookingPrompt,
    custodian.prompt_text: TicketPrompt, custodian.prompt_media: TicketPrompt,
    feedback.comment_text: FeedbackDraft,
    notices.prompt_text: NoticePrompt, notices.prompt_media: NoticePrompt,
    reports.draft_text: ReportDraft, reports.draft_location: ReportDraft, reports.draft_media: ReportDraft,
    guides.prompt_text: GuidePrompt,
    timebank.prompt_text: TimeBankPrompt, timebank.prompt_photo: TimeBankPrompt,
    interest_phone.phone_text: InterestPhonePrompt,
}
# /cancel asks each flow to drop its draft; each returns True if it had one.
CancelHook = Callable[[Runtime, int], Awaitable[bool]]
CANCEL_HOOKS: list[CancelHook] = [
    booking.forget_prompt, reports.cancel_draft, custodian.drop_prompt, feedback.drop_draft, guides.drop_prompt,
    timebank.drop_prompt, notices.drop_prompt, interest_phone.drop_prompt,
]

# What features add to each other, registered here and nowhere else (wire(), never at import), so this module is
# the one that knows everything. Order matters where a screen shows them in turn.
# Buttons under a service's screen: book it, rate it (handlers/directory.py shows each hook's row).
SERVICE_BUTTONS = [booking.book_button, feedback.rate_button]
# Buttons under a space's screen: its time bank.
SPACE_BUTTONS = [timebank.space_button]
# Search results of kinds handlers/directory.py does not know (guides), and extra rows of results (time bank posts).
SEARCH_BUTTONS = [guides.search_button]
SEARCH_HOOKS = [timebank.search_rows]
# Sections of the statistics screen beyond the core ones (the guides' figures)...
STATISTICS_SECTIONS = [guides.stats_section]
# ...and what the cached summary counts for them (storage/domain/stats.py SUMMARY_EXTRAS, kept warm with the rest).
SUMMARY_EXTRAS = {"guides": guide_rules.figures_for_summary}
# The time bank's keeper answers in writing: which screen takes the text (handlers/timebank.py DESK_PROMPTS).
DESK_PROMPTS = {"adjust": timebank_desk.adjust_prompt, "reverse": timebank_desk.reverse_prompt}
# Domain hooks, called inside the transaction that did the thing: an attended booking and a confirmed fix ask
# "how was it?" tomorrow; a booking made from "I'm stuck" carries the guide's step.
BOOKING_FEEDBACK_HOOKS = [feedback_rules.prompt_after_booking]
TICKET_FEEDBACK_HOOKS = [feedback_rules.prompt_after_fix]
BOOKED_HOOKS = [guide_rules.attach_booking]
# Outbox guards: checked just before a row leaves; False drops it (a reminder of a cancelled booking...).
OUTBOX_GUARDS = {**booking_rules.OUTBOX_GUARDS, **feedback_rules.OUTBOX_GUARDS}

# Periodic jobs (bot/jobs.py schedules them). Each reads its state from the database, so a restart simply runs it
# again at the next tick.
PERIODIC_JOBS: list[PeriodicJob] = [
    # Every instance: each process reloads its own copy of the content when an editor saves a file.
    PeriodicJob("content-watcher", 5.0, watch_content, every_instance=True),
    # Every instance: roles changed on any instance (an admin revoked one) stop working in this process's user
    # cache within two seconds: one indexed read.
    PeriodicJob("user-changes", USER_CHANGES_POLL_SECONDS, Runtime.drop_changed_users, first_after=0.0,
                every_instance=True),
    # Waitlist offers not confirmed in time pass to the next tenant in line (reminders need no job: outbox rows).
    PeriodicJob("waitlist-offers", 60.0, outgoing_bookings.expire_waitlist_offers),
    # Reports: escalate tickets nobody took in charge, send each custodian's daily digest, close resolved tickets
    # nobody reopened within 14 days.
    PeriodicJob("ticket-escalations", 60.0, outgoing_tickets.escalate_overdue),
    PeriodicJob("ticket-digests", 60.0, outgoing_tickets.send_digests),
    PeriodicJob("ticket-closing", 600.0, outgoing_tickets.close_resolved),
    # Feedback: questions after attended bookings and confirmed fixes (at most one a day per tenant); committees'
    # monthly digest, once per member and month.
    PeriodicJob("feedback-prompts", 60.0, feedback.send_prompts),
    PeriodicJob("committee-digests", 600.0, stats.send_committee_digests),
    # Inbox: updates handled more than a day ago are deleted (bot/inbox.py).
    PeriodicJob("inbox-purge", 3600.0, purge_handled),
    # Statistics: the summaries read lately, and the whole city's this month, counted again every minute; the
    # first time right after a start, so that an admin's first look is already warm.
    PeriodicJob("statistics-warm", 60.0, warm_statistics, first_after=STATISTICS_FIRST_WARM_AFTER),
    # Privacy: once a night after QC_PURGE_TIME, what has been kept as long as the retention settings say is
    # purged (storage/domain/privacy.py), in short transactions; checked every ten minutes.
    PeriodicJob("privacy-purge", 600.0, privacy.nightly_purge),
    # Time bank: the weekly "new offers near you" for members who asked (one per member and week, through the
    # outbox). Its retention is the privacy purge's, like every source's (storage/personal_data/timebank.py).
    PeriodicJob("timebank-digests", 600.0, outgoing_timebank.send_digests),
    # Neighbourhood life: new items of the programme to their followers (once), the Monday digest.
    PeriodicJob("whats-on-announce", 60.0, outgoing_notices.announce_new_items, first_after=1.0),
    PeriodicJob("whats-on-digest", 600.0, outgoing_notices.weekly_digest),
]


def _fill(registry: list, items: list) -> None:
    registry[:] = items  # in place: the modules hold the list object; calling wire() again changes nothing


def wire() -> None:
    """Hand each module what the others add to it (the lists above). build_application calls it; so do the tests
    that exercise the domain without an Application (tests/conftest.py)."""
    _fill(directory.SERVICE_BUTTONS, SERVICE_BUTTONS)
    _fill(directory.SPACE_BUTTONS, SPACE_BUTTONS)
    _fill(directory.SEARCH_BUTTONS, SEARCH_BUTTONS)
    _fill(directory.SEARCH_HOOKS, SEARCH_HOOKS)
    _fill(stats.EXTRA_SECTIONS, STATISTICS_SECTIONS)
    statistics.SUMMARY_EXTRAS.update(SUMMARY_EXTRAS)
    timebank.DESK_PROMPTS.update(DESK_PROMPTS)
    _fill(booking_rules.FEEDBACK_HOOKS, BOOKING_FEEDBACK_HOOKS)
    _fill(ticket_rules.FEEDBACK_HOOKS, TICKET_FEEDBACK_HOOKS)
    _fill(booking_rules.BOOKED_HOOKS, BOOKED_HOOKS)
    for kind, guard in OUTBOX_GUARDS.items():
        outbox.register_guard(kind, guard)


# The error handler asks about the update it is handling, seconds after the answer: ids are kept a minute (a cache
# that reaches its size within a minute, ~500 ids for four tenants pressing twice a second, instead of growing for
# half an hour towards 10,000), and at most ANSWERED_KEPT under any load. One forgotten too early only makes the
# error handler try a second answer, which Telegram refuses and the handler logs.
ANSWERED_KEPT_SECONDS = 60.0
ANSWERED_KEPT = 10_000


class FrontDeskBot(ExtBot):
    """Remembers which callback queries were answered, so the error handler answers only those left hanging
    (Telegram refuses a second answer). In webhook mode an answer may go in the webhook's response instead of a
    call (bot/webhook_answers.py)."""

    def __init__(self, *args, **kwargs) -> None:  # type: ignore[no-untyped-def]
        super().__init__(*args, **kwargs)
        self._answered: OrderedDict[str, float] = OrderedDict()  # id -> when answered (monotonic), oldest first
        self._answers_in_response: AnswersInResponse | None = None

    def answer_in_webhook_responses(self, answers: AnswersInResponse) -> None:
        self._answers_in_response = answers

    def was_answered(self, callback_query_id: str) -> bool:
        return callback_query_id in self._answered

    async def answer_callback_query(self, callback_query_id: str, *args, **kwargs):  # type: ignore[no-untyped-def]
        in_response = self._answers_in_response
        if in_response is not None and in_response.give(callback_query_id, args, kwargs):
            result = True
        else:
            result = await super().answer_callback_query(callback_query_id, *args, **kwargs)
        now = time.monotonic()
        self._answered[callback_query_id] = now
        answered = self._answered
        while len(answered) > ANSWERED_KEPT or next(iter(answered.values())) < now - ANSWERED_KEPT_SECONDS:
            answered.popitem(last=False)
        return result


# The chat whose update this task is handling; replies to it are not paced bot-wide (RepliesFirstRateLimiter).
_replying_to: contextvars.ContextVar[int | None] = contextvars.ContextVar("replying_to", default=None)


class RepliesFirstRateLimiter(BaseRateLimiter[int]):
    """Telegram's ~30 messages a second is for messages a bot sends on its own (alerts, reminders, digests): those
    stay paced. Answering the person whose update is being handled is paced by that person, so it skips the
    bot-wide pacing (a single 30/s queue made every tenant wait behind every other). Both honour 429 retry_after
    and the per-group limit."""

    def __init__(self, max_retries: int = 2) -> None:
        # Messages the bot sends on its own come from the outbox, which reschedules a 429 itself: a limiter that
        # slept through retry_after could outlast the row's lease and let another sender deliver it again.
        self._paced = AIORateLimiter(max_retries=0)
        self._replies = AIORateLimiter(overall_max_rate=0, max_retries=max_retries)
        self._max_retries = max_retries

    async def initialize(self) -> None:
        await self._paced.initialize()
        await self._replies.initialize()

    async def shutdown(self) -> None:
        await self._paced.shutdown()
        await self._replies.shutdown()

    async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):  # type: ignore[no-untyped-def]
        chat_id = data.get("chat_id")
        replying = _replying_to.get()
        if replying is None:  # the outbox and jobs: their callers retry (the outbox with its lease and backoff)
            return await self._paced.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        note = REPEAT_NOTE.get()
        if note is not None and chat_id == replying:
            note.add_to(endpoint, data)
        if replying > 0 and (chat_id == replying or endpoint == "answerCallbackQuery"):
            return await _answering(endpoint, lambda: self._private_reply(callback, args, kwargs))
        limiter = self._replies if chat_id is not None and chat_id == replying else self._paced
        return await _answering(
            endpoint, lambda: limiter.process_request(callback, args, kwargs, endpoint, data, rate_limit_args)
        )

    async def _private_reply(self, callback, args, kwargs):  # type: ignore[no-untyped-def]
        # A reply in a private chat (or the answer to a pressed button, which has no chat_id) has no pacing to
        # apply, only 429 retries: done here in a loop, because AIORateLimiter's layers around every request were
        # ~1/8 of the cost of each of the two calls most updates make. Group replies keep its per-group limit.
        retries = 0
        while True:
            try:
                return await callback(*args, **kwargs)
            except RetryAfter as exc:
                retries += 1
                if retries > self._max_retries:
                    raise
                wait = retry_seconds(exc)
                log.info("429 on a reply: retrying in %s s", wait)
                await asyncio.sleep(wait + 0.1)


# Answering the person: how often a call that Telegram did not carry out (5xx, a broken connection) or whose answer
# was late is tried again. Edits and callback answers can be repeated harmlessly; a new message only when it surely
# did not arrive (failed before Telegram answered, or a 5xx), and once.
ANSWER_RETRY_PAUSES = (0.2, 0.5, 1.0, 2.0)
REPEATABLE = frozenset({"answerCallbackQuery", "editMessageText", "editMessageCaption", "editMessageReplyMarkup",
                        "editMessageMedia", "deleteMessage", "sendChatAction"})


async def _answering(endpoint: str, call: Callable[[], Awaitable]):  # type: ignore[no-untyped-def]
    attempt = 0
    while True:
        try:
            return await call()
        except BadRequest as exc:
            text = str(exc).lower()
            if attempt and "not modified" in text:
                return True  # the earlier attempt went through after all
            if endpoint == "answerCallbackQuery" and ("query is too old" in text or "query id is invalid" in text):
                # Too late to answer (a backlog after a restart) or answered by an earlier attempt: the screen
                # that follows matters more than the little notice.
                log.info("callback query could not be answered: %s", exc)
                return True
            raise
        except TimedOut as exc:
            # Late: it may well have been carried out. Repeating an edit is harmless, a new message is not (unless
            # it never left: no free connection).
            never_sent = "pool timeout" in str(exc).lower()
            if (endpoint not in REPEATABLE and not (never_sent and attempt == 0)) or attempt >= len(ANSWER_RETRY_PAUSES):
                raise
        except NetworkError:  # 5xx, or the connection failed before Telegram answered: not carried out
            if attempt >= (len(ANSWER_RETRY_PAUSES) if endpoint in REPEATABLE else 1):
                raise
        log.info("%s failed; trying again (attempt %d)", endpoint, attempt + 2)
        await asyncio.sleep(ANSWER_RETRY_PAUSES[attempt])
        attempt += 1


class PerChatProcessor(BaseUpdateProcessor):
    """Updates of one chat run in order; different chats run concurrently."""

    def __init__(self, max_concurrent_updates: int = 256) -> None:
        super().__init__(max_concurrent_updates)
        self._locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: dict[int, int] = defaultdict(int)
        # Tests and the sandbox learn here when an update has been fully handled.
        self.on_done: Callable[[object], None] | None = None
        # The inbox marks the update handled (bot/inbox.py), inside the chat's turn: the next waits for the mark.
        self.on_handled: Callable[[Update], Awaitable[None]] | None = None
        # With several instances, the inbox waits here until older updates of the chat that reached another
        # instance are handled (bot/inbox.py); outside the chat's lock, so that leftovers taken over can run.
        self.before_turn: Callable[[Update], Awaitable[None]] | None = None

    async def do_process_update(self, update: object, coroutine: Awaitable) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        wakes = DeferredWakes()
        wakes_token = WAKES_AFTER_UPDATE.set(wakes)
        try:
            if chat is None:
                await coroutine
                await self._mark_handled(update)
                return
            key = chat.id
            self._waiting[key] += 1
            replying = _replying_to.set(key)
            try:
                if self.before_turn is not None:
                    await self.before_turn(update)
                async with self._locks[key]:
                    await coroutine
                    await self._mark_handled(update)
            finally:
                _replying_to.reset(replying)
                self._waiting[key] -= 1
                if self._waiting[key] == 0:  # forget idle chats so memory stays flat with 47k tenants
                    del self._waiting[key]
                    self._locks.pop(key, None)
        finally:
            WAKES_AFTER_UPDATE.reset(wakes_token)
            wakes.wake_all()
            if self.on_done is not None:
                self.on_done(update)

    async def _mark_handled(self, update: object) -> None:
        if self.on_handled is not None and isinstance(update, Update):
            try:
                await self.on_handled(update)
            except Exception:  # the database failed: the update is handled again after a restart (at least once)
                log.exception("could not mark update %s handled", update.update_id)

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass


@lru_cache(maxsize=16)
def _rows_waiting_query(tables: tuple[type, ...]) -> Select:
    # Built once per list of tables with the user as a parameter: building it for every message, and SQLAlchemy
    # working out its cache key again, was ~5 % of the CPU of a search.
    user_id = bindparam("user_id")
    return select(*(exists().where(table.user_id == user_id) for table in tables))


async def _tables_with_row(rt: Runtime, user_id: int, tables: tuple[type, ...]) -> set[type]:
    # On Database.read_now: every private text, photo and location asks this; in a session it cost ~400-600 µs of
    # CPU (SQLite micro-benchmark), here ~150 µs.
    query = _rows_waiting_query(tables)
    found = await rt.db.read_now(lambda connection: connection.execute(query, {"user_id": user_id}).one())
    return {table for table, present in zip(tables, found, strict=True) if present}


async def _route(consumers: list[Consumer], update: Update, context: FrontDeskContext) -> None:
    tables = tuple(dict.fromkeys(WAITS_IN_TABLE[consume] for consume in consumers if consume in WAITS_IN_TABLE))
    waiting = await _tables_with_row(context.rt, update.effective_user.id, tables) if tables else set()
    for consume in consumers:
        table = WAITS_IN_TABLE.get(consume)
        if table is not None and table not in waiting:
            continue
        if await consume(update, context):
            return


async def route_text(update: Update, context: FrontDeskContext) -> None:
    await _route(TEXT_CONSUMERS, update, context)


async def route_location(update: Update, context: FrontDeskContext) -> None:
    await _route(LOCATION_CONSUMERS, update, context)


async def route_media(update: Update, context: FrontDeskContext) -> None:
    await _route(MEDIA_CONSUMERS, update, context)


async def cancel(update: Update, context: FrontDeskContext) -> None:
    rt: Runtime = context.application.bot_data["runtime"]
    v = await context.open()
    dropped = False
    for hook in CANCEL_HOOKS:
        dropped = await hook(rt, v.user_id) or dropped
    text = v.tr._("Fatto: ho annullato quello che stavi facendo.") if dropped else v.tr._("Non c'era niente da annullare.")
    await show(update, Screen(text, [menu_row(v.tr)]))


class Route(NamedTuple):
    """One line of the registration list: the button `action` is handled by `handler`."""

    action: callbacks.Action
    handler: Callable[[Update, FrontDeskContext], Awaitable[None]]


def on(action: callbacks.Action, handler) -> Route:  # type: ignore[no-untyped-def]
    return Route(action, handler)


class Buttons(CallbackQueryHandler):
    """Every route of the registration list as one PTB handler: a press's data is decoded once and its action
    picks the handler from a dict. (A CallbackQueryHandler per action, tried in turn, decoded the same data ~40
    times a press: ~3 % of its CPU.) Data that decodes to no route is left to the stale-button handler."""

    def __init__(self, routes: list[Route]) -> None:
        super().__init__(self._unrouted)
        self.routes: dict[callbacks.Action, Callable] = {}
        for route in routes:
            if route.action in self.routes:
                raise ValueError(f"the button {route.action.code!r} has two handlers")
            self.routes[route.action] = route.handler

    @staticmethod
    async def _unrouted(update: Update, context: FrontDeskContext) -> None:
        raise AssertionError("Buttons.handle_update calls the route's handler")

    def check_update(self, update: object) -> Callable | None:
        if not (isinstance(update, Update) and update.callback_query):
            return None
        decoded = callbacks.decode(update.callback_query.data)
        return self.routes.get(decoded.action) if decoded is not None else None

    async def handle_update(self, update, application, check_result, context):  # type: ignore[no-untyped-def]
        return await check_result(update, context)


def _with_routes_together(handlers: list) -> list:
    """The registration list as PTB runs it: the routes, wherever they are listed, become one Buttons handler in
    the place of the first."""
    routes = [entry for entry in handlers if isinstance(entry, Route)]
    first = next(number for number, entry in enumerate(handlers) if isinstance(entry, Route))
    others = [entry for entry in handlers if not isinstance(entry, Route)]
    return others[:first] + [Buttons(routes)] + others[first:]


def register_handlers(application: Application) -> None:
    private = filters.ChatType.PRIVATE
    handlers = [
        # 1. Groups (the manager's chat): the bot posts alerts there; buttons on them are callbacks (below).
        MessageHandler(filters.ChatType.GROUPS & ~filters.StatusUpdate.ALL, fallback.group_message),
        # 2. Commands.
        CommandHandler("start", start.start_command, filters=private),
        CommandHandler("menu", start.menu, filters=private),
        CommandHandler("language", start.languages, filters=private),
        CommandHandler("help", directory.help_pages, filters=private),
        CommandHandler("privacy", privacy.notice, filters=private),
        CommandHandler("cancel", cancel, filters=private),
        CommandHandler("invite", admin.invite_command, filters=private),
        CommandHandler("reload", admin.reload_content, filters=private),
        CommandHandler("agenda", agenda.agenda, filters=private),
        CommandHandler("stats", stats.stats_menu, filters=private),
        CommandHandler("avviso", notices.notice_new, filters=private),
        # 3. Buttons, by action (bot/callbacks.py is the vocabulary).
        on(callbacks.MENU, start.menu),
        on(callbacks.CONSENT, start.consent),
        on(callbacks.LANGUAGES, start.languages),
        on(callbacks.SET_LANGUAGE, start.set_language),
        on(callbacks.PRIVACY, privacy.notice),
        on(callbacks.MY_DATA, privacy.my_data),
        on(callbacks.MY_DATA_DOWNLOAD, privacy.my_data_download),
        on(callbacks.FORGET_ASK, privacy.forget_ask),
        on(callbacks.FORGET_CONFIRM, privacy.forget_confirm),
        on(callbacks.AUDIT_LIST, privacy.audit_list),
        on(callbacks.SPACES, directory.spaces),
        on(callbacks.SPACE, directory.space),
        on(callbacks.SPACE_SERVICES, directory.space),
        on(callbacks.SPACE_MAP, directory.space_map),
        on(callbacks.SERVICE, directory.service),
        on(callbacks.HELP, directory.help_pages),
        on(callbacks.FAQ, directory.faq),
        on(callbacks.CONTACTS, directory.contacts),
        on(callbacks.NEAREST, directory.nearest_prompt),
        on(callbacks.STAFF, staff.staff_menu),
        on(callbacks.INVITE_ROLE, admin.invite_role),
        on(callbacks.INVITE_SCOPE, admin.invite_scope),
        on(callbacks.ROLES_LIST, admin.roles_list),
        on(callbacks.ROLE_REVOKE, admin.role_revoke),
        on(callbacks.BOOK, booking.book_entry),
        on(callbacks.BOOK_SPACE, booking.book_space),
        on(callbacks.BOOK_DAYS, booking.book_days),
        on(callbacks.BOOK_TIMES, booking.book_times),
        on(callbacks.BOOK_SLOT, booking.book_slot),
        on(callbacks.BOOK_PHONE, booking.book_slot),
        on(callbacks.BOOK_CONFIRM, booking.book_confirm),
        on(callbacks.MY_BOOKINGS, booking.my_bookings),
        on(callbacks.BOOKING, booking.booking_view),
        on(callbacks.BOOKING_CANCEL_ASK, booking.booking_view),
        on(callbacks.BOOKING_CANCEL, booking.booking_cancel),
        on(callbacks.WAITLIST_DAYS, booking.waitlist_days),
        on(callbacks.WAITLIST_JOIN, booking.waitlist_join),
        on(callbacks.WAITLIST_ENTRY, booking.waitlist_entry_view),
        on(callbacks.WAITLIST_LEAVE, booking.waitlist_leave),
        on(callbacks.WAITLIST_ACCEPT, booking.waitlist_accept),
        on(callbacks.AGENDA, agenda.agenda),
        on(callbacks.AGENDA_BOOKING, agenda.agenda_booking),
        on(callbacks.AGENDA_MARK, agenda.agenda_mark),
        on(callbacks.AGENDA_CANCEL, agenda.agenda_cancel),
        on(callbacks.AGENDA_CANCEL_REASON, agenda.agenda_cancel_reason),
        on(callbacks.REPORT, reports.report_entry),
        on(callbacks.REPORT_NEW, reports.report_new),
        on(callbacks.REPORT_CONTINUE, reports.report_continue),
        on(callbacks.REPORT_DISCARD, reports.report_discard),
        on(callbacks.REPORT_ON_BEHALF, reports.report_on_behalf),
        on(callbacks.REPORT_CATEGORY, reports.choose_category),
        on(callbacks.REPORT_EMERGENCY_FILE, reports.choose_category),
        on(callbacks.REPORT_ESTATE, reports.choose_estate),
        on(callbacks.REPORT_ESTATE_LIST, reports.estate_list),
        on(callbacks.REPORT_LOCATION, reports.ask_location),
        on(callbacks.REPORT_SAME_PLACE, reports.choose_same_place),
        on(callbacks.REPORT_BUILDING, reports.choose_building),
        on(callbacks.REPORT_FLOOR, reports.choose_floor),
        on(callbacks.REPORT_AREA, reports.choose_area),
        on(callbacks.REPORT_FLAT_SKIP, reports.skip_flat),
        on(callbacks.REPORT_ANSWER, reports.answer_question),
        on(callbacks.REPORT_PHOTOS_DONE, reports.photos_done),
        on(callbacks.REPORT_EDIT, reports.edit_part),
        on(callbacks.REPORT_SEND, reports.send_report),
        on(callbacks.REPORT_SEND_ANYWAY, reports.send_report),
        on(callbacks.REPORT_ME_TOO, reports.me_too),
        on(callbacks.MY_REPORTS, reports.my_reports),
        on(callbacks.REPORT_VIEW, reports.view_report),
        on(callbacks.REPORT_COMMENT, reports.add_comment),
        on(callbacks.REPORT_CONFIRM, reports.confirm_or_reopen),
        on(callbacks.REPORT_REOPEN, reports.confirm_or_reopen),
        on(callbacks.REPORT_RATE, reports.rate),
        on(callbacks.TICKETS_OPEN, custodian.open_list),
        on(callbacks.TICKET_STAFF_VIEW, custodian.staff_view),
        on(callbacks.TICKET_ACK, custodian.ticket_status),
        on(callbacks.TICKET_START, custodian.ticket_status),
        on(callbacks.TICKET_RESOLVE, custodian.ticket_status),
        on(callbacks.TICKET_REJECT, custodian.ticket_reject),
        on(callbacks.TICKET_REJECT_REASON, custodian.ticket_reject_reason),
        on(callbacks.TICKET_NOTE, custodian.ticket_note),
        on(callbacks.FEEDBACK, feedback.feedback_home),
        on(callbacks.FEEDBACK_SPACES, feedback.feedback_spaces),
        on(callbacks.FEEDBACK_SPACE, feedback.feedback_space),
        on(callbacks.FEEDBACK_RATE_SPACE, feedback.feedback_target),
        on(callbacks.FEEDBACK_RATE_SERVICE, feedback.feedback_target),
        on(callbacks.FEEDBACK_STARS, feedback.feedback_stars),
        on(callbacks.FEEDBACK_ANONYMOUS, feedback.feedback_anonymous),
        on(callbacks.FEEDBACK_SEND, feedback.feedback_send),
        on(callbacks.FEEDBACK_DISCARD, feedback.feedback_discard),
        on(callbacks.FEEDBACK_PROMPTS, feedback.feedback_prompts),
        on(callbacks.BOOKING_STARS, feedback.booking_stars),
        on(callbacks.BOOKING_COMMENT, feedback.booking_comment),
        on(callbacks.STATS, stats.stats_menu),
        on(callbacks.STATS_MONTHS, stats.stats_months),
        on(callbacks.STATS_SHOW, stats.stats_show),
        on(callbacks.STATS_CHART, stats.stats_chart),
        on(callbacks.STATS_EXPORT, stats.stats_export),
        on(callbacks.GUIDES, guides.guides_list),
        on(callbacks.GUIDE, guides.guide_intro),
        on(callbacks.GUIDE_START, guides.guide_move),
        on(callbacks.GUIDE_RESUME, guides.guide_move),
        on(callbacks.GUIDE_STEP, guides.guide_move),
        on(callbacks.GUIDE_NEXT, guides.guide_move),
        on(callbacks.GUIDE_BACK, guides.guide_move),
        on(callbacks.GUIDE_STUCK, guides.guide_stuck),
        on(callbacks.GUIDE_DESK, guides.guide_desk),
        on(callbacks.GUIDE_DESK_SERVICE, guides.guide_desk_service),
        on(callbacks.GUIDE_ASK, guides.guide_ask),
        on(callbacks.GUIDE_ASK_SPACE, guides.guide_ask_space),
        on(callbacks.GUIDE_WORKED, guides.guide_worked),
        on(callbacks.GUIDE_REPLY, guides.guide_reply),
        # Time bank: tenants (join, posts, conversations, exchanges, ledger), then the operators who keep it.
        on(callbacks.TIMEBANKS, timebank.banks_list),
        on(callbacks.TB_HOME, timebank.home),
        on(callbacks.TB_JOIN, timebank.join),
        on(callbacks.TB_CATEGORIES, timebank.categories),
        on(callbacks.TB_BROWSE, timebank.browse),
        on(callbacks.TB_POST, timebank.post_view),
        on(callbacks.TB_POST_PHOTO_SHOW, timebank.post_photo_show),
        on(callbacks.TB_POST_PHOTO, timebank.post_change),
        on(callbacks.TB_POST_RENEW, timebank.post_change),
        on(callbacks.TB_POST_CLOSE, timebank.post_change),
        on(callbacks.TB_NEW, timebank.new_post),
        on(callbacks.TB_NEW_CATEGORY, timebank.new_post_category),
        on(callbacks.TB_SKIP_WHEN, timebank.skip_when),
        on(callbacks.TB_MINE, timebank.mine),
        on(callbacks.TB_ASK, timebank.ask),
        on(callbacks.TB_ANSWER, timebank.answer),
        on(callbacks.TB_CONVERSATION, timebank.conversation),
        on(callbacks.TB_WRITE, timebank.write),
        on(callbacks.TB_USERNAME, timebank.share_username),
        on(callbacks.TB_END, timebank.end),
        on(callbacks.TB_ABUSE_ASK, timebank.abuse_ask),
        on(callbacks.TB_ABUSE, timebank.abuse),
        on(callbacks.TB_AGREE, timebank.agree),
        on(callbacks.TB_EXCHANGE, timebank.exchange_view),
        on(callbacks.TB_HOURS, timebank.hours_pick),
        on(callbacks.TB_CONFIRM, timebank.confirm),
        on(callbacks.TB_EXCHANGE_CANCEL, timebank.exchange_cancel),
        on(callbacks.TB_THANK, timebank.thank),
        on(callbacks.TB_DISPUTE, timebank.dispute),
        on(callbacks.TB_LEDGER, timebank.ledger),
        on(callbacks.TB_STATEMENT, timebank.statement),
        on(callbacks.TB_DIGEST, timebank.digest),
        on(callbacks.TB_LANGUAGES, timebank.languages),
        on(callbacks.TB_KEEPER, timebank_desk.keeper),
        on(callbacks.TB_MEMBERS, timebank_desk.members_list),
        on(callbacks.TB_MEMBER, timebank_desk.member_view),
        on(callbacks.TB_MEMBER_DO, timebank_desk.member_do),
        on(callbacks.TB_ADJUST, timebank_desk.adjust_ask),
        on(callbacks.TB_POST_DECIDE, timebank_desk.post_decide),
        on(callbacks.TB_REPORT, timebank_desk.report_view),
        on(callbacks.TB_REPORT_CLOSE, timebank_desk.report_close),
        on(callbacks.TB_REVERSE, timebank_desk.reverse_ask),
        on(callbacks.TB_STATS, timebank_desk.stats),
        on(callbacks.TB_EXPORT, timebank_desk.export_csv),
        on(callbacks.WHATS_ON, whats_on.whats_on),
        on(callbacks.WHATS_ON_SPACES, whats_on.by_spaces),
        on(callbacks.WHATS_ON_SPACE, whats_on.by_space),
        on(callbacks.WHATS_ON_KIND, whats_on.by_kind),
        on(callbacks.WHATS_ON_ITEM, whats_on.item_view),
        on(callbacks.WHATS_ON_ICS, whats_on.calendar),
        on(callbacks.COURSE_JOIN, whats_on.course_join),
        on(callbacks.COURSE_LEAVE, whats_on.course_leave),
        on(callbacks.JOB_INTEREST, whats_on.job_interest),
        on(callbacks.JOB_INTEREST_SEND, whats_on.job_interest_send),
        on(callbacks.JOB_INTEREST_TYPE, interest_phone.ask),
        on(callbacks.FOLLOWS, whats_on.follows),
        on(callbacks.FOLLOW, whats_on.follow_toggle),
        on(callbacks.UNFOLLOW, whats_on.follow_toggle),
        on(callbacks.HOME, whats_on.home_estates),
        on(callbacks.HOME_ESTATE, whats_on.home_estate),
        on(callbacks.HOME_BUILDING, whats_on.home_place),
        on(callbacks.NOTICE_NEW, notices.notice_new),
        on(callbacks.NOTICE_AUDIENCES, notices.notice_audiences),
        on(callbacks.NOTICE_EVERYONE, notices.notice_audience),
        on(callbacks.NOTICE_SPACE, notices.notice_audience),
        on(callbacks.NOTICE_ESTATE, notices.notice_audience),
        on(callbacks.NOTICE_BUILDING, notices.notice_building),
        on(callbacks.NOTICE_URGENT, notices.notice_urgent),
        on(callbacks.NOTICE_EXPIRY, notices.notice_expiry),
        on(callbacks.NOTICE_TRANSLATE, notices.notice_translate),
        on(callbacks.NOTICE_PREVIEW, notices.notice_preview),
        on(callbacks.NOTICE_CONFIRM, notices.notice_confirm),
        on(callbacks.NOTICE_PROGRESS, notices.notice_progress),
        on(callbacks.NOTICE_STOP, notices.notice_stop),
        on(callbacks.NOTICE_APPROVE, notices.notice_moderate),
        on(callbacks.NOTICE_REJECT, notices.notice_moderate),
        # 4. Anything else pressed: stale, foreign or forged data gets a polite answer and the menu.
        CallbackQueryHandler(fallback.stale_button),
        # 5. Messages in a private chat: flows first, then the default use (search, nearest spaces).
        MessageHandler(private & filters.COMMAND, fallback.unknown_command),
        MessageHandler(private & filters.TEXT, route_text),
        MessageHandler(private & (filters.LOCATION | filters.VENUE), route_location),
        MessageHandler(private & ~filters.StatusUpdate.ALL, route_media),
    ]
    application.add_handlers(_with_routes_together(handlers))
    # 0. Before all of the above, each in a group of its own (PTB runs one handler per group): first a person
    # sending a burst of updates is slowed down (staff exempt); then, until the privacy notice is accepted, only
    # the notice, the languages and the privacy rights answer, anything else shows the welcome (so nothing else
    # is stored).
    application.add_handler(TypeHandler(Update, limits.burst_guard), group=-2)
    application.add_handler(TypeHandler(Update, privacy.consent_gate), group=-1)
    application.add_error_handler(on_error)


async def on_error(update: object, context: FrontDeskContext) -> None:
    """Log the update id and the traceback (never the text: it may hold personal data); tell the user kindly."""
    update_id = update.update_id if isinstance(update, Update) else None
    error = context.error
    trace = "".join(traceback.format_exception(type(error), error, error.__traceback__)) if error else ""
    log.error("update %s failed:\n%s", update_id, trace)
    if not isinstance(update, Update) or update.effective_user is None or update.effective_chat is None:
        return
    if isinstance(error, Forbidden):
        return  # the user blocked the bot: nobody to tell
    query = update.callback_query
    if query is not None and not (isinstance(context.bot, FrontDeskBot) and context.bot.was_answered(query.id)):
        try:
            await query.answer()
        except TelegramError:
            log.info("could not answer callback query of failed update %s", update_id)
    if isinstance(error, TimedOut):
        return  # a message whose answer came late has most likely arrived: an apology would be for nothing
    try:
        v = await context.open()
        await context.bot.send_message(
            update.effective_chat.id,
            v.tr._("Scusa, qualcosa è andato storto. Riprova tra poco."),
            reply_markup=Screen("", [menu_row(v.tr)]).keyboard,
        )
    except Exception:  # the error may be the database or the network itself: logging is all we can do
        log.exception("could not tell user about error in update %s", update_id)


async def on_startup(application: Application) -> None:
    """After initialize(): commands menu per language, the outbox sender, the periodic jobs."""
    rt: Runtime = application.bot_data["runtime"]
    rt.bot_username = application.bot.username
    for language in LANGUAGES:
        await application.bot.set_my_commands(start.commands_for(language), language_code=None if language == "it" else language)
    rt.outbox = OutboxSender(rt.db, application.bot, rt.clock, on_blocked=outgoing_tickets.blocked_handler(rt))
    rt.outbox.start()
    rt.broadcasts = BroadcastSender(rt.db, application.bot, rt.clock, outgoing_notices.renderer(rt), rt.settings.timezone,
                                    rate=rt.settings.broadcast_rate)
    rt.broadcasts.start()
    # Where role changes stand, learnt while the user cache is still empty: the job's first run (which empties the
    # cache, bot.runtime.drop_changed_users) came after the first updates and made every early visitor read again.
    await rt.drop_changed_users()
    jobs.schedule_all(application, PERIODIC_JOBS)
    # The search index now, not during the first tenant's search (~30 ms of CPU that held every other update up),
    # and before the garbage collector freezes what lives as long as the process (bot/runners.py).
    search.prepare_index(rt.content)


async def on_stopped(application: Application) -> None:
    """After the last update in hand: a final flush of the outbox."""
    rt: Runtime = application.bot_data["runtime"]
    if rt.outbox is not None:
        await rt.outbox.stop()
    if rt.broadcasts is not None:
        await rt.broadcasts.stop()


class UpdatesRequest(TelegramRequest):
    """The long poll's connection: updates are slimmed (bot.ui.slim_pressed_message) before PTB parses them."""

    @staticmethod
    def parse_json_payload(payload: bytes) -> dict:
        parsed = TelegramRequest.parse_json_payload(payload)
        if isinstance(parsed.get("result"), list):
            for update in parsed["result"]:
                slim_pressed_message(update)
        return parsed


def build_application(rt: Runtime) -> Application:
    settings = rt.settings
    if not settings.telegram_token:
        raise ValueError("build_application needs a token (the sandbox passes the emulator's)")
    bot = FrontDeskBot(
        settings.telegram_token,
        base_url=settings.api_url,
        base_file_url=settings.file_url,
        request=TelegramRequest(connection_pool_size=256),
        get_updates_request=UpdatesRequest(connection_pool_size=2),
        defaults=Defaults(parse_mode=ParseMode.HTML, link_preview_options=LinkPreviewOptions(is_disabled=True)),
        rate_limiter=RepliesFirstRateLimiter(max_retries=2),
    )
    # No Updater: updates arrive through the inbox (bot/inbox.py), stored before Telegram is told they arrived.
    application = (
        ApplicationBuilder().bot(bot).context_types(ContextTypes(context=FrontDeskContext))
        .concurrent_updates(PerChatProcessor(256)).updater(None).build()
    )
    application.bot_data["runtime"] = rt
    wire()
    register_handlers(application)
    return application
