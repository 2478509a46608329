"""How updates reach the application: long polling or an aiohttp webhook. One `BotService` starts and stops
everything in order, so the CLI, the sandbox, the end-to-end tests and the benchmarks run the same code."""

from __future__ import annotations

import asyncio
import gc
import hmac
import json
import logging
import signal
from collections.abc import Callable
from functools import partial
from typing import NamedTuple
from urllib.parse import urlsplit

import orjson
from aiohttp import web
from aiohttp.abc import AbstractAccessLogger
from telegram.ext import Application

from bot import leases, open311_http
from bot.allocator import give_back_free_heap_pages, keep_large_buffers_out_of_the_heap
from bot.app import build_application, on_startup, on_stopped
from bot.clock import Clock
from bot.config import Settings
from bot.inbox import InboxDispatcher, InboxPoller, instance_name
from bot.leases import LeaseKeeper
from bot.runtime import Runtime
from bot.webhook_answers import JSON_CONTENT_TYPE, AnswersInResponse
from bot.webhook_http import ACCESS_LOG_LINE, WebhookReply, WebhookSite
from storage.content import ContentStore
from storage.db import Database, upgrade

log = logging.getLogger(__name__)
SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
ALLOWED_UPDATES = ["message", "callback_query", "my_chat_member"]
MAX_REQUEST_BYTES = 2 * 1024 * 1024  # a request body the HTTP server reads (an update is a few KB)
# Features add their HTTP endpoints (e.g. Open311) here: functions that add routes to the service's web app.
HTTP_ROUTES: list[Callable[[web.Application, Runtime], None]] = [open311_http.add_routes]


# Paths whose query strings are never written to the access log: Open311 clients send the key as ?api_key=.
UNLOGGED_QUERY_PREFIXES = (open311_http.ROOT,)


class AccessLogger(AbstractAccessLogger):
    """aiohttp's access log line, but with the query string of the APIs that carry keys in it left out."""

    @property
    def enabled(self) -> bool:
        # As aiohttp's own logger: when INFO is off, aiohttp neither times requests nor builds their lines (a
        # webhook POST each press).
        return self.logger.isEnabledFor(logging.INFO)

    def log(self, request: web.BaseRequest, response: web.StreamResponse, time: float) -> None:
        target = request.path if request.path.startswith(UNLOGGED_QUERY_PREFIXES) else request.path_qs
        version = f"HTTP/{request.version.major}.{request.version.minor}"
        self.logger.info(ACCESS_LOG_LINE, request.remote, request.method, target, version, response.status,
                         response.body_length, time)


async def healthz(_request: web.Request) -> web.Response:
    return web.json_response({"ok": True})


class BotService:
    def __init__(self, settings: Settings, *, clock: Clock | None = None, webhook: bool | None = None,
                 durable_inbox: bool = True, answers_in_response: bool = True) -> None:
        self.settings = settings
        self.durable_inbox = durable_inbox  # False only in `qcbot bench load`'s reference run (bot/inbox.py)
        # Webhook mode: button answers in the webhook's response (bot/webhook_answers.py); False only in a reference
        # run of `qcbot bench load`.
        self.answers_in_response = answers_in_response
        self._answers: AnswersInResponse | None = None
        self._taken: list[_TakenUpdate] = []  # webhook updates read in this turn of the loop, stored at the next
        self._storing: set[asyncio.Task] = set()
        self.clock = clock or Clock()
        self.webhook = settings.uses_webhook if webhook is None else webhook
        self.runtime: Runtime | None = None
        self.application: Application | None = None
        self.inbox: InboxDispatcher | None = None
        self._poller: InboxPoller | None = None
        self._site_runner: web.AppRunner | None = None
        self._leases: list[LeaseKeeper] = []

    async def start(self) -> None:
        settings = self.settings
        await upgrade(settings.database_url)
        db = Database(settings.database_url)
        self.runtime = rt = Runtime(settings, db, ContentStore(settings.content_dir), self.clock)
        self.application = application = build_application(rt)  # updates come through the inbox, in both modes
        instance = instance_name(rt, self.webhook)
        # Periodic jobs run in one instance at a time (bot/jobs.py, bot/leases.py); taken before they are scheduled.
        self._leases = [LeaseKeeper(rt, leases.JOBS, instance)]
        application.bot_data["jobs_lease"] = self._leases[0]
        if not self.webhook:
            self._leases.append(LeaseKeeper(rt, leases.POLLING, instance))  # one poller at a time
        for lease in self._leases:
            await lease.start()
        await application.initialize()
        await on_startup(application)
        await application.start()
        self.inbox = InboxDispatcher(application, rt, durable=self.durable_inbox, owner=instance)
        if self.durable_inbox:
            application.update_processor.on_handled = self.inbox.mark_handled
            if not db.is_sqlite:  # several instances may share PostgreSQL: a chat's updates wait for older ones
                application.update_processor.before_turn = self.inbox.wait_for_turn
        await self.inbox.recover()  # before anything new arrives, so a chat's new updates queue behind its leftovers
        if self.webhook:
            if self.answers_in_response:
                self._answers = AnswersInResponse()
                application.bot.answer_in_webhook_responses(self._answers)
            await application.bot.set_webhook(
                settings.webhook_url, secret_token=settings.webhook_secret, allowed_updates=ALLOWED_UPDATES,
            )
        else:
            await application.bot.delete_webhook()
            self._poller = InboxPoller(self.inbox, ALLOWED_UPDATES, lease=self._leases[-1])
            self._poller.start()
        if self.webhook or settings.listen_explicit:
            self._site_runner = web.AppRunner(self.web_app(), access_log_class=AccessLogger)
            await self._site_runner.setup()
            if self.webhook and settings.webhook_url:  # Telegram's POSTs read without aiohttp's layers
                site: web.BaseSite = WebhookSite(
                    self._site_runner, settings.listen_host, settings.listen_port, path=self._webhook_path(),
                    take_update=self.take_webhook_update, max_body=MAX_REQUEST_BYTES)
            else:
                site = web.TCPSite(self._site_runner, settings.listen_host, settings.listen_port)
            await site.start()
            log.info("listening on http://%s:%s", settings.listen_host, settings.listen_port)

    def web_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_REQUEST_BYTES)
        app.router.add_get("/healthz", healthz)
        if self.webhook and self.settings.webhook_url:
            app.router.add_post(self._webhook_path(), self._receive_update)
        for add_routes in HTTP_ROUTES:
            add_routes(app, self.runtime)
        return app

    def _webhook_path(self) -> str:
        return urlsplit(self.settings.webhook_url).path or "/"

    async def _receive_update(self, request: web.Request) -> web.Response:
        """The webhook's route, for the connections aiohttp serves (bot/webhook_http.py)."""
        replied: asyncio.Future[WebhookReply] = asyncio.get_running_loop().create_future()
        # A handler cancelled meanwhile (aiohttp shutting down) leaves the future done: the reply then goes nowhere,
        # and the other updates stored with this one still get theirs.
        self.take_webhook_update(request.headers.get(SECRET_HEADER, "").encode(), await request.read(),
                                 lambda reply: replied.done() or replied.set_result(reply))
        reply = await replied
        return web.Response(status=reply.status, body=reply.body, headers={"Content-Type": reply.content_type.decode()})

    def take_webhook_update(self, secret: bytes, body: bytes, reply: Callable[[WebhookReply], None]) -> None:
        """A webhook POST, whichever server read it; `reply` is called once: 200 once the update is stored (carrying
        the button's answer when it comes in time), 403 for a wrong secret, 400 for what is not an update, 503 if it
        could not be stored (Telegram sends it again). The updates taken in one turn of the event loop are stored
        together, in one transaction, at the next turn: when a lone update's task would have stored it."""
        if not hmac.compare_digest(secret, (self.settings.webhook_secret or "").encode()):
            return reply(WebhookReply(403, b"wrong secret token"))
        try:
            text = body.decode()  # stored as it came, not serialised again (bot/inbox.py)
            data = _parse_update_json(text)
        except ValueError:  # UnicodeDecodeError included
            return reply(WebhookReply(400, b"not JSON"))
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return reply(WebhookReply(400, b"not an update"))
        query = data.get("callback_query")
        query_id = query.get("id") if self._answers is not None and isinstance(query, dict) else None
        answer = self._answers.expect(query_id) if isinstance(query_id, str) else None
        self._taken.append(_TakenUpdate(data, text, reply, query_id, answer))
        if len(self._taken) == 1:
            storing = asyncio.get_running_loop().create_task(self._store_taken())
            self._storing.add(storing)  # a reference until done: the loop keeps only weak ones
            storing.add_done_callback(self._storing.discard)

    async def _store_taken(self) -> None:
        taken, self._taken = self._taken, []
        try:
            await self.inbox.receive([update.data for update in taken], [update.text for update in taken])
        except Exception:  # not stored: Telegram keeps the updates and sends them again
            log.exception("could not store updates %s", ", ".join(str(update.data["update_id"]) for update in taken))
            for update in taken:
                if update.answer is not None:
                    self._answers.forget(update.query_id)
                update.reply(WebhookReply(503, b"not stored, send it again"))
            return
        for update in taken:
            if update.answer is None:
                update.reply(STORED)
            else:  # stored: the 200 may now wait a little for the button's answer
                self._answers.when_answered(update.query_id, update.answer, partial(_carrying, update.reply))

    async def stop(self) -> None:
        """Stop taking updates, finish those in hand, flush the outbox, close connections."""
        if self._site_runner is not None:
            await self._site_runner.cleanup()
            self._site_runner = None
        if self._poller is not None:
            await self._poller.stop()
            self._poller = None
        if self.inbox is not None:
            await self.inbox.stop()
            self.inbox = None
        application = self.application
        if application is not None:
            if application.running:
                await application.stop()
            await on_stopped(application)
            await application.shutdown()
            self.application = None
        for lease in self._leases:  # released: another instance takes over at once rather than after the lease
            await lease.stop()
        self._leases = []
        if self.runtime is not None:
            await self.runtime.db.dispose()
            self.runtime = None


STORED = WebhookReply(200, b"ok")


class _TakenUpdate(NamedTuple):
    data: dict
    text: str
    reply: Callable[[WebhookReply], None]
    query_id: str | None
    answer: asyncio.Future | None  # a pressed button's answer, if it may go in the response


def _carrying(reply: Callable[[WebhookReply], None], answer: bytes | None) -> None:
    reply(STORED if answer is None else WebhookReply(200, answer, JSON_CONTENT_TYPE))


def _parse_update_json(body: str) -> object:
    """orjson (~4 times faster on an update); what it refuses and json takes (an escaped lone surrogate in a
    text, NaN) goes to json, which raises ValueError for what is not JSON at all."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return json.loads(body)


# Collections of the youngest objects: after every 20,000 new container objects instead of Python's 700. An update
# creates thousands (PTB's objects, SQLAlchemy's, aiohttp's), nearly all freed by reference counting before any
# collection would look at them; at 700 the collector ran ~200 times a second under load. When the bot is quiet (a
# broadcast: ~70 new objects a second) the heap round collects them every ten seconds instead (bot/allocator.py).
YOUNG_COLLECTION_THRESHOLD = 20_000


def tune_garbage_collector() -> None:
    """For a serving process, once started. What is built by then (modules, content, catalogs, the search index)
    lives as long as the process, so it is frozen out of the cyclic collector's reach: each full collection then
    scans only what updates create. With 100 tenants the collector took ~20 % of the bot's CPU, most of it
    rescanning those ~170k objects; ~2 % after (docs/performance.md, round 5). Not for tests, which start many
    bots in one process: frozen objects are never collected."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, 10, 10)


async def serve_until_signalled(service: BotService, stop: asyncio.Event | None = None) -> None:
    """`qcbot run` (and the benchmarks' bot process, which passes its own `stop`): start, wait for SIGTERM or
    SIGINT, stop gracefully. A serving process tunes its allocator and collector (bot/allocator.py, above)."""
    keep_large_buffers_out_of_the_heap()  # before start-up's big blocks move glibc's mmap threshold (bot/allocator.py)
    if stop is None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop.set)
    await service.start()
    tune_garbage_collector()
    heap_trimmer = asyncio.create_task(give_back_free_heap_pages(), name="heap-trim")
    mode = "webhook" if service.webhook else "long polling"
    log.info("bot @%s running with %s", service.application.bot.username, mode)
    try:
        await stop.wait()
    finally:
        heap_trimmer.cancel()
        log.info("stopping: finishing the updates in hand")
        await service.stop()
