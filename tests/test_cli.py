"""The ``grid`` command on a real database: load (dry run, commit), versions, activate,
user add, escalate-due."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from grid.cli import app
from tests.conftest import DATA

runner = CliRunner()


@pytest.fixture
def env(empty, monkeypatch):
    monkeypatch.setenv("GRID_DATABASE_URL", empty.settings.database_url)
    return empty


def _run(*args: str, code: int = 0) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == code, result.output
    return result.output


def test_load_dry_run_then_commit_then_activate(env):
    out = _run("load", str(DATA / "street.geojson"), "--level", "street")
    assert "dry run" in out
    assert "street 1" not in _run("versions")  # nothing written: no version listed
    out = _run("load", str(DATA / "street.geojson"), "--level", "street", "--commit")
    # PostgreSQL sequences do not roll back, so the dry run may have used up an id
    version = re.search(r"written to version (\d+)", out).group(1)
    out = _run("load", str(DATA / "community.geojson"), "--level", "community", "--commit",
               "--version", version)
    assert f"written to version {version}" in out
    _run("activate", version)
    listing = _run("versions")
    assert "street 1" in listing and "community 6" in listing and "✔" in listing


def test_load_refuses_bad_level_and_missing_parents(env):
    out = _run("load", str(DATA / "grid.geojson"), "--level", "town", code=1)
    assert "unknown level" in out
    out = _run("load", str(DATA / "grid.geojson"), "--level", "grid", code=1)
    assert "load community first" in out


def test_user_add_prints_a_working_token(env):
    token = _run("user", "add", "王网格", "--role", "grid_worker", "--scope",
                 "110105001001001").strip()
    assert len(token) >= 40
    out = _run("user", "add", "王网格", "--role", "grid_worker", "--scope", "1", code=1)
    assert "already exists" in out
    out = _run("user", "add", "x", "--role", "mayor", "--scope", "1", code=1)
    assert "unknown role" in out
    from grid.users import authenticate

    with env.db.read() as session:
        assert authenticate(session, token).name == "王网格"


def test_escalate_due_on_empty_database(env):
    assert "escalated: 0" in _run("escalate-due")
