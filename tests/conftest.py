"""One parametrised fixture runs the suite on SpatiaLite and on a throwaway PostGIS database.

PostGIS is never skipped: if the server cannot be reached, the PostGIS half of the suite fails.
Each run creates its own databases (a temp file; ``grid_test_<random>`` on the server) and drops
them at the end — never a developer's database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import make_url

from grid.api.app import create_app
from grid.demo import demo_users, load_sample
from grid.migrate import upgrade
from grid.services import Services
from grid.settings import Settings

DATA = Path(__file__).resolve().parents[1] / "data" / "boundaries"
BACKENDS = ("spatialite", "postgis")
#: The server the PostGIS databases are created on (trust auth on the CI machine).
ADMIN_URL = os.environ.get("GRID_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


class Databases:
    """Makes fresh databases of either kind and drops them when the run ends."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.created: list[str] = []

    def new(self, backend: str) -> Settings:
        """Settings pointing at a brand-new, empty database."""
        name = f"grid_test_{uuid.uuid4().hex[:10]}"
        if backend == "spatialite":
            return Settings(database_url=f"sqlite:///{self.tmp / name}.db")
        with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        self.created.append(name)
        url = make_url(ADMIN_URL).set(drivername="postgresql+psycopg", database=name)
        return Settings(database_url=url.render_as_string(hide_password=False))

    def drop_all(self) -> None:
        """Drop every database this run created."""
        if not self.created:
            return
        with psycopg.connect(_libpq(ADMIN_URL), autocommit=True) as conn:
            for name in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def databases(tmp_path_factory) -> Iterator[Databases]:
    dbs = Databases(tmp_path_factory.mktemp("databases"))
    yield dbs
    dbs.drop_all()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """The store under test: every test that uses a database runs once per backend."""
    return request.param


@pytest.fixture
def empty(databases: Databases, backend: str) -> Iterator[Services]:
    """Services on a new, migrated, empty database (for tests that load or activate)."""
    svc = Services(databases.new(backend))
    upgrade(svc.db)
    yield svc
    svc.close()


@pytest.fixture
def postgis(databases: Databases) -> Iterator[Services]:
    """Services on a new, migrated, empty PostGIS database, for what only a database server
    has (connections the server drops, the asyncio pool): not parametrised by backend."""
    svc = Services(databases.new("postgis"))
    upgrade(svc.db)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def demo(databases: Databases, backend: str) -> Iterator[Services]:
    """Services on a database holding the sample street, shared by the tests of a backend."""
    svc = Services(databases.new(backend))
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    yield svc
    svc.close()


@pytest.fixture(scope="session")
def tokens(demo: Services) -> dict[str, str]:
    """Tokens of the demo users, by role (grid_worker scoped to the first grid)."""
    from grid.hierarchy import store
    from grid.hierarchy.levels import Level

    with demo.db.read() as session:
        version = store.require_active_version(session).id
        first_grid = store.units(session, version, Level.grid)[0].code
    users = demo_users(demo, first_grid)
    result = {u.role if u.role != "department" else u.department: u.token for u in users}
    result["first_grid"] = first_grid
    return result


@pytest.fixture(scope="session")
def client(demo: Services) -> Iterator[TestClient]:
    """An API client on the demo database of the backend under test."""
    with TestClient(create_app(demo.settings)) as test_client:
        yield test_client


def auth(token: str) -> dict[str, str]:
    """Headers for a bearer token."""
    return {"Authorization": f"Bearer {token}"}


def sign_in(page, base: str, token: str, path: str) -> str:
    """Sign the page's browser context in through the sign-in form (the session cookie lands
    in the context's jar) and return ``base + path`` to open: no token in any URL."""
    r = page.context.request.post(f"{base}/signin", form={"token": token},
                                  max_redirects=0)
    assert r.status == 303, r.status
    return base + path


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-quic"]


class served:  # noqa: N801 (used as a context manager, like open)
    """The app for ``settings`` served by uvicorn on a free local port, in a thread:
    ``with served(settings) as base: …``. ``log_config`` passes uvicorn's logging setup
    (e.g. to capture its access log)."""

    def __init__(self, settings, log_config=None, access_log: bool = False) -> None:
        import socket

        import uvicorn

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        # With the access log on, uvicorn configures no logging of its own: the caller's
        # handler on the "uvicorn.access" logger sees every line.
        options = {"log_config": log_config} if log_config is not None or access_log else {}
        self.server = uvicorn.Server(uvicorn.Config(
            create_app(settings), host="127.0.0.1", port=self.port, access_log=access_log,
            log_level="info" if access_log else "warning", **options))

    def __enter__(self) -> str:
        import threading
        import time

        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            assert time.monotonic() < deadline, "server did not start"
            time.sleep(0.05)
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(10)
