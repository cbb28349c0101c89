"""Request and response models: separate Create / Public shapes, validated both ways."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from geoalchemy2.shape import to_shape
from pydantic import BaseModel, ConfigDict, Field

from grid.api.limits import Code, LongText, Name, Note, RowId, RowIds, text
from grid.api.overlay_schemas import OverlayMatchPublic
from grid.hierarchy.chain import OwnerChain
from grid.incidents.models import Incident
from grid.spatial.locate import Location


class Public(BaseModel):
    """Base of response models: built from domain objects' attributes."""

    model_config = ConfigDict(from_attributes=True)


class PartyOrgPublic(Public):
    org_type: str
    name: str
    secretary: str
    contact: str


class ChainLinkPublic(Public):
    level: str
    code: str
    name: str
    party_org: PartyOrgPublic | None


class WorkerPublic(Public):
    name: str
    phone: str
    role: str


class OwnerChainPublic(Public):
    chain: list[ChainLinkPublic]
    resident_groups: list[ChainLinkPublic]
    grid_workers: list[WorkerPublic]


class UnitPublic(Public):
    code: str
    name: str
    level: str
    parent_code: str | None
    version_low: int
    version_high: int
    attrs: dict[str, Any]
    party_org: PartyOrgPublic | None = None


class VersionPublic(Public):
    id: int
    label: str
    note: str
    created_at: datetime
    activated_at: datetime | None
    is_active: bool
    units: dict[str, int] = Field(default_factory=dict)


class NearestGridPublic(Public):
    code: str
    name: str
    distance_m: float


class LocationPublic(Public):
    lon: float
    lat: float
    crs: str
    version: int
    covered: bool
    message: str
    owners: OwnerChainPublic
    nearest_grid: NearestGridPublic | None
    #: 临时党支部, 街巷长, 楼栋长 at the point today (grid.overlays).
    overlays: OverlayMatchPublic | None = None


class IncidentCreate(BaseModel):
    """A new report (网格发现). Coordinates are CGCS2000 / WGS 84 degrees."""

    lon: float | None = Field(default=None, ge=-180, le=180, description="经度 longitude; "
                              "omit to use the GPS of an attached photo")
    lat: float | None = Field(default=None, ge=-90, le=90, description="纬度 latitude")
    category: text(40) = Field(description="事件类别编码 category code, see GET "
                                         "/api/v1/categories")
    description: LongText = ""
    reporter: Name = ""
    source: Literal["patrol", "hotline", "resident"] = "patrol"
    contact: Name = Field(default="", description="报告人联系方式 for the callback")
    attachments: RowIds = Field(default_factory=list, description="ids from POST "
                                   "/api/v1/attachments; a photo's EXIF GPS places a report "
                                   "sent without lon/lat")
    crs: text(40) | None = Field(default=None, description="坐标系 of lon/lat: wgs84 | cgcs2000 | "
                            "gcj02 (高德/腾讯/微信) | bd09 (百度) | EPSG:NNNN; default cgcs2000")


class ReasonBody(BaseModel):
    reason: Note = ""
    attachments: RowIds = Field(default_factory=list)


class SendBackBody(BaseModel):
    instructions: text(2000, min_length=1) = Field(description="处理意见")
    attachments: RowIds = Field(default_factory=list)


class MergeBody(BaseModel):
    into: RowId = Field(description="the case this one duplicates")
    reason: Note = ""


class WhistleBody(BaseModel):
    departments: list[text(60, min_length=1)] = Field(default_factory=list, max_length=20)
    #: Codes of stationed units (驻区单位) summoned with the departments.
    stationed_units: list[Code] = Field(default_factory=list, max_length=20)
    reason: Note = ""
    report_in_minutes: int | None = Field(default=None, gt=0, le=24 * 60)


class DepartmentBody(BaseModel):
    department: text(60) | None = Field(default=None,
                                        description="admins acting for a department")
    note: Note = ""
    attachments: RowIds = Field(default_factory=list, description="on finish: photos")


class RateBody(BaseModel):
    rating: Literal["满意", "基本满意", "不满意"]
    note: Note = ""
    reporter_id: RowId | None = Field(default=None,
                                      description="which reporter was called back")


class StepPublic(Public):
    id: int
    at: datetime
    action: str
    actor: str
    actor_role: str
    from_state: str | None
    to_state: str
    from_level: str | None
    to_level: str
    department: str | None
    reason: str
    attachments: list[int] | None = None


class SummonsPublic(Public):
    department: str
    summoned_at: datetime
    reported_in_at: datetime | None
    done_at: datetime | None
    report_in_due_at: datetime | None = None
    done_due_at: datetime | None = None
    report_in_late: bool = False


class ReporterPublic(Public):
    id: int
    original_incident_id: int
    name: str
    source: str
    reported_at: datetime
    rating: str | None
    rated_at: datetime | None


class IncidentPublic(Public):
    id: int
    category: str
    category_name: str
    description: str
    reporter: str
    source: str
    lon: float
    lat: float
    state: str
    level: str
    due_at: datetime | None
    overdue: bool
    rating: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime
    boundary_version: int
    street_code: str | None
    community_code: str | None
    grid_code: str | None
    building_code: str | None
    summonses: list[SummonsPublic]
    time_limit: str | None = None
    reopen_count: int = 0
    merged_into: int | None = None


class IncidentDetail(IncidentPublic):
    owners: OwnerChainPublic
    steps: list[StepPublic]
    #: The overlays that applied when the case was filed, and who was told.
    overlays: OverlayMatchPublic | None = None
    reporters: list[ReporterPublic] = Field(default_factory=list)
    #: On a new report: open cases it probably repeats (same category, near, recent).
    possible_duplicates: list[DuplicatePublic] = Field(default_factory=list)


class DuplicatePublic(BaseModel):
    incident_id: int
    distance_m: float
    created_at: datetime


class AttachmentPublic(Public):
    id: int
    incident_id: int | None
    filename: str
    content_type: str
    size: int
    sha256: str
    uploaded_by: str
    uploaded_at: datetime
    lon: float | None
    lat: float | None


class CategoryPublic(BaseModel):
    code: str
    name: str
    class_: str = Field(alias="class")
    start_level: str
    time_limit_hours: dict[str, float]
    time_limits: dict[str, str] = Field(default_factory=dict)
    departments: list[str]
    leader: str


def incident_public(incident: Incident, category_name: str, now: datetime,
                    owners: OwnerChain | None = None) -> IncidentPublic | IncidentDetail:
    """Shape an incident (with owners and steps when ``owners`` is given)."""
    point = to_shape(incident.geom)
    data = {
        **{c: getattr(incident, c) for c in IncidentPublic.model_fields
           if hasattr(incident, c) and c not in ("summonses", "time_limit")},
        "category_name": category_name,
        "lon": point.x,
        "lat": point.y,
        "overdue": bool(incident.due_at and incident.due_at < now),
        "summonses": [SummonsPublic.model_validate(s).model_copy(update={
            "report_in_late": s.is_report_in_late(now)}) for s in incident.summonses],
        "reopen_count": getattr(incident, "reopen_count", 0) or 0,
    }
    if owners is None:
        return IncidentPublic.model_validate(data)
    return IncidentDetail.model_validate({
        **data,
        "owners": OwnerChainPublic.model_validate(owners),
        "steps": [StepPublic.model_validate(s) for s in incident.steps],
        "overlays": getattr(incident, "overlays", None),
        "reporters": [ReporterPublic.model_validate(r)
                      for r in getattr(incident, "reporters", [])],
    })


def location_public(location: Location) -> LocationPublic:
    """Shape a locate answer."""
    return LocationPublic.model_validate({
        "lon": location.lon, "lat": location.lat, "crs": location.crs,
        "version": location.version, "covered": location.covered,
        "message": location.message,
        "owners": OwnerChainPublic.model_validate(location.owners),
        "nearest_grid": location.nearest_grid and NearestGridPublic.model_validate(
            location.nearest_grid),
    })
