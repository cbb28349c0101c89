"""Incident categories (事件类别), loaded and validated from a YAML data file at start."""

from __future__ import annotations

from pathlib import Path

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from grid.errors import InvalidInput
from grid.incidents.calendar import TimeLimit
from grid.overlays.models import KINDS as OVERLAY_KINDS
from grid.overlays.models import STATIONED_UNIT

LADDER_LEVELS = ("grid", "community", "street")


class Duplicates(BaseModel):
    """When a new report probably repeats an open case: same category, this close, this recent."""

    radius_m: float = Field(default=50, gt=0)
    window_hours: float = Field(default=72, gt=0)


class OverlayRule(BaseModel):
    """Which overlays (``grid.overlays``) a case of the category concerns: the kinds *told*
    when it is filed, and the kinds a street *may summon* with the departments when it
    whistles. By default none is told and stationed units (驻区单位) may be summoned."""

    tell: list[str] = Field(default_factory=list)
    summon: list[str] = Field(default_factory=lambda: [STATIONED_UNIT])

    @model_validator(mode="after")
    def _known(self) -> OverlayRule:
        unknown = set(self.tell) | set(self.summon)
        unknown -= set(OVERLAY_KINDS)
        if unknown:
            raise ValueError(f"unknown overlay kinds {sorted(unknown)}; use {OVERLAY_KINDS}")
        if set(self.summon) - {STATIONED_UNIT}:
            raise ValueError(f"only {STATIONED_UNIT} can be summoned")
        return self


class Category(BaseModel):
    """One category: parent class, owner departments, leader in charge, starting level and the
    time limit at each level (``24h`` elapsed, ``8wh`` working hours, ``3wd`` working days)."""

    model_config = ConfigDict(populate_by_name=True)

    code: str
    name: dict[str, str]
    class_: str = Field(alias="class")
    start_level: str = "grid"
    time_limits: dict[str, str] = Field(default_factory=dict)
    #: Legacy form (elapsed hours); filled from ``time_limits`` as working-time-equivalent hours.
    time_limit_hours: dict[str, float] = Field(default_factory=dict)
    departments: list[str]
    leader: str = ""
    duplicates: Duplicates = Field(default_factory=Duplicates)
    overlays: OverlayRule = Field(default_factory=OverlayRule)

    @model_validator(mode="after")
    def _complete(self) -> Category:
        if self.start_level not in LADDER_LEVELS:
            raise ValueError(f"start_level must be one of {LADDER_LEVELS}")
        if not self.time_limits:
            self.time_limits = {k: f"{v:g}h" for k, v in self.time_limit_hours.items()}
        missing = [lvl for lvl in LADDER_LEVELS if lvl not in self.time_limits]
        if missing:
            raise ValueError(f"time_limits lacks {missing}")
        limits = {lvl: TimeLimit.parse(text) for lvl, text in self.time_limits.items()}
        self.time_limits = {lvl: str(limit) for lvl, limit in limits.items()}
        # Working days shown as hours assume the default 7-hour day; deadlines use the calendar.
        self.time_limit_hours = {lvl: limit.amount * (7.0 if limit.unit == "wd" else 1)
                                 for lvl, limit in limits.items()}
        if "zh" not in self.name:
            raise ValueError("name needs a zh entry")
        if not self.departments:
            raise ValueError("at least one owning department")
        return self

    def limit(self, level: str) -> TimeLimit:
        """The time limit at ``level`` (grid, community or street)."""
        return TimeLimit.parse(self.time_limits[level])

    @property
    def parent_class(self) -> str:
        """The parent class, e.g. 部件/公用设施 or 事件/街面秩序."""
        return self.class_

    def label(self, language: str = "zh") -> str:
        """The category's name in ``language`` (Chinese when there is no translation)."""
        return self.name.get(language) or self.name["zh"]


class CategoryBook(BaseModel):
    """All categories, their parent classes and the departments a street can summon."""

    classes: list[str] = Field(default_factory=list)
    departments: list[str]
    categories: list[Category]

    @model_validator(mode="after")
    def _consistent(self) -> CategoryBook:
        codes = [c.code for c in self.categories]
        if len(set(codes)) != len(codes):
            raise ValueError("duplicate category codes")
        for category in self.categories:
            unknown = set(category.departments) - set(self.departments)
            if unknown:
                raise ValueError(f"category {category.code}: unknown departments {unknown}")
            if self.classes and category.class_ not in self.classes:
                raise ValueError(f"category {category.code}: unknown class '{category.class_}'; "
                                 f"add it to classes or use one of {self.classes}")
        return self

    def get(self, code: str) -> Category:
        """The category with ``code``, or a clear error listing the known codes."""
        for category in self.categories:
            if category.code == code:
                return category
        raise InvalidInput(
            f"未知事件类别 unknown category '{code}'",
            details={"known": [c.code for c in self.categories]},
        )


def load_categories(path: Path) -> CategoryBook:
    """Read and validate the categories file; a bad file stops start-up with the reason."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return CategoryBook.model_validate(data)
    except (OSError, yaml.YAMLError, ValidationError) as exc:
        raise InvalidInput(f"事件类别文件无效 invalid categories file {path}: {exc}") from exc
