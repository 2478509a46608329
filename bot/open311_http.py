"""The read-only Open311 GeoReport v2 API on the bot's aiohttp server, and the photo links it hands out
(`add_routes` is listed in bot/runners.py HTTP_ROUTES).

    GET /open311/v2/services.json
    GET /open311/v2/requests.json?service_code=&status=open,closed&start_date=&end_date=&service_request_id=
    GET /open311/v2/requests/{QC-2026-000123}.json
    GET /open311/media/{token}     (no key: the token is the secret, so staff can open it from a browser)

The API key comes from QC_OPEN311_API_KEY, as `api_key` in the query or the X-API-Key header. Errors use
GeoReport's shape: a list of {"code", "description"}.
"""

from __future__ import annotations

import hmac
from datetime import timedelta

from aiohttp import web

from bot.media import stored_path
from bot.runtime import Runtime
from storage import open311, tickets
from storage.open311 import Open311Error

PREFIX = "/open311/v2"
MEDIA_PATH = "/open311/media"
RUNTIME_KEY = web.AppKey("open311_runtime", Runtime)


def _error(status: int, description: str) -> web.Response:
    return web.json_response(open311.errors(status, description), status=status)


def _format_is_json(request: web.Request) -> None:
    if request.match_info.get("format", "json") != "json":
        raise Open311Error(400, "only the json format is served: use .json")


def _check_key(request: web.Request, rt: Runtime) -> None:
    expected = rt.settings.open311_api_key
    if not expected:
        raise Open311Error(503, "Open311 is disabled: set QC_OPEN311_API_KEY to enable it")
    given = request.query.get("api_key") or request.headers.get("X-API-Key") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Open311Error(403, "missing or wrong api_key")


def _media_base(request: web.Request, rt: Runtime) -> str:
    base = rt.settings.public_base_url or str(request.url.origin())
    return base.rstrip("/") + MEDIA_PATH


def _handler(action):  # type: ignore[no-untyped-def]
    async def handle(request: web.Request) -> web.StreamResponse:
        rt = request.app[RUNTIME_KEY]
        try:
            _check_key(request, rt)
            return await action(request, rt)
        except Open311Error as error:
            return _error(error.status, error.description)

    return handle


async def services(request: web.Request, rt: Runtime) -> web.Response:
    _format_is_json(request)
    return web.json_response(open311.services(rt.content))


def _codes(value: str | None) -> frozenset[str] | None:
    return frozenset(part.strip() for part in value.split(",") if part.strip()) if value else None


async def _documents(request: web.Request, rt: Runtime, found: list) -> list[dict]:  # type: ignore[type-arg]
    async with rt.db.read(long=True) as session:
        tokens = await tickets.first_photo_tokens(session, [ticket.id for ticket in found])
        names = await tickets.first_names(session, {ticket.reporter_id for ticket in found if ticket.reporter_id is not None})
    base = _media_base(request, rt)
    documents = []
    for ticket in found:
        known = [name for name in (names.get(ticket.reporter_id), ticket.tenant_name) if name]
        url = f"{base}/{tokens[ticket.id]}" if ticket.id in tokens else None
        documents.append(open311.service_request(rt.content, ticket, url, known))
    return documents


async def requests(request: web.Request, rt: Runtime) -> web.Response:
    _format_is_json(request)
    query = request.query
    statuses = open311.parse_statuses(query.get("status"))
    codes = _codes(query.get("service_request_id"))
    until = open311.parse_datetime("end_date", query["end_date"]) if query.get("end_date") else None
    since = open311.parse_datetime("start_date", query["start_date"]) if query.get("start_date") else None
    if codes is None and since is None:
        since = (until or rt.clock.now()) - timedelta(days=open311.DEFAULT_WINDOW_DAYS)
    if since is not None and until is not None and since > until:
        raise Open311Error(400, "start_date is after end_date")
    async with rt.db.read(long=True) as session:  # up to MAX_REQUESTS tickets
        found = await tickets.search_tickets(
            session, codes=codes, category_ids=_codes(query.get("service_code")),
            statuses=open311.ticket_statuses(statuses) if statuses else None, since=since, until=until,
            limit=open311.MAX_REQUESTS,
        )
    return web.json_response(await _documents(request, rt, found))


async def one_request(request: web.Request, rt: Runtime) -> web.Response:
    _format_is_json(request)
    code = request.match_info["code"]
    async with rt.db.read() as session:
        found = await tickets.search_tickets(session, codes=frozenset({code}), limit=1)
    if not found:
        raise Open311Error(404, f"no service request {code!r}")
    return web.json_response(await _documents(request, rt, found))


async def media(request: web.Request) -> web.StreamResponse:
    rt = request.app[RUNTIME_KEY]
    async with rt.db.read() as session:
        record = await tickets.media_by_token(session, request.match_info["token"])
    path = stored_path(rt.settings, record.path) if record is not None else None
    if path is None or not path.is_file():
        return _error(404, "no such media")
    return web.FileResponse(path, headers={"Content-Type": record.mime_type, "Cache-Control": "private, max-age=86400"})


def add_routes(app: web.Application, rt: Runtime) -> None:
    app[RUNTIME_KEY] = rt
    app.router.add_get(f"{PREFIX}/services.{{format}}", _handler(services))
    app.router.add_get(f"{PREFIX}/requests.{{format}}", _handler(requests))
    app.router.add_get(f"{PREFIX}/requests/{{code}}.{{format}}", _handler(one_request))
    app.router.add_get(f"{MEDIA_PATH}/{{token}}", media)
