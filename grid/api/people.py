"""In-service Party members (双报到) and their orders (下单 · 接单 · 回单): thin routes over
``grid.people.members`` and ``grid.people.orders``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from sqlalchemy.orm import Session

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import RowId
from grid.api.people_schemas import (
    FinishBody,
    FromIncidentBody,
    MemberCreate,
    MemberPublic,
    OfferPublic,
    OrderCreate,
    OrderPublic,
    OrderRateBody,
    OrderReasonBody,
    OrderStepPublic,
    ReofferBody,
    ServicePublic,
    ToIncidentBody,
)
from grid.people.members import MemberMove
from grid.people.models import Member, Order
from grid.people.orders import NewOrder
from grid.services import Services

router = APIRouter(prefix="/api/v1", tags=["people"], dependencies=[Depends(api_scope)])


# -- members ----------------------------------------------------------------------------------


def member_public(svc: Services, member: Member, user) -> MemberPublic:
    """A member as the caller may see them."""
    return MemberPublic.model_validate(svc.people.members.view(member, user))


@router.post("/members", response_model=MemberPublic, status_code=201,
             summary="在职党员双报到 register as an in-service Party member")
def register(svc: Svc, user: CurrentUser, session: WriteSession,
             body: MemberCreate) -> MemberPublic:
    """A volunteer registers with the community of their home (by building or address);
    the community then confirms."""
    member = svc.people.members.register(session, user, **body.model_dump())
    return member_public(svc, member, user)


@router.get("/members/me", response_model=MemberPublic | None,
            summary="我的登记 my registration")
def my_registration(svc: Svc, user: CurrentUser, session: ReadSession) -> MemberPublic | None:
    """The caller's own registration (null when none)."""
    member = svc.people.members.mine(session, user)
    return member_public(svc, member, user) if member else None


@router.get("/members", response_model=list[MemberPublic], summary="党员登记 registrations")
def members(svc: Svc, user: CurrentUser, session: ReadSession,
            unit: Annotated[str | None, Query(max_length=32)] = None,
            state: Annotated[str | None, Query(pattern="^(pending|confirmed|refused|left)$")]
            = None,
            limit: Annotated[int, Query(ge=1, le=1000)] = 200,
            offset: Annotated[int, Query(ge=0)] = 0) -> list[MemberPublic]:
    """Registrations in the caller's scope (community, street, admin, grid worker)."""
    found = svc.people.members.list(session, user, unit=unit, state=state, limit=limit,
                                    offset=offset)
    return [member_public(svc, m, user) for m in found]


@router.get("/members/service", response_model=list[ServicePublic],
            summary="党员服务统计 members' service (counts and hours)")
def service(svc: Svc, user: CurrentUser, session: ReadSession,
            org: Annotated[str | None, Query(max_length=100)] = None) -> list[ServicePublic]:
    """工作在单位、活动在社区: orders taken and done and hours per member. A workplace Party
    organisation sees its own members only, and nothing of the residents they served."""
    return [ServicePublic.model_validate(row)
            for row in svc.people.members.service(session, user, org)]


@router.get("/members/{member_id}", response_model=MemberPublic, summary="一名党员 one member")
def member(svc: Svc, user: CurrentUser, session: ReadSession, member_id: RowId) -> MemberPublic:
    """A registration: the member's own, or one in a staff member's scope."""
    return member_public(svc, svc.people.members.get(session, user, member_id), user)


@router.post("/members/{member_id}/{move}", response_model=MemberPublic,
             summary="确认 / 不予确认 / 退出 confirm, refuse or end a registration")
def member_move(svc: Svc, user: CurrentUser, session: WriteSession, member_id: RowId,
                move: MemberMove) -> MemberPublic:
    """The community confirms (or refuses) a registration; either side may end it."""
    return member_public(svc, svc.people.members.move(session, user, member_id, move), user)


# -- orders -----------------------------------------------------------------------------------


def order_public(svc: Services, session: Session, order: Order, user) -> OrderPublic:
    """An order with its offers, steps and the moves the caller may make."""
    wanted = [o.member_id for o in order.offers] + [order.taker_id or 0]
    names = {m.id: m for m in session.scalars(select(Member).where(Member.id.in_(wanted)))}
    taker = names.get(order.taker_id) if order.taker_id else None
    engine = svc.people.orders
    return OrderPublic(
        id=order.id, title=order.title, description=order.description,
        skills=list(order.skills), source=order.source, requester_name=order.requester_name,
        requester_phone=engine.requester_phone(order, user, taker), lon=order.lon,
        lat=order.lat, building_code=order.building_code, grid_code=order.grid_code,
        community_code=order.community_code, needed_at=order.needed_at, state=order.state,
        level=order.level, take_due_at=order.take_due_at,
        taker=taker.name if taker else None, taken_at=order.taken_at, done_at=order.done_at,
        hours=order.hours, rating=order.rating, incident_id=order.incident_id,
        link=order.link, topic_id=order.topic_id, created_by=order.created_by,
        created_at=order.created_at,
        offers=[OfferPublic(member_id=o.member_id, member_name=names[o.member_id].name,
                            rank=o.rank, distance_m=o.distance_m) for o in order.offers],
        steps=[OrderStepPublic.model_validate(s) for s in order.steps],
        moves=engine.moves_for(session, user, order))


@router.post("/orders", response_model=OrderPublic, status_code=201, summary="下单 place an order")
def place(svc: Svc, user: CurrentUser, session: WriteSession, body: OrderCreate) -> OrderPublic:
    """A need placed by a grid worker (for a resident), a community or a Party organisation;
    offered at once to the nearest matching volunteers."""
    order = svc.people.orders.place(session, user, NewOrder(**body.model_dump()))
    return order_public(svc, session, order, user)


@router.post("/orders/from-incident/{incident_id}", response_model=OrderPublic,
             status_code=201, summary="事件转订单 turn an incident into an order")
def from_incident(svc: Svc, user: CurrentUser, session: WriteSession, incident_id: RowId,
                  body: FromIncidentBody) -> OrderPublic:
    """An order at the incident's place, linked to it."""
    order = svc.people.orders.from_incident(session, user, incident_id,
                                            NewOrder(**body.model_dump()))
    return order_public(svc, session, order, user)


@router.get("/orders", response_model=list[OrderPublic], summary="订单 orders")
def orders(svc: Svc, user: CurrentUser, session: ReadSession,
           state: Annotated[str | None, Query(max_length=20)] = None,
           unit: Annotated[str | None, Query(max_length=32)] = None,
           incident: Annotated[int | None, Query(description="linked incident")] = None,
           limit: Annotated[int, Query(ge=1, le=500)] = 100,
           offset: Annotated[int, Query(ge=0)] = 0) -> list[OrderPublic]:
    """A volunteer's offers and orders; a Party organisation's own; staff's scope."""
    found = svc.people.orders.list(session, user, state=state, unit=unit, incident_id=incident,
                                   limit=limit, offset=offset)
    return [order_public(svc, session, o, user) for o in found]


@router.get("/orders/{order_id}", response_model=OrderPublic, summary="一张订单 one order")
def order(svc: Svc, user: CurrentUser, session: ReadSession, order_id: RowId) -> OrderPublic:
    """One order the caller may see."""
    return order_public(svc, session, svc.people.orders.get(session, user, order_id), user)


@router.post("/orders/{order_id}/take", response_model=OrderPublic, summary="接单 take")
def take(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId) -> OrderPublic:
    """An offered volunteer takes the order (the first wins)."""
    return order_public(svc, session, svc.people.orders.take(session, user, order_id), user)


@router.post("/orders/{order_id}/finish", response_model=OrderPublic,
             summary="完成服务 report done")
def finish(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
           body: FinishBody) -> OrderPublic:
    """The volunteer reports the service done: note, hours, photos."""
    found = svc.people.orders.finish(session, user, order_id, **body.model_dump())
    return order_public(svc, session, found, user)


@router.post("/orders/{order_id}/rate", response_model=OrderPublic, summary="回单 rate")
def rate(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
         body: OrderRateBody) -> OrderPublic:
    """The person served rates the service (recorded by the placer's side)."""
    found = svc.people.orders.rate(session, user, order_id, body.rating, body.note)
    return order_public(svc, session, found, user)


@router.post("/orders/{order_id}/escalate", response_model=OrderPublic,
             summary="转社区 escalate to the community")
def escalate(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
             body: OrderReasonBody) -> OrderPublic:
    """Hand a waiting order to the community by hand."""
    found = svc.people.orders.escalate(session, user, order_id, body.reason)
    return order_public(svc, session, found, user)


@router.post("/orders/{order_id}/reoffer", response_model=OrderPublic,
             summary="扩大派单 offer again, wider")
def reoffer(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
            body: ReofferBody) -> OrderPublic:
    """The community offers an escalated order again within ``radius_m``."""
    found = svc.people.orders.reoffer(session, user, order_id, body.radius_m)
    return order_public(svc, session, found, user)


@router.post("/orders/{order_id}/cancel", response_model=OrderPublic, summary="撤单 cancel")
def cancel(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
           body: OrderReasonBody) -> OrderPublic:
    """Withdraw an order not yet done."""
    found = svc.people.orders.cancel(session, user, order_id, body.reason)
    return order_public(svc, session, found, user)


@router.post("/orders/{order_id}/to-incident", response_model=OrderPublic,
             summary="订单转事件 turn into an incident")
def to_incident(svc: Svc, user: CurrentUser, session: WriteSession, order_id: RowId,
                body: ToIncidentBody) -> OrderPublic:
    """A need volunteers cannot meet becomes an incident at its place (linked both ways)."""
    found, _ = svc.people.orders.to_incident(session, user, order_id, body.category, body.note)
    return order_public(svc, session, found, user)
