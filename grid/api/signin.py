"""Signing in and out of the pages: a form that takes a token, one-time links, sign-out.

The session cookie is HttpOnly (no script reads it), SameSite=Lax (another site's form posts
do not carry it) and Secure when the page was served over https. No token is ever put in a
URL: the sign-in form posts it, and a one-time link's code is spent the moment it is opened.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from grid.api.deps import SESSION_COOKIE, SignInRequired, Svc, check_csrf, same_origin
from grid.api.web import asked_language, one_language, page_lang, render
from grid.api.webtext import word
from grid.errors import Forbidden, GridError, NotAuthenticated
from grid.sessions import (
    SESSION_HOURS,
    end_session,
    redeem_link,
    session_user,
    sign_in_with_token,
)

router = APIRouter(tags=["pages"], include_in_schema=False)


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only (no ``//host`` or
    ``https://…``: an open redirect would make a phishing link look like ours)."""
    if not target or not target.startswith("/") or target.startswith("//") \
            or "\\" in target:
        return "/work"
    return target


def _signed_in(request: Request, key: str, target: str) -> Response:
    response = RedirectResponse(safe_next(target), status_code=303)
    response.set_cookie(SESSION_COOKIE, key, max_age=SESSION_HOURS * 3600, path="/",
                        httponly=True, samesite="lax", secure=request.url.scheme == "https")
    return response


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, svc: Svc, next: str | None = None,  # noqa: A002
                out: int = 0) -> HTMLResponse:
    """The sign-in form."""
    lang = page_lang(request, svc.settings)
    message = word("signed_out", lang) if out else ""
    return render(request, "signin.html", None, next=safe_next(next), message=message,
                  failed=False)


@router.post("/signin")
def signin(request: Request, svc: Svc, token: Annotated[str, Form(max_length=200)] = "",
           next: Annotated[str, Form(max_length=500)] = "/work") -> Response:  # noqa: A002
    """Trade a token for a session cookie, then go where the user was going."""
    if not same_origin(request):
        raise Forbidden("请求来源不符 the request comes from another site")
    try:
        with svc.db.write() as session:
            key, _, _ = sign_in_with_token(session, token)
    except NotAuthenticated:
        lang = page_lang(request, svc.settings)
        return render(request, "signin.html", None, status_code=401, next=safe_next(next),
                      message=word("signin_failed", lang), failed=True)
    return _signed_in(request, key, next)


@router.get("/signin/link/{code}")
def signin_link(request: Request, svc: Svc, code: str, next: str | None = None  # noqa: A002
                ) -> Response:
    """A one-time link: spent at once for a session cookie (the code in the access log is
    then worthless)."""
    try:
        with svc.db.write() as session:
            key, _, _ = redeem_link(session, code[:100])
    except NotAuthenticated:
        lang = page_lang(request, svc.settings)
        return render(request, "signin.html", None, status_code=401, next="/work",
                      message=word("link_failed", lang), failed=True)
    return _signed_in(request, key, next or "/work")


@router.post("/signout")
def signout(request: Request, svc: Svc,
            csrf: Annotated[str, Form(max_length=100)] = "") -> Response:
    """End the session (its cookie value stops working on the server, not just in this
    browser) and show the sign-in page."""
    key = request.cookies.get(SESSION_COOKIE)
    with svc.db.write() as session:
        try:
            _, web = session_user(session, key)
        except NotAuthenticated:
            web = None
        if web is not None:
            check_csrf(request, web, csrf)
            end_session(session, key)
    response = RedirectResponse("/signin?out=1", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


def install_page_errors(app) -> None:
    """Pages answer pages: no session → the sign-in page (then back); a domain error on a
    page → an error page in the page's language. The JSON API keeps its JSON answers (the
    handlers already registered are called for everything else), in one language when the
    caller asks with ``X-Grid-Lang: zh|en`` (the pages' scripts do)."""
    json_handler = app.exception_handlers.get(GridError)
    invalid_handler = app.exception_handlers.get(RequestValidationError)

    @app.exception_handler(SignInRequired)
    async def _to_signin(request: Request, exc: SignInRequired) -> Response:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse("/signin?" + urlencode({"next": target}), status_code=303)

    @app.exception_handler(GridError)
    async def _page_error(request: Request, exc: GridError) -> Response:
        answer = await json_handler(request, exc)  # the status and body the API gives
        lang = asked_language(request)
        if getattr(request.state, "page", False):
            lang = page_lang(request, request.app.state.services.settings)
            title = word("forbidden_page" if answer.status_code == 403 else "error_page", lang)
            return render(request, "error.html", None, status_code=answer.status_code,
                          title=title, message=_message(exc, lang))
        if lang is None:
            return answer
        body = json.loads(answer.body)
        body["message"] = _message(exc, lang)
        return JSONResponse(body, answer.status_code, headers=_kept_headers(answer))

    if invalid_handler is not None:
        @app.exception_handler(RequestValidationError)
        async def _invalid(request: Request, exc: RequestValidationError) -> Response:
            answer = await invalid_handler(request, exc)
            lang = asked_language(request)
            if lang is None:
                return answer
            body = json.loads(answer.body)
            fields = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:])
                               for e in exc.errors())
            body["message"] = word("invalid_request", lang, fields=fields)
            return JSONResponse(body, answer.status_code, headers=_kept_headers(answer))


def _message(exc: GridError, lang: str) -> str:
    texts = getattr(exc, "texts", None)
    return texts[lang] if texts else one_language(exc.message, lang)


def _kept_headers(answer: Response) -> dict[str, str]:
    return {k: v for k, v in answer.headers.items()
            if k.lower() not in ("content-length", "content-type")}
