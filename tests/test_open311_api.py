"""Open311 GeoReport v2 against the spec's own examples: the fields of its example answers, its
example POST (with the spec's San Francisco point: refused in the spec's error format, then
ours), JSON and XML, and the filed request in our own incident list with its owner."""

from __future__ import annotations

import re
from collections.abc import Iterator
from xml.etree import ElementTree as ET

import pytest
from fastapi.testclient import TestClient

from grid.api.app import create_app
from grid.hierarchy import store
from tests.conftest import auth

#: Field names in the spec's example answers (wiki.open311.org/GeoReport_v2).
SERVICE_FIELDS = {"service_code", "service_name", "description", "metadata", "type", "keywords",
                  "group"}
REQUEST_FIELDS = {"service_request_id", "status", "status_notes", "service_name", "service_code",
                  "description", "agency_responsible", "service_notice", "requested_datetime",
                  "updated_datetime", "expected_datetime", "address", "address_id", "zipcode",
                  "lat", "long", "media_url"}
#: The spec's example POST body, but for api_key and position.
SPEC_POST = {"api_key": "xyz", "service_code": "001", "lat": "37.76524078",
             "long": "-122.4212043", "address_string": "1234 5th street", "email":
             "smit333@sfgov.edu", "device_id": "tt222111", "account_id": "123456",
             "first_name": "john", "last_name": "smith", "phone": "111111111",
             "description": "A large sinkhole is destroying the street", "media_url":
             "http://farm3.static.flickr.com/2002/2212426634_5ed477a060.jpg"}
W3C = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(Z|[+-]\d\d:\d\d)$")


@pytest.fixture(scope="module")
def o311(demo, tokens) -> Iterator[TestClient]:
    """An app whose Open311 key ``hotline-key`` files as the street office."""
    settings = demo.settings.model_copy(update={"open311_api_keys": {"hotline-key": "和平街道办"}})
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture(scope="module")
def spot(demo, tokens) -> tuple[float, float]:
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        p = store.shape_of(store.get_unit(session, version, tokens["first_grid"])
                           ).representative_point()
    return p.x, p.y


def test_services_in_json_and_xml(o311):
    services = o311.get("/open311/v2/services.json").json()
    assert all(set(s) == SERVICE_FIELDS for s in services)
    parking = next(s for s in services if s["service_code"] == "Z001")
    assert parking["type"] == "realtime" and parking["group"] == "事件/街面秩序"
    xml = o311.get("/open311/v2/services.xml")
    assert xml.headers["content-type"].startswith("text/xml")
    assert xml.content.startswith(b"<?xml version='1.0' encoding='utf-8'?>")
    root = ET.fromstring(xml.content)
    assert root.tag == "services" and len(root.findall("service")) == len(services)
    assert root.find("service/metadata").text == "true"


def test_service_definition(o311):
    definition = o311.get("/open311/v2/services/0101.json").json()
    assert definition["service_code"] == "0101"
    attribute = definition["attributes"][0]
    assert {"variable", "code", "datatype", "required", "datatype_description", "order",
            "description", "values"} <= set(attribute)
    assert attribute["datatype"] == "singlevaluelist"
    root = ET.fromstring(o311.get("/open311/v2/services/0101.xml").content)
    assert root.tag == "service_definition"
    assert [v.text for v in root.findall("attributes/attribute/values/value/key")] == [
        "yes", "no"]
    missing = o311.get("/open311/v2/services/NOPE.json")
    assert missing.status_code == 400 and missing.json()[0]["code"] == 400


def test_spec_example_post_is_refused_in_the_spec_error_format(o311):
    bad_key = o311.post("/open311/v2/requests.json", data=SPEC_POST)
    assert bad_key.status_code == 403
    assert set(bad_key.json()[0]) == {"code", "description"} and bad_key.json()[0]["code"] == 403
    xml = o311.post("/open311/v2/requests.xml", data=SPEC_POST)
    error = ET.fromstring(xml.content).find("error")
    assert xml.status_code == 403 and error.find("code").text == "403"
    unknown = o311.post("/open311/v2/requests.json",
                        data={**SPEC_POST, "api_key": "hotline-key"})
    assert unknown.status_code == 400 and "001" in unknown.json()[0]["description"]
    far = o311.post("/open311/v2/requests.json", data={
        **SPEC_POST, "api_key": "hotline-key", "service_code": "0201"})
    assert far.status_code == 400  # San Francisco: outside the service area
    assert "outside the service area" in far.json()[0]["description"]


def test_posted_request_reads_back_and_is_in_our_incident_list(o311, tokens, spot):
    posted = o311.post("/open311/v2/requests.json", data={
        **SPEC_POST, "api_key": "hotline-key", "service_code": "0201",
        "lat": str(spot[1]), "long": str(spot[0])})
    assert posted.status_code == 201, posted.text
    [ack] = posted.json()
    assert set(ack) == {"service_request_id", "service_notice", "account_id"}
    rid = ack["service_request_id"]

    [one] = o311.get(f"/open311/v2/requests/{rid}.json").json()
    assert set(one) == REQUEST_FIELDS
    assert (one["status"], one["service_code"]) == ("open", "0201")
    assert one["agency_responsible"].endswith("党支部")  # the grid's Party branch owns it
    assert all(W3C.match(one[k]) for k in ("requested_datetime", "expected_datetime"))
    assert one["lat"] == pytest.approx(spot[1]) and one["long"] == pytest.approx(spot[0])
    root = ET.fromstring(o311.get(f"/open311/v2/requests/{rid}.xml").content)
    assert root.tag == "service_requests"
    assert root.find("request/service_request_id").text == rid

    listed = o311.get("/open311/v2/requests.json",
                      params={"service_code": "0201", "status": "open"}).json()
    assert rid in {r["service_request_id"] for r in listed}
    assert all(r["status"] == "open" for r in listed)

    ours = o311.get("/api/v1/incidents", params={"category": "0201"},
                    headers=auth(tokens["street"])).json()
    mine = next(i for i in ours if str(i["id"]) == rid)
    assert mine["grid_code"] == tokens["first_grid"] and mine["source"] == "resident"
    assert mine["reporter"] == "john smith"
    detail = o311.get(f"/api/v1/incidents/{rid}", headers=auth(tokens["street"])).json()
    grid = next(link for link in detail["owners"]["chain"] if link["level"] == "grid")
    assert grid["party_org"]["name"] == one["agency_responsible"]

    # Closed on our side → closed in Open311, with notes from the last step.
    base = f"/api/v1/incidents/{rid}"
    for move, body in (("resolve", {"reason": "已修复"}), ("close", {"reason": "核查通过"})):
        assert o311.post(f"{base}/{move}", json=body,
                         headers=auth(tokens["street"])).status_code == 200
    [done] = o311.get(f"/open311/v2/requests/{rid}.json").json()
    assert done["status"] == "closed" and "核查通过" in done["status_notes"]
    assert done["expected_datetime"] is None
    assert o311.get("/open311/v2/requests/99999999.json").status_code == 404
