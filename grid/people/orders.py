"""一呼百应: 下单 (a need is placed) → 接单 (a nearby Party volunteer takes it) → 回单 (the
person served rates the service).

A need is placed by a resident (through their grid worker's phone), a community or a Party
organisation, at a building or a point, for a time, with the skills it wants. It is offered at
once to the nearest confirmed members of that community who have every skill wanted, are free
that weekday and live within ``orders.radius_m`` (straight line in the Gauss-Krüger zone,
``grid.people.common.distances_m``), at most ``orders.offer_count`` of them. One takes it,
reports it done (note, hours, photos), and the requester's side rates it. An order nobody takes
within ``orders.take_within`` is escalated to the community by ``grid escalate-due``, like an
incident; the community offers it wider (``reoffer``) or turns it into an incident.

``ORDER_MOVES`` is the one table of which role may make which move from which state; the
engine, the pages (which buttons to show) and the figures read it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from geoalchemy2.shape import to_shape
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from grid.db import Database
from grid.errors import Conflict, Forbidden, InvalidInput, MoveNotAllowed, NotFound
from grid.incidents.ladder import RATINGS, SYSTEM, Ladder
from grid.incidents.models import Attachment, Incident
from grid.orm import utcnow
from grid.people.common import (
    CLEAR_ROLES,
    STAFF,
    Actor,
    Place,
    distances_m,
    open_phone,
    place_building,
    require_role,
    require_scope,
    seal_phone,
)
from grid.people.config import PeopleBook
from grid.people.members import MemberState
from grid.people.models import Member, Order, OrderOffer, OrderStep
from grid.spatial.locator import LocatorCache


class OrderState(StrEnum):
    """Where an order stands."""

    open = "open"                # placed and offered, waiting for a volunteer
    escalated = "escalated"      # nobody took it in time: the community has it
    taken = "taken"              # 接单
    done = "done"                # reported done, waiting for the rating
    rated = "rated"              # 回单
    cancelled = "cancelled"
    transferred = "transferred"  # turned into an incident


class OrderMove(StrEnum):
    """What can happen to an order."""

    place = "place"
    take = "take"
    finish = "finish"
    rate = "rate"
    escalate = "escalate"
    reoffer = "reoffer"
    cancel = "cancel"
    to_incident = "to_incident"


PLACERS = frozenset({"grid_worker", "community", "street", "admin", "party_org"})
WAITING = frozenset({OrderState.open, OrderState.escalated})


@dataclass(frozen=True)
class OrderRule:
    """A move: the states it starts from, the state it ends in (None: unchanged), the roles."""

    starts: frozenset[OrderState]
    ends: OrderState | None
    roles: frozenset[str]


#: The one transition table.
ORDER_MOVES: dict[OrderMove, OrderRule] = {
    OrderMove.place: OrderRule(frozenset(), OrderState.open, PLACERS),
    OrderMove.take: OrderRule(WAITING, OrderState.taken, frozenset({"volunteer"})),
    OrderMove.finish: OrderRule(frozenset({OrderState.taken}), OrderState.done,
                                frozenset({"volunteer"})),
    OrderMove.rate: OrderRule(frozenset({OrderState.done}), OrderState.rated, PLACERS),
    OrderMove.escalate: OrderRule(frozenset({OrderState.open}), OrderState.escalated,
                                  frozenset({"system", "grid_worker"}) | STAFF),
    OrderMove.reoffer: OrderRule(frozenset({OrderState.escalated}), OrderState.open, STAFF),
    OrderMove.cancel: OrderRule(WAITING | {OrderState.taken}, OrderState.cancelled, PLACERS),
    OrderMove.to_incident: OrderRule(WAITING, OrderState.transferred,
                                     frozenset({"grid_worker"}) | STAFF),
}
#: Sources of an order: a resident (through a grid worker), a community, a Party organisation,
#: an incident turned into an order, a deliberation's follow-up task.
SOURCES = ("resident", "community", "party_org", "incident", "topic")


@dataclass
class NewOrder:
    """What a placer asks for."""

    title: str
    needed_at: datetime
    skills: list[str]
    description: str = ""
    source: str = "resident"
    building_code: str | None = None
    lon: float | None = None
    lat: float | None = None
    requester_name: str = ""
    requester_phone: str | None = None


class Orders:
    """The order engine; every public method takes an open session."""

    def __init__(self, book: PeopleBook, ladder: Ladder, locators: LocatorCache,
                 pii_key: str | None) -> None:
        self.book = book
        self.ladder = ladder
        self.locators = locators
        self.pii_key = pii_key

    # -- reading -------------------------------------------------------------------------

    def member_of(self, session: Session, actor: Actor) -> Member | None:
        """The volunteer's confirmed registration, if the actor is one."""
        if actor.role != "volunteer":
            return None
        return session.scalar(select(Member).where(Member.user_name == actor.name))

    def may_see(self, session: Session, actor: Actor, order: Order) -> bool:
        """Staff and grid workers in scope; the placer; a volunteer it was offered to."""
        if actor.role == "volunteer":
            member = self.member_of(session, actor)
            return member is not None and (order.taker_id == member.id or any(
                o.member_id == member.id for o in order.offers))
        if actor.role == "party_org":
            return order.created_by == actor.name
        return actor.role in CLEAR_ROLES and actor.covers(order.grid_code)

    def get(self, session: Session, actor: Actor, order_id: int) -> Order:
        """One order the actor may see; 404 when missing, 403 when not theirs to see."""
        order = session.get(Order, order_id)
        if order is None:
            raise NotFound(f"订单 {order_id} 不存在 order {order_id} not found")
        if not self.may_see(session, actor, order):
            raise Forbidden(f"无权查看订单 {order_id} order {order_id} is not yours to see")
        return order

    def list(self, session: Session, actor: Actor, *, state: str | None = None,
             unit: str | None = None, incident_id: int | None = None, limit: int = 100,
             offset: int = 0) -> Sequence[Order]:
        """Orders the actor may see, newest first: a volunteer's offers and taken orders, a
        Party organisation's own, the orders in a staff member's or grid worker's scope."""
        query = select(Order).order_by(Order.id.desc()).limit(limit).offset(offset)
        if actor.role == "volunteer":
            member = self.member_of(session, actor)
            if member is None:
                return []
            offered = select(OrderOffer.order_id).where(OrderOffer.member_id == member.id)
            query = query.where((Order.taker_id == member.id) | Order.id.in_(offered))
        elif actor.role == "party_org":
            query = query.where(Order.created_by == actor.name)
        else:
            require_role(actor, CLEAR_ROLES, "查看订单 see orders")
            if actor.role != "admin":
                query = query.where(Order.grid_code.startswith(actor.scope_code))
        if unit:
            query = query.where(Order.grid_code.startswith(unit))
        if state:
            query = query.where(Order.state == state)
        if incident_id is not None:
            query = query.where(Order.incident_id == incident_id)
        return session.scalars(query).all()

    def moves_for(self, session: Session, actor: Actor, order: Order) -> list[str]:
        """The moves ``actor`` could make on ``order`` now (the pages' buttons)."""
        found = []
        for move, rule in ORDER_MOVES.items():
            if move == OrderMove.place or order.state not in rule.starts:
                continue
            try:
                self._check(session, actor, order, move)
            except (Forbidden, MoveNotAllowed):
                continue
            found.append(move.value)
        return found

    def requester_phone(self, order: Order, actor: Actor, taker: Member | None) -> str | None:
        """The requester's phone: clear to staff and grid workers in scope and to the taker."""
        clear = (actor.role in CLEAR_ROLES and actor.covers(order.grid_code)) or (
            taker is not None and taker.user_name == actor.name)
        return open_phone(order.requester_phone_cipher, order.requester_phone_masked,
                          self.pii_key, clear)

    # -- moves ---------------------------------------------------------------------------

    def _check(self, session: Session, actor: Actor, order: Order, move: OrderMove) -> None:
        rule = ORDER_MOVES[move]
        require_role(actor, rule.roles, f"{move} 订单 {move} an order")
        if order.state not in rule.starts:
            raise MoveNotAllowed(f"订单状态为 {order.state}，不能 {move} order is "
                                 f"{order.state}", details={"state": order.state})
        if actor.role == "volunteer":
            member = self.member_of(session, actor)
            if member is None or member.state != MemberState.confirmed:
                raise Forbidden("需先经社区确认登记 your registration is not confirmed")
            if move == OrderMove.take and not any(o.member_id == member.id
                                                  for o in order.offers):
                raise Forbidden("此订单未派给您 this order was not offered to you")
            if move == OrderMove.finish and order.taker_id != member.id:
                raise Forbidden("只有接单人可以回报 only the volunteer who took it")
        elif actor.role == "party_org":
            if order.created_by != actor.name:
                raise Forbidden("只能处理本组织下的单 only orders your organisation placed")
        elif actor.role != "system":
            require_scope(actor, order.grid_code, f"网格 {order.grid_code}")

    def _move(self, session: Session, actor: Actor, order: Order, move: OrderMove, *,
              note: str = "", attachments: Sequence[int] = (), now: datetime | None = None
              ) -> Order:
        self._check(session, actor, order, move)
        ends = ORDER_MOVES[move].ends
        step = OrderStep(at=now or utcnow(), move=move.value, actor=actor.name,
                         actor_role=actor.role, from_state=order.state,
                         to_state=ends or order.state, note=note,
                         attachments=list(attachments) or None)
        order.state = ends or order.state
        order.steps.append(step)
        for attachment_id in attachments:
            if session.get(Attachment, attachment_id) is None:
                raise InvalidInput(f"附件 {attachment_id} 不存在 attachment not found")
        try:
            session.flush()
        except StaleDataError:
            raise Conflict(f"订单 {order.id} 已被他人处理，请刷新 order {order.id} was changed "
                           "by someone else; reload") from None
        return order

    def _place_of(self, session: Session, new: NewOrder) -> Place:
        if new.building_code:
            return place_building(session, new.building_code)
        if new.lon is None or new.lat is None:
            raise InvalidInput("请给出楼栋或位置 give a building or a point")
        locator = self.locators.get(session)
        codes = locator.locate(new.lon, new.lat)
        if codes.get("grid") is None:
            raise InvalidInput("位置不在任何网格内 the location is outside every grid")
        return Place(codes.get("building") or "", codes["grid"], codes["community"],
                     codes["street"], new.lon, new.lat)

    def place(self, session: Session, actor: Actor, new: NewOrder,
              now: datetime | None = None, incident: Incident | None = None,
              topic_id: int | None = None) -> Order:
        """下单: record the need and offer it to the nearest matching volunteers."""
        require_role(actor, ORDER_MOVES[OrderMove.place].roles, "下单 place an order")
        if new.source not in SOURCES:
            raise InvalidInput(f"未知来源 unknown source '{new.source}'; expected {SOURCES}")
        place = self._place_of(session, new)
        require_scope(actor, place.grid_code, f"网格 {place.grid_code}")
        skills = self.book.require_codes("技能 skills", new.skills, self.book.skills)
        now = now or utcnow()
        cipher, masked = seal_phone(new.requester_phone, self.pii_key)
        order = Order(
            title=new.title, description=new.description, skills=skills, source=new.source,
            requester_name=new.requester_name, requester_phone_cipher=cipher,
            requester_phone_masked=masked, lon=place.lon, lat=place.lat,
            building_code=place.building_code or None, grid_code=place.grid_code,
            community_code=place.community_code, needed_at=new.needed_at,
            state=OrderState.open, level="grid", created_by=actor.name, created_at=now,
            take_due_at=self.ladder.calendar.add(now, self.book.orders.take_limit),
            incident_id=incident.id if incident else None,
            link="from_incident" if incident else None, topic_id=topic_id, row_version=1)
        session.add(order)
        order.steps.append(OrderStep(at=now, move=OrderMove.place.value, actor=actor.name,
                                     actor_role=actor.role, from_state=None,
                                     to_state=OrderState.open, note=new.description))
        session.flush()
        self._offer(session, order, self.book.orders.radius_m, now)
        return order

    def matches(self, session: Session, order: Order, radius_m: float
                ) -> list[tuple[Member, float]]:
        """Confirmed members of the order's community who have every skill wanted, are free on
        its weekday (Beijing time) and live within ``radius_m``: nearest first, code order
        breaking ties, at most ``offer_count``."""
        weekday = order.needed_at.astimezone(ZoneInfo("Asia/Shanghai")).isoweekday()
        members = [m for m in session.scalars(
            select(Member).where(Member.community_code == order.community_code,
                                 Member.state == MemberState.confirmed).order_by(Member.id))
            if set(order.skills) <= set(m.skills)
            and (not m.availability or weekday in m.availability)]
        metres = distances_m((order.lon, order.lat), [(m.lon, m.lat) for m in members])
        ranked = sorted((d, m.id, m) for d, m in zip(metres, members, strict=True)
                        if d <= radius_m)
        return [(m, d) for d, _, m in ranked[: self.book.orders.offer_count]]

    def _offer(self, session: Session, order: Order, radius_m: float, now: datetime) -> None:
        already = {o.member_id for o in order.offers}
        rank = len(order.offers)
        for member, metres in self.matches(session, order, radius_m):
            if member.id in already:
                continue
            rank += 1
            order.offers.append(OrderOffer(member_id=member.id, rank=rank,
                                           distance_m=round(metres, 1), offered_at=now))
        session.flush()

    def take(self, session: Session, actor: Actor, order_id: int,
             now: datetime | None = None) -> Order:
        """接单: an offered volunteer takes the order; the first one wins (row version)."""
        order = self.get(session, actor, order_id)
        now = now or utcnow()
        self._move(session, actor, order, OrderMove.take, now=now)
        order.taker_id = self.member_of(session, actor).id
        order.taken_at, order.take_due_at = now, None
        session.flush()
        return order

    def finish(self, session: Session, actor: Actor, order_id: int, *, note: str,
               hours: float, attachments: Sequence[int] = (),
               now: datetime | None = None) -> Order:
        """The volunteer reports the service done, with a note, hours and photos."""
        if not note.strip():
            raise InvalidInput("请填写服务情况 describe what was done")
        order = self.get(session, actor, order_id)
        now = now or utcnow()
        self._move(session, actor, order, OrderMove.finish, note=note, attachments=attachments,
                   now=now)
        order.done_at, order.hours = now, hours
        session.flush()
        return order

    def rate(self, session: Session, actor: Actor, order_id: int, rating: str,
             note: str = "", now: datetime | None = None) -> Order:
        """回单: the person served rates the service (recorded by whoever placed it for them)."""
        if rating not in RATINGS:
            raise InvalidInput(f"评价须为 rating must be one of {', '.join(RATINGS)}")
        order = self.get(session, actor, order_id)
        self._move(session, actor, order, OrderMove.rate, note=f"{rating} {note}".strip(),
                   now=now)
        order.rating = rating
        session.flush()
        return order

    def cancel(self, session: Session, actor: Actor, order_id: int, reason: str) -> Order:
        """Withdraw an order not yet done."""
        if not reason.strip():
            raise InvalidInput("撤单需要说明原因 cancelling needs a reason")
        order = self.get(session, actor, order_id)
        order.take_due_at = None
        return self._move(session, actor, order, OrderMove.cancel, note=reason)

    def escalate(self, session: Session, actor: Actor, order_id: int, reason: str,
                 now: datetime | None = None) -> Order:
        """Hand a waiting order to the community by hand (社区呼叫)."""
        if not reason.strip():
            raise InvalidInput("上报需要说明原因 escalating needs a reason")
        order = self.get(session, actor, order_id)
        return self._escalate(session, actor, order, reason, now)

    def _escalate(self, session: Session, actor: Actor, order: Order, reason: str,
                  now: datetime | None) -> Order:
        self._move(session, actor, order, OrderMove.escalate, note=reason, now=now)
        order.level, order.take_due_at = "community", None
        session.flush()
        return order

    def reoffer(self, session: Session, actor: Actor, order_id: int, radius_m: float,
                now: datetime | None = None) -> Order:
        """The community offers an escalated order again, as far as ``radius_m``; its clock
        restarts."""
        order = self.get(session, actor, order_id)
        now = now or utcnow()
        self._move(session, actor, order, OrderMove.reoffer, note=f"{radius_m:g} m", now=now)
        order.take_due_at = self.ladder.calendar.add(now, self.book.orders.take_limit)
        self._offer(session, order, radius_m, now)
        return order

    def to_incident(self, session: Session, actor: Actor, order_id: int, category: str,
                    note: str = "") -> tuple[Order, Incident]:
        """Turn a waiting order into an incident at its place (a need that volunteers cannot
        meet, e.g. a broken pipe); the two are linked both ways."""
        order = self.get(session, actor, order_id)
        self._check(session, actor, order, OrderMove.to_incident)
        incident = self.ladder.report(
            session, actor, lon=order.lon, lat=order.lat, category=category,
            description=f"由服务订单 #{order.id} 转来 from order #{order.id}: {order.title}. "
                        f"{note}".strip(), source="resident", reporter=order.requester_name)
        self._move(session, actor, order, OrderMove.to_incident, note=f"→ #{incident.id} {note}")
        order.incident_id, order.link, order.take_due_at = incident.id, "to_incident", None
        session.flush()
        return order, incident

    def from_incident(self, session: Session, actor: Actor, incident_id: int,
                      new: NewOrder) -> Order:
        """Turn an incident into an order (a case a volunteer can handle: an elderly
        resident's shopping, a neighbour's repair) placed at the incident's point."""
        incident = self.ladder.get(session, actor, incident_id)
        point = to_shape(incident.geom)
        new.lon, new.lat, new.building_code, new.source = point.x, point.y, None, "incident"
        new.requester_name = new.requester_name or incident.reporter
        return self.place(session, actor, new, incident=incident)

    # -- the sweep -----------------------------------------------------------------------

    def escalate_due(self, db: Database, now: datetime | None = None,
                     batch: int = 200) -> list[int]:
        """Escalate every open order whose time to be taken ran out (like incidents: PostGIS
        hands each row to one sweep with ``SKIP LOCKED``; SpatiaLite sweeps one at a time)."""
        now = now or utcnow()
        moved: list[int] = []
        while True:
            with db.write() as session:
                query = (select(Order).where(Order.state == OrderState.open,
                                             Order.take_due_at <= now)
                         .order_by(Order.id).limit(batch))
                if not db.is_spatialite:
                    query = query.with_for_update(skip_locked=True, of=Order)
                due = session.scalars(query).all()
                for order in due:
                    self._escalate(session, SYSTEM, order, "超时无人接单 nobody took it in "
                                   "time", now)
                    moved.append(order.id)
            if len(due) < batch:
                return moved
