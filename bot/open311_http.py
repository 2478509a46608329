"""The read-only Open311 GeoReport v2 API on the bot's aiohttp server, and the photo links it hands out
(`add_routes` is listed in bot/runners.py HTTP_ROUTES; the sandbox serves it too, with a demo key).

    GET /open311/discovery.{xml,json}                     Service Discovery (no key needed)
    GET /open311/v2/services.{xml,json}
    GET /open311/v2/services/{service_code}.{xml,json}    service definition (no service has extra fields)
    GET /open311/v2/requests.{xml,json}?service_request_id=&service_code=&status=open,closed&start_date=&end_date=
    GET /open311/v2/requests/{QC-2026-000123}.{xml,json}
    GET /open311/media/{token}?expires=&signature=        a photo, by a signed link that expires

The format is the path's suffix; without one, `format=xml|json` in the query, then the Accept header, then XML
(the spec's required format). The API key comes from QC_OPEN311_API_KEY, as `api_key` in the query or the
X-API-Key header, on every GET (stock clients must be told to send it). Every error, unknown routes and wrong
methods included, has GeoReport's shape in the negotiated format: <errors><error><code/><description/></error>.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import xml.etree.ElementTree as ET
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.media import stored_path
from bot.runtime import Runtime
from storage.domain import open311
from storage.domain import ticket_lists
from storage.domain.open311 import Open311Error

ROOT = "/open311"
PREFIX = f"{ROOT}/v2"
MEDIA_PATH = f"{ROOT}/media"
# A photo link works for 7 to 8 days: its expiry is rounded up to a day, so every listing of one day hands out the
# same link (clients and caches see one URL), and a client keeps links fresh by reading the request again.
MEDIA_LINK_DAYS = 7
_DAY_SECONDS = 86_400
FORMATS = {"xml": "text/xml", "json": "application/json"}
# XML names of list items (GeoReport's Spark convention: the JSON is the XML with the item wrappers left out).
XML_ITEMS = {
    "services": "service", "service_requests": "request", "errors": "error", "attributes": "attribute",
    "values": "value", "endpoints": "endpoint", "formats": "format",
}
RuntimeSource = Callable[[], Runtime | None]
RUNTIME_KEY = web.AppKey("open311_runtime", RuntimeSource)  # type: ignore[arg-type]
Action = Callable[[web.Request, Runtime], Awaitable[object]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


# Formats -----------------------------------------------------------------------------------------------------


def negotiate(request: web.Request) -> str:
    """xml or json: the path's suffix, else ?format=, else the Accept header, else XML."""
    last = request.path.rsplit("/", 1)[-1]
    if "." in last:
        suffix = last.rsplit(".", 1)[1].lower()
        return suffix if suffix in FORMATS else "xml"
    wanted = request.query.get("format", "").lower()
    if wanted in FORMATS:
        return wanted
    accept = request.headers.get("Accept", "")
    return "json" if "json" in accept and "xml" not in accept else "xml"


def _suffix(request: web.Request) -> None:
    """A path with a suffix must name a format we serve (.json or .xml)."""
    suffix = request.match_info.get("suffix", "")
    if suffix and suffix.lower() not in (".json", ".xml"):
        raise Open311Error(400, f"format {suffix[1:]!r} is not served: use .xml or .json")


def _xml_element(name: str, value: object) -> ET.Element:
    element = ET.Element(name)
    if isinstance(value, dict):
        for key, child in value.items():
            element.append(_xml_element(key, child))
    elif isinstance(value, list):
        for child in value:
            element.append(_xml_element(XML_ITEMS.get(name, "item"), child))
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = str(value)
    return element


def to_xml(root: str, document: object) -> bytes:
    """A GeoReport document as XML: no namespace, UTF-8 with the declaration, as the spec asks."""
    body = ET.tostring(_xml_element(root, document), encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body


def render(request: web.Request, root: str, document: object, status: int = 200) -> web.Response:
    if negotiate(request) == "xml":
        return web.Response(body=to_xml(root, document), status=status, content_type="text/xml", charset="utf-8")
    return web.json_response(document, status=status, content_type="application/json")


def _error(request: web.Request, status: int, description: str) -> web.Response:
    return render(request, "errors", open311.errors(status, description), status)


@web.middleware
async def georeport_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Unknown routes and wrong methods under /open311 answer in GeoReport's error shape, not aiohttp's page."""
    if not request.path.startswith(ROOT + "/") and request.path != ROOT:
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPMethodNotAllowed as refused:
        response = _error(request, 405, f"method {request.method} not allowed: this API is read-only, use GET")
        response.headers["Allow"] = ", ".join(sorted(refused.allowed_methods))
        return response
    except web.HTTPNotFound:
        return _error(request, 404, f"no such resource {request.path!r} (see {ROOT}/discovery.xml)")


# Keys and links ----------------------------------------------------------------------------------------------


def _running(request: web.Request) -> Runtime:
    rt = request.app[RUNTIME_KEY]()
    if rt is None:
        raise Open311Error(503, "the bot is starting or stopping: try again in a moment")
    if not rt.settings.open311_api_key:
        raise Open311Error(503, "Open311 is disabled: set QC_OPEN311_API_KEY to enable it")
    return rt


def _check_key(request: web.Request, rt: Runtime) -> None:
    expected = rt.settings.open311_api_key or ""
    given = request.query.get("api_key") or request.headers.get("X-API-Key") or ""
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise Open311Error(403, "missing or wrong api_key (send it on every GET, as api_key= or X-API-Key)")


def _media_key(api_key: str) -> bytes:
    """Links are signed with a key derived from QC_OPEN311_API_KEY: changing the API key voids every link."""
    return hmac.new(api_key.encode(), b"qcbot open311 media links", hashlib.sha256).digest()


def media_signature(api_key: str, token: str, expires: int) -> str:
    return hmac.new(_media_key(api_key), f"{token}:{expires}".encode(), hashlib.sha256).hexdigest()


def media_link(rt: Runtime, token: str) -> str | None:
    """The photo's absolute link, or None without QC_PUBLIC_BASE_URL (never guessed from the Host header)."""
    base = rt.settings.public_base_url
    if not base or not rt.settings.open311_api_key:
        return None
    expires = (math.floor(rt.clock.now().timestamp() / _DAY_SECONDS) + MEDIA_LINK_DAYS + 1) * _DAY_SECONDS
    signature = media_signature(rt.settings.open311_api_key, token, expires)
    return f"{base}{MEDIA_PATH}/{token}?expires={expires}&signature={signature}"


def _check_media_link(request: web.Request, rt: Runtime, token: str) -> None:
    expires_text = request.query.get("expires", "")
    if not expires_text.isdigit():
        raise Open311Error(403, "this link is not signed: take media_url from a service request")
    expires = int(expires_text)
    expected = media_signature(rt.settings.open311_api_key or "", token, expires)
    if not hmac.compare_digest(request.query.get("signature", "").encode(), expected.encode()):
        raise Open311Error(403, "this link's signature is wrong: take media_url from a service request")
    if rt.clock.now() >= datetime.fromtimestamp(expires, UTC):
        raise Open311Error(410, "this link has expired: read the service request again for a fresh media_url")


# Endpoints ---------------------------------------------------------------------------------------------------


def _endpoint(root: str, action: Action, *, key: bool = True) -> Handler:
    async def handle(request: web.Request) -> web.StreamResponse:
        try:
            _suffix(request)
            rt = _running(request)
            if key:
                _check_key(request, rt)
            result = await action(request, rt)
        except Open311Error as error:
            return _error(request, error.status, error.description)
        return result if isinstance(result, web.StreamResponse) else render(request, root, result)

    return handle


def _changeset(rt: Runtime) -> str:
    """Sortable, and newer whenever the services may have changed: the newest content file's time."""
    stamps = [path.stat().st_mtime for path in rt.content_store.directory.rglob("*.y*ml")]
    return open311.iso(datetime.fromtimestamp(max(stamps, default=0), UTC))


async def discovery(_request: web.Request, rt: Runtime) -> dict:
    base = rt.settings.public_base_url or ""  # without it, the path: clients resolve it against the discovery URL
    return open311.discovery(base + PREFIX, _changeset(rt))


async def services(_request: web.Request, rt: Runtime) -> list[dict]:
    return open311.services(rt.content)


async def service_definition(request: web.Request, rt: Runtime) -> dict:
    category = rt.content.problems.get(request.match_info["code"])
    if category is None:
        raise Open311Error(404, f"no service {request.match_info['code']!r}")
    return open311.service_definition(category)


def _codes(value: str | None) -> frozenset[str] | None:
    return frozenset(part.strip() for part in value.split(",") if part.strip()) if value else None


async def _documents(rt: Runtime, found: list) -> list[dict]:  # type: ignore[type-arg]
    async with rt.db.read(long=True) as session:
        tokens = await ticket_lists.first_photo_tokens(session, [ticket.id for ticket in found])
    return [
        open311.service_request(rt.content, ticket, media_link(rt, tokens[ticket.id]) if ticket.id in tokens else None)
        for ticket in found
    ]


async def requests(request: web.Request, rt: Runtime) -> list[dict]:
    query = request.query
    codes = _codes(query.get("service_request_id"))
    if codes is not None:  # GeoReport: service_request_id overrides every other argument
        async with rt.db.read(long=True) as session:
            found = await ticket_lists.search_tickets(session, codes=codes, limit=open311.MAX_REQUESTS)
        return await _documents(rt, found)
    statuses = open311.parse_statuses(query.get("status"))
    until = open311.parse_datetime("end_date", query["end_date"]) if query.get("end_date") else None
    since = open311.parse_datetime("start_date", query["start_date"]) if query.get("start_date") else None
    if since is None:  # GeoReport's default window: the 90 days up to end_date (or now)
        since = (until or rt.clock.now()) - timedelta(days=open311.DEFAULT_WINDOW_DAYS)
    if until is not None and since > until:
        raise Open311Error(400, "start_date is after end_date")
    async with rt.db.read(long=True) as session:  # up to MAX_REQUESTS tickets
        found = await ticket_lists.search_tickets(
            session, category_ids=_codes(query.get("service_code")),
            statuses=open311.ticket_statuses(statuses) if statuses else None, since=since, until=until,
            limit=open311.MAX_REQUESTS,
        )
    return await _documents(rt, found)


async def one_request(request: web.Request, rt: Runtime) -> list[dict]:
    code = request.match_info["code"]
    async with rt.db.read() as session:
        found = await ticket_lists.search_tickets(session, codes=frozenset({code}), limit=1)
    if not found:
        raise Open311Error(404, f"no service request {code!r}")
    return await _documents(rt, found)


async def media(request: web.Request, rt: Runtime) -> web.StreamResponse:
    token = request.match_info["token"]
    _check_media_link(request, rt, token)
    async with rt.db.read() as session:
        record = await ticket_lists.media_by_token(session, token)
    path = stored_path(rt.settings, record.path) if record is not None else None
    if path is None or not path.is_file():
        raise Open311Error(404, "no such media")
    return web.FileResponse(path, headers={"Content-Type": record.mime_type, "Cache-Control": "private, max-age=86400"})


def serve(app: web.Application, runtime: RuntimeSource) -> None:
    """Add the API to an app whose runtime may come later (the sandbox builds its server before the bot)."""
    app[RUNTIME_KEY] = runtime
    app.middlewares.append(georeport_errors)
    suffix = r"{suffix:(\.[A-Za-z]+)?}"
    app.router.add_get(f"{ROOT}/discovery{suffix}", _endpoint("discovery", discovery, key=False))
    app.router.add_get(f"{PREFIX}/services{suffix}", _endpoint("services", services))
    app.router.add_get(f"{PREFIX}/services/{{code:[^/.]+}}{suffix}", _endpoint("service_definition", service_definition))
    app.router.add_get(f"{PREFIX}/requests{suffix}", _endpoint("service_requests", requests))
    app.router.add_get(f"{PREFIX}/requests/{{code:[^/.]+}}{suffix}", _endpoint("service_requests", one_request))
    app.router.add_get(f"{MEDIA_PATH}/{{token:[A-Za-z0-9_-]+}}", _endpoint("errors", media, key=False))


def add_routes(app: web.Application, rt: Runtime) -> None:
    serve(app, lambda: rt)
