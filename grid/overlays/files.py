"""Loading overlay tables from files (one module behind the CLI and the demo): temporary
branches and stationed units from GeoJSON / shapefile / GeoPackage (read through the boundary
loader's ``read_source``: encoding detection, ``.prj`` or ``--crs``, China-extent checks),
chiefs and building heads from UTF-8 CSV. Each is a dry run unless ``commit``, and all or
nothing: the first bad row stops the load with its row number."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from pathlib import Path

import pandas as pd

from grid.db import Database
from grid.errors import GridError, InvalidInput, LoadError
from grid.hierarchy.levels import Level
from grid.overlays import segments, store
from grid.spatial.loader import read_source


def _day(value, row: int, column: str) -> date | None:
    text = "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)
    if not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip()[:10])
    except ValueError:
        raise InvalidInput(f"第 {row} 行 row {row}: {column} 不是日期 is not a date (YYYY-MM-DD): "
                           f"'{text}'") from None


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value)


def _rows(db: Database, records: list[dict], write: Callable, commit: bool) -> int:
    """Write ``records`` with ``write(session, row_number, record)``; all or nothing."""
    with db.write(commit=commit) as session:
        for number, record in enumerate(records, start=2):  # row 1 is the header
            try:
                write(session, number, record)
            except GridError as exc:
                raise InvalidInput(f"第 {number} 行 row {number}: {exc.message}") from exc
    return len(records)


def _csv(path: str | Path, required: list[str]) -> list[dict]:
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    except (OSError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise LoadError(f"无法读取 cannot read {path}: {exc}") from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise LoadError(f"{Path(path).name} 缺少列 lacks columns: {', '.join(missing)}")
    return frame.to_dict("records")


def _features(path: str | Path, crs: str | None, encoding: str | None) -> list[dict]:
    frame, _source = read_source(path, Level.community, code_field="code", name_field="name",
                                 crs=crs, encoding=encoding)
    records = frame.drop(columns="geometry").to_dict("records")
    for record, geom in zip(records, frame.geometry.values, strict=True):
        record["geometry"] = geom
    return records


def load_branches(db: Database, path: str | Path, *, commit: bool = False,
                  crs: str | None = None, encoding: str | None = None) -> int:
    """Temporary branches: columns code, name, parent_org_code, valid_from, [valid_to,
    purpose, secretary, contact] and a polygon each."""
    def write(session, number, r):
        store.add_branch(session, code=_text(r, "code"), name=_text(r, "name"),
                         parent_org_code=_text(r, "parent_org_code"), geom=r["geometry"],
                         valid_from=_day(r.get("valid_from"), number, "valid_from")
                         or date.min, valid_to=_day(r.get("valid_to"), number, "valid_to"),
                         purpose=_text(r, "purpose") or "project",
                         secretary=_text(r, "secretary"), contact=_text(r, "contact"))
    return _rows(db, _features(path, crs, encoding), write, commit)


def load_stationed_units(db: Database, path: str | Path, *, departments: list[str],
                         commit: bool = False, crs: str | None = None,
                         encoding: str | None = None) -> int:
    """Stationed units: columns code, name, street_code, valid_from, [valid_to, kind,
    party_org, contact, phone, resources (、-separated)] and a point or polygon each."""
    def write(session, number, r):
        resources = [x.strip() for x in _text(r, "resources").replace(",", "、").split("、")
                     if x.strip()]
        store.add_stationed_unit(
            session, code=_text(r, "code"), name=_text(r, "name"),
            street_code=_text(r, "street_code"), geom=r["geometry"],
            valid_from=_day(r.get("valid_from"), number, "valid_from") or date.min,
            valid_to=_day(r.get("valid_to"), number, "valid_to"), kind=_text(r, "kind"),
            party_org=_text(r, "party_org"), contact=_text(r, "contact"),
            phone=_text(r, "phone"), resources=resources, departments=departments)
    return _rows(db, _features(path, crs, encoding), write, commit)


def load_chiefs(db: Database, path: str | Path, *, commit: bool = False) -> int:
    """Street/lane chiefs: segment_code, tier, name, valid_from, [valid_to, title, phone]."""
    def write(session, number, r):
        if not r["tier"].strip().isdigit():
            raise InvalidInput(f"tier 须为 1/2/3 must be 1, 2 or 3: '{r['tier']}'")
        store.add_chief(session, segment_code=r["segment_code"], tier=int(r["tier"]),
                        name=r["name"], title=_text(r, "title"), phone=_text(r, "phone"),
                        valid_from=_day(r["valid_from"], number, "valid_from") or date.min,
                        valid_to=_day(r.get("valid_to"), number, "valid_to"))
    return _rows(db, _csv(path, ["segment_code", "tier", "name", "valid_from"]), write, commit)


def load_building_heads(db: Database, path: str | Path, *, commit: bool = False) -> int:
    """Building heads: building_code, role, name, valid_from, [valid_to, part, phone]."""
    def write(session, number, r):
        store.add_building_head(session, building_code=r["building_code"], role=r["role"],
                                name=r["name"], part=_text(r, "part"), phone=_text(r, "phone"),
                                valid_from=_day(r["valid_from"], number, "valid_from")
                                or date.min, valid_to=_day(r.get("valid_to"), number,
                                                           "valid_to"))
    return _rows(db, _csv(path, ["building_code", "role", "name", "valid_from"]), write,
                 commit)


def load_sample_overlays(db: Database, folder: Path, departments: list[str],
                         say: Callable[[str], None] = print) -> bool:
    """The demo street's overlays from ``data/overlays`` (see its README), unless the folder
    is missing or some segment version exists already (then nothing is loaded: False)."""
    with db.read() as session:
        if not (folder / "segments.geojson").exists() or store.segment_versions(session):
            return False
    report = segments.load_segments(db, folder / "segments.geojson", commit=True,
                                    activate=True, label="示例街巷 demo lanes")
    say(f"  segments: {report.rows} (version {report.version_id}, "
        f"{len(report.warnings)} warnings)")
    say(f"  chiefs: {load_chiefs(db, folder / 'segment_chiefs.csv', commit=True)}")
    say(f"  temporary branches: "
        f"{load_branches(db, folder / 'temporary_branches.geojson', commit=True)}")
    say(f"  building heads: "
        f"{load_building_heads(db, folder / 'building_heads.csv', commit=True)}")
    units = load_stationed_units(db, folder / "stationed_units.geojson",
                                 departments=departments, commit=True)
    say(f"  stationed units: {units}")
    return True
