"""One place that maps the domain's errors to HTTP statuses and one JSON body shape:
``{"code": …, "message": …, "details": …}`` — for the errors we expect and, through
:class:`RequestGuard`, for everything else too.

Every request gets an id (the client's ``X-Request-ID`` when it sends a sane one, else a new
one), answered in the ``X-Request-ID`` header and written in the log line of any unexpected
error, so a user quoting it leads to the traceback. An unexpected error answers 500 with that
id and nothing of its own text (no SQL, no paths); a database that cannot be reached answers
503 with ``Retry-After``.
"""

from __future__ import annotations

import logging
import re
import uuid
from typing import Any

from fastapi import FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy import exc as sa_exc
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grid import errors

logger = logging.getLogger("grid.api")

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
#: Seconds a client is asked to wait before trying again while the database is away.
RETRY_AFTER_SECONDS = 5
REQUEST_ID_HEADER = "X-Request-ID"
#: A client's own request id is kept only if it is this plain (it reaches our log lines).
_CLIENT_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
#: Messages of the HTTP errors the framework raises itself (unknown path, wrong method …).
HTTP_MESSAGES = {
    400: "请求无效 bad request",
    401: "未登录 not authenticated",
    403: "无权访问 forbidden",
    404: "未找到 not found",
    405: "不支持该方法 method not allowed",
    406: "不支持该格式 not acceptable",
    413: "请求太大 request too large",
    415: "不支持的内容类型 unsupported media type",
}
#: Answers of the errors nobody expected, by kind.
INTERNAL = ("internal_error", "服务器内部错误，请把请求编号告诉管理员 internal server error; "
                              "quote the request id to the administrator")
UNAVAILABLE = ("database_unavailable", "数据库暂时无法连接，请稍后重试 the database cannot be "
                                       "reached just now; try again shortly")


def body(code: str, message: str, details: Any = None) -> dict:
    """The one JSON error shape."""
    return {"code": code, "message": message, "details": jsonable_encoder(details)}


def database_unavailable(exc: BaseException) -> bool:
    """True for errors that mean the database cannot be reached (refused or dropped
    connections, a pool that gives none, SQLite's busy or unopenable file) rather than a
    fault in the request or the code."""
    if isinstance(exc, sa_exc.TimeoutError):  # the pool had no connection to give
        return True
    if isinstance(exc, sa_exc.DBAPIError):
        if exc.connection_invalidated:
            return True
        if isinstance(exc, sa_exc.OperationalError):
            # PostgreSQL's OperationalError is the connection's (refused, terminated, shut
            # down); SQLite's also covers "no such table", which is our fault, not an outage.
            if type(exc.orig).__module__.startswith("psycopg"):
                return True
            text = str(exc.orig).lower()
            return any(s in text for s in ("locked", "unable to open", "disk i/o", "busy"))
    return isinstance(exc, ConnectionError)


def _validation_details(exc: RequestValidationError) -> list[dict]:
    # Where and why only: the input itself may be bytes that are not text, or megabytes.
    return [{"loc": list(e.get("loc", ())), "msg": str(e.get("msg", "")),
             "type": str(e.get("type", ""))} for e in exc.errors()]


def _validation_message(exc: RequestValidationError) -> str:
    """The first problem, where and why, with a short echo of what was sent."""
    found = exc.errors()
    if not found:
        return "请求参数无效 invalid request"
    first = found[0]
    where = ".".join(str(p) for p in first.get("loc", ()))
    sent = first.get("input")
    echo = f" (got {sent!r:.60})" if isinstance(sent, str | int | float) else ""
    more = f" (+{len(found) - 1} more)" if len(found) > 1 else ""
    return f"请求参数无效 invalid request: {where}: {first.get('msg', '')}{echo}{more}"


def request_id(request: Request) -> str | None:
    """The id :class:`RequestGuard` gave this request."""
    return request.scope.get("state", {}).get("request_id")


def add_exception_handlers(app: FastAPI) -> None:
    """Register the handlers and the guard for everything else; call once from the app
    factory."""

    @app.exception_handler(errors.GridError)
    async def _grid_error(request: Request, exc: errors.GridError) -> JSONResponse:
        status = next((s for cls, s in STATUS.items() if isinstance(exc, cls)), 400)
        headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
        return JSONResponse(body(exc.code, exc.message, exc.details), status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        details = _validation_details(exc)
        return JSONResponse(body("invalid_input", _validation_message(exc), details), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        message = HTTP_MESSAGES.get(exc.status_code, str(exc.detail))
        return JSONResponse(body("http_error", message), exc.status_code,
                            headers=getattr(exc, "headers", None))

    app.add_middleware(RequestGuard)


class RequestGuard:
    """ASGI middleware: gives each request an id (``X-Request-ID``) and turns any exception
    that no handler took into the JSON error shape — 503 with ``Retry-After`` when the
    database cannot be reached, else 500 — logged with the request id, method and path
    (never the query string: it may carry a token)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _client_id(scope) or uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() != b"x-request-id"]
                message = {**message,
                           "headers": [*headers, (b"x-request-id", rid.encode("ascii"))]}
            await send(message)

        nul, receive = await _nul_in_request(scope, receive)
        if nul:
            await JSONResponse(body("invalid_input", NUL_MESSAGE, {"where": nul}), 422)(
                scope, receive, send_with_id)
            return
        try:
            await self.app(scope, receive, send_with_id)
        except Exception as exc:
            try:
                response = _unexpected(exc, rid, scope)
            except Exception:  # the answer of last resort must not fail
                logger.exception("request %s: the error could not be classified", rid)
                response = JSONResponse(body(*INTERNAL, {"request_id": rid}), 500)
            if started:  # too late to answer: the client sees a cut response
                raise
            await response(scope, receive, send_with_id)


NUL_MESSAGE = "输入不能包含 NUL 字符 input must not contain NUL (\\x00) characters"
#: JSON bodies larger than this are not scanned here (uploads are multipart, checked by type).
NUL_SCAN_BYTES = 1024 * 1024


async def _nul_in_request(scope: Scope, receive: Receive) -> tuple[str | None, Receive]:
    """Where a NUL character is in the request (path, query, JSON body), if anywhere — a 422
    before any router runs, whatever types a router declared: PostgreSQL refuses NUL in text,
    and no unit name, address or note holds one. Returns the ``receive`` to go on with (a JSON
    body, once read, is replayed)."""
    if b"%00" in scope.get("raw_path", b"") or b"%00" in scope.get("query_string", b"") \
            or "\x00" in scope.get("path", ""):
        return "url", receive
    headers = dict(scope.get("headers", []))
    if b"json" not in headers.get(b"content-type", b""):
        return None, receive
    try:
        length = int(headers.get(b"content-length", b"0"))
    except ValueError:
        length = 0
    if length > NUL_SCAN_BYTES:
        return None, receive
    chunks, more = [], True
    while more:
        message = await receive()
        if message["type"] != "http.request":
            return None, receive  # disconnected: let the app see it
        chunks.append(message.get("body", b""))
        more = message.get("more_body", False)
    data = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": data, "more_body": False}
        return await receive()

    return ("body" if b"\\u0000" in data or b"\x00" in data else None), replay


def _client_id(scope: Scope) -> str | None:
    for key, value in scope.get("headers", []):
        if key == b"x-request-id":
            text = value.decode("latin-1")
            return text if _CLIENT_ID.match(text) else None
    return None


def _unexpected(exc: Exception, rid: str, scope: Scope) -> JSONResponse:
    where = f"{scope.get('method')} {scope.get('path')}"
    if database_unavailable(exc):
        logger.error("request %s: %s: database unavailable: %s", rid, where,
                     type(exc).__name__)
        code, message = UNAVAILABLE
        return JSONResponse(body(code, message, {"request_id": rid}), 503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    logger.exception("request %s: %s: unexpected error", rid, where)
    code, message = INTERNAL
    return JSONResponse(body(code, message, {"request_id": rid}), 500)
