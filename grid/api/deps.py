"""Dependencies: the services, a database session per request, and the calling user."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Cookie, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from grid.api.limits import Token
from grid.scope import PUBLIC, Scope
from grid.services import Services
from grid.users import User, authenticate

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


def _user(svc: Services, credentials: HTTPAuthorizationCredentials | None,
          token: str | None = None) -> User:
    # Authentication opens its own short read session, and only when the token is not in the
    # cache: the request's own session is never held while a user is looked up.
    token = credentials.credentials if credentials else token
    user = svc.tokens.get(token) if token else None
    if user is None:
        with svc.db.read() as session:
            user = authenticate(session, token)
            session.expunge(user)
        svc.tokens.put(token, user)
    return user


def current_user(
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """The user holding the request's bearer token (401 without one)."""
    return _user(svc, credentials)


async def cached_user(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> User:
    """``current_user`` for async endpoints on the hot path: a token in the cache costs no
    trip to the thread pool (nor any of its hand-offs); otherwise it is looked up there."""
    svc: Services = request.app.state.services
    user = svc.tokens.get(credentials.credentials) if credentials else None
    return user or await run_in_threadpool(_user, svc, credentials)


def page_user(
    svc: Annotated[Services, Depends(services)],
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
    token: Annotated[Token | None, Query(description="令牌 token for pages opened by link")] = None,
    grid_token: Annotated[str | None, Cookie()] = None,
) -> User:
    """For HTML pages: a bearer token, a ``?token=`` link, or the cookie the link set."""
    return _user(svc, credentials, token or grid_token)


# -- scope: every router declares exactly one of these (tests/test_scope_matrix.py fails a
# route without one), and routes take the Scope they yield to filter with (grid.scope).


async def api_scope(user: Annotated[User, Depends(cached_user)]) -> Scope:
    """Route dependency of the API routers: the caller's scope (401 without a token).
    Async on the cached user, so the hot paths gain no thread-pool hop."""
    return Scope.of(user)


def page_scope(user: Annotated[User, Depends(page_user)]) -> Scope:
    """Route dependency of the HTML pages: the signed-in browser's scope."""
    return Scope.of(user)


async def public_scope() -> Scope:
    """Route dependency of deliberately public routes (Open311 reads, the root redirect):
    the anonymous scope, which sees no row by scope and no personal field."""
    return PUBLIC


#: The dependencies a route may declare to say where its caller stands.
SCOPE_DEPENDENCIES = (api_scope, page_scope, public_scope)


# scope="function": the session ends (and commits) before the response is sent, so a client
# never sees a success whose write could still fail, nor races its own next request.
ReadSession = Annotated[Session, Depends(read_session, scope="function")]
WriteSession = Annotated[Session, Depends(write_session, scope="function")]
CurrentUser = Annotated[User, Depends(current_user)]
CachedUser = Annotated[User, Depends(cached_user)]
PageUser = Annotated[User, Depends(page_user)]
Svc = Annotated[Services, Depends(services)]
ApiScope = Annotated[Scope, Depends(api_scope)]
PageScope = Annotated[Scope, Depends(page_scope)]
