"""The application factory. Nothing connects at import; pools open on first use and close
in ``lifespan``."""

from __future__ import annotations

from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import RedirectResponse
from fastapi.staticfiles import StaticFiles

from grid import __version__
from grid.api import (
    gis,
    hotline,
    incidents,
    ogc,
    open311,
    pages,
    residents,
    signin,
    units,
    workbench,
)
from grid.api.desk import router as desk_router
from grid.api.deskweb import router as desk_pages
from grid.api.errors import add_exception_handlers
from grid.api.web import SecurityHeaders
from grid.services import Services
from grid.settings import Settings
from maps.assets import STATIC_DIR

DESCRIPTION = """
党建引领五级网格化治理 — 街道 → 社区 → 网格 → 楼栋 → 居民小组。
Party-led five-level grid governance: locate any place in its grid and Party branch, and carry
each incident up the ladder 网格发现 → 社区呼叫 → 分级响应 → 协同处置.

Authenticate with `Authorization: Bearer TOKEN` (tokens come from `grid user add`).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the app for ``settings`` (read from the environment when not given)."""
    settings = settings or Settings()
    services = Services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The asyncio pool belongs to this loop (reports are written on it, see
        # grid.api.incidents.report); without a lifespan every report takes a thread.
        services.db.open_async()
        try:
            yield
        finally:
            await services.db.close_async()
            services.close()

    app = FastAPI(
        title="网格治理 Grid governance", version=__version__, description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.services = services
    add_exception_handlers(app)
    app.include_router(units.router)
    app.include_router(incidents.router)
    app.include_router(open311.router)
    app.include_router(pages.router)
    app.include_router(residents.router)
    app.include_router(hotline.router)
    app.include_router(ogc.router)
    app.include_router(gis.router)
    app.include_router(desk_router)
    app.include_router(desk_pages)
    app.include_router(signin.router)
    app.include_router(workbench.router)
    signin.install_page_errors(app)
    app.add_middleware(SecurityHeaders, settings=settings)
    app.mount(settings.static_url, StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/work")

    return app
