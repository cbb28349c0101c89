"""Dependencies: the services, a database session per request, and the calling user.

A caller authenticates with a bearer token (``Authorization: Bearer …``: scripts, QGIS, the
API) or with the browser session cookie the sign-in page set (``grid.sessions``). A request
that changes state on the strength of the cookie alone must carry the session's CSRF token in
``X-CSRF-Token`` and, when the browser sends an ``Origin``, come from this server: a page of
another site can make the browser send the cookie, but can neither read the token nor forge
the Origin. A bearer token is never sent by a browser on its own, so it needs neither.
Tokens are never read from the URL (they would be written to the access log)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from grid.errors import Forbidden, NotAuthenticated
from grid.services import Services
from grid.sessions import WebSession, session_user
from grid.users import User, authenticate

#: The browser session cookie (HttpOnly, SameSite=Lax, Secure over https).
SESSION_COOKIE = "grid_session"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

bearer = HTTPBearer(auto_error=False, description="令牌 token from `grid user add`")


def services(request: Request) -> Services:
    """The app's services (built by the app factory)."""
    return request.app.state.services


def read_session(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A read-only session for one request."""
    with svc.db.read() as session:
        yield session


def write_session(svc: Annotated[Services, Depends(services)]) -> Iterator[Session]:
    """A session whose work commits when the request succeeds, and not at all otherwise."""
    with svc.db.write() as session:
        yield session


def _user(svc: Services, credentials: HTTPAuthorizationCredentials | None) -> User:
    # Authentication opens its own short read session, and only when the token is not in the
    # cache: the request's own session is never held while a user is looked up.
    token = credentials.credentials if credentials else None
    user = svc.tokens.get(token) if token else None
    if user is None:
        with svc.db.read() as session:
            user = authenticate(session, token)
            session.expunge(user)
        svc.tokens.put(token, user)
    return user


def same_origin(request: Request) -> bool:
    """Whether the request's ``Origin`` (or, lacking it, ``Referer``) is this server; a
    request with neither (not a browser's cross-site one) passes."""
    origin = request.headers.get("origin") or request.headers.get("referer")
    if not origin or origin == "null":
        return not origin
    parts = urlsplit(origin)
    return parts.netloc == request.headers.get("host", request.url.netloc)


def check_csrf(request: Request, web: WebSession, sent: str | None) -> None:
    """Refuse (403) a cookie-authenticated change without the session's CSRF token or from
    another origin."""
    if not same_origin(request):
        raise Forbidden("请求来源不符 the request comes from another site")
    if not sent or not secrets.compare_digest(sent, web.csrf):
        raise Forbidden("页面已过期，请刷新后重试 the page is out of date; reload it and try "
                        "again (CSRF token missing or wrong)")


def _session_user(svc: Services, request: Request) -> User:
    """The user of the request's session cookie; the session (its CSRF token) is kept on
    ``request.state.web`` for the page."""
    with svc.db.read() as session:
        user, web = session_user(session, request.cookies.get(SESSION_COOKIE))
        session.expunge(user)
        session.expunge(web)
    request.state.web = web
    if request.method not in SAFE_METHODS:
        check_csrf(request, web, request.headers.get("x-csrf-token"))
    return user


def caller(svc: Services, request: Request,
           credentials: HTTPAuthorizationCredentials | None) -> User:
    """The bearer token's user, else the session cookie's (401 with neither)."""
    if credentials is not None:
        return _user(svc, credentials)
    if request.cookies.get(SESSION_COOKIE):
        return _session_user(svc, request)
    raise NotAuthenticated("需要登录令牌 a bearer token is required")


def current_user(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user holding the request's bearer token, or signed in with the session cookie
    (401 with neither)."""
    return caller(svc, request, credentials)


async def cached_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """``current_user`` for async endpoints on the hot path: a token in the cache costs no
    trip to the thread pool (nor any of its hand-offs); otherwise it is looked up there."""
    svc: Services = request.app.state.services
    user = svc.tokens.get(credentials.credentials) if credentials else None
    return user or await run_in_threadpool(caller, svc, request, credentials)


class SignInRequired(Exception):
    """A page was opened without a session: the app answers with the sign-in page
    (``grid.api.signin``), which sends the browser back here afterwards."""


def page_user(
    request: Request,
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """For HTML pages: the session cookie (or a bearer token); without either, the browser
    is sent to the sign-in page. Marks the request as a page, so errors answer HTML."""
    request.state.page = True
    try:
        return caller(svc, request, credentials)
    except NotAuthenticated:
        raise SignInRequired() from None


# scope="function": the session ends (and commits) before the response is sent, so a client
# never sees a success whose write could still fail, nor races its own next request.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]
CurrentUser = Annotated[User, Depends(current_user)]
CachedUser = Annotated[User, Depends(cached_user)]
PageUser = Annotated[User, Depends(page_user)]
Svc = Annotated[Services, Depends(services)]
