"""在职党员进社区 · 双报到: in-service Party members register with the community they live in
("工作在单位、活动在社区、奉献双岗位"); the community confirms them; their workplace Party
organisation sees how much they served (orders done and hours), never whom they served.

States (``MemberState``): ``pending`` (registered, waiting for the community) → ``confirmed``
(offered orders) → ``left`` (moved away or withdrew); the community may also refuse a
registration (``refused``). One table (``MEMBER_MOVES``) says who may make which move from
which state; the pages read it to show their buttons.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from grid.errors import Forbidden, InvalidInput, MoveNotAllowed, NotFound
from grid.hotline.queue import GazetteerCache
from grid.orm import utcnow
from grid.people.common import (
    CLEAR_ROLES,
    STAFF,
    Actor,
    open_phone,
    place_building,
    require_role,
    require_scope,
    seal_phone,
)
from grid.people.config import PeopleBook
from grid.people.models import Member, Order


class MemberState(StrEnum):
    """Where a registration stands."""

    pending = "pending"
    confirmed = "confirmed"
    refused = "refused"
    left = "left"


class MemberMove(StrEnum):
    """What can happen to a registration."""

    confirm = "confirm"
    refuse = "refuse"
    leave = "leave"


#: move → (states it may start from, state it ends in, roles that may make it).
MEMBER_MOVES: dict[MemberMove, tuple[frozenset[MemberState], MemberState, frozenset[str]]] = {
    MemberMove.confirm: (frozenset({MemberState.pending}), MemberState.confirmed, STAFF),
    MemberMove.refuse: (frozenset({MemberState.pending}), MemberState.refused, STAFF),
    MemberMove.leave: (frozenset({MemberState.pending, MemberState.confirmed}), MemberState.left,
                       STAFF | {"volunteer"}),
}


@dataclass
class MemberView:
    """A member as the caller may see them."""

    id: int
    user_name: str
    name: str
    phone: str | None
    workplace_org: str
    building_code: str
    grid_code: str
    community_code: str
    skills: list[str]
    availability: list[int]
    state: str
    registered_at: datetime
    confirmed_at: datetime | None
    moves: list[str]


@dataclass
class ServiceRow:
    """One member's service as their workplace organisation sees it: counts and hours only."""

    member_id: int
    name: str
    community_code: str
    state: str
    orders_taken: int
    orders_done: int
    hours: float


class Members:
    """Registration and confirmation; every method takes an open session."""

    def __init__(self, book: PeopleBook, gazetteers: GazetteerCache, pii_key: str | None):
        self.book = book
        self.gazetteers = gazetteers
        self.pii_key = pii_key

    def _building(self, session: Session, building_code: str | None, address: str | None):
        if building_code:
            return place_building(session, building_code)
        if not address:
            raise InvalidInput("请填写楼栋或住址 give a building or an address")
        _, gazetteer = self.gazetteers.get(session)
        match = gazetteer.match(address)
        if match.placed is None:
            raise InvalidInput("住址无法确定楼栋，请选择楼栋 the address does not name one "
                               "building for sure; choose the building",
                               details={"candidates": [c.code for c in match.candidates]})
        return place_building(session, match.placed)

    def register(self, session: Session, actor: Actor, *, name: str, workplace_org: str,
                 skills: list[str], availability: list[int], building_code: str | None = None,
                 address: str | None = None, phone: str | None = None) -> Member:
        """双报到: a volunteer registers (or re-registers) with the community of their home,
        placed by building code or by address (the hotline gazetteer)."""
        require_role(actor, {"volunteer"}, "登记为在职党员 register as a member")
        place = self._building(session, building_code, address)
        require_scope(actor, place.building_code, f"楼栋 {place.building_code}")
        skills = self.book.require_codes("技能 skills", skills, self.book.skills)
        if any(d not in range(1, 8) for d in availability):
            raise InvalidInput("可服务日须为 1–7 availability days are 1 (Mon) … 7 (Sun)")
        cipher, masked = seal_phone(phone, self.pii_key)
        member = session.scalar(select(Member).where(Member.user_name == actor.name))
        if member is None:
            member = Member(user_name=actor.name)
            session.add(member)
        # Still confirmed only when already confirmed by the same community; a move, or a
        # registration refused or ended before, waits for the community again.
        stays = member.state == MemberState.confirmed and \
            member.community_code == place.community_code
        member.name, member.workplace_org = name, workplace_org
        member.phone_cipher, member.phone_masked = cipher, masked
        member.building_code, member.grid_code = place.building_code, place.grid_code
        member.community_code, member.lon, member.lat = place.community_code, place.lon, \
            place.lat
        member.skills, member.availability = skills, sorted(set(availability))
        if not stays:
            member.state = MemberState.pending
            member.confirmed_by = member.confirmed_at = None
        member.registered_at = utcnow()
        session.flush()
        return member

    def get(self, session: Session, actor: Actor, member_id: int) -> Member:
        """One member the actor may see: themselves, or staff whose scope holds their home."""
        member = session.get(Member, member_id)
        if member is None:
            raise NotFound(f"党员 {member_id} 不存在 member {member_id} not found")
        if actor.role == "volunteer":
            if member.user_name != actor.name:
                raise Forbidden("只能查看本人登记 you can see only your own registration")
        else:
            require_role(actor, STAFF | {"grid_worker"}, "查看党员登记 see registrations")
            require_scope(actor, member.community_code, f"社区 {member.community_code}")
        return member

    def mine(self, session: Session, actor: Actor) -> Member | None:
        """The caller's own registration, if any."""
        return session.scalar(select(Member).where(Member.user_name == actor.name))

    def list(self, session: Session, actor: Actor, *, unit: str | None = None,
             state: str | None = None, limit: int = 200, offset: int = 0) -> Sequence[Member]:
        """Members registered in the actor's scope (staff and grid workers)."""
        require_role(actor, STAFF | {"grid_worker"}, "查看党员登记 see registrations")
        prefix = unit or getattr(actor, "scope_code", "")
        if unit:
            require_scope(actor, unit)
        query = select(Member).where(Member.community_code.startswith(prefix)) \
            .order_by(Member.id).limit(limit).offset(offset)
        if state:
            query = query.where(Member.state == state)
        return session.scalars(query).all()

    def move(self, session: Session, actor: Actor, member_id: int, move: MemberMove) -> Member:
        """Confirm, refuse or end a registration, as ``MEMBER_MOVES`` allows."""
        member = self.get(session, actor, member_id)
        starts, ends, roles = MEMBER_MOVES[move]
        require_role(actor, roles, f"{move} 党员登记 {move} a registration")
        if member.state not in starts:
            raise MoveNotAllowed(f"登记状态为 {member.state}，不能 {move} registration is "
                                 f"{member.state}", details={"state": member.state})
        member.state = ends
        if move == MemberMove.confirm:
            member.confirmed_by, member.confirmed_at = actor.name, utcnow()
        session.flush()
        return member

    def view(self, member: Member, actor: Actor) -> MemberView:
        """The member as ``actor`` may see them (phone clear for the member and staff)."""
        clear = member.user_name == actor.name or (
            actor.role in CLEAR_ROLES and actor.covers(member.community_code))
        moves = [m.value for m, (starts, _, roles) in MEMBER_MOVES.items()
                 if member.state in starts and actor.role in roles]
        return MemberView(
            id=member.id, user_name=member.user_name, name=member.name,
            phone=open_phone(member.phone_cipher, member.phone_masked, self.pii_key, clear),
            workplace_org=member.workplace_org, building_code=member.building_code,
            grid_code=member.grid_code, community_code=member.community_code,
            skills=list(member.skills), availability=list(member.availability),
            state=member.state, registered_at=member.registered_at,
            confirmed_at=member.confirmed_at, moves=moves)

    def service(self, session: Session, actor: Actor, org: str | None = None
                ) -> list[ServiceRow]:
        """工作在单位、活动在社区: each member's orders taken and done and hours served. A
        workplace organisation (``party_org``) sees only its own members; staff see members
        registered in their scope, optionally of one ``org``."""
        query = select(Member).order_by(Member.id)
        if actor.role == "party_org":
            query = query.where(Member.workplace_org == actor.department)
        else:
            require_role(actor, STAFF, "查看党员服务 see members' service")
            if actor.role != "admin":
                query = query.where(Member.community_code.startswith(actor.scope_code))
            if org:
                query = query.where(Member.workplace_org == org)
        members = session.scalars(query).all()
        counts = dict(session.execute(
            select(Order.taker_id, func.count()).where(Order.taker_id.in_([m.id for m in members]))
            .group_by(Order.taker_id)).all())
        done = {row[0]: (row[1], row[2] or 0.0) for row in session.execute(
            select(Order.taker_id, func.count(), func.sum(Order.hours))
            .where(Order.taker_id.in_([m.id for m in members]), Order.done_at.is_not(None))
            .group_by(Order.taker_id)).all()}
        rows = []
        for m in members:
            finished, hours = done.get(m.id, (0, 0.0))
            rows.append(ServiceRow(m.id, m.name, m.community_code, m.state,
                                   counts.get(m.id, 0), finished, round(float(hours), 2)))
        return rows
