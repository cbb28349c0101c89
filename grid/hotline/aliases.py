"""Aliases learned from the manual queue (地址别名): kept when a person resolves an address,
scoped to the building (only someone whose area covers it may add or revoke it), audited (who,
when, from which address; revoked aliases stay), and exported / imported with the gazetteer.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid.errors import Conflict, Forbidden, InvalidInput, NotFound
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline.gazetteer import Gazetteer, alias_key
from grid.hotline.models import HotlineAlias
from grid.orm import utcnow
from grid.users import Role, User

#: Roles that may keep, revoke and import aliases (those who work the queue).
ALIAS_ROLES = frozenset({Role.admin.value, Role.street.value, Role.community.value})


def _require(user: User, building_code: str) -> None:
    if user.role not in ALIAS_ROLES:
        raise Forbidden(f"角色 {user.role} 无权维护地址别名 role {user.role} may not keep "
                        "address aliases")
    if not user.covers(building_code):
        raise Forbidden(f"楼栋 {building_code} 不在您的管辖范围内 building is outside your "
                        "scope")


def active(session: Session) -> dict[str, str]:
    """Every alias in force: key → building code."""
    rows = session.execute(select(HotlineAlias.key, HotlineAlias.building_code)
                           .where(HotlineAlias.revoked_at.is_(None)))
    return {key: code for key, code in rows}


def stamp(session: Session) -> tuple:
    """Changes whenever an alias is added or revoked (for refreshing a cached gazetteer)."""
    return tuple(session.execute(select(
        func.count(HotlineAlias.id), func.max(HotlineAlias.id),
        func.count(HotlineAlias.revoked_at))).one())


def keep(session: Session, gazetteer: Gazetteer, user: User, address: str, building_code: str,
         source_address_id: int | None = None) -> HotlineAlias:
    """Keep ``address`` as an alias of ``building_code``. The key is what the matcher reads of
    the address (place + building, or road + 门牌), so the 单元, room and complaint around it
    do not matter next time."""
    _require(user, building_code)
    version = store.require_active_version(session).id
    if store.get_unit(session, version, building_code).level != Level.building.value:
        raise InvalidInput(f"{building_code} 不是楼栋 is not a building")
    key = alias_key(gazetteer.match(address).parsed)
    if key.strip("|") == "":
        raise InvalidInput("地址中没有可记住的地名 nothing in the address to remember")
    existing = session.scalar(select(HotlineAlias).where(
        HotlineAlias.key == key, HotlineAlias.revoked_at.is_(None)))
    if existing is not None:
        if existing.building_code == building_code:
            return existing
        raise Conflict(f"别名已指向 {existing.building_code} the alias already means "
                       f"{existing.building_code}; revoke it first")
    row = HotlineAlias(key=key, building_code=building_code, example=address,
                       source_address_id=source_address_id, created_by=user.name)
    session.add(row)
    session.flush()
    return row


def listing(session: Session, user: User, revoked: bool = False, limit: int = 1000
            ) -> Sequence[HotlineAlias]:
    """Aliases of buildings in the user's area, in force (or also the revoked ones)."""
    if user.role not in ALIAS_ROLES:
        raise Forbidden(f"角色 {user.role} 无权查看地址别名 role {user.role} may not see "
                        "address aliases")
    query = select(HotlineAlias).order_by(HotlineAlias.id).limit(limit)
    if user.role != Role.admin.value:
        query = query.where(HotlineAlias.building_code.startswith(user.scope_code or "-"))
    if not revoked:
        query = query.where(HotlineAlias.revoked_at.is_(None))
    return session.scalars(query).all()


def revoke(session: Session, user: User, alias_id: int) -> HotlineAlias:
    """Stop using an alias; it stays, with who revoked it and when."""
    row = session.get(HotlineAlias, alias_id, with_for_update=True)
    if row is None:
        raise NotFound(f"别名 {alias_id} 不存在 alias {alias_id} not found")
    _require(user, row.building_code)
    if row.revoked_at is not None:
        raise Conflict(f"别名 {alias_id} 已撤销 alias {alias_id} is already revoked")
    row.revoked_at = utcnow()
    row.revoked_by = user.name
    session.flush()
    return row


def export(session: Session, user: User) -> list[dict]:
    """The aliases in force in the user's area, as plain records for a file."""
    return [{"key": r.key, "building_code": r.building_code, "example": r.example,
             "created_by": r.created_by, "created_at": r.created_at.isoformat()}
            for r in listing(session, user)]


def import_(session: Session, user: User, records: list[dict]) -> tuple[int, int]:
    """Add exported aliases (all or nothing: a record outside the user's area, naming no
    building, or conflicting with an alias in force fails the whole import). Returns (added,
    already present)."""
    version = store.require_active_version(session).id
    added = present = 0
    for number, record in enumerate(records, start=1):
        key, code = str(record.get("key") or ""), str(record.get("building_code") or "")
        if not key.strip("|") or not code:
            raise InvalidInput(f"第 {number} 条缺少 key 或 building_code record {number} "
                               "lacks key or building_code")
        _require(user, code)
        if store.get_unit(session, version, code).level != Level.building.value:
            raise InvalidInput(f"第 {number} 条 {code} 不是楼栋 record {number}: {code} is not "
                               "a building")
        existing = session.scalar(select(HotlineAlias).where(
            HotlineAlias.key == key, HotlineAlias.revoked_at.is_(None)))
        if existing is not None:
            if existing.building_code != code:
                raise Conflict(f"第 {number} 条与现有别名冲突 record {number}: {key} already "
                               f"means {existing.building_code}")
            present += 1
            continue
        session.add(HotlineAlias(key=key, building_code=code,
                                 example=str(record.get("example") or ""),
                                 created_by=f"{user.name}（导入 import）"))
        added += 1
    session.flush()
    return added, present
