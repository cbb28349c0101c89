"""Placing hotline addresses: automatically above the threshold, otherwise into a manual queue
that a person resolves (picks a building, or rejects the address as outside the area)."""

from __future__ import annotations

import threading

from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.errors import Conflict, Forbidden, InvalidInput, NotFound
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline import aliases
from grid.hotline.gazetteer import Gazetteer, Match
from grid.hotline.models import AddressStatus, HotlineAddress
from grid.orm import utcnow
from grid.scope import Scope
from grid.users import Role, User

#: Roles that may see and work the manual queue.
QUEUE_ROLES = frozenset({Role.admin.value, Role.street.value, Role.community.value})


class GazetteerCache:
    """One gazetteer per active boundary version, rebuilt when the version changes; its learned
    aliases are reread (cheaply, without rebuilding) when one is added or revoked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: int | None = None
        self._gazetteer: Gazetteer | None = None
        self._aliases: tuple | None = None

    def get(self, session: Session) -> tuple[int, Gazetteer]:
        """The active version's id and its gazetteer, with the aliases in force."""
        version = store.require_active_version(session).id
        stamp = aliases.stamp(session)
        with self._lock:
            if self._version != version or self._gazetteer is None:
                self._gazetteer = Gazetteer.from_session(session, version)
                self._version = version
                self._aliases = None
            if self._aliases != stamp:
                self._gazetteer.learn(aliases.active(session))
                self._aliases = stamp
            return version, self._gazetteer


def candidates_json(match: Match) -> list[dict]:
    """The candidates as stored and returned."""
    return [{"code": c.code, "name": c.name, "score": c.score, "reason": c.reason}
            for c in match.candidates]


def submit(session: Session, cache: GazetteerCache, address: str, ref: str = "") -> HotlineAddress:
    """Match an address and record it: placed when the match is sure, queued otherwise."""
    if not address.strip():
        raise InvalidInput("地址为空 the address is empty")
    version, gazetteer = cache.get(session)
    match = gazetteer.match(address)
    row = HotlineAddress(
        address=address, ref=ref, building_code=match.placed, score=match.score,
        status=AddressStatus.placed if match.placed else AddressStatus.queued,
        candidates=candidates_json(match), boundary_version=version, why=match.why[:300],
    )
    session.add(row)
    session.flush()
    return row


def _require_queue_role(user: User) -> None:
    if user.role not in QUEUE_ROLES:
        raise Forbidden(f"角色 {user.role} 无权处理地址队列 role {user.role} may not work the "
                        "address queue")


def _visible(scope: Scope, row: HotlineAddress) -> bool:
    """A placed or resolved address belongs to its building's community: shown in that
    building's scope. A queued or rejected one is placed nowhere: shown where one of its
    candidate buildings lies (whoever could place it); one with no candidate at all could be
    anywhere, and is shown to every queue role to triage (and to the whole city's staff)."""
    if row.building_code is not None:
        return scope.covers(row.building_code)
    candidates = row.candidates or ()
    return scope.everywhere or not candidates or any(scope.covers(c.get("code"))
                                                     for c in candidates)


def queue(session: Session, user: User, status: str = AddressStatus.queued, limit: int = 200
          ) -> list[HotlineAddress]:
    """Addresses in one status that the caller may see (``_visible``), oldest first."""
    _require_queue_role(user)
    scope = Scope.of(user)
    query = select(HotlineAddress).where(HotlineAddress.status == status)
    if status in (AddressStatus.placed, AddressStatus.resolved):
        query = query.where(scope.codes(HotlineAddress.building_code))
    found: list[HotlineAddress] = []
    after = 0
    # Unplaced addresses are kept by their candidates (JSON): read in batches until enough.
    while len(found) < limit:
        batch = session.scalars(query.where(HotlineAddress.id > after)
                                .order_by(HotlineAddress.id).limit(max(limit, 500))).all()
        if not batch:
            break
        found.extend(r for r in batch if _visible(scope, r))
        after = batch[-1].id
    return found[:limit]


def resolve(session: Session, user: User, address_id: int, building_code: str | None,
            keep_alias: bool = False, cache: GazetteerCache | None = None) -> HotlineAddress:
    """Place a queued address on ``building_code`` (in the caller's scope), or reject it when
    ``building_code`` is None (not in our area / not a building). With ``keep_alias`` the
    address is kept as an alias of the building, so the next one written alike is placed."""
    _require_queue_role(user)
    row = session.get(HotlineAddress, address_id, with_for_update=True)
    if row is None or not _visible(Scope.of(user), row):
        raise NotFound(f"地址 {address_id} 不存在 address {address_id} not found")
    if row.status != AddressStatus.queued:
        raise Conflict(f"地址 {address_id} 已处理 address {address_id} is already {row.status}")
    if building_code is not None:
        version = store.require_active_version(session).id
        unit = store.get_unit(session, version, building_code)
        if unit.level != Level.building.value:
            raise InvalidInput(f"{building_code} 不是楼栋 is not a building")
        if not user.covers(building_code):
            raise Forbidden(f"楼栋 {building_code} 不在您的管辖范围内 building is outside your "
                            "scope")
    row.building_code = building_code
    row.status = AddressStatus.resolved if building_code else AddressStatus.rejected
    row.resolved_at = utcnow()
    row.resolved_by = user.name
    if keep_alias and building_code is not None:
        _, gazetteer = (cache or GazetteerCache()).get(session)
        aliases.keep(session, gazetteer, user, row.address, building_code, row.id)
    session.flush()
    return row
