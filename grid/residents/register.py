"""Importing a resident register (居民登记表, CSV or XLSX) into buildings and resident groups.

Dry run by default: every row is checked and the report says what would be written and why each
bad row cannot be. ``commit=True`` writes all rows in one transaction, and only when no row has a
problem — a register is all or nothing, so a half-imported building never exists.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from grid.db import Database
from grid.errors import Conflict, InvalidInput, LoadError
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hierarchy.models import Unit
from grid.hotline.normalize import fold
from grid.residents.models import Resident
from grid.residents.pii import (
    Protector,
    mask_id,
    mask_phone,
    normalize_id,
    normalize_phone,
)

#: Accepted column headings (Chinese or English) → field.
COLUMNS = {
    "name": ("name", "姓名"),
    "id_number": ("id_number", "id", "身份证号", "身份证号码", "证件号码"),
    "phone": ("phone", "mobile", "电话", "手机", "手机号", "联系电话"),
    "address": ("address", "地址", "住址"),
    "building": ("building", "楼栋", "楼栋编码", "楼栋名称"),
    "entrance": ("unit", "entrance", "单元"),
    "floor": ("floor", "楼层", "层"),
    "room": ("room", "房间", "室", "房号"),
    "party_member": ("party_member", "party", "党员", "是否党员"),
}
YES = {"是", "yes", "y", "true", "1", "党员", "中共党员", "x", "√"}
NO = {"否", "no", "n", "false", "0", "", "群众", "非党员"}


@dataclass
class RowProblem:
    """Why one row of the register cannot be imported (row 1 is the heading)."""

    row: int
    reason: str


@dataclass
class ImportReport:
    """What an import did, or would do."""

    rows: int = 0
    accepted: int = 0
    party_members: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    by_building: dict[str, int] = field(default_factory=dict)
    committed: bool = False

    def summary(self) -> dict[str, Any]:
        """Counts for printing and for the API."""
        return {"rows": self.rows, "accepted": self.accepted, "party_members": self.party_members,
                "problems": len(self.problems), "buildings": len(self.by_building),
                "committed": self.committed}


def read_register(path: str | Path) -> list[dict[str, str]]:
    """The register's rows as dicts keyed by field (see ``COLUMNS``), values as text."""
    path = Path(path)
    if not path.exists():
        raise LoadError(f"文件不存在 file not found: {path}")
    return parse_register(path.read_bytes(), path.name)


def parse_register(data: bytes, name: str) -> list[dict[str, str]]:
    """The rows of a register file's content (``name`` gives the type: .csv or .xlsx)."""
    suffix = Path(name).suffix.lower()
    if suffix in (".xlsx", ".xlsm"):
        rows = _read_xlsx(data, name)
    elif suffix == ".csv":
        rows = _read_csv(data)
    else:
        raise LoadError(f"不支持的文件类型 unsupported file type {suffix or name}: "
                        "use .csv or .xlsx")
    if not rows:
        raise LoadError(f"{name} 为空 is empty")
    return _keyed(rows, name)


def _read_csv(data: bytes) -> list[list[str]]:
    # Excel in China saves CSV as GB18030 (GBK) unless told otherwise; UTF-8 (with or without
    # a BOM) is tried first because it fails loudly on GBK bytes.
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = data.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:
        raise LoadError("无法识别文件编码 cannot decode the CSV (UTF-8 or GB18030 expected)")
    return [row for row in csv.reader(io.StringIO(text))]


def _read_xlsx(data: bytes, name: str) -> list[list[str]]:
    import openpyxl

    try:
        book = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file; report why
        raise LoadError(f"无法读取 cannot read {name}: {exc}") from exc
    sheet = book.worksheets[0]
    rows = [["" if v is None else _cell(v) for v in row]
            for row in sheet.iter_rows(values_only=True)]
    book.close()
    return rows


def _cell(value: Any) -> str:
    # Excel turns an ID number typed as a number into a float; integers come back whole.
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _keyed(rows: list[list[str]], name: str) -> list[dict[str, str]]:
    heading = [unicodedata.normalize("NFKC", h).strip().lower() for h in rows[0]]
    index: dict[str, int] = {}
    for key, names in COLUMNS.items():
        for i, h in enumerate(heading):
            if h in names:
                index[key] = i
                break
    missing = [k for k in ("name", "id_number", "building") if k not in index]
    if missing:
        raise LoadError(
            f"{name} 缺少列 lacks column(s) {', '.join(missing)}; headings are: "
            f"{', '.join(rows[0])}"
        )
    return [
        {k: (row[i].strip() if i < len(row) else "") for k, i in index.items()}
        for row in rows[1:] if any(str(c).strip() for c in row)
    ]


class Buildings:
    """The active version's buildings by code and by (folded) name, with their resident groups."""

    def __init__(self, session: Session) -> None:
        version = store.require_active_version(session).id
        # Plain rows (code, name, parent_code, attrs read as a Unit's), not Unit objects: a
        # city has a million buildings and more resident groups.
        def rows(level: Level):
            return store.unit_rows(session, version, level, "code", "name", "parent_code",
                                   "attrs")

        self.by_code = {u.code: u for u in rows(Level.building)}
        self.by_name = {_canonical(u.name): u for u in self.by_code.values()}
        self.groups: dict[str, list[Unit]] = {}
        for group in rows(Level.resident_group):
            self.groups.setdefault(group.parent_code or "", []).append(group)

    def find(self, text: str) -> Unit:
        """The building named or coded by ``text``, or InvalidInput."""
        key = text.strip()
        unit = self.by_code.get(key) or self.by_name.get(_canonical(key))
        if unit is None:
            raise InvalidInput(f"找不到楼栋 no building '{text}' in the active boundary version")
        return unit

    def group_for(self, building: Unit, entrance: int | None) -> Unit | None:
        """The resident group of ``building`` whose 单元 range covers ``entrance``."""
        groups = self.groups.get(building.code, [])
        if entrance is None:
            if len(groups) == 1:
                return groups[0]
            raise InvalidInput(
                f"{building.name} 有 {len(groups)} 个居民小组，请填写单元 "
                f"the building has {len(groups)} resident groups: give the 单元 (unit)"
            )
        for group in groups:
            if _covers(str(group.attrs.get("units", "")), entrance):
                return group
        if not groups:
            return None
        raise InvalidInput(f"{building.name} 没有 {entrance} 单元 the building has no 单元 "
                           f"{entrance}")


def _canonical(name: str) -> str:
    """A building name folded so 安贞嘉园小区3号楼, 安贞嘉园3栋 and 安贞嘉园三幢 agree."""
    return re.sub(r"(\d+)(?:号楼|栋|幢|座|号)$", r"\1号楼", fold(name).replace("小区", ""))


def _covers(units: str, entrance: int) -> bool:
    """True when a range such as "1-2", "3" or "1,3" includes ``entrance``."""
    for part in re.split(r"[,，、]", units):
        bounds = part.strip().split("-")
        if bounds[0].isdigit() and int(bounds[0]) <= entrance <= int(bounds[-1] or bounds[0]):
            return True
    return False


def _int(value: str, what: str) -> int | None:
    value = re.sub(r"(单元|门|层|楼)$", "", fold(value))
    if not value:
        return None
    if not (value.isascii() and value.isdigit()) or len(value) > 4:
        raise InvalidInput(f"{what}应为数字 {what} must be a number (at most 9999), got "
                           f"'{value[:20]}'")
    return int(value)


_ROOM_FORMS = (
    re.compile(r"(?:(?P<entrance>\d+)(?:单元|门))?(?P<room>\d+)(?:室|号)?"),   # 2单元301室
    re.compile(r"(?P<entrance>\d+)-(?P<room>\d+)"),                         # 2-301
)


def _split_room(value: str) -> tuple[int | None, str]:
    """A room column that may carry the 单元 too: "2单元301室" / "2-301" → (2, "301");
    anything else is kept as written ("B2", "地下室")."""
    folded = fold(value)
    for form in _ROOM_FORMS:
        found = form.fullmatch(folded)
        if found:
            entrance = found.group("entrance")
            return (int(entrance) if entrance else None), found.group("room")
    return None, folded.removesuffix("室")


def _party(value: str) -> bool:
    value = unicodedata.normalize("NFKC", value).strip().lower()
    if value in YES:
        return True
    if value in NO:
        return False
    raise InvalidInput(f"党员一栏应为 是/否 party member must be yes/no, got '{value}'")


def check_row(raw: dict[str, str], buildings: Buildings) -> dict[str, Any]:
    """A validated row (ID and phone normalised, building and group resolved), or InvalidInput
    with every problem of the row joined."""
    problems = []
    out: dict[str, Any] = {"name": raw.get("name", "").strip(), "address": raw.get("address", "")}
    if not out["name"]:
        problems.append("缺少姓名 name missing")
    steps = [
        ("id_number", lambda: normalize_id(raw.get("id_number", ""))),
        ("phone", lambda: normalize_phone(raw["phone"]) if raw.get("phone") else None),
        ("entrance", lambda: _int(raw.get("entrance", ""), "单元 unit")),
        ("floor", lambda: _int(raw.get("floor", ""), "楼层 floor")),
        ("party_member", lambda: _party(raw.get("party_member", ""))),
        ("building", lambda: buildings.find(raw.get("building", ""))),
    ]
    for key, step in steps:
        try:
            out[key] = step()
        except InvalidInput as exc:
            problems.append(exc.message)
    entrance, room = _split_room(raw.get("room", ""))
    out["room"] = room
    if out.get("entrance") is None and entrance is not None:
        out["entrance"] = entrance
    if out.get("floor") is None and room.isdigit() and len(room) >= 3:
        out["floor"] = int(room[:-2])  # 301 → floor 3, 1204 → floor 12
    building = out.get("building")
    if building is not None:
        floors = building.attrs.get("floors")
        if out.get("floor") and floors and out["floor"] > int(floors):
            problems.append(f"{building.name} 只有 {floors} 层 the building has {floors} floors, "
                            f"not {out['floor']}")
        if "entrance" in out:
            try:
                out["group"] = buildings.group_for(building, out["entrance"])
            except InvalidInput as exc:
                problems.append(exc.message)
    problems += _text_problems(out)
    if problems:
        raise InvalidInput("；".join(problems))
    return out


#: Longest text each column holds (the migrations' String lengths).
_TEXT_MAX = {"name": ("姓名", 100), "address": ("地址", 300), "room": ("室", 20)}
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def _text_problems(out: dict[str, Any]) -> list[str]:
    """Text too long for its column, or holding control characters (PostgreSQL refuses NUL)."""
    problems = []
    for key, (label, longest) in _TEXT_MAX.items():
        text = out.get(key) or ""
        if len(text) > longest:
            problems.append(f"{label}超过 {longest} 字 {key} longer than {longest} characters")
        if _CONTROL.search(text):
            problems.append(f"{label}含控制字符 {key} holds control characters")
    return problems


def import_register(db: Database, path: str | Path, pii_key: str | None, *,
                    commit: bool = False) -> ImportReport:
    """Check every row of a register file and, with ``commit``, write them all (or nothing)."""
    return import_rows(db, read_register(path), pii_key, commit=commit)


def import_rows(db: Database, rows: list[dict[str, str]], pii_key: str | None, *,
                commit: bool = False,
                may_import: Callable[[str], bool] | None = None) -> ImportReport:
    """Check every row (as ``parse_register`` gives them) and, with ``commit``, write them all
    or nothing. ``may_import(building_code)`` limits the buildings a caller may register
    residents in (an API caller's scope); a row outside it is a problem of that row."""
    # The key is required even for a dry run: duplicates are found by the keyed fingerprint.
    protector = Protector(pii_key)
    report = ImportReport(rows=len(rows))
    accepted: list[dict[str, Any]] = []
    with db.write(commit=commit) as session:
        buildings = Buildings(session)
        seen: dict[str, int] = {}
        for number, raw in enumerate(rows, start=2):
            try:
                row = check_row(raw, buildings)
            except InvalidInput as exc:
                report.problems.append(RowProblem(number, exc.message))
                continue
            if may_import is not None and not may_import(row["building"].code):
                report.problems.append(RowProblem(
                    number, f"楼栋 {row['building'].code} 不在您的管辖范围内 building "
                    f"{row['building'].code} is outside your scope"))
                continue
            row["hmac"] = protector.fingerprint(row["id_number"])
            if row["hmac"] in seen:
                report.problems.append(RowProblem(
                    number, f"身份证号与第 {seen[row['hmac']]} 行重复 same ID number as row "
                    f"{seen[row['hmac']]}"))
                continue
            seen[row["hmac"]] = number
            accepted.append(row)
        known = _registered(session, list(seen))
        # Only a registration the caller may see is named: one outside their scope is not
        # checked by a dry run (answering "already registered" would tell a community who
        # lives in another), and a commit meeting one is refused without saying where.
        mine = {h for h, building in known.items() if may_import is None or may_import(building)}
        for row, number in [(r, seen[r["hmac"]]) for r in accepted]:
            if row["hmac"] in mine:
                report.problems.append(RowProblem(
                    number, "此身份证号已登记 this ID number is already registered"))
            elif row["hmac"] in known and commit:
                report.problems.append(RowProblem(
                    number, "此身份证号不能由您登记，请联系街道 this ID number cannot be "
                    "registered by you: ask the street office"))
        accepted = [r for r in accepted if r["hmac"] not in mine
                    and not (commit and r["hmac"] in known)]
        report.accepted = len(accepted)
        for row in accepted:
            code = row["building"].code
            report.by_building[code] = report.by_building.get(code, 0) + 1
            report.party_members += row["party_member"]
        if commit and not report.problems:
            session.add_all(_resident(row, protector) for row in accepted)
            try:
                session.flush()
            except IntegrityError:
                # Another import registered one of these ID numbers since we checked.
                raise Conflict("同时有其他导入登记了相同身份证号，未写入 another import registered "
                               "some of these ID numbers meanwhile: nothing written, run again"
                               ) from None
            report.committed = True
    return report


def _registered(session: Session, fingerprints: list[str]) -> dict[str, str]:
    """Fingerprint → building code of the residents already registered among
    ``fingerprints``."""
    found: dict[str, str] = {}
    for start in range(0, len(fingerprints), 500):
        chunk = fingerprints[start:start + 500]
        rows = session.execute(select(Resident.id_hmac, Resident.building_code)
                               .where(Resident.id_hmac.in_(chunk)))
        found.update((fingerprint, building) for fingerprint, building in rows)
    return found


def _resident(row: dict[str, Any], protector: Protector) -> Resident:
    building: Unit = row["building"]
    group: Unit | None = row.get("group")
    phone = row.get("phone")
    return Resident(
        name=row["name"],
        id_cipher=protector.encrypt(row["id_number"], "id_number"),
        id_masked=mask_id(row["id_number"]), id_hmac=row["hmac"],
        phone_cipher=protector.encrypt(phone, "phone") if phone else None,
        phone_masked=mask_phone(phone) if phone else None,
        address=row["address"], building_code=building.code,
        grid_code=building.parent_code or "", group_code=group.code if group else None,
        entrance=row.get("entrance"), floor=row.get("floor"), room=row["room"],
        party_member=row["party_member"],
    )
