"""Grid workers' rounds (走访): track batches, GPX imports, 民情日志 visits that file incidents,
coverage per grid, and the month's figures of the people in the loop: thin routes over
``grid.people.rounds`` and ``grid.people.figures``."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Query, UploadFile

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.incidents import table
from grid.api.limits import RowId
from grid.api.people_schemas import (
    BatchBody,
    CoveragePublic,
    FiguresPublic,
    RoundCreate,
    RoundPublic,
    VisitCreate,
    VisitIncidentBody,
    VisitPublic,
    WorkerMonthPublic,
)
from grid.errors import InvalidInput
from grid.people import figures
from grid.people.models import Round
from grid.people.rounds import worker_table

router = APIRouter(prefix="/api/v1", tags=["rounds"], dependencies=[Depends(api_scope)])
Month = Annotated[str, Query(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")]
UnitCode = Annotated[str, Query(pattern=r"^[0-9A-Za-z]{1,32}$")]
#: Largest GPX file accepted (a day's walk at one point a second is about 3 MB).
MAX_GPX_BYTES = 8 * 1024 * 1024


def round_public(walk: Round, stored: bool | None = None) -> RoundPublic:
    """A round with the sequence numbers of its stored batches."""
    return RoundPublic(id=walk.id, worker=walk.worker, grid_code=walk.grid_code,
                       started_at=walk.started_at, points=walk.points,
                       batches=[b.seq for b in walk.batches], stored=stored)


@router.post("/rounds", response_model=RoundPublic, status_code=201,
             summary="开始走访 start a round")
def start(svc: Svc, user: CurrentUser, session: WriteSession, body: RoundCreate) -> RoundPublic:
    """Begin a round in a grid; the phone's ``client_key`` makes a retry answer the same one."""
    walk = svc.people.rounds.start(session, user, body.grid_code, body.client_key,
                                   body.started_at)
    return round_public(walk)


@router.post("/rounds/gpx", response_model=RoundPublic, status_code=201,
             summary="导入 GPX 轨迹 import a GPX track")
async def import_gpx(svc: Svc, user: CurrentUser, file: UploadFile,
                     grid_code: Annotated[str, Form(pattern=r"^[0-9A-Za-z]{1,32}$")],
                     crs: Annotated[str | None, Form(max_length=20)] = None) -> RoundPublic:
    """A round from a GPX file (``crs=gcj02`` for Amap/WeChat tracks); the same file twice
    is one round."""
    data = await file.read(MAX_GPX_BYTES + 1)
    if len(data) > MAX_GPX_BYTES:
        raise InvalidInput(f"GPX 文件过大 larger than {MAX_GPX_BYTES} bytes")
    with svc.db.write() as session:
        walk = svc.people.rounds.import_gpx(session, user, grid_code, data, crs)
        return round_public(walk)


@router.post("/rounds/{round_id}/batches", response_model=RoundPublic,
             summary="上传轨迹批次 send a batch of track points")
def batch(svc: Svc, user: CurrentUser, session: WriteSession, round_id: RowId,
          body: BatchBody) -> RoundPublic:
    """Batch ``seq`` of the track; a batch sent again (offline retry) is stored once
    (``stored`` false)."""
    walk, stored = svc.people.rounds.add_batch(session, user, round_id, body.seq,
                                               body.points, body.crs)
    return round_public(walk, stored)


@router.get("/rounds/coverage", response_model=list[CoveragePublic],
            summary="走访覆盖 coverage per grid")
def coverage(svc: Svc, user: CurrentUser, session: ReadSession, unit: UnitCode,
             month: Month) -> list[CoveragePublic]:
    """Per grid under ``unit``: buildings visited or walked past in the month over its
    buildings, with visits per grid worker."""
    return [CoveragePublic.model_validate(row)
            for row in svc.people.rounds.coverage(session, user, unit, month)]


@router.get("/rounds/workers", response_model=list[WorkerMonthPublic],
            summary="网格员月度走访 the month per grid worker")
def workers(svc: Svc, user: CurrentUser, session: ReadSession, unit: UnitCode,
            month: Month) -> list[WorkerMonthPublic]:
    """Per grid worker under ``unit``: rounds, track points, visits, buildings and households
    visited, incidents filed from the log."""
    rows = worker_table(session, user, unit, month, svc.people.timezone)
    return [WorkerMonthPublic.model_validate(r) for r in rows]


@router.get("/rounds/{round_id}", response_model=RoundPublic, summary="一次走访 one round")
def one_round(svc: Svc, user: CurrentUser, session: ReadSession, round_id: RowId) -> RoundPublic:
    """A round: its worker's own, or in a staff member's scope."""
    return round_public(svc.people.rounds.get(session, user, round_id))


@router.post("/visits", response_model=VisitPublic, status_code=201,
             summary="民情日志 log a visit")
def visit(svc: Svc, user: CurrentUser, session: WriteSession, body: VisitCreate) -> VisitPublic:
    """A visit to a building or household and what was heard there."""
    return VisitPublic.model_validate(svc.people.rounds.visit(session, user,
                                                              **body.model_dump()))


@router.get("/visits", response_model=list[VisitPublic], summary="民情日志 the log")
def visits(svc: Svc, user: CurrentUser, session: ReadSession,
           unit: Annotated[str | None, Query(pattern=r"^[0-9A-Za-z]{1,32}$")] = None,
           month: Annotated[str | None, Query(pattern=r"^\d{4}-\d{2}$")] = None,
           limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> list[VisitPublic]:
    """Entries in the caller's scope (a grid worker's own), newest first."""
    return [VisitPublic.model_validate(v)
            for v in svc.people.rounds.visits(session, user, unit=unit, month=month,
                                              limit=limit)]


@router.post("/visits/{visit_id}/incident", response_model=VisitPublic,
             summary="民情转事件 file the entry as an incident")
def visit_incident(svc: Svc, user: CurrentUser, session: WriteSession, visit_id: RowId,
                   body: VisitIncidentBody) -> VisitPublic:
    """One step from what was heard to an incident at the building (网格发现)."""
    entry, _ = svc.people.rounds.to_incident(session, user, visit_id, body.category, body.note)
    return VisitPublic.model_validate(entry)


@router.get("/people/figures", response_model=list[FiguresPublic],
            summary="月度数据 the month's figures per community")
def monthly_figures(svc: Svc, user: CurrentUser, session: ReadSession, unit: UnitCode,
                    month: Month) -> list[FiguresPublic]:
    """Orders, members, topics and round coverage per community, for the monthly review
    next to the three rates."""
    rows = figures.monthly(session, user, svc.people.rounds, unit, month, svc.people.timezone)
    return [FiguresPublic.model_validate(r) for r in rows]


@router.get("/people/review", summary="月度点评 the monthly review: three rates and people figures")
def monthly_review(svc: Svc, user: CurrentUser, session: ReadSession, unit: UnitCode,
                   month: Month, format: Literal["json", "csv", "xlsx"] = "json"):
    """One row per community under ``unit``: the three rates (``rates_response``,
    ``rates_resolution``, ``rates_satisfaction``, ``rates_score``, ``rates_rank`` …) next to
    the month's orders, members, topics and round coverage; CSV or XLSX for the meeting."""
    rows = figures.review(session, user, svc.people.rounds, unit, month, svc.people.timezone,
                          svc.settings.rate_weights)
    if format != "json":
        return table(rows, f"review-{unit}-{month}", format)
    return rows
