"""What the people-in-the-loop modules share: placing a building, scope and role checks,
personal data at rest, and distances in the local Gauss-Krüger zone."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy.orm import Session

from grid.errors import Forbidden, InvalidInput, NotFound
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.incidents.ladder import Actor  # the one actor protocol, shared with the ladder
from grid.residents.pii import Protector, mask_phone, normalize_phone
from grid.spatial.crs import to_metres

#: Roles that run a community's work (confirm members, watch orders, run deliberations).
STAFF = frozenset({"community", "street", "admin"})
#: Roles that see residents' contact details in clear inside their scope.
CLEAR_ROLES = frozenset({"community", "street", "admin", "grid_worker"})


@dataclass(frozen=True)
class Place:
    """A building and the units above it, with a point inside its footprint."""

    building_code: str
    grid_code: str
    community_code: str
    street_code: str
    lon: float
    lat: float


def place_building(session: Session, building_code: str) -> Place:
    """The building ``building_code`` in the active version, placed: its grid, community and
    street, and a point on its footprint (``point_on_surface``, never the centroid)."""
    version = store.require_active_version(session).id
    try:
        building = store.get_unit(session, version, building_code)
    except NotFound:  # answered as bad input: the caller typed the code
        raise InvalidInput(f"楼栋 {building_code} 不存在 no building {building_code}") from None
    if building.level != Level.building:
        raise InvalidInput(f"{building_code} 不是楼栋 is not a building")
    grid = store.get_unit(session, version, building.parent_code)
    community = store.get_unit(session, version, grid.parent_code)
    point = store.shape_of(building).representative_point()
    return Place(building.code, grid.code, community.code, community.parent_code or "",
                 point.x, point.y)


def require_role(actor: Actor, roles: Iterable[str], what: str) -> None:
    """Forbidden unless the actor's role is one of ``roles``."""
    if actor.role not in roles:
        raise Forbidden(f"角色 {actor.role} 不能{what} role {actor.role} may not {what}")


def require_scope(actor: Actor, code: str | None, what: str = "") -> None:
    """Forbidden unless ``code`` lies in the actor's scope."""
    if not actor.covers(code):
        raise Forbidden(f"{what or code} 不在您的范围内 is outside your scope")


def seal_phone(raw: str | None, pii_key: str | None) -> tuple[str | None, str | None]:
    """A phone number as (ciphertext, masked form); (None, None) when none is given.
    Refused without a PII key: personal data is never stored in clear."""
    if not raw:
        return None, None
    phone = normalize_phone(raw)
    return Protector(pii_key).encrypt(phone, "phone"), mask_phone(phone)


def open_phone(cipher: str | None, masked: str | None, pii_key: str | None,
               clear: bool) -> str | None:
    """The phone as the caller may see it: clear when allowed and a key is set, else masked."""
    if cipher and clear and pii_key:
        return Protector(pii_key).decrypt(cipher, "phone")
    return masked


def distances_m(origin: tuple[float, float], points: list[tuple[float, float]]) -> list[float]:
    """Straight-line distances in metres from ``origin`` to each point, measured in the
    CGCS2000 Gauss-Krüger zone of the origin (a walking distance's fair stand-in inside a
    community: streets there run close to the straight line)."""
    if not points:
        return []
    transformer = to_metres(origin[0])
    ox, oy = transformer.transform(*origin)
    xs, ys = transformer.transform([p[0] for p in points], [p[1] for p in points])
    return [((x - ox) ** 2 + (y - oy) ** 2) ** 0.5 for x, y in zip(xs, ys, strict=True)]
