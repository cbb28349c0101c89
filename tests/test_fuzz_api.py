"""Schemathesis over the whole OpenAPI on both stores, as the admin (every protected operation
is reached), valid and invalid input, with a fixed seed: 0 server errors. A short run, a few
hundred requests a store; ``scripts/fuzz_api.py`` runs longer ones."""

from __future__ import annotations

from schemathesis.python.asgi import shutdown_lifespans

from grid.api.app import create_app
from grid.demo import demo_users, load_sample
from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.migrate import upgrade
from grid.services import Services
from tests.conftest import DATA
from tests.helpers.fuzz import fuzz

#: Generated requests per operation and mode (positive, negative).
EXAMPLES = 10
SEED = 20261203


def test_no_server_error_anywhere_in_the_openapi(databases, backend, tmp_path, monkeypatch):
    from grid.api import gis as gis_api

    monkeypatch.setattr(gis_api, "UPLOAD_ROOT", tmp_path / "uploads")
    settings = databases.new(backend).model_copy(
        update={"attachments_dir": tmp_path / "attachments"})
    svc = Services(settings)  # a database of its own: the fuzz activates, rolls back, files …
    upgrade(svc.db)
    load_sample(svc, DATA, say=lambda _line: None)
    with svc.db.read() as session:
        grid = store.units(session, store.require_active_version(session).id, Level.grid)[0]
    admin = next(u for u in demo_users(svc, grid.code) if u.role == "admin")
    svc.close()
    try:
        result = fuzz(create_app(settings), admin.token, examples=EXAMPLES, seed_value=SEED)
    finally:
        shutdown_lifespans()
    print(result.summary())
    assert result.operations >= 50 and result.requests >= 50 * EXAMPLES
    assert sum(n for s, n in result.statuses.items() if s < 300) > 100  # it got through
    assert result.server_errors == [], "\n".join(result.server_errors)
