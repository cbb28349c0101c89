"""``GET /health``: whether the database answers and whether the working-time calendar covers
today (deadlines are refused on days no holiday source knows). 200 when the service can work,
503 with ``Retry-After`` when it cannot. Public: it names no person and no place."""

from __future__ import annotations

import logging

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from grid.api.deps import public_scope
from grid.services import Services

router = APIRouter(tags=["health"], dependencies=[Depends(public_scope)])
log = logging.getLogger("grid")


def calendar_status(svc: Services) -> dict:
    """The holiday data's coverage as of today in the calendar's time zone."""
    return svc.calendar.schedule.status(svc.calendar.today(), svc.settings.holidays_warn_days)


def log_calendar(svc: Services) -> None:
    """Say at start, loudly, when the holiday data does not cover today or runs out soon."""
    status = calendar_status(svc)
    if status["status"] == "not_covered":
        log.error("工作日历未覆盖今天，时限将被拒绝计算 the holiday data ends %s: deadlines are "
                  "refused until GRID_HOLIDAYS_FILE holds this year's notice",
                  status["covered_through"])
    elif status["status"] == "warning":
        log.warning("工作日历将于 %s 用尽 the holiday data ends %s: add next year's notice to "
                    "GRID_HOLIDAYS_FILE", status["covered_through"], status["covered_through"])


@router.get("/health", summary="健康检查 health: database and working-time calendar")
def health(request: Request) -> JSONResponse:
    """``{"status": "ok" | "warning" | "unavailable", "database": …, "calendar": …}``."""
    svc: Services = request.app.state.services
    try:
        with svc.db.read() as session:
            session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        database = "unreachable"
    calendar = calendar_status(svc)
    down = database != "ok" or calendar["status"] == "not_covered"
    status = "unavailable" if down else calendar["status"]
    return JSONResponse({"status": status, "database": database, "calendar": calendar},
                        status_code=503 if down else 200,
                        headers={"Retry-After": "30"} if down else None)
