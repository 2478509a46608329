"""The sandbox: the real bot against the built-in Bot API emulator, and a web chat page to talk to it.

One aiohttp app on one port serves the page, the emulator's Bot API (the bot polls it like api.telegram.org),
the emulator's /_emu/ control API (the page acts as users and watches chats through it) and a few /sandbox/
endpoints. Staff personas get their roles the way real staff do: an invite created in the database, redeemed by
the persona sending ``/start inv_<code>``. The admin persona is admin through QC_ADMIN_IDS, as in production.

It also serves the Open311 API (bot/open311_http.py) with a demo key made at each start, so integrators can point
a GeoReport client at it.

Nothing here authenticates: serve it on loopback only (the CLI's default). So that a web page open in the same
browser cannot drive it, every request must name the sandbox itself as Host (127.0.0.1, localhost or [::1] and
its port: no DNS rebinding), an Origin when sent must be that same address, and the control API's POSTs must be
application/json (a cross-site form or text/plain POST is refused before it reaches a handler).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from bot import open311_http
from bot.clock import Clock
from bot.config import PROJECT_ROOT, Settings, load_settings
from bot.emulator import BotApiEmulator
from bot.emulator.methods import MAX_UPLOAD_BYTES
from bot.runners import BotService
from bot.runtime import Runtime
from storage.domain import users
from storage.content import Content

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_CONTENT_DIR = PROJECT_ROOT / "content"
SANDBOX_TOKEN = "424242:sandbox-token-only-valid-on-this-machine"
BOT_USERNAME = "quartieri_connessi_bot"
BOT_NAME = "Quartieri Connessi"
DATABASE_FILE = "sandbox.sqlite3"
# How long a staff persona's /start may take to be answered at start-up before the sandbox gives up.
STAFF_SETUP_SECONDS = 30.0
LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")
WILDCARD_HOSTS = ("0.0.0.0", "::", "")
# What the page drives: its POSTs must carry JSON (browsers send a cross-site form or text/plain without asking).
CONTROL_PREFIXES = ("/_emu/", "/sandbox/")
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")
ROLE_LABELS = {
    None: "Inquilino/a",
    "custodian": "Custode",
    "operator": "Operatore dello spazio",
    "editor": "Redazione contenuti",
    "admin": "Amministratore",
}


@dataclass(frozen=True)
class Persona:
    """Someone the page can act as; each has their own private chat with the bot (chat id = user id)."""

    key: str  # used in the page's address, e.g. #amal
    user_id: int
    name: str
    language: str  # the Telegram app's language_code
    about: str  # one line shown under the name, in the page's language (Italian)
    role: str | None = None  # None: a tenant; "admin" comes from QC_ADMIN_IDS, other roles from an invite


PERSONAS: tuple[Persona, ...] = (
    Persona("giuseppe", 1001, "Giuseppe", "it", "Inquilino, 58 anni"),
    Persona("rosa", 1002, "Rosa", "it", "Inquilina, 81 anni, vista un po' debole"),
    Persona("amal", 1003, "Amal", "ar", "Inquilina, usa Telegram in arabo"),
    Persona("li", 1004, "Li", "zh", "Inquilino, usa Telegram in cinese"),
    Persona("maria", 1005, "María", "es", "Inquilina, usa Telegram in spagnolo"),
    Persona("john", 1006, "John", "en", "Studente, usa Telegram in inglese"),
    Persona("carla", 2001, "Carla", "it", "Custode: riceve le segnalazioni del suo caseggiato", role="custodian"),
    Persona("paolo", 2002, "Paolo", "it", "Operatore: vede le prenotazioni del suo spazio", role="operator"),
    Persona("elena", 2003, "Elena", "it", "Redazione: scrive i contenuti, usa /reload", role="editor"),
    Persona("marco", 2004, "Marco", "it", "Amministratore: invita lo staff, riceve le urgenze", role="admin"),
)
ADMIN_PERSONA = next(persona for persona in PERSONAS if persona.role == "admin")


class SandboxError(RuntimeError):
    """The sandbox could not start; the message says what to do."""


def persona_scope(persona: Persona, content: Content) -> str:
    """The estate of the custodian, the space of the operator (the one that estate belongs to), else ""."""
    if persona.role not in ("custodian", "operator"):
        return ""
    if not content.estates:
        raise SandboxError("the content has no estates, so the sandbox cannot make a custodian: add one to estates.yaml")
    estate = next(iter(content.estates.values()))
    return estate.id if persona.role == "custodian" else estate.space_id


def scope_name(persona: Persona, content: Content) -> str:
    scope = persona_scope(persona, content)
    if persona.role == "custodian":
        return content.estates[scope].name
    if persona.role == "operator" and scope in content.spaces:
        return content.spaces[scope].name.get("it")
    return ""


class Sandbox:
    """Start with ``await sandbox.start()``; the page is then at ``sandbox.url``. ``await sandbox.stop()`` ends it."""

    def __init__(
        self,
        data_dir: Path,
        content_dir: Path = DEFAULT_CONTENT_DIR,
        *,
        host: str = "127.0.0.1",
        port: int = 8080,
        clock: Clock | None = None,
    ) -> None:
        self.content_dir = Path(content_dir)
        self.data_dir = Path(data_dir)
        self.host = host
        self.port = port
        self.clock = clock or Clock()
        self.emulator = BotApiEmulator(token=SANDBOX_TOKEN, bot_username=BOT_USERNAME, bot_name=BOT_NAME)
        self.service: BotService | None = None
        self._runner: web.AppRunner | None = None
        self.open311_key = secrets.token_urlsafe(32)  # a demo key for this run only, printed by the CLI

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    @property
    def open311_url(self) -> str:
        return f"http://127.0.0.1:{self.port}{open311_http.ROOT}"

    @property
    def runtime(self) -> Runtime | None:
        return self.service.runtime if self.service is not None else None

    async def start(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        app = web.Application(client_max_size=MAX_UPLOAD_BYTES + 1024 * 1024, middlewares=[self._guard])
        self.emulator.add_routes(app)
        self._add_routes(app)
        open311_http.serve(app, lambda: self.runtime)
        # handler_cancellation: a cancelled long poll must end at once, as on Telegram (see the emulator).
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0, handler_cancellation=True)
        await runner.setup()
        try:
            await web.TCPSite(runner, self.host, self.port).start()
        except OSError as error:
            await runner.cleanup()
            raise SandboxError(f"cannot listen on {self.host}:{self.port} ({error.strerror}); pick another --port") from None
        self._runner = runner
        self.port = runner.addresses[0][1]
        # The bot reaches the emulator on this same server; a wildcard bind is reached through loopback.
        self.emulator.set_origin("127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host, self.port)
        try:
            self.service = BotService(self.settings(), clock=self.clock, webhook=False)
            await self.service.start()
            await self._set_up_personas()
        except BaseException:
            await self.stop()
            raise

    def settings(self) -> Settings:
        return load_settings(
            {
                "QC_TELEGRAM_TOKEN": SANDBOX_TOKEN,
                "QC_TELEGRAM_API_URL": self.emulator.base_url,
                "QC_TELEGRAM_FILE_URL": self.emulator.base_file_url,
                "QC_DATA_DIR": str(self.data_dir),
                "QC_DATABASE_URL": f"sqlite:///{self.data_dir / DATABASE_FILE}",
                "QC_CONTENT_DIR": str(self.content_dir),
                "QC_ADMIN_IDS": str(ADMIN_PERSONA.user_id),
                "QC_OPEN311_API_KEY": self.open311_key,
                "QC_PUBLIC_BASE_URL": f"http://127.0.0.1:{self.port}",
                "QC_BURST_UPDATES": "1000",  # a demo clicked through by one person or a test script, not a flood
            }
        )

    async def stop(self) -> None:
        """Stop the bot first (it finishes its updates through the emulator), then the page's streams and server."""
        if self.service is not None:
            await self.service.stop()
            self.service = None
        await self.emulator.stop()  # ends the pages' event streams
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _set_up_personas(self) -> None:
        """Register every persona; staff open their chat, redeeming an invite for a role they do not have yet."""
        rt = self.runtime
        assert rt is not None
        for persona in PERSONAS:
            self.emulator.add_user(persona.user_id, persona.name, persona.language)
        staff = [persona for persona in PERSONAS if persona.role is not None]
        for persona in staff:
            command = "/start"
            if persona.role != "admin":
                scope = persona_scope(persona, rt.content)
                async with rt.db.write() as session:
                    roles = await users.load_roles(session, persona.user_id, rt.settings.admin_ids)
                    if not _has_role(roles, persona.role, scope):
                        invite = await users.create_invite(session, persona.role, scope, self.clock.now(), None)
                        command = f"/start inv_{invite.code}"
            self.emulator.send_text(persona.user_id, command)
        try:
            await asyncio.wait_for(
                asyncio.gather(*(self._answered(persona) for persona in staff)), STAFF_SETUP_SECONDS
            )
        except TimeoutError:
            raise SandboxError(
                f"the bot did not answer the staff personas' /start within {STAFF_SETUP_SECONDS:.0f} s; "
                "run with -v to see its log"
            ) from None

    async def _answered(self, persona: Persona) -> None:
        await self.emulator.wait_for(lambda: self.emulator.last_bot_message(persona.user_id), STAFF_SETUP_SECONDS)

    # HTTP ----------------------------------------------------------------------------------------

    def own_hosts(self) -> frozenset[str] | None:
        """The Host values that name this sandbox; None when it listens on every address (any name may reach it)."""
        if self.host in WILDCARD_HOSTS:
            return None
        names = {*LOOPBACK_NAMES, f"[{self.host}]" if ":" in self.host else self.host}
        return frozenset(f"{name}:{self.port}" for name in names)

    @web.middleware
    async def _guard(self, request: web.Request, handler):  # type: ignore[no-untyped-def]
        host = request.headers.get("Host", "")
        own = self.own_hosts()
        if own is not None and host not in own:
            return _refused(403, f"Host {host!r} is not this sandbox: open http://127.0.0.1:{self.port}/")
        origin = request.headers.get("Origin")
        if origin is not None and origin != f"http://{host}":
            return _refused(403, f"requests from {origin!r} are refused: only the sandbox's own page may use it")
        if (request.method not in SAFE_METHODS and request.path.startswith(CONTROL_PREFIXES)
                and request.content_type != "application/json"):
            return _refused(415, "send the body as application/json")
        return await handler(request)

    def _add_routes(self, app: web.Application) -> None:
        app.router.add_get("/", self._index)
        app.router.add_static("/static/", STATIC_DIR)
        app.router.add_get("/sandbox/info", self._info)
        app.router.add_get("/sandbox/personas", self._personas)
        app.router.add_get("/sandbox/estates", self._estates)
        app.router.add_post("/sandbox/reload", self._reload)

    async def _index(self, _request: web.Request) -> web.StreamResponse:
        return web.FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    def _running_runtime(self) -> Runtime:
        rt = self.runtime
        if rt is None:
            raise web.HTTPServiceUnavailable(
                text=json.dumps({"ok": False, "error": "the bot is still starting or has stopped; try again in a moment"}),
                content_type="application/json",
            )
        return rt

    async def _info(self, _request: web.Request) -> web.Response:
        return web.json_response(
            {
                "bot": self.emulator.bot_user,
                "content_dir": str(self.content_dir),
                "data_dir": str(self.data_dir),
                "timezone": self._running_runtime().settings.timezone.key,  # the page shows times as the bot does
            }
        )

    async def _personas(self, _request: web.Request) -> web.Response:
        content = self._running_runtime().content
        return web.json_response([_persona_json(persona, content) for persona in PERSONAS])

    async def _estates(self, _request: web.Request) -> web.Response:
        content = self._running_runtime().content
        estates = [
            {"id": estate.id, "name": estate.name, "address": estate.address, "latitude": estate.lat, "longitude": estate.lon}
            for estate in content.estates.values()
        ]
        return web.json_response(estates)

    async def _reload(self, _request: web.Request) -> web.Response:
        """Apply the content folder now; on problems the bot keeps the last good version, as with /reload."""
        rt = self._running_runtime()
        problems = rt.content_store.reload()
        content = rt.content
        return web.json_response(
            {
                "ok": not problems,
                "problems": [str(problem) for problem in problems],
                "spaces": len(content.spaces),
                "services": len(content.services),
                "estates": len(content.estates),
                "version": content.version,
            }
        )


def _refused(status: int, error: str) -> web.Response:
    return web.json_response({"ok": False, "error": error}, status=status)


def _has_role(roles: users.Roles, role: str, scope: str) -> bool:
    if role == "editor":
        return roles.is_editor
    if role == "custodian":
        return scope in roles.custodian_of
    if role == "operator":
        return scope in roles.operator_of
    raise ValueError(f"the sandbox does not set up role {role!r}")


def _persona_json(persona: Persona, content: Content) -> dict[str, Any]:
    return {
        "key": persona.key,
        "user_id": persona.user_id,
        "name": persona.name,
        "language": persona.language,
        "about": persona.about,
        "role": persona.role,
        "role_label": ROLE_LABELS[persona.role],
        "scope": scope_name(persona, content),
    }
