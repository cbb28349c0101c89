"""One place that maps the domain's errors to HTTP statuses and one JSON body shape:
``{"code": …, "message": …, "details": …}``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from grid import errors

STATUS: dict[type[errors.GridError], int] = {
    errors.NotFound: 404,
    errors.InvalidInput: 422,
    errors.LoadError: 422,
    errors.NotAuthenticated: 401,
    errors.Forbidden: 403,
    errors.MoveNotAllowed: 409,
    errors.Conflict: 409,
    errors.CalendarNotCovered: 503,
}


def _body(code: str, message: str, details=None) -> dict:
    return {"code": code, "message": message, "details": jsonable_encoder(details)}


def add_exception_handlers(app: FastAPI) -> None:
    """Register the handlers; call once from the app factory."""

    @app.exception_handler(errors.GridError)
    async def _grid_error(request: Request, exc: errors.GridError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(_body(exc.code, exc.message, exc.details), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(
            _body("invalid_input", "请求参数无效 invalid request", exc.errors()), 422
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse(_body("http_error", str(exc.detail)), exc.status_code)
