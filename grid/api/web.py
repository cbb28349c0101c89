"""How pages are written: Jinja2 templates with autoescape, one base layout, one language at a
time, security headers on every response.

Writing a page (the convention every page of the workbench follows):

* a template in ``grid/api/templates/`` that ``{% extends "base.html" %}`` and fills
  ``{% block content %}`` (and ``title``, ``head``, ``scripts`` when needed);
* a route that takes ``user: SignedIn`` (``grid.api.deps``: the session cookie, or a bearer
  token) and returns ``render(request, "x.html", user, **values)``; values are escaped by
  autoescape — never build HTML with f-strings, never mark user data ``|safe``;
* words through ``{{ _("key") }}`` (``grid.api.webtext.WORDS``; Chinese first, English with the
  header's switch); a page passes data to its script as ``{{ value|tojson }}`` inside
  ``<script type="application/json" id="…">`` (inert, needs no nonce) and loads its code from
  ``/static/app/*.js``; inline ``<script>`` is refused by the Content-Security-Policy;
* state changes go through the JSON API (``fetch`` with ``grid.js``'s ``GridApp.api``, which
  sends the session's CSRF token as ``X-CSRF-Token``), or a ``<form method="post">`` carrying
  ``<input type="hidden" name="csrf" value="{{ csrf }}">``.
"""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from urllib.parse import urlencode

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from grid.api.webtext import WORDS, word
from grid.settings import Settings

TEMPLATES = Path(__file__).resolve().parent / "templates"
LANGS = ("zh", "en")
LANG_COOKIE = "grid_lang"

env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
    enabled_extensions=("html",), default_for_string=True, default=True))


def page_lang(request: Request, settings: Settings) -> str:
    """The page's language: ``?lang=`` (remembered in a cookie), the cookie, the setting."""
    asked = request.query_params.get("lang")
    if asked in LANGS:
        return asked
    kept = request.cookies.get(LANG_COOKIE)
    return kept if kept in LANGS else settings.language


def switch_url(request: Request, lang: str) -> str:
    """The current page in ``lang`` (the header's 中文 / English switch)."""
    query = [(k, v) for k, v in request.query_params.multi_items() if k != "lang"]
    return request.url.path + "?" + urlencode([*query, ("lang", lang)])


def render(request: Request, template: str, user=None, status_code: int = 200,
           **values) -> HTMLResponse:
    """A page from ``template`` for ``user`` (None on the sign-in page), in the page's
    language, with the header's values (who, unit, sign-out form, switch) filled in."""
    svc = request.app.state.services
    lang = page_lang(request, svc.settings)
    web = getattr(request.state, "web", None)
    context = {
        "request": request, "user": user, "lang": lang, "static": svc.settings.static_url,
        "_": lambda key, **kw: word(key, lang, **kw),
        "csrf": web.csrf if web is not None else "",
        "unit_name": values.pop("unit_name", None) or _unit_name(request, user),
        "switch": {code: switch_url(request, code) for code in LANGS},
        "words": WORDS,
        **values,
    }
    html = env.get_template(template).render(context)
    response = HTMLResponse(html, status_code=status_code)
    if request.query_params.get("lang") in LANGS:
        response.set_cookie(LANG_COOKIE, lang, max_age=365 * 86400, samesite="lax",
                            secure=request.url.scheme == "https")
    return response


def _unit_name(request: Request, user) -> str:
    """The name of the unit a user is scoped to (active version), for the header."""
    if user is None or not getattr(user, "scope_code", ""):
        return ""
    return unit_names(request, [user.scope_code]).get(user.scope_code, user.scope_code)


def unit_names(request: Request, codes) -> dict[str, str]:
    """code → name of units in the active version (codes without a unit are left out)."""
    from sqlalchemy import select

    from grid.hierarchy import store
    from grid.hierarchy.models import Unit

    codes = sorted({c for c in codes if c})
    if not codes:
        return {}
    svc = request.app.state.services
    with svc.db.read() as session:
        version = store.active_version(session)
        if version is None:
            return {}
        rows = session.execute(select(Unit.code, Unit.name).where(
            store.alive_in(version.id), Unit.code.in_(codes)))
        return dict(rows.all())


def content_security_policy(nonce: str, settings: Settings) -> str:
    """The pages' CSP: scripts only from this server or carrying the response's nonce (the
    Folium maps' inline scripts get it, ``maps.assets.with_nonce``); styles inline are
    allowed (Leaflet and Folium position everything with them); images from the configured
    basemap's tile host; nothing framed from elsewhere."""
    tiles = " ".join(sorted(_tile_origins(settings)))
    return "; ".join([
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        "style-src 'self' 'unsafe-inline'",
        f"img-src 'self' data: blob: {tiles}".strip(),
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'self'",
    ])


def _tile_origins(settings: Settings) -> set[str]:
    from urllib.parse import urlsplit

    from maps.basemap import tile_layers  # deferred: maps import folium

    origins = set()
    for layer in tile_layers(settings):
        parts = urlsplit(layer.url)
        if not (parts.scheme and parts.netloc):
            continue
        host = parts.netloc
        if "{" in host.split(".")[0]:  # t{s}.tianditu.gov.cn: CSP wildcards whole labels
            host = "*." + host.split(".", 1)[1]
        origins.add(f"{parts.scheme}://{host}")
    return origins


class SecurityHeaders:
    """ASGI middleware: ``X-Content-Type-Options: nosniff`` and ``Referrer-Policy`` on every
    response, and on every HTML page a Content-Security-Policy with a fresh nonce
    (``request.state.nonce``, which a page hands to its inline scripts)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        nonce = secrets.token_urlsafe(16)
        scope.setdefault("state", {})["nonce"] = nonce

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", [])
                           if k.lower() not in (b"x-content-type-options",)]
                headers.append((b"x-content-type-options", b"nosniff"))
                headers.append((b"referrer-policy", b"same-origin"))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    csp = content_security_policy(nonce, self.settings)
                    headers.append((b"content-security-policy", csp.encode()))
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)


_CJK = re.compile(r"[\u3000-\u303f\u3400-\u9fff\uff00-\uffef]")


def one_language(message: str, lang: str) -> str:
    """One language of a message written the project's way, Chinese then English
    ("事件 12 不存在 incident 12 not found"): the words up to the last one holding Chinese,
    or the words after it. A message with no Chinese, or nothing after it, is kept whole."""
    words = message.split(" ")
    last = max((i for i, w in enumerate(words) if _CJK.search(w)), default=None)
    if last is None or last == len(words) - 1:
        return message
    zh, en = " ".join(words[:last + 1]), " ".join(words[last + 1:])
    return zh if lang == "zh" else en[:1].upper() + en[1:]


def asked_language(request: Request) -> str | None:
    """The language a page's script asked the API to answer in (``X-Grid-Lang``), if any."""
    asked = request.headers.get("x-grid-lang")
    return asked if asked in LANGS else None
