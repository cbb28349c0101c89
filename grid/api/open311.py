"""Open311 GeoReport v2 at ``/open311/v2``: other cities' tools, a hotline or a vendor app file
into the ladder the same way (https://wiki.open311.org/GeoReport_v2).

* ``GET services.{json|xml}`` — one service per incident category (service_code = category code);
* ``GET services/{service_code}.{fmt}`` — its definition (one optional attribute: callback);
* ``POST requests.{fmt}`` — ``api_key`` (``GRID_OPEN311_API_KEYS`` maps key → the account that
  files), ``service_code``, ``lat``/``long`` (WGS 84, as the spec's clients send), description…;
  the request becomes an incident located and owned like any other;
* ``GET requests.{fmt}`` / ``GET requests/{id}.{fmt}`` — status ``open``/``closed`` with
  ``status_notes`` (the latest step), ``agency_responsible`` = the Party organisation of the unit
  handling it now, ``expected_datetime`` = its current deadline.

Errors use the spec's shape: a list of ``{code, description}`` (``<errors><error>`` in XML),
with the HTTP status of the first. Reading is public, as the spec intends (the router's
``public_scope``), so requests show no reporter names or contacts, and their free text
(description, status notes) is scrubbed of phone numbers, ID numbers and e-mails or withheld
(``GRID_OPEN311_DESCRIPTIONS``).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from xml.etree import ElementTree as ET
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse, Response
from geoalchemy2.shape import to_shape
from sqlalchemy import select

from grid import redact
from grid.api.deps import Svc, public_scope
from grid.api.limits import parse_row_id, text
from grid.errors import Forbidden, GridError, InvalidInput, NotFound
from grid.hierarchy.chain import owner_chain
from grid.hierarchy.levels import Level
from grid.incidents.models import Incident
from grid.services import Services
from grid.spatial.chinacrs import storage_point
from grid.users import User

router = APIRouter(prefix="/open311/v2", tags=["open311"],
                   dependencies=[Depends(public_scope)])

CLOSED = ("closed", "rated", "merged")
_STATUS = {Forbidden: 403, NotFound: 404}
#: Element names of list items in XML answers, by their list's name.
#: Path and query fields: a format, a service code, one id, a list of ids or codes, a date.
Format = text(8)
ServiceCode = text(40)
RequestId = text(20)
List = text(2000)
Date = text(40)
#: Most characters of a posted form field (the description is cut to 4000 after).
MAX_FORM_TEXT = 10_000
_ITEM = {"services": "service", "service_requests": "request", "errors": "error",
         "attributes": "attribute", "values": "value"}


def _xml(root: str, payload: Any) -> bytes:
    def fill(node: ET.Element, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                fill(ET.SubElement(node, key), item)
        elif isinstance(value, list):
            for item in value:
                fill(ET.SubElement(node, _ITEM.get(node.tag, "item")), item)
        elif isinstance(value, bool):
            node.text = "true" if value else "false"
        elif value is not None:
            node.text = str(value)

    element = ET.Element(root)
    fill(element, payload)
    return ET.tostring(element, encoding="utf-8", xml_declaration=True)


def answer(fmt: str, root: str, payload: Any, status: int = 200) -> Response:
    """The same payload as JSON or XML (``root`` names the XML document element)."""
    if fmt == "xml":
        return Response(_xml(root, payload), status_code=status,
                        media_type="text/xml; charset=utf-8")
    return JSONResponse(payload, status_code=status)


def error(fmt: str, exc: GridError) -> Response:
    """The spec's error list, with the matching HTTP status."""
    status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
    return answer(fmt if fmt in ("json", "xml") else "json", "errors",
                  [{"code": status, "description": exc.message}], status)


def _format(fmt: str) -> str:
    if fmt not in ("json", "xml"):
        raise NotFound(f"格式不支持 format '{fmt}' is not supported; use json or xml")
    return fmt


def _when(value: datetime | None, tz: ZoneInfo) -> str | None:
    return value.astimezone(tz).isoformat(timespec="seconds") if value else None


def service(svc: Services, code: str) -> dict:
    """One category as an Open311 service."""
    category = svc.categories.get(code)
    return {"service_code": category.code, "service_name": category.label(),
            "description": f"{category.label()} / {category.label('en')}; "
                           f"时限 limits {category.time_limits}",
            "metadata": True, "type": "realtime",
            "keywords": ", ".join(category.departments), "group": category.class_}


def public_text(svc: Services, text: str | None) -> str | None:
    """Free text as the public read shows it (``GRID_OPEN311_DESCRIPTIONS``): scrubbed of
    phone numbers, ID numbers and e-mails, or withheld."""
    if svc.settings.open311_descriptions == "withheld":
        return None
    return redact.scrub(text)


def request_public(svc: Services, session, incident: Incident) -> dict:
    """One incident as an Open311 service request, as anyone may read it: no reporter, no
    contact, free text scrubbed or withheld (``public_text``)."""
    tz = ZoneInfo(svc.settings.work_timezone)
    codes = {Level.street: incident.street_code, Level.community: incident.community_code,
             Level.grid: incident.grid_code, Level.building: incident.building_code}
    chain = owner_chain(session, incident.boundary_version, codes)
    link = chain.link(Level(incident.level))
    last = incident.steps[-1] if incident.steps else None
    point = to_shape(incident.geom)
    notes = None
    if last is not None:
        reason = public_text(svc, last.reason)
        notes = f"{incident.state}/{incident.level}" + (f": {reason}" if reason else "")
    return {
        "service_request_id": str(incident.id),
        "status": "closed" if incident.state in CLOSED else "open",
        "status_notes": notes,
        "service_name": svc.categories.get(incident.category).label(),
        "service_code": incident.category,
        "description": public_text(svc, incident.description),
        "agency_responsible": link.party_org.name if link and link.party_org else None,
        "service_notice": None,
        "requested_datetime": _when(incident.created_at, tz),
        "updated_datetime": _when(incident.updated_at, tz),
        "expected_datetime": _when(incident.due_at, tz),
        "address": link.name if link else None,
        "address_id": incident.building_code,
        "zipcode": None,
        "lat": point.y,
        "long": point.x,
        "media_url": None,
    }


@router.get("/services.{fmt}", summary="服务列表 Open311 services")
def services(svc: Svc, fmt: Format) -> Response:
    """Every category as a service."""
    try:
        fmt = _format(fmt)
        return answer(fmt, "services", [service(svc, c.code) for c in svc.categories.categories])
    except GridError as exc:
        return error(fmt, exc)


@router.get("/services/{service_code}.{fmt}", summary="服务定义 Open311 service definition")
def service_definition(svc: Svc, service_code: ServiceCode, fmt: Format) -> Response:
    """The attributes a request of this service may carry."""
    try:
        fmt = _format(fmt)
        code = svc.categories.get(service_code).code
    except GridError as exc:
        return error(fmt, exc)
    return answer(fmt, "service_definition", {"service_code": code, "attributes": [{
        "variable": True, "code": "callback", "datatype": "singlevaluelist",
        "required": False, "datatype_description": None, "order": 1,
        "description": "是否需要回访 Do you want a callback?",
        "values": [{"key": "yes", "name": "是 yes"}, {"key": "no", "name": "否 no"}]}]})


def _file(svc: Services, form: dict[str, str]) -> int:
    account = svc.settings.open311_api_keys.get(form.get("api_key", ""))
    if account is None:
        raise Forbidden("api_key 无效 invalid or missing api_key")
    if not form.get("service_code"):
        raise InvalidInput("缺少 service_code is required")
    svc.categories.get(form["service_code"])  # an unknown service first, then the place
    try:
        lat, lon = float(form["lat"]), float(form["long"])
    except (KeyError, ValueError):
        raise InvalidInput("需要坐标 lat and long are required (WGS 84 degrees)") from None
    name = " ".join(p for p in (form.get("first_name"), form.get("last_name")) if p)
    lon, lat = storage_point(lon, lat, "wgs84")
    with svc.db.write() as session:
        user = session.scalar(select(User).where(User.name == account, User.active))
        if user is None:
            raise Forbidden("api_key 的账号不存在 the api_key's account is gone")
        incident = svc.ladder.file(
            session, user, lon=lon, lat=lat, category=form["service_code"],
            description=form.get("description", "")[:4000], reporter=name[:100] or account,
            source="resident", contact=(form.get("phone") or form.get("email") or "")[:100])
        return incident.id


def _fields(form) -> dict[str, str]:
    """A posted form's text fields, each bounded and without NUL (uploaded files ignored)."""
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    for key, value in fields.items():
        if "\x00" in value or len(value) > MAX_FORM_TEXT:
            raise InvalidInput(f"字段 {key[:40]} 无效：含 NUL 字符或超过 {MAX_FORM_TEXT} 字 "
                               f"field {key[:40]!r} holds NUL or is longer than "
                               f"{MAX_FORM_TEXT} characters")
    return fields


@router.post("/requests.{fmt}", summary="提交诉求 Open311 POST service request")
async def post_request(svc: Svc, request: Request, fmt: Format) -> Response:
    """File a request (form-encoded, as the spec says); answers its id."""
    try:
        fmt = _format(fmt)
        incident_id = _file(svc, _fields(await request.form()))
    except GridError as exc:
        return error(fmt, exc)
    return answer(fmt, "service_requests", [{"service_request_id": str(incident_id),
                                             "service_notice": None, "account_id": None}], 201)


def _instant(svc: Services, text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"日期格式错误 '{text}' is not a W3C datetime") from None
    return value if value.tzinfo else value.replace(tzinfo=ZoneInfo(svc.settings.work_timezone))


@router.get("/requests.{fmt}", summary="诉求列表 Open311 GET service requests")
def get_requests(svc: Svc, fmt: Format, service_request_id: List | None = None,
                 service_code: List | None = None, start_date: Date | None = None,
                 end_date: Date | None = None, status: text(20) | None = None) -> Response:
    """Requests, newest first: by ids, or filtered by service, dates (default: last 90 days,
    at most 1000) and status."""
    try:
        fmt = _format(fmt)
        query = select(Incident).order_by(Incident.id.desc()).limit(1000)
        if service_request_id:
            ids = [i for i in map(parse_row_id, service_request_id.split(",")[:1000])
                   if i is not None]
            query = query.where(Incident.id.in_(ids))
        if service_code:
            query = query.where(Incident.category.in_(service_code.split(",")))
        for bound, op in ((start_date, "__ge__"), (end_date, "__le__")):
            if bound:
                query = query.where(getattr(Incident.created_at, op)(_instant(svc, bound)))
        if status in ("open", "closed"):
            closed = Incident.state.in_(CLOSED)
            query = query.where(closed if status == "closed" else ~closed)
        with svc.db.read() as session:
            found = [request_public(svc, session, i) for i in session.scalars(query)]
    except GridError as exc:
        return error(fmt, exc)
    return answer(fmt, "service_requests", found)


@router.get("/requests/{request_id}.{fmt}", summary="单个诉求 Open311 GET service request")
def get_request(svc: Svc, request_id: RequestId, fmt: Format) -> Response:
    """One request (a list of one, as the spec shows)."""
    try:
        fmt = _format(fmt)
        with svc.db.read() as session:
            number = parse_row_id(request_id)
            incident = None if number is None else session.get(Incident, number)
            if incident is None:
                raise NotFound(f"诉求 {request_id} 不存在 service request {request_id} not found")
            found = [request_public(svc, session, incident)]
    except GridError as exc:
        return error(fmt, exc)
    return answer(fmt, "service_requests", found)
