"""Residents and Party members (居民与党员亮明身份): lists, counts and CSV export.

Personal data follows ``grid.residents.access``: scope decides whether (403), role decides
whether ID numbers and phones come clear or masked; exports are masked unless asked otherwise.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Query, UploadFile
from fastapi.responses import Response
from pydantic import BaseModel

from grid.api.deps import CurrentUser, ReadSession, Svc, api_scope
from grid.api.downloads import attachment_headers
from grid.api.limits import Code, Count
from grid.errors import InvalidInput
from grid.residents import access
from grid.residents.register import import_rows, parse_register

router = APIRouter(prefix="/api/v1/residents", tags=["residents"],
                   dependencies=[Depends(api_scope)])

UnitQuery = Annotated[Code, Query(description="楼栋、网格或社区编码 building/grid/community code")]
#: Larger registers (a whole street) go through `grid residents import` on the server.
MAX_REGISTER_BYTES = 20 * 1024 * 1024


class ResidentPublic(BaseModel):
    """A resident; ``masked`` says whether ID number, phone and name are masked."""

    id: int
    name: str
    id_number: str
    phone: str | None
    address: str
    building_code: str
    building_name: str
    grid_code: str
    group_code: str | None
    entrance: int | None
    floor: int | None
    room: str
    party_member: bool
    masked: bool


class PartyCountPublic(BaseModel):
    """Party members among the residents of one building or grid."""

    code: str
    name: str
    party_members: int
    residents: int


class PartyPublic(BaseModel):
    """Party members showing their identity (亮明身份) under a unit."""

    unit: str
    party_members: int
    by_building: list[PartyCountPublic]
    by_grid: list[PartyCountPublic]
    members: list[ResidentPublic]


class ImportProblemPublic(BaseModel):
    """Why one row cannot be imported (row 1 is the heading)."""

    row: int
    reason: str


class ImportReportPublic(BaseModel):
    """What an import did (``committed``) or would do (a dry run)."""

    rows: int
    accepted: int
    party_members: int
    buildings: int
    committed: bool
    by_building: dict[str, int]
    problems: list[ImportProblemPublic]


@router.post("/imports", response_model=ImportReportPublic,
             summary="导入居民登记表 import a register (CSV/XLSX)")
def import_register(
    svc: Svc, user: CurrentUser, file: UploadFile,
    commit: Annotated[bool, Form(description="写入 write every row or none; else dry run")] = False,
) -> ImportReportPublic:
    """Check a register (姓名, 身份证号, 手机, 地址, 楼栋, 单元, 楼层, 室, 党员) row by row and,
    with ``commit``, write every row or none. Roles that see personal data only, and only
    into buildings in the caller's scope. A commit refused for bad rows answers 422 with the
    report as ``details``."""
    access.require_import_rights(user)
    data = file.file.read(MAX_REGISTER_BYTES + 1)
    if len(data) > MAX_REGISTER_BYTES:
        raise InvalidInput(f"文件超过 {MAX_REGISTER_BYTES // 2**20} MB register larger than "
                           f"{MAX_REGISTER_BYTES // 2**20} MB: use `grid residents import`")
    rows = parse_register(data, file.filename or "register.csv")
    report = import_rows(svc.db, rows, svc.settings.pii_key, commit=commit,
                         may_import=user.covers)
    public = ImportReportPublic(
        **{k: v for k, v in report.summary().items() if k != "problems"},
        by_building=report.by_building,
        problems=[ImportProblemPublic(row=p.row, reason=p.reason) for p in report.problems])
    if commit and report.problems:
        raise InvalidInput(f"{len(report.problems)} 行有问题，未写入任何数据 rows have problems: "
                           "nothing written", details=public.model_dump())
    return public


@router.get("", response_model=list[ResidentPublic], summary="居民名单 residents of a unit")
def list_residents(
    session: ReadSession, user: CurrentUser, svc: Svc, unit: UnitQuery,
    limit: Annotated[int, Query(ge=1, le=5000)] = 500, offset: Annotated[Count, Query()] = 0,
) -> list[ResidentPublic]:
    """Residents of a building, grid or community (clear or masked by role and scope)."""
    views = access.residents_of(session, user, unit, svc.settings.pii_key, limit=limit,
                                offset=offset)
    return [ResidentPublic.model_validate(access.as_dict(v)) for v in views]


@router.get("/party", response_model=PartyPublic, summary="党员亮明身份 Party members of a unit")
def party_members(session: ReadSession, user: CurrentUser, svc: Svc, unit: UnitQuery
                  ) -> PartyPublic:
    """Party members per building and per grid under a unit, and the members themselves."""
    counts = access.party_summary(session, user, unit)
    members = access.residents_of(session, user, unit, svc.settings.pii_key, party_only=True,
                                  limit=5000)
    return PartyPublic(
        unit=unit, party_members=sum(c.party_members for c in counts["building"]),
        by_building=[PartyCountPublic.model_validate(c.__dict__) for c in counts["building"]],
        by_grid=[PartyCountPublic.model_validate(c.__dict__) for c in counts["grid"]],
        members=[ResidentPublic.model_validate(access.as_dict(v)) for v in members],
    )


@router.get("/export.csv", summary="导出居民名单 export residents (CSV)",
            response_class=Response)
def export(
    session: ReadSession, user: CurrentUser, svc: Svc, unit: UnitQuery,
    clear: Annotated[bool, Query(description="明文导出 unmasked (allowed roles only)")] = False,
) -> Response:
    """Residents of a unit as CSV, masked unless ``clear=true`` is asked by an allowed caller."""
    text = access.export_csv(session, user, unit, svc.settings.pii_key, clear=clear)
    return Response(text, media_type="text/csv; charset=utf-8", headers={
        **attachment_headers(f"residents-{unit}.csv"), "Cache-Control": "no-store"})
