"""Hotline addresses (12345 接诉即办) → buildings: match, submit, and the manual queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import Code, RowId, text
from grid.hotline import queue as hotline

router = APIRouter(prefix="/api/v1/hotline", tags=["hotline"],
                   dependencies=[Depends(api_scope)])


class AddressIn(BaseModel):
    """A free-text address, with the caller's reference (工单号)."""

    address: text(500, min_length=1)
    ref: text(64) = ""


class CandidatePublic(BaseModel):
    """A building the address may mean."""

    code: str
    name: str
    score: float
    reason: str


class MatchPublic(BaseModel):
    """Candidates for an address, best first; ``placed`` when sure enough to place."""

    address: str
    placed: str | None
    score: float
    candidates: list[CandidatePublic]


class HotlineAddressPublic(BaseModel):
    """A recorded address and where it stands."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    address: str
    ref: str
    status: str
    building_code: str | None
    score: float
    candidates: list[CandidatePublic]
    boundary_version: int | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ResolveIn(BaseModel):
    """The building a person chose; null rejects the address (not in our area)."""

    building_code: Code | None


@router.post("/match", response_model=MatchPublic, summary="地址匹配 match an address")
def match(body: AddressIn, session: ReadSession, user: CurrentUser, svc: Svc) -> MatchPublic:
    """Scored candidate buildings for an address; nothing is recorded."""
    _, gazetteer = svc.gazetteers.get(session)
    found = gazetteer.match(body.address)
    return MatchPublic(address=body.address, placed=found.placed, score=found.score,
                       candidates=hotline.candidates_json(found))


@router.post("/addresses", response_model=HotlineAddressPublic, status_code=201,
             summary="登记地址 place or queue an address")
def submit(body: AddressIn, session: WriteSession, user: CurrentUser, svc: Svc
           ) -> HotlineAddressPublic:
    """Record an address: placed on its building when the match is sure, queued otherwise."""
    row = hotline.submit(session, svc.gazetteers, body.address, body.ref)
    return HotlineAddressPublic.model_validate(row)


@router.get("/queue", response_model=list[HotlineAddressPublic], summary="待人工处理 the queue")
def list_queue(
    session: ReadSession, user: CurrentUser,
    status: Annotated[str, Query(pattern="^(queued|placed|resolved|rejected)$")] = "queued",
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> list[HotlineAddressPublic]:
    """Addresses waiting for a person (or in another status), oldest first."""
    return [HotlineAddressPublic.model_validate(r)
            for r in hotline.queue(session, user, status, limit)]


@router.post("/queue/{address_id}/resolve", response_model=HotlineAddressPublic,
             summary="人工定位 resolve a queued address")
def resolve(address_id: RowId, body: ResolveIn, session: WriteSession, user: CurrentUser
            ) -> HotlineAddressPublic:
    """Place a queued address on a building, or reject it (``building_code: null``)."""
    return HotlineAddressPublic.model_validate(
        hotline.resolve(session, user, address_id, body.building_code))
