"""Overlays over HTTP (issue 13): list and create temporary Party branches, street/lane
segments and their chiefs, building heads and stationed units; load a centreline file.

Street staff edit inside their street, GIS staff and admins everywhere; everyone signed in
reads. Every write forgets the process's overlay snapshot, so locate and new reports see it
at once.
"""

from __future__ import annotations

import shutil
import tempfile
from datetime import date
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Form, Query, UploadFile

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import RowId
from grid.api.overlay_schemas import (
    BranchCreate,
    BranchPublic,
    ChiefCreate,
    ChiefPublic,
    HeadCreate,
    HeadPublic,
    OverlayMatchPublic,
    SegmentPublic,
    SegmentVersionPublic,
    StationedCreate,
    StationedPublic,
)
from grid.api.schemas import LocationPublic, location_public
from grid.errors import Forbidden, InvalidInput
from grid.hierarchy.levels import Level
from grid.orm import utcnow
from grid.overlays import segments as segment_files
from grid.overlays import store
from grid.services import Services
from grid.spatial.locate import Location

router = APIRouter(prefix="/api/v1/overlays", tags=["overlays"],
                   dependencies=[Depends(api_scope)])
DayQuery = Annotated[date | None, Query(description="日期 valid on this local date; default "
                                                    "today")]
SUFFIXES = (".zip", ".gpkg", ".geojson", ".json")


def today(svc: Services) -> date:
    """The local date now, in the work timezone."""
    return store.local_day(utcnow(), svc.settings.work_timezone)


def with_overlays(svc: Services, location: Location, on: date | None = None) -> LocationPublic:
    """A locate answer with the overlays at the point on ``on`` (default today)."""
    answer = location_public(location)
    match = svc.overlays.match(location.lon, location.lat, on or today(svc),
                               location.codes.get(Level.building))
    answer.overlays = OverlayMatchPublic.model_validate(match.as_dict())
    return answer


def _may_edit(user, code: str) -> None:
    if user.role in ("admin", "gis"):
        return
    if user.role in ("street", "community") and user.covers(code):
        return
    raise Forbidden(f"无权维护 {code} 的叠加信息 role {user.role} cannot edit overlays of {code}")


def _branch(b, day: date) -> BranchPublic:
    return BranchPublic.model_validate(b).model_copy(update={"active": store.is_valid(b, day)})


def _unit(u, day: date) -> StationedPublic:
    return StationedPublic.model_validate(u).model_copy(update={"active": store.is_valid(u, day)})


@router.get("/branches", response_model=list[BranchPublic], summary="临时党支部 branches")
def list_branches(svc: Svc, session: ReadSession, user: CurrentUser,
                  on: DayQuery = None, all: bool = False) -> list[BranchPublic]:
    """Temporary Party branches valid on ``on`` (today), or every one with ``all``."""
    day = on or today(svc)
    return [_branch(b, day) for b in store.branches(session, None if all else day)]


@router.post("/branches", response_model=BranchPublic, status_code=201,
             summary="设立临时党支部 set up a temporary branch")
def create_branch(svc: Svc, session: WriteSession, user: CurrentUser,
                  body: BranchCreate) -> BranchPublic:
    """A temporary Party branch with its area (GeoJSON polygon, lon/lat) and period."""
    _may_edit(user, body.parent_org_code)
    branch = store.add_branch(session, **body.model_dump(exclude={"geometry"}),
                              geom=store.from_geojson(body.geometry.model_dump()))
    svc.overlays.invalidate()
    return _branch(branch, today(svc))


@router.get("/segments", response_model=list[SegmentPublic], summary="街巷 segments")
def list_segments(svc: Svc, session: ReadSession, user: CurrentUser,
                  version: int | None = None, on: DayQuery = None) -> list[SegmentPublic]:
    """Segments of the active segment version (or ``version``), with the chiefs valid on
    ``on`` (today)."""
    day = on or today(svc)
    rows = store.segments(session, version)
    chiefs: dict[str, list] = {}
    for c in store.chiefs(session, [s.code for s in rows]):
        if store.is_valid(c, day):
            chiefs.setdefault(c.segment_code, []).append(ChiefPublic.model_validate(c))
    return [SegmentPublic(code=s.code, name=s.name, kind=s.kind, version_id=s.version_id,
                          communities=list((s.attrs or {}).get("communities", [])),
                          chiefs=chiefs.get(s.code, [])) for s in rows]


@router.get("/segment-versions", response_model=list[SegmentVersionPublic],
            summary="街巷版本 segment versions")
def list_segment_versions(session: ReadSession, user: CurrentUser
                          ) -> list[SegmentVersionPublic]:
    """Every segment version with its number of segments."""
    return [SegmentVersionPublic(id=v.id, label=v.label, is_active=v.is_active,
                                 segments=len(store.segments(session, v.id)))
            for v in store.segment_versions(session)]


@router.post("/segment-versions/{version_id}/activate", response_model=SegmentVersionPublic,
             summary="启用街巷版本 activate")
def activate_segments(svc: Svc, session: WriteSession, user: CurrentUser,
                      version_id: RowId) -> SegmentVersionPublic:
    """Make a segment version the active one (GIS staff and admins)."""
    if user.role not in ("admin", "gis"):
        raise Forbidden("只有管理员或GIS人员可以启用版本 only admin or GIS staff can activate")
    version = store.activate_segment_version(session, version_id)
    svc.overlays.invalidate()
    return SegmentVersionPublic(id=version.id, label=version.label, is_active=True,
                                segments=len(store.segments(session, version.id)))


@router.post("/segments/load", summary="导入街巷中心线 load a centreline file")
async def load_segments(svc: Svc, user: CurrentUser, file: UploadFile,
                        commit: Annotated[bool, Form()] = False,
                        activate: Annotated[bool, Form()] = False,
                        label: Annotated[str | None, Form(max_length=200)] = None,
                        crs: Annotated[str | None, Form(max_length=40)] = None,
                        encoding: Annotated[str | None, Form(max_length=20)] = None
                        ) -> dict[str, Any]:
    """Upload a zipped shapefile, GeoPackage or GeoJSON of centrelines: the validation report
    (a dry run), or with ``commit`` a new segment version when the report has no error."""
    if user.role not in ("admin", "gis"):
        raise Forbidden("只有管理员或GIS人员可以导入 only admin or GIS staff can load")
    name = Path(file.filename or "upload").name
    if not name.lower().endswith(SUFFIXES):
        raise InvalidInput(f"文件类型须为 the file must be one of {', '.join(SUFFIXES)}")
    folder = Path(tempfile.mkdtemp(prefix="grid-segments-"))
    try:
        path = folder / name
        with path.open("wb") as out:
            shutil.copyfileobj(file.file, out)
        report = segment_files.load_segments(svc.db, path, commit=commit, activate=activate,
                                             label=label, crs=crs, encoding=encoding)
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if report.committed:
        svc.overlays.invalidate()
    body = report.as_json()
    body["source"] = name  # not the server's temporary path
    return body


@router.get("/chiefs", response_model=list[ChiefPublic], summary="街巷长 chiefs")
def list_chiefs(session: ReadSession, user: CurrentUser,
                segment: Annotated[str | None, Query(max_length=40)] = None
                ) -> list[ChiefPublic]:
    """Every chief (of one segment with ``segment``), all periods."""
    return [ChiefPublic.model_validate(c)
            for c in store.chiefs(session, [segment] if segment else None)]


@router.post("/chiefs", response_model=ChiefPublic, status_code=201,
             summary="任命街巷长 name a chief")
def create_chief(svc: Svc, session: WriteSession, user: CurrentUser,
                 body: ChiefCreate) -> ChiefPublic:
    """A street/lane chief for a segment at tier 1, 2 or 3 (street staff and up)."""
    if user.role not in ("admin", "gis", "street"):
        raise Forbidden(f"角色 {user.role} 不能任命街巷长 cannot name street chiefs")
    chief = store.add_chief(session, **body.model_dump())
    svc.overlays.invalidate()
    return ChiefPublic.model_validate(chief)


@router.get("/building-heads", response_model=list[HeadPublic], summary="楼栋长 building heads")
def list_heads(session: ReadSession, user: CurrentUser,
               building: Annotated[str | None, Query(max_length=32)] = None
               ) -> list[HeadPublic]:
    """Building heads (of one building with ``building``), all periods."""
    return [HeadPublic.model_validate(h)
            for h in store.building_heads(session, [building] if building else None)]


@router.post("/building-heads", response_model=HeadPublic, status_code=201,
             summary="登记楼栋长 name a building head")
def create_head(svc: Svc, session: WriteSession, user: CurrentUser,
                body: HeadCreate) -> HeadPublic:
    """A 楼栋长, 单元长 or 楼门院长 (community and street staff inside their scope)."""
    _may_edit(user, body.building_code)
    head = store.add_building_head(session, **body.model_dump())
    svc.overlays.invalidate()
    return HeadPublic.model_validate(head)


@router.get("/stationed-units", response_model=list[StationedPublic],
            summary="驻区单位 stationed units")
def list_stationed(svc: Svc, session: ReadSession, user: CurrentUser,
                   street: Annotated[str | None, Query(max_length=32)] = None,
                   on: DayQuery = None, all: bool = False) -> list[StationedPublic]:
    """Stationed units (of one street), valid on ``on`` (today) unless ``all``."""
    day = on or today(svc)
    return [_unit(u, day) for u in store.stationed_units(session, street, None if all else day)]


@router.post("/stationed-units", response_model=StationedPublic, status_code=201,
             summary="登记驻区单位 register a stationed unit")
def create_stationed(svc: Svc, session: WriteSession, user: CurrentUser,
                     body: StationedCreate) -> StationedPublic:
    """A stationed unit with its point or polygon, Party organisation and resources."""
    _may_edit(user, body.street_code)
    unit = store.add_stationed_unit(session, **body.model_dump(exclude={"geometry"}),
                                    geom=store.from_geojson(body.geometry.model_dump()),
                                    departments=svc.categories.departments)
    svc.overlays.invalidate()
    return _unit(unit, today(svc))
