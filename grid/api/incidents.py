"""Incidents: report, read, list, and one endpoint per ladder move."""

from __future__ import annotations

from typing import Annotated, Literal

import anyio
from fastapi import APIRouter, Depends, Header, Query, Request, UploadFile
from fastapi.responses import Response
from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from grid import tables
from grid.api import fields
from grid.api.deps import (
    ApiScope,
    CachedUser,
    CurrentUser,
    ReadSession,
    Svc,
    WriteSession,
    api_scope,
)
from grid.api.downloads import attachment_headers
from grid.api.limits import NO_NUL, Code, Count, IncidentState, Month, RowId, text
from grid.api.schemas import (
    AttachmentPublic,
    DepartmentBody,
    DuplicatePublic,
    IncidentCreate,
    IncidentDetail,
    IncidentPublic,
    MergeBody,
    RateBody,
    ReasonBody,
    SendBackBody,
    WhistleBody,
    incident_public,
)
from grid.errors import Forbidden, InvalidInput, NotFound
from grid.hierarchy.chain import OwnerChain, owner_chain
from grid.hierarchy.levels import Level
from grid.incidents import attachments, duplicates, hotspots, inserts, rates
from grid.incidents.models import Attachment, Incident
from grid.incidents.rates import month_bounds
from grid.orm import utcnow
from grid.scope import Scope
from grid.services import Services
from grid.spatial.chinacrs import storage_point

router = APIRouter(prefix="/api/v1/incidents", tags=["incidents"],
                   dependencies=[Depends(api_scope)])


def _limit(svc: Services, incident: Incident) -> str | None:
    """The time limit now running (e.g. ``8wh``), shown next to ``due_at``."""
    if incident.state != "open":
        return None
    return svc.categories.get(incident.category).time_limits[incident.level]


def public(svc: Services, incident: Incident, now) -> IncidentPublic:
    """An incident for lists, with its running time limit."""
    name = svc.categories.get(incident.category).label(svc.settings.language)
    shaped = incident_public(incident, name, now)
    shaped.time_limit = _limit(svc, incident)
    return shaped


def detail(svc: Services, session, incident: Incident,
           owners: OwnerChain | None = None, *, scope: Scope) -> IncidentDetail:
    """An incident with its owner chain (against its own boundary version, unless given) and
    timeline, contacts as ``scope`` may see them (``grid.api.fields``)."""
    if owners is None:
        codes = {Level.street: incident.street_code, Level.community: incident.community_code,
                 Level.grid: incident.grid_code, Level.building: incident.building_code}
        owners = owner_chain(session, incident.boundary_version, codes)
    name = svc.categories.get(incident.category).label(svc.settings.language)
    shaped = incident_public(incident, name, utcnow(), owners)
    shaped.time_limit = _limit(svc, incident)
    fields.chain(scope, shaped.owners)
    return shaped


def storage(svc: Services) -> attachments.DiskStorage:
    """The deployment's attachment storage."""
    return attachments.DiskStorage(svc.settings.attachments_dir)


@router.post("/attachments", response_model=AttachmentPublic, status_code=201,
             summary="上传附件 upload a photo or document")
async def upload(svc: Svc, user: CurrentUser, file: UploadFile) -> AttachmentPublic:
    """Store a JPEG, PNG or PDF (size- and type-checked); a photo's EXIF GPS is kept."""
    limit = svc.settings.attachment_max_bytes
    data = await file.read(limit + 1)
    with svc.db.write() as session:
        row = attachments.store(session, storage(svc), filename=file.filename or "",
                                data=data, uploaded_by=user.name, max_bytes=limit)
        return AttachmentPublic.model_validate(row)


@router.get("/attachments/{attachment_id}", summary="下载附件 download an attachment")
def download(svc: Svc, user: CurrentUser, session: ReadSession,
             attachment_id: RowId) -> Response:
    """The attachment's bytes, to anyone who may see its incident."""
    row = session.get(Attachment, attachment_id)
    if row is None:
        raise NotFound(f"附件 {attachment_id} 不存在 attachment not found")
    if row.incident_id is not None:
        svc.ladder.get(session, user, row.incident_id)
    elif row.uploaded_by != user.name:
        raise NotFound(f"附件 {attachment_id} 不存在 attachment not found")
    return Response(storage(svc).get(row.key), media_type=row.content_type)


def table(rows: list[dict], name: str, fmt: str) -> Response:
    """Rows as a CSV or XLSX download."""
    if fmt == "csv":
        return Response(tables.to_csv(rows), media_type="text/csv; charset=utf-8",
                        headers=attachment_headers(f"{name}.csv"))
    return Response(
        tables.to_xlsx(rows, name),
        media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=attachment_headers(f"{name}.xlsx"))


@router.get("/stats/rates", summary="三率排名 monthly three-rate ranking")
def three_rates(
    svc: Svc, user: CurrentUser, session: ReadSession,
    month: Annotated[Month, Query(description="YYYY-MM")],
    level: Literal["street", "community"] = "street",
    format: Literal["json", "csv", "xlsx"] = "json",
):
    """响应率 / 解决率 / 满意率 per unit for cases received in the month, lowest named; formulas
    in ``grid.incidents.rates``, weights from ``GRID_RATE_WEIGHTS``."""
    start, end = month_bounds(month, svc.settings.work_timezone)
    ranking = rates.monthly_ranking(session, level, start, end, svc.settings.rate_weights)
    rows = [u.as_row() for u in ranking.units if user.covers(u.code)]
    if format != "json":
        return table(rows, f"rates-{level}-{month}", format)
    return {"month": month, "level": level, "weights": svc.settings.rate_weights,
            "units": rows,
            "lowest": next((r["code"] for r in reversed(rows) if r["rank"] is not None), None),
            "zero_complaint_communities": ranking.zero_complaint_communities,
            "low_complaint_communities": ranking.low_complaint_communities}


def _street(user, street: str) -> str:
    if not user.covers(street):
        raise Forbidden(f"街道 {street} 不在您的范围内 street {street} is outside your scope")
    return street


@router.get("/stats/top-categories", summary="每月一题 top categories by count and growth")
def top_categories(
    svc: Svc, user: CurrentUser, session: ReadSession,
    month: Annotated[Month, Query(description="YYYY-MM")],
    street: Annotated[Code, Query(description="街道编码 street code")],
    baseline_months: Annotated[int, Query(ge=1, le=24)] = 3,
    format: Literal["json", "csv", "xlsx"] = "json",
):
    """The street's categories this month by count and by growth over the previous months."""
    start, end = month_bounds(month, svc.settings.work_timezone)
    found = hotspots.top_categories(session, _street(user, street), start, end, baseline_months)
    rows = [{**t.as_row(), "name": svc.categories.get(t.category).label(svc.settings.language)}
            for t in found]
    if format != "json":
        return table(rows, f"top-categories-{street}-{month}", format)
    return rows


@router.get("/stats/hotspots", summary="未诉先办 space-time hotspots")
def hotspot_cells(
    svc: Svc, user: CurrentUser, session: ReadSession,
    month: Annotated[Month, Query(description="YYYY-MM")],
    street: Annotated[Code, Query(description="街道编码 street code")],
    cell_m: Annotated[float, Query(gt=10, le=5000)] = 200,
    min_count: Annotated[int, Query(ge=1, le=1_000_000)] = 3,
    factor: Annotated[float, Query(gt=0, le=1000)] = 2.0,
    format: Literal["json", "csv", "xlsx"] = "json",
):
    """Cells where a category clusters beyond its usual monthly rate."""
    start, end = month_bounds(month, svc.settings.work_timezone)
    found = hotspots.hotspots(session, _street(user, street), start, end, cell_m=cell_m,
                              min_count=min_count, factor=factor)
    rows = [h.as_row() for h in found]
    if format != "json":
        return table(rows, f"hotspots-{street}-{month}", format)
    return rows


@router.get("/overdue-report-ins", response_model=list[IncidentPublic],
            summary="逾期未报到 whistled cases with a department late to report in")
def overdue_report_ins(svc: Svc, scope: ApiScope,
                       session: ReadSession) -> list[IncidentPublic]:
    """Cases in the caller's scope where a summoned department has not reported in in time."""
    now = utcnow()
    seen: dict[int, Incident] = {}
    for incident, _ in svc.ladder.overdue_report_ins(session, now):
        if scope.sees(incident):
            seen.setdefault(incident.id, incident)
    return [public(svc, i, now) for i in seen.values()]


IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=100, pattern=NO_NUL,
    description="同一上报重发时不重复立案 a key per report: sent again with the same key (by "
                "the same account), the case already filed is answered (200) instead of a "
                "new one")]


@router.post("", response_model=IncidentDetail, status_code=201, summary="上报 report",
             responses={200: {"description": "已立案 (Idempotency-Key seen before): the case "
                              "filed by the first send"}})
async def report(request: Request, user: CachedUser, scope: ApiScope, body: IncidentCreate,
                 idempotency_key: IdempotencyKey = None) -> Response:
    """网格发现: report a problem at a place; its owners are found by locate."""
    state = request.app.state
    svc: Services = state.services
    key = None if idempotency_key is None else f"{user.id}:{idempotency_key}"
    # The hot write, on PostGIS with coordinates and no attachments, once the place
    # directory answers from memory: checked, placed and shaped on the event loop, its one
    # statement awaited there (asyncio pool, grid.db.Database.open_async) — through the
    # process's group-commit writer (inserts.ReportWriter: answered once the transaction
    # holding it commits). No thread: the work is Python holding the GIL, so a thread only
    # added its hand-offs and turns on the GIL to each request.
    if svc.db.has_async and key is None and not body.attachments and body.lon is not None \
            and body.lat is not None:
        fields = body.model_dump(exclude={"crs"})
        # Phones send GCJ-02/BD-09; the ladder locates in storage coordinates (CGCS2000).
        fields["lon"], fields["lat"] = storage_point(body.lon, body.lat, body.crs)
        placed = svc.places.from_memory(fields["lon"], fields["lat"])
        if placed is not None and placed.covered:
            overlays = svc.ladder.overlays
            if overlays is not None and not overlays.fresh:
                # The overlay snapshot's re-read is a few queries: in a thread, not on the
                # loop every other request of this process waits on.
                await anyio.to_thread.run_sync(overlays.index)
            new = svc.ladder.prepare_report(user, **fields,
                                            placed=(placed.version, placed.codes))
            writer = _writer(state, svc)
            if writer is not None:  # group commit: answered once its transaction commits
                candidates = await writer.write(new)
            else:
                async with svc.db.async_statement() as conn:
                    candidates = await inserts.insert_report_async(
                        conn, new.incident, new.step, new.reporter, new.messages, new.nearby)
            incident, suggested = new.written(candidates)
            if suggested and not scope.everywhere:  # rare: only near an open case
                ids = [s.incident_id for s in suggested]
                async with svc.db.async_statement() as conn:
                    shown = set((await conn.execute(select(Incident.id).where(
                        Incident.id.in_(ids), scope.incidents()))).scalars())
                suggested = [s for s in suggested if s.incident_id in shown]
            return _answer(svc, None, incident, suggested, placed.owners, scope)
    # Otherwise one hop to the thread pool for the whole request (not one per dependency),
    # and at most GRID_REPORT_CONCURRENCY reports computed at once per process — the rest
    # wait on the event loop: more threads only take turns on the GIL, and each turn costs.
    if getattr(state, "report_limiter", None) is None:  # made on the event loop, once
        state.report_limiter = anyio.CapacityLimiter(svc.settings.report_concurrency)
    return await anyio.to_thread.run_sync(_report_once if key else _report, svc, user, body,
                                          key, limiter=state.report_limiter)


def _writer(state, svc: Services) -> inserts.ReportWriter | None:
    """The process's group-commit writer (made on the event loop, once), unless
    ``GRID_REPORT_BATCH=0``."""
    if not svc.settings.report_batch:
        return None
    if getattr(state, "report_writer", None) is None:
        state.report_writer = inserts.ReportWriter(svc.db, svc.settings.report_batch_max)
    return state.report_writer


def _report_once(svc: Services, user, body: IncidentCreate, key: str) -> Response:
    """A report with an idempotency key: the case filed earlier with the key, if any (a
    draft sent again after the page lost the first answer), else a new one. Two sends
    racing: the unique index refuses the second INSERT, which then answers the first's case."""
    with svc.db.read() as session:
        if (earlier := _filed(session, key)) is not None:
            return _replayed(svc, session, earlier, body, user)
    try:
        return _report(svc, user, body, key)
    except IntegrityError:
        with svc.db.read() as session:
            if (earlier := _filed(session, key)) is None:
                raise
            return _replayed(svc, session, earlier, body, user)


def _filed(session, key: str) -> Incident | None:
    return session.scalars(select(Incident).where(Incident.client_key == key)).first()


def _replayed(svc: Services, session, incident: Incident, body: IncidentCreate,
              user) -> Response:
    """The case filed earlier under the key — if this is the same report: a key used again
    for a different one is refused (422, as the IETF Idempotency-Key draft asks), not
    answered with a case the client did not mean."""
    same = (incident.category, incident.description, incident.source) == (
        body.category, body.description, body.source)
    if same and body.lon is not None and body.lat is not None:
        x, y = storage_point(body.lon, body.lat, body.crs)
        point = to_shape(incident.geom)
        same = abs(point.x - x) < 1e-7 and abs(point.y - y) < 1e-7
    if not same:
        raise InvalidInput(
            "Idempotency-Key 已用于另一份上报 this Idempotency-Key was already used for a "
            f"different report (incident {incident.id}); use a new key per report")
    shaped = detail(svc, session, incident, scope=Scope.of(user))
    return Response(shaped.model_dump_json(), status_code=200, media_type="application/json",
                    headers={"Idempotent-Replayed": "true"})


def _report(svc: Services, user, body: IncidentCreate, key: str | None = None) -> Response:
    fields = body.model_dump()
    fields["client_key"] = key
    crs = fields.pop("crs", None)
    # Without attachments to link, a report writes one statement (grid.incidents.inserts),
    # which on PostGIS also finds the possible duplicates.
    with (svc.db.write() if body.attachments else svc.db.single_statement()) as session:
        if body.lon is None or body.lat is None:
            # No coordinates: a photo's EXIF GPS (phones write WGS 84) places the report.
            found = attachments.photo_location(session, body.attachments, user.name)
            if found is None:
                raise InvalidInput("缺少坐标且照片无GPS lon/lat missing and no attached photo "
                                   "has GPS")
            fields["lon"], fields["lat"], crs = found[0], found[1], "wgs84"
        # Phones send GCJ-02/BD-09; the ladder locates in storage coordinates (CGCS2000).
        fields["lon"], fields["lat"] = storage_point(fields["lon"], fields["lat"], crs)
        # Placed by the place directory, from memory once it is ready (the owners it shows
        # are those locate shows).
        placed = (svc.places.locate(fields["lon"], fields["lat"])
                  if svc.places.fresh_seconds > 0 else None)
        incident, suggested = svc.ladder.file_suggesting(
            session, user, **fields, placed=placed and (placed.version, placed.codes))
        shown = Scope.of(user).visible_ids(session, [s.incident_id for s in suggested])
        suggested = [s for s in suggested if s.incident_id in shown]
        owners = placed.owners if placed is not None and placed.covered else None
        return _answer(svc, session, incident, suggested, owners, Scope.of(user))


def _answer(svc: Services, session, incident: Incident, suggested,
            owners: OwnerChain | None, scope: Scope) -> Response:
    # Shaped from the rows as written (nothing read back) and serialised once here, not
    # validated again against the response model.
    shaped = detail(svc, session, incident, owners, scope=scope)
    shaped.possible_duplicates = [DuplicatePublic.model_validate(s.__dict__)
                                  for s in suggested]
    return Response(shaped.model_dump_json(), status_code=201, media_type="application/json")


@router.get("", response_model=list[IncidentPublic], summary="事件列表 list")
def list_incidents(
    svc: Svc, user: CurrentUser, session: ReadSession,
    state: IncidentState | None = None, level: Level | None = None,
    category: text(40) | None = None,
    unit: Annotated[Code | None, Query(description="单元编码前缀 unit code (subtree)")] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[Count, Query()] = 0,
) -> list[IncidentPublic]:
    """Incidents inside the caller's scope, newest first."""
    now = utcnow()
    found = svc.ladder.list(session, user, state=state, level=level, category=category,
                            unit=unit, limit=limit, offset=offset)
    return [public(svc, i, now) for i in found]


@router.get("/{incident_id}", response_model=IncidentDetail, summary="事件详情 one incident")
def get_incident(svc: Svc, user: CurrentUser, session: ReadSession,
                 incident_id: RowId) -> IncidentDetail:
    """One incident with its owner chain and every step so far."""
    return detail(svc, session, svc.ladder.get(session, user, incident_id),
                  scope=Scope.of(user))


@router.post("/{incident_id}/escalate", response_model=IncidentDetail,
             summary="上报上一级 escalate (社区呼叫)")
def escalate(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
             body: ReasonBody) -> IncidentDetail:
    """Move the incident one level up, with a reason."""
    incident = svc.ladder.escalate(session, user, incident_id, body.reason,
                                   attachments=body.attachments)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/send-back", response_model=IncidentDetail,
             summary="退回下一级 send back down with instructions")
def send_back(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
              body: SendBackBody) -> IncidentDetail:
    """退回: return the case one level down (e.g. community → grid) with instructions."""
    incident = svc.ladder.send_back(session, user, incident_id, body.instructions,
                                    attachments=body.attachments)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.get("/{incident_id}/duplicates", response_model=list[DuplicatePublic],
            summary="疑似重复 possible duplicates")
def possible_duplicates(svc: Svc, user: CurrentUser, scope: ApiScope, session: ReadSession,
                        incident_id: RowId) -> list[DuplicatePublic]:
    """Open cases of the same category near this one in space and time, those the caller
    may see (a case across a community line is not named to the other community)."""
    incident = svc.ladder.get(session, user, incident_id)
    found = duplicates.suggest(session, svc.ladder, incident)
    shown = scope.visible_ids(session, [s.incident_id for s in found])
    return [DuplicatePublic.model_validate(s.__dict__) for s in found if s.incident_id in shown]


@router.post("/{incident_id}/merge", response_model=IncidentDetail,
             summary="合并重复工单 merge into another case")
def merge(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
          body: MergeBody) -> IncidentDetail:
    """Close this case as a duplicate of ``into``; its reporters move to ``into``."""
    target = duplicates.merge(session, svc.ladder, user, incident_id, body.into, body.reason)
    return detail(svc, session, target, scope=Scope.of(user))


@router.post("/{incident_id}/resolve", response_model=IncidentDetail, summary="办结 resolve")
def resolve(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
            body: ReasonBody) -> IncidentDetail:
    """The current level solved it."""
    incident = svc.ladder.resolve(session, user, incident_id, body.reason,
                                  attachments=body.attachments)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/whistle", response_model=IncidentDetail, summary="吹哨 whistle")
def whistle(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
            body: WhistleBody) -> IncidentDetail:
    """街乡吹哨: the street summons departments (and stationed units, 驻区单位, by code)."""
    incident = svc.ladder.whistle(session, user, incident_id, body.departments, body.reason,
                                  report_in_minutes=body.report_in_minutes,
                                  stationed_units=body.stationed_units)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/report-in", response_model=IncidentDetail,
             summary="部门报到 report in")
def report_in(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
              body: DepartmentBody) -> IncidentDetail:
    """部门报到: a summoned department acknowledges."""
    incident = svc.ladder.report_in(session, user, incident_id, body.department, body.note)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/finish", response_model=IncidentDetail,
             summary="部门办结 department done")
def finish(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
           body: DepartmentBody) -> IncidentDetail:
    """A department reports its part done; the last one resolves the incident."""
    incident = svc.ladder.finish(session, user, incident_id, body.department, body.note,
                                 attachments=body.attachments)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/close", response_model=IncidentDetail, summary="核查结案 close")
def close(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
          body: ReasonBody) -> IncidentDetail:
    """核查结案: checked and closed."""
    incident = svc.ladder.close(session, user, incident_id, body.reason,
                                attachments=body.attachments)
    return detail(svc, session, incident, scope=Scope.of(user))


@router.post("/{incident_id}/rate", response_model=IncidentDetail, summary="回访评价 rate")
def rate(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
         body: RateBody) -> IncidentDetail:
    """回访评价: the reporter's rating (满意 / 基本满意 / 不满意)."""
    incident = svc.ladder.rate(session, user, incident_id, body.rating, body.note,
                               reporter_id=body.reporter_id)
    return detail(svc, session, incident, scope=Scope.of(user))
