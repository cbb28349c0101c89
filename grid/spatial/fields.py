"""Which columns of a boundary file hold the code, the name and the parent code.

Given by flags or a small YAML file (``code: WGBM``, ``name: WGMC``, ``parent_code: SQBM``);
otherwise guessed from the names Chinese GIS data commonly uses — pinyin initials per level
(JDBM/JDMC 街道, SQBM/SQMC 社区, WGBM/WGMC 网格, LDBM/LDMC 楼栋), 编码/名称, code/name. A guess is
printed; an ambiguous guess is refused rather than silently picking one.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

from grid.errors import LoadError
from grid.hierarchy.levels import PARENT_LEVEL, Level

#: Pinyin-initial column stems per level: 街道 JD, 社区 SQ, 网格 WG, 楼栋 LD.
_STEM = {Level.street: "JD", Level.community: "SQ", Level.grid: "WG", Level.building: "LD"}
_GENERIC_CODE = ("code", "编码", "代码", "bm", "dm")
_GENERIC_NAME = ("name", "名称", "mc")
_GENERIC_PARENT = ("parent_code", "parent_cod", "上级编码", "sjbm", "building_code")


@dataclass(frozen=True)
class FieldMap:
    """Column names of the code, name and (optional) attribute parent code."""

    code: str
    name: str
    parent_code: str | None = None
    how: str = "given"  # "given", "yaml", "guessed"

    def describe(self) -> str:
        """One line for the report."""
        parent = f", parent_code←{self.parent_code}" if self.parent_code else ""
        return f"code←{self.code}, name←{self.name}{parent} ({self.how})"


def read_field_yaml(path: str | Path) -> dict[str, str]:
    """A field-mapping YAML file: keys ``code``, ``name`` and optionally ``parent_code``."""
    try:
        data = yaml.safe_load(Path(path).read_text("utf-8")) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise LoadError(f"字段映射文件无法读取 cannot read field map {path}: {exc}") from exc
    if not isinstance(data, dict) or not {"code", "name"} <= data.keys():
        raise LoadError(f"字段映射文件需要 code 和 name 键 field map {path} needs keys code, name")
    return {k: str(v) for k, v in data.items() if k in ("code", "name", "parent_code")}


def _find(columns: list[str], wanted: tuple[str, ...]) -> list[str]:
    lower = {c.lower(): c for c in columns}
    return [lower[w.lower()] for w in wanted if w.lower() in lower]


def _pick(columns: list[str], level: Level, role: str) -> str | None:
    stem = _STEM.get(level)
    suffix = {"code": "BM", "name": "MC"}[role]
    specific = _find(columns, (f"{stem}{suffix}",)) if stem else []
    if specific:
        return specific[0]
    generic = _find(columns, _GENERIC_CODE if role == "code" else _GENERIC_NAME)
    if len(generic) > 1:
        raise LoadError(
            f"无法确定{'编码' if role == 'code' else '名称'}字段 ambiguous {role} column: "
            f"{', '.join(generic)} all match; pass --{role}-field",
            details={"columns": columns},
        )
    return generic[0] if generic else None


def guess_fields(
    columns: list[str],
    level: Level,
    code: str | None = None,
    name: str | None = None,
    parent_code: str | None = None,
    how: str = "given",
) -> FieldMap:
    """The field map for ``columns``: given names win, the rest are guessed (and say so)."""
    columns = [str(c) for c in columns if str(c) != "geometry"]
    guessed = False
    if code is None:
        code, guessed = _pick(columns, level, "code"), True
    if name is None:
        name, guessed = _pick(columns, level, "name"), True
    missing = [r for r, c in (("code", code), ("name", name)) if c is None or c not in columns]
    if missing:
        raise LoadError(
            f"找不到{'/'.join(missing)}字段 cannot find the {'/'.join(missing)} column(s); "
            f"columns are: {', '.join(columns)} (pass --code-field / --name-field or --fields)",
            details={"columns": columns},
        )
    if parent_code is None:
        parent_level = PARENT_LEVEL[level]
        stem = _STEM.get(parent_level) if parent_level else None
        found = (_find(columns, (f"{stem}BM",)) if stem else []) or _find(columns,
                                                                          _GENERIC_PARENT)
        parent_code = next((c for c in found if c not in (code, name)), None)
    return FieldMap(code, name, parent_code, "guessed" if guessed and how == "given" else how)
