"""Request and response models of the overlays (issue 13); bounded so bad input is a 422
before any query."""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from grid.api.limits import RowId
from grid.overlays.models import HEAD_ROLES

Code = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_\-.]+$")
Name = Field(min_length=1, max_length=200)
Person = Field(default="", max_length=100)
Phone = Field(default="", max_length=40)


class Public(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class Told(BaseModel):
    """Whether the overlay was told of the case (only on an incident's record)."""

    told: bool | None = None


class BranchMatch(Told):
    code: str
    name: str
    purpose: str
    parent_org_code: str
    parent_org: str
    secretary: str
    contact: str
    valid_from: str
    valid_to: str | None


class ChiefMatch(Told):
    tier: int
    name: str
    title: str
    phone: str
    valid_from: str
    valid_to: str | None


class SegmentMatch(BaseModel):
    segment_code: str
    segment_name: str
    kind: str
    distance_m: float
    chiefs: list[ChiefMatch]


class HeadMatch(Told):
    role: str
    part: str
    name: str
    phone: str
    valid_from: str
    valid_to: str | None


class OverlayMatchPublic(BaseModel):
    """The overlays that apply at a place on a day (locate), or applied when a case was filed
    (an incident's record, with who was told)."""

    day: str
    temporary_branches: list[BranchMatch]
    street_chief: SegmentMatch | None
    building_heads: list[HeadMatch]
    told: list[str] | None = None


class Period(BaseModel):
    valid_from: date
    valid_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.valid_to is not None and self.valid_to < self.valid_from:
            raise ValueError("valid_to is before valid_from")
        return self


class GeoJSONGeometry(BaseModel):
    """A GeoJSON geometry in storage lon/lat (CGCS2000)."""

    type: Literal["Point", "Polygon", "MultiPolygon"]
    coordinates: list[Any] = Field(max_length=1000)


class BranchCreate(Period):
    code: str = Code
    name: str = Name
    purpose: Literal["project", "business_district", "scenic_area", "other"] = "project"
    parent_org_code: str = Field(min_length=1, max_length=32)
    secretary: str = Person
    contact: str = Person
    geometry: GeoJSONGeometry


class BranchPublic(Public):
    code: str
    name: str
    purpose: str
    parent_org_code: str
    secretary: str
    contact: str
    valid_from: date
    valid_to: date | None
    active: bool = False


class ChiefCreate(Period):
    segment_code: str = Code
    tier: Literal[1, 2, 3]
    name: str = Field(min_length=1, max_length=100)
    title: str = Person
    phone: str = Phone


class ChiefPublic(Public):
    segment_code: str
    tier: int
    name: str
    title: str
    phone: str
    valid_from: date
    valid_to: date | None


class SegmentPublic(Public):
    code: str
    name: str
    kind: str
    version_id: RowId
    communities: list[str]
    chiefs: list[ChiefPublic]


class SegmentVersionPublic(Public):
    id: int
    label: str
    is_active: bool
    segments: int


class HeadCreate(Period):
    building_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")
    role: Literal[HEAD_ROLES]  # type: ignore[valid-type]
    part: str = Field(default="", max_length=40)
    name: str = Field(min_length=1, max_length=100)
    phone: str = Phone


class HeadPublic(Public):
    building_code: str
    role: str
    part: str
    name: str
    phone: str
    valid_from: date
    valid_to: date | None


class StationedCreate(Period):
    code: str = Code
    name: str = Field(min_length=1, max_length=60)
    kind: str = Field(default="", max_length=40)
    street_code: str = Field(min_length=1, max_length=32, pattern=r"^[0-9]+$")
    party_org: str = Field(default="", max_length=200)
    contact: str = Person
    phone: str = Phone
    resources: list[str] = Field(default_factory=list, max_length=50)
    geometry: GeoJSONGeometry


class StationedPublic(Public):
    code: str
    name: str
    kind: str
    street_code: str
    party_org: str
    contact: str
    phone: str
    resources: list[str]
    valid_from: date
    valid_to: date | None
    active: bool = False
