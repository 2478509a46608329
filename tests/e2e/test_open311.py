"""The Open311 GeoReport v2 API read the way a stock client reads it: discovery first, then services and requests,
in XML (the spec's required format, parsed with xml.etree) and JSON, with the key sent on every GET."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import timedelta
from urllib.parse import urlsplit
from xml.sax.saxutils import escape as xml_escape

import pytest
from aiohttp.test_utils import TestClient, TestServer
from sqlalchemy import update

from storage.models import Ticket
from tests.e2e.test_reports import CODE, report_water_leak

API_KEY = "stock-client-key-" + "7" * 32
BASE_URL = "https://bot.example.org"
REQUEST_FIELDS = ("service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime", "expected_datetime",
                  "address", "address_id", "zipcode", "lat", "long", "media_url")
ISO_W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


@pytest.fixture
def bot_env() -> dict[str, str]:
    return {"QC_OPEN311_API_KEY": API_KEY, "QC_PUBLIC_BASE_URL": BASE_URL}


class StockClient:
    """What a generic GeoReport v2 client does: GET with the key, parse XML or JSON, read errors as code/description."""

    def __init__(self, http: TestClient, key: str | None = API_KEY) -> None:
        self.http = http
        self.key = key

    async def get(self, path: str, **params: str) -> tuple[int, str, bytes]:
        if self.key is not None:
            params.setdefault("api_key", self.key)
        response = await self.http.get(path, params=params)
        return response.status, response.content_type, await response.read()

    async def xml(self, path: str, root: str, **params: str) -> tuple[int, ET.Element]:
        status, content_type, body = await self.get(path, **params)
        assert content_type == "text/xml" and body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>'), body[:80]
        element = ET.fromstring(body)
        assert element.tag == root, (element.tag, body[:200])
        return status, element

    async def json(self, path: str, **params: str) -> tuple[int, object]:
        status, content_type, body = await self.get(path, **params)
        assert content_type == "application/json", (content_type, body[:80])
        return status, json.loads(body)


def records(root: ET.Element, item: str) -> list[dict[str, str]]:
    """Flat XML records as a client maps them: element name -> text ('' when empty)."""
    return [{child.tag: child.text or "" for child in element} for element in root.findall(item)]


def as_xml_text(value: object) -> str:
    return "" if value is None else ("true" if value is True else "false" if value is False else str(value))


def same_records(xml_records: list[dict[str, str]], json_records: list[dict]) -> bool:
    return xml_records == [{key: as_xml_text(value) for key, value in record.items() if not isinstance(value, list)}
                           for record in json_records]


async def errors_of(client: StockClient, path: str, fmt: str, **params: str) -> tuple[int, list[dict]]:
    if fmt == "xml":
        status, root = await client.xml(path, "errors", **params)
        return status, records(root, "error")
    status, body = await client.json(path, **params)
    return status, body  # type: ignore[return-value]


async def file_reports(bot) -> tuple[str, str]:  # type: ignore[no-untyped-def]
    """Amal reports a leak with a photo and her phone number in the text; Bruno's report is 100 days old."""
    amal = await bot.tenant("Amal")
    await report_water_leak(amal, description=None)
    await amal.send("Sono Amal dell'interno 12, chiamatemi al 333 1234567")
    await amal.send_photo(b"\xff\xd8 the leak")
    await amal.tap("Avanti")
    await amal.tap("Invia la segnalazione")
    recent = CODE.search(amal.screen.text).group()
    bruno = await bot.tenant("Bruno")
    await report_water_leak(bruno, building="Civico 13 · scala A", description="Bruno Rossi, cell. 347 7654321")
    old = CODE.search(bruno.screen.text).group()
    async with bot.runtime.db.write() as session:
        await session.execute(update(Ticket).where(Ticket.code == old).values(created_at=bot.clock.now() - timedelta(days=100)))
    return recent, old


async def test_a_stock_georeport_client_reads_discovery_services_and_requests_in_xml_and_json(bot):
    recent, old = await file_reports(bot)
    async with TestClient(TestServer(bot.service.web_app())) as http:
        client, anonymous = StockClient(http), StockClient(http, key=None)

        # Discovery: both formats, no key, the API's absolute address from QC_PUBLIC_BASE_URL.
        status, discovery = await anonymous.xml("/open311/discovery.xml", "discovery")
        endpoint = discovery.find("endpoints/endpoint")
        assert status == 200 and discovery.findtext("changeset") and discovery.findtext("key_service")
        assert endpoint.findtext("specification") == "http://wiki.open311.org/GeoReport_v2"
        assert endpoint.findtext("url") == f"{BASE_URL}/open311/v2"
        assert [f.text for f in endpoint.findall("formats/format")] == ["text/xml", "application/json"]
        status, discovery_json = await anonymous.json("/open311/discovery.json")
        assert discovery_json["endpoints"][0]["url"] == f"{BASE_URL}/open311/v2" and discovery_json["contact"]

        # Services and a service definition.
        status, services = await client.xml("/open311/v2/services.xml", "services")
        service_records = records(services, "service")
        assert status == 200 and "water-leak" in {s["service_code"] for s in service_records}
        assert all(s["metadata"] == "false" and s["type"] == "realtime" and s["service_name"] for s in service_records)
        status, services_json = await client.json("/open311/v2/services.json")
        assert same_records(service_records, services_json)
        status, definition = await client.xml("/open311/v2/services/water-leak.xml", "service_definition")
        assert definition.findtext("service_code") == "water-leak" and definition.find("attributes") is not None
        status, definition_json = await client.json("/open311/v2/services/water-leak.json")
        assert definition_json == {"service_code": "water-leak", "attributes": []}

        # Requests: the default window is the last 90 days, so Bruno's old report is not listed.
        status, listed = await client.xml("/open311/v2/requests.xml", "service_requests")
        requests = records(listed, "request")
        assert status == 200 and [r["service_request_id"] for r in requests] == [recent]
        document = requests[0]
        assert tuple(document) == REQUEST_FIELDS
        assert document["status"] == "open" and ISO_W3C.match(document["requested_datetime"])
        assert document["description"] == "Perdita d'acqua · Civico 15 scala B, in un alloggio"
        assert document["status_notes"] == "Ricevuta, in attesa del custode"
        # The photo link is a random token and a hex signature that may hold any digits ("…9333…"): left out.
        photo_link = urlsplit(document["media_url"])
        published, link_count = re.subn(re.escape(xml_escape(document["media_url"])), "", ET.tostring(listed, encoding="unicode"))
        assert link_count == 1
        for personal in ("Amal", "333", "1234567", "interno 12", "int. 12", "chiamatemi", "soffitto"):
            assert personal not in published, personal
        status, listed_json = await client.json("/open311/v2/requests.json")
        assert same_records(requests, listed_json)
        assert float(document["lat"]) == listed_json[0]["lat"]

        # service_request_id overrides every other argument (window, status, service_code).
        status, chosen = await client.json("/open311/v2/requests.json", service_request_id=f"{old},{recent}",
                                           status="closed", service_code="lift", start_date="2000-01-01T00:00:00Z")
        assert sorted(r["service_request_id"] for r in chosen) == sorted([old, recent])
        chosen_text = str([{field: value for field, value in r.items() if field != "media_url"} for r in chosen])
        assert "Bruno" not in chosen_text and "347" not in chosen_text
        status, dated = await client.json("/open311/v2/requests.json", start_date=(bot.clock.now() - timedelta(days=120)).isoformat())
        assert {r["service_request_id"] for r in dated} == {old, recent}

        # One request.
        status, one = await client.xml(f"/open311/v2/requests/{recent}.xml", "service_requests")
        assert status == 200 and records(one, "request")[0]["service_request_id"] == recent
        status, one_json = await client.json(f"/open311/v2/requests/{recent}.json")
        assert [r["service_request_id"] for r in one_json] == [recent]

        # The photo: a signed link on the public address, fetched without the key.
        assert f"{photo_link.scheme}://{photo_link.netloc}" == BASE_URL
        assert "expires=" in photo_link.query and "signature=" in photo_link.query
        photo = await http.get(f"{photo_link.path}?{photo_link.query}")
        assert photo.status == 200 and b"the leak" in await photo.read()


async def test_format_negotiation_without_a_suffix(bot):
    async with TestClient(TestServer(bot.service.web_app())) as http:
        response = await http.get("/open311/v2/services", params={"api_key": API_KEY, "format": "json"})
        assert response.content_type == "application/json" and isinstance(await response.json(), list)
        response = await http.get("/open311/v2/services", params={"api_key": API_KEY}, headers={"Accept": "application/json"})
        assert response.content_type == "application/json"
        response = await http.get("/open311/v2/services", params={"api_key": API_KEY})
        assert response.content_type == "text/xml" and ET.fromstring(await response.read()).tag == "services"


@pytest.mark.parametrize("fmt", ["xml", "json"])
async def test_every_error_has_georeport_shape_in_the_requested_format(bot, fmt):
    async with TestClient(TestServer(bot.service.web_app())) as http:
        client, anonymous = StockClient(http), StockClient(http, key=None)
        cases = [
            (anonymous, f"/open311/v2/requests.{fmt}", {}, 403),
            (StockClient(http, key="wrong" * 8), f"/open311/v2/services.{fmt}", {}, 403),
            (client, f"/open311/v2/requests.{fmt}", {"start_date": "last week"}, 400),
            (client, f"/open311/v2/requests.{fmt}", {"status": "maybe"}, 400),
            (client, f"/open311/v2/requests/QC-1999-000001.{fmt}", {}, 404),
            (client, f"/open311/v2/services/no-such-service.{fmt}", {}, 404),
            (client, f"/open311/v2/nothing-here.{fmt}", {}, 404),
            (client, f"/open311/v3/services.{fmt}", {}, 404),
        ]
        for who, path, params, expected in cases:
            status, errors = await errors_of(who, path, fmt, **params)
            assert status == expected, path
            assert [int(e["code"]) for e in errors] == [expected] and errors[0]["description"], (path, errors)

        refused = await http.post(f"/open311/v2/requests.{fmt}", data={"service_code": "water-leak"})
        body = await refused.read()
        assert refused.status == 405 and "GET" in refused.headers["Allow"]
        parsed = records(ET.fromstring(body), "error") if fmt == "xml" else json.loads(body)
        assert int(parsed[0]["code"]) == 405
        unknown_format = await http.get("/open311/v2/services.csv", params={"api_key": API_KEY})
        assert unknown_format.status == 400 and ET.fromstring(await unknown_format.read()).tag == "errors"

        bot.runtime.settings = replace(bot.runtime.settings, open311_api_key=None)  # the API switched off
        for path in (f"/open311/v2/services.{fmt}", f"/open311/discovery.{fmt}"):
            status, errors = await errors_of(StockClient(http, key="anything"), path, fmt)
            assert status == 503 and int(errors[0]["code"]) == 503 and "QC_OPEN311_API_KEY" in errors[0]["description"]


async def test_photo_links_are_signed_expire_and_are_served_only_while_the_api_is_on(bot):
    recent, _old = await file_reports(bot)
    async with TestClient(TestServer(bot.service.web_app())) as http:
        client = StockClient(http)
        # Whatever Host the client sends, links point at QC_PUBLIC_BASE_URL.
        response = await http.get("/open311/v2/requests.json", params={"api_key": API_KEY}, headers={"Host": "evil.example"})
        link = urlsplit((await response.json())[0]["media_url"])
        assert f"{link.scheme}://{link.netloc}" == BASE_URL
        query = dict(part.split("=", 1) for part in link.query.split("&"))
        assert (await http.get(f"{link.path}?{link.query}")).status == 200

        later = str(int(query["expires"]) + 86_400)
        for forged in (f"expires={later}&signature={query['signature']}", f"expires={query['expires']}&signature={'0' * 64}",
                       "", f"expires={query['expires']}"):
            refused = await http.get(f"{link.path}?{forged}")
            assert refused.status == 403 and ET.fromstring(await refused.read()).tag == "errors", forged

        bot.clock.advance(timedelta(days=6))
        assert (await http.get(f"{link.path}?{link.query}")).status == 200  # a week's link still works
        bot.clock.advance(timedelta(days=3))
        expired = await http.get(f"{link.path}?{link.query}")
        assert expired.status == 410
        status, fresh = await client.json(f"/open311/v2/requests/{recent}.json")  # reading again gives a fresh link
        fresh_link = urlsplit(fresh[0]["media_url"])
        assert (await http.get(f"{fresh_link.path}?{fresh_link.query}")).status == 200

        settings = bot.runtime.settings
        bot.runtime.settings = replace(settings, public_base_url=None)  # no public address: no link at all
        status, no_link = await client.json(f"/open311/v2/requests/{recent}.json")
        assert no_link[0]["media_url"] is None
        status, no_link_xml = await client.xml(f"/open311/v2/requests/{recent}.xml", "service_requests")
        assert records(no_link_xml, "request")[0]["media_url"] == ""

        bot.runtime.settings = replace(settings, open311_api_key=None)  # API off: photos are not served either
        switched_off = await http.get(f"{fresh_link.path}?{fresh_link.query}")
        assert switched_off.status == 503
