"""The API's own documentation pages, ``/docs`` (Swagger UI) and ``/redoc``, served with their
scripts and stylesheets from the package (``maps/static/vendor``), so they open on an intranet
with no internet — FastAPI's defaults load them from a public CDN."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import HTMLResponse

from grid.api.deps import public_scope
from maps.assets import with_nonce

SWAGGER = "vendor/swagger-ui-5.35.0"
REDOC = "vendor/redoc-2.5.4"

router = APIRouter(include_in_schema=False, dependencies=[Depends(public_scope)])


def _static(request: Request, path: str) -> str:
    return f"{request.app.state.services.settings.static_url}/{path}"


def _nonced(request: Request, page: HTMLResponse) -> HTMLResponse:
    """The page with the response's CSP nonce on its inline script (``grid.api.web``)."""
    html = with_nonce(page.body.decode(), request.state.nonce)
    return HTMLResponse(html, status_code=page.status_code)


@router.get("/docs")
def swagger_ui(request: Request) -> HTMLResponse:
    """Swagger UI: every operation, tried out in the browser."""
    return _nonced(request, get_swagger_ui_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
        swagger_js_url=_static(request, f"{SWAGGER}/swagger-ui-bundle.js"),
        swagger_css_url=_static(request, f"{SWAGGER}/swagger-ui.css"),
        swagger_favicon_url=_static(request, f"{SWAGGER}/favicon-32x32.png"),
        # Swagger UI's own validator badge would call validator.swagger.io.
        swagger_ui_parameters={"validatorUrl": None},
    ))


@router.get("/redoc")
def redoc(request: Request) -> HTMLResponse:
    """Redoc: the same operations as a reference to read."""
    return _nonced(request, get_redoc_html(
        openapi_url=request.app.openapi_url, title=f"{request.app.title} — API",
        redoc_js_url=_static(request, f"{REDOC}/redoc.standalone.js"),
        redoc_favicon_url=_static(request, f"{SWAGGER}/favicon-32x32.png"),
        with_google_fonts=False,
    ))
