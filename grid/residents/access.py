"""Who may see which residents, and how much of them.

The rule, the same for every answer (list, Party members, export):

* **Scope decides whether at all.** The unit asked about must lie in the caller's scope
  (``User.covers``); otherwise 403.
* **Role decides how much.** Roles that work with residents face to face — ``admin``, ``street``,
  ``community``, ``grid_worker`` (``PII_ROLES``) — see ID numbers and phones in clear inside their
  scope. Everyone else in scope (``gis``, ``department``) sees them masked, names reduced to
  the family name and the free-text address left out (it may hold the room).
* **Exports are masked by default**; a clear export must be asked for explicitly and is refused
  (403) to a caller who may not see clear data, rather than silently masked.
* Party members show their identity (亮明身份): their names, buildings and rooms are shown to
  everyone in scope; their ID numbers and phones follow the rule above.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.errors import Forbidden, InvalidInput
from grid.hierarchy import store
from grid.residents.models import Resident
from grid.residents.pii import Protector, mask_name
from grid.tables import csv_text
from grid.users import CASE_ROLES, Role, User

PII_ROLES = frozenset({Role.admin.value, Role.street.value, Role.community.value,
                       Role.grid_worker.value})


@dataclass
class ResidentView:
    """One resident as a caller may see them."""

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


def may_see_clear(user: User, code: str) -> bool:
    """True when ``user``'s role may see personal data and ``code`` is in their scope."""
    return user.role in PII_ROLES and user.covers(code)


def require_scope(user: User, code: str) -> None:
    """Forbidden unless ``code`` is in the user's scope (and the role sees residents)."""
    if user.role not in CASE_ROLES:
        raise Forbidden(f"角色 {user.role} 不能查看居民 role {user.role} may not see residents")
    if not user.covers(code):
        raise Forbidden(f"单元 {code} 不在您的管辖范围内 unit {code} is outside your scope")


def require_import_rights(user: User) -> None:
    """Forbidden unless the caller's role handles personal data (a register holds ID numbers
    and phones in clear); each row's building must then lie in the caller's scope."""
    if user.role not in PII_ROLES:
        raise Forbidden(f"角色 {user.role} 不能导入居民 role {user.role} may not import "
                        "residents (admin, street, community and grid_worker may)")


def _views(session: Session, rows: list[Resident], clear: bool, pii_key: str | None,
           show_names: bool) -> list[ResidentView]:
    protector = Protector(pii_key) if clear and rows else None
    version = store.require_active_version(session).id
    names = {u.code: u.name for u in store.units(
        session, version, codes={r.building_code for r in rows})}
    out = []
    for r in rows:
        if protector is not None:
            id_number = protector.decrypt(r.id_cipher, "id_number")
            phone = protector.decrypt(r.phone_cipher, "phone") if r.phone_cipher else None
        else:
            id_number, phone = r.id_masked, r.phone_masked
        out.append(ResidentView(
            id=r.id, name=r.name if (clear or show_names) else mask_name(r.name),
            id_number=id_number, phone=phone, address=r.address if clear else "",
            building_code=r.building_code, building_name=names.get(r.building_code, ""),
            grid_code=r.grid_code, group_code=r.group_code, entrance=r.entrance, floor=r.floor,
            room=r.room, party_member=r.party_member, masked=not clear,
        ))
    return out


def residents_of(session: Session, user: User, unit_code: str, pii_key: str | None, *,
                 party_only: bool = False, limit: int = 500, offset: int = 0
                 ) -> list[ResidentView]:
    """Residents registered in ``unit_code``'s subtree (a building, grid, community …), clear or
    masked by the module's rule."""
    require_scope(user, unit_code)
    store.get_unit(session, store.require_active_version(session).id, unit_code)
    query = (select(Resident).where(Resident.building_code.startswith(unit_code, autoescape=True))
             .order_by(Resident.building_code, Resident.entrance, Resident.room, Resident.id))
    if party_only:
        query = query.where(Resident.party_member)
    rows = list(session.scalars(query.limit(limit).offset(offset)))
    return _views(session, rows, may_see_clear(user, unit_code), pii_key, show_names=party_only)


@dataclass
class PartyCount:
    """Party members and residents of one building or grid."""

    code: str
    name: str
    party_members: int
    residents: int


def party_summary(session: Session, user: User, unit_code: str) -> dict[str, list[PartyCount]]:
    """Party members (亮明身份) counted per building and per grid under ``unit_code``."""
    require_scope(user, unit_code)
    version = store.require_active_version(session).id
    store.get_unit(session, version, unit_code)
    rows = session.execute(
        select(Resident.building_code, Resident.grid_code, Resident.party_member)
        .where(Resident.building_code.startswith(unit_code, autoescape=True)))
    people: dict[str, Counter] = {"building": Counter(), "grid": Counter()}
    party: dict[str, Counter] = {"building": Counter(), "grid": Counter()}
    for building, grid, member in rows:
        for level, code in (("building", building), ("grid", grid)):
            people[level][code] += 1
            party[level][code] += int(bool(member))
    codes = set(people["building"]) | set(people["grid"])
    names = {u.code: u.name for u in store.units(session, version, codes=codes)}
    return {
        level: [PartyCount(code, names.get(code, ""), party[level][code], people[level][code])
                for code in sorted(people[level])]
        for level in ("building", "grid")
    }


EXPORT_COLUMNS = ("姓名 name", "身份证号 id_number", "手机 phone", "地址 address",
                  "楼栋编码 building_code", "楼栋 building", "居民小组 group_code",
                  "单元 unit", "楼层 floor", "室 room", "党员 party_member")


def export_csv(session: Session, user: User, unit_code: str, pii_key: str | None, *,
               clear: bool = False) -> str:
    """The residents of ``unit_code`` as CSV (UTF-8 with BOM, so Excel opens it), masked unless
    ``clear`` is asked for — and a clear export is refused to callers who may not see it."""
    require_scope(user, unit_code)
    if clear and not may_see_clear(user, unit_code):
        raise Forbidden(f"角色 {user.role} 无权导出明文个人信息 role {user.role} may not export "
                        "personal data unmasked")
    store.get_unit(session, store.require_active_version(session).id, unit_code)
    rows = list(session.scalars(
        select(Resident).where(Resident.building_code.startswith(unit_code, autoescape=True))
        .order_by(Resident.building_code, Resident.entrance, Resident.room, Resident.id)))
    views = _views(session, rows, clear, pii_key, show_names=clear)
    return csv_text(EXPORT_COLUMNS, (
        [v.name, v.id_number, v.phone or "", v.address, v.building_code, v.building_name,
         v.group_code or "", v.entrance or "", v.floor or "", v.room,
         "是" if v.party_member else "否"] for v in views))


def as_dict(view: ResidentView) -> dict:
    """A view as a plain dict (for schemas)."""
    return asdict(view)


def lookup_by_id(session: Session, user: User, id_number: str, pii_key: str | None
                 ) -> ResidentView | None:
    """The resident with this ID number, found by its keyed fingerprint, if the caller may see
    them in clear (a lookup by ID number is itself personal data)."""
    from grid.residents.pii import normalize_id

    if user.role not in PII_ROLES:
        raise Forbidden(f"角色 {user.role} 无权按身份证号查询 role {user.role} may not look up "
                        "residents by ID number")
    if not pii_key:
        raise InvalidInput("未设置 GRID_PII_KEY GRID_PII_KEY is not set")
    row = session.scalar(select(Resident).where(
        Resident.id_hmac == Protector(pii_key).fingerprint(normalize_id(id_number))))
    if row is None or not user.covers(row.building_code):
        return None
    return _views(session, [row], True, pii_key, show_names=True)[0]
