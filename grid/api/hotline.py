"""Hotline addresses (12345 接诉即办) → buildings: match, submit, and the manual queue."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.api.limits import Code, RowId, text
from grid.hotline import aliases
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
    #: Why nothing was placed (empty when placed).
    why: str = ""


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
    why: str = ""
    boundary_version: int | None
    created_at: datetime
    resolved_at: datetime | None
    resolved_by: str | None


class ResolveIn(BaseModel):
    """The building a person chose; null rejects the address (not in our area). With
    ``keep_alias`` the address is remembered for that building (地址别名)."""

    building_code: Code | None
    keep_alias: bool = False


class AliasPublic(BaseModel):
    """A learned alias, with its audit trail."""

    model_config = ConfigDict(from_attributes=True)

    id: int
    key: str
    building_code: str
    example: str
    source_address_id: int | None
    created_by: str
    created_at: datetime
    revoked_by: str | None
    revoked_at: datetime | None


class AliasRecord(BaseModel):
    """One alias as exported and imported."""

    key: text(300, min_length=2)
    building_code: Code
    example: text(500) = ""
    created_by: text(100) = ""
    created_at: text(40) = ""


class AliasImport(BaseModel):
    """Aliases to import (from another deployment's export, or a backup)."""

    aliases: list[AliasRecord] = Field(max_length=10000)


class AliasImportResult(BaseModel):
    """How many aliases were added, and how many were there already."""

    added: int
    present: int


@router.post("/match", response_model=MatchPublic, summary="地址匹配 match an address")
def match(body: AddressIn, session: ReadSession, user: CurrentUser, svc: Svc) -> MatchPublic:
    """Scored candidate buildings for an address; nothing is recorded."""
    _, gazetteer = svc.gazetteers.get(session)
    found = gazetteer.match(body.address)
    return MatchPublic(address=body.address, placed=found.placed, score=found.score,
                       candidates=hotline.candidates_json(found), why=found.why)


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
def resolve(address_id: RowId, body: ResolveIn, session: WriteSession, user: CurrentUser,
            svc: Svc) -> HotlineAddressPublic:
    """Place a queued address on a building, or reject it (``building_code: null``); with
    ``keep_alias`` the next address written alike is placed on the same building."""
    return HotlineAddressPublic.model_validate(hotline.resolve(
        session, user, address_id, body.building_code, body.keep_alias, svc.gazetteers))


@router.get("/aliases", response_model=list[AliasPublic], summary="地址别名 learned aliases")
def list_aliases(session: ReadSession, user: CurrentUser,
                 revoked: bool = False,
                 limit: Annotated[int, Query(ge=1, le=10000)] = 1000) -> list[AliasPublic]:
    """Aliases of buildings in your area (also the revoked ones with ``revoked=true``)."""
    return [AliasPublic.model_validate(r)
            for r in aliases.listing(session, user, revoked, limit)]


@router.delete("/aliases/{alias_id}", response_model=AliasPublic,
               summary="撤销别名 revoke an alias")
def revoke_alias(alias_id: RowId, session: WriteSession, user: CurrentUser) -> AliasPublic:
    """Stop using an alias; it stays in the list of revoked aliases, with who and when."""
    return AliasPublic.model_validate(aliases.revoke(session, user, alias_id))


@router.get("/aliases/export", response_model=list[AliasRecord],
            summary="导出别名 export aliases")
def export_aliases(session: ReadSession, user: CurrentUser) -> list[AliasRecord]:
    """The aliases in force in your area, to import elsewhere with the gazetteer."""
    return [AliasRecord(**r) for r in aliases.export(session, user)]


@router.post("/aliases/import", response_model=AliasImportResult,
             summary="导入别名 import aliases")
def import_aliases(body: AliasImport, session: WriteSession, user: CurrentUser
                   ) -> AliasImportResult:
    """Add exported aliases, all or nothing."""
    added, present = aliases.import_(session, user, [a.model_dump() for a in body.aliases])
    return AliasImportResult(added=added, present=present)
