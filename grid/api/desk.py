"""The street office's desk over HTTP (街道工作台): the figures beside the street map, the
three-rate ranking with unit names, the trend by month, the lowest-ranked (末位) and the
communities with no complaint, and 每月一题 — candidates, adopting a topic with its lead,
following its cases and trend, closing it. The desk pages call exactly these endpoints.

Every answer is limited to the caller's scope: a street code outside it is 403, a topic
outside it is 404 (as an incident is)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from pydantic import BaseModel, Field, field_validator

from grid.api.deps import CurrentUser, ReadSession, Svc, WriteSession, api_scope
from grid.errors import Forbidden, GridError
from grid.incidents import desk, hotspots, rates, topics
from grid.incidents.rates import month_bounds
from grid.orm import utcnow
from grid.services import Services

router = APIRouter(prefix="/api/v1/desk", tags=["desk"], dependencies=[Depends(api_scope)])

MONTH = r"^\d{4}-(0[1-9]|1[0-2])$"
Street = Annotated[str, Path(pattern=r"^[0-9A-Za-z]{1,32}$", description="街道编码 street code")]
Month = Annotated[str | None, Query(pattern=MONTH, description="YYYY-MM; default this month")]
TopicId = Annotated[int, Path(ge=1, le=2_147_483_647)]


def _no_nul(value: str) -> str:
    if "\x00" in value:
        raise ValueError("不能包含 NUL 字符 must not contain a NUL character")
    return value


class TopicCreate(BaseModel):
    """Adopt a category as the street's 每月一题 for a month."""

    month: str = Field(pattern=MONTH)
    category: str = Field(min_length=1, max_length=40, pattern=r"^[0-9A-Za-z_-]+$")
    title: str = Field(default="", max_length=200)
    lead: str = Field(min_length=1, max_length=100)
    note: str = Field(default="", max_length=2000)

    _checked = field_validator("title", "lead", "note")(_no_nul)


class TopicClose(BaseModel):
    """结题: the conclusion a topic closes with."""

    conclusion: str = Field(min_length=1, max_length=2000)

    _checked = field_validator("conclusion")(_no_nul)


def _street(user, street: str) -> str:
    if not user.covers(street):
        raise Forbidden(f"街道 {street} 不在您的范围内 street {street} is outside your scope")
    return street


def _month(svc: Services, month: str | None) -> str:
    return month or desk.month_of(utcnow(), svc.settings.work_timezone)


def _category_name(svc: Services, code: str) -> str:
    try:
        return svc.categories.get(code).label(svc.settings.language)
    except GridError:  # a category removed from the book since: show its code
        return code


@router.get("/streets/{street}/figures", summary="街道工作台数字 the desk's figures")
def figures(svc: Svc, user: CurrentUser, session: ReadSession, street: Street) -> dict:
    """Open and overdue cases by level and by category, this month against last."""
    found = desk.figures(session, _street(user, street), svc.settings.work_timezone)
    out = found.as_dict()
    out["by_category"] = [{"category": c, "name": _category_name(svc, c), "count": n}
                          for c, n in found.by_category.items()]
    out["name"] = desk.unit_names(session, [street]).get(street, street)
    return out


def _named(bottom: int, rows: list) -> int:
    """How many of the lowest to name: at most ``bottom``, never more than half of the
    ranked units (of two, one is last; of one, none is)."""
    return min(bottom, len(rows) // 2)


@router.get("/streets/{street}/ranking", summary="三率排名 the ranking with unit names")
def ranking(svc: Svc, user: CurrentUser, session: ReadSession, street: Street,
            month: Month = None,
            bottom: Annotated[int, Query(ge=1, le=20, description="末位: how many")] = 3
            ) -> dict:
    """The street's communities ranked on the three rates for the month (rank 1 best), the
    lowest ``bottom`` of them (末位; at most half of those ranked), and the communities with
    no complaint. A community
    with no case in the month is listed apart, unranked, its rates ``null``."""
    _street(user, street)
    month = _month(svc, month)
    start, end = month_bounds(month, svc.settings.work_timezone)
    ranked = [u for u in rates.rates(session, "community", start, end,
                                     svc.settings.rate_weights)
              if u.code.startswith(street) and user.covers(u.code)]
    names = desk.communities(session, street)
    rows = []
    for i, unit in enumerate(ranked, 1):
        row = unit.as_row()
        row.update(rank=i, name=names.get(unit.code, unit.code))
        rows.append(row)
    seen = {u.code for u in ranked}
    unrated = [{"code": c, "name": n, "received": 0, "response": None, "resolution": None,
                "satisfaction": None, "score": None, "rank": None}
               for c, n in names.items() if c not in seen]
    return {"street": street, "name": desk.unit_names(session, [street]).get(street, street),
            "month": month, "weights": svc.settings.rate_weights, "units": rows,
            "unrated": unrated, "bottom": [r["code"] for r in rows[-_named(bottom, rows):]][::-1],
            "quiet": desk.quiet_communities(session, street, month,
                                            svc.settings.work_timezone)}


@router.get("/streets/{street}/trend", summary="三率趋势 the rates month by month")
def trend(svc: Svc, user: CurrentUser, session: ReadSession, street: Street,
          month: Month = None,
          months: Annotated[int, Query(ge=1, le=desk.MAX_MONTHS)] = 6) -> dict:
    """The street's and each community's three rates for the ``months`` months ending with
    ``month``; ``null`` where a unit had no case that month."""
    _street(user, street)
    out = desk.trend(session, street, _month(svc, month), months, svc.settings.work_timezone,
                     svc.settings.rate_weights)
    out["names"] = desk.unit_names(session, out["series"])
    return out


@router.get("/streets/{street}/candidates", summary="每月一题候选 categories to adopt")
def candidates(svc: Svc, user: CurrentUser, session: ReadSession, street: Street,
               month: Month = None,
               baseline_months: Annotated[int, Query(ge=1, le=24)] = 3) -> list[dict]:
    """The month's categories by count and growth, with the leader in charge of each (the
    usual lead of the topic)."""
    month = _month(svc, month)
    start, end = month_bounds(month, svc.settings.work_timezone)
    found = hotspots.top_categories(session, _street(user, street), start, end,
                                    baseline_months)
    out = []
    for t in found:
        try:
            category = svc.categories.get(t.category)
            leader, name = category.leader, category.label(svc.settings.language)
        except GridError:  # no longer in the book
            leader, name = "", t.category
        out.append({**t.as_row(), "name": name, "leader": leader})
    return out


def _topic(svc: Services, topic: topics.MonthlyTopic) -> dict:
    return {"id": topic.id, "street_code": topic.street_code, "month": topic.month,
            "category": topic.category, "category_name": _category_name(svc, topic.category),
            "title": topic.title, "lead": topic.lead, "note": topic.note, "state": topic.state,
            "adopted_by": topic.adopted_by, "adopted_at": topic.adopted_at,
            "closed_by": topic.closed_by, "closed_at": topic.closed_at,
            "conclusion": topic.conclusion}


@router.get("/streets/{street}/topics", summary="每月一题列表 the street's topics")
def topic_list(svc: Svc, user: CurrentUser, session: ReadSession, street: Street) -> list[dict]:
    """The street's topics, newest month first, each with its open case count."""
    out = []
    for topic in topics.listing(session, user, street):
        counts = topics.counts(session, topic, svc.settings.work_timezone)
        out.append({**_topic(svc, topic), "cases": sum(counts.values()),
                    "unresolved": sum(counts.get(s, 0) for s in topics.UNRESOLVED)})
    return out


@router.post("/streets/{street}/topics", status_code=201, summary="确定每月一题 adopt a topic")
def adopt(svc: Svc, user: CurrentUser, session: WriteSession, street: Street,
          body: TopicCreate) -> dict:
    """Adopt a category as the street's topic for a month, with the lead who answers for it
    (street office of that street, or admin)."""
    svc.categories.get(body.category)  # an unknown category is refused
    topic = topics.adopt(session, user, street=street, month=body.month,
                         category=body.category, title=body.title, lead=body.lead,
                         note=body.note, timezone=svc.settings.work_timezone)
    return _topic(svc, topic)


def _case(svc: Services, incident, now: datetime, names: dict[str, str]) -> dict:
    return {"id": incident.id, "category_name": _category_name(svc, incident.category),
            "state": incident.state, "level": incident.level,
            "created_at": incident.created_at, "due_at": incident.due_at,
            "overdue": bool(incident.due_at and incident.due_at < now
                            and incident.state in topics.UNRESOLVED),
            "community_code": incident.community_code,
            "community_name": names.get(incident.community_code or "", ""),
            "grid_code": incident.grid_code,
            "grid_name": names.get(incident.grid_code or "", "")}


@router.get("/topics/{topic_id}", summary="每月一题详情 a topic, its cases and trend")
def topic_detail(svc: Svc, user: CurrentUser, session: ReadSession, topic_id: TopicId) -> dict:
    """The topic, its cases (unresolved first), their count by state and the monthly trend
    from three months before the topic's month."""
    topic = topics.get(session, user, topic_id)
    tz = svc.settings.work_timezone
    found = topics.cases(session, topic, tz)
    names = desk.unit_names(session, [c for i in found for c in (i.community_code, i.grid_code)]
                            + [topic.street_code])
    now = utcnow()
    return {**_topic(svc, topic), "street_name": names.get(topic.street_code, ""),
            "counts": topics.counts(session, topic, tz),
            "trend": [vars(m) for m in topics.trend(session, topic, tz)],
            "cases": [_case(svc, i, now, names) for i in found if user.covers(i.grid_code)]}


@router.post("/topics/{topic_id}/close", summary="结题 close a topic")
def topic_close(svc: Svc, user: CurrentUser, session: WriteSession, topic_id: TopicId,
                body: TopicClose) -> dict:
    """Close the topic with its conclusion (street office of that street, or admin)."""
    return _topic(svc, topics.close(session, user, topic_id, body.conclusion))



