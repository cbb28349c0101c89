"""Run the Alembic migrations on either store, from code (CLI, app start, tests)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from sqlalchemy import text

from grid.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
#: The PostgreSQL advisory lock (one bigint) an upgrade holds until it commits.
UPGRADE_LOCK = 0x67726964_6D696772  # "gridmigr"

_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.MULTILINE)


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head — features may add migration
    branches from the initial revision); a no-op when it is already there.

    Every host runs this at start (``grid serve``, each CLI command), so on PostgreSQL two
    may run it at once: without a lock both find the schema behind and both apply the same
    revision, and one fails (seen: ``CREATE EXTENSION postgis`` racing itself on a fresh
    database). A transaction-scoped advisory lock makes the second wait for the first's
    commit and then find nothing to do. SpatiaLite is one file on one host: its writers
    are serialised already."""
    if revision == "heads" and _at_heads(db):
        return  # Alembic (and its imports, a quarter of a second) only when there is work
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        if not db.is_spatialite:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def script_heads() -> set[str] | None:
    """The head revisions of the migration scripts, read from their ``revision`` and
    ``down_revision`` lines (None when a script does not state them plainly)."""
    revisions, downs = set(), set()
    for script in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(m.groups() for m in _ASSIGN.finditer(script.read_text(encoding="utf-8")))
        try:
            own = ast.literal_eval(found["revision"])
            down = ast.literal_eval(found.get("down_revision", "None"))
        except (KeyError, ValueError, SyntaxError):
            return None
        revisions.add(own)
        downs.update(down if isinstance(down, tuple | list) else [down] if down else [])
    return revisions - downs


def _at_heads(db: Database) -> bool:
    """Whether the database's ``alembic_version`` names exactly the scripts' heads."""
    heads = script_heads()
    if not heads:
        return False
    try:
        with db.engine.connect() as connection:
            stored = set(connection.execute(
                text("SELECT version_num FROM alembic_version")).scalars())
    except Exception:  # no such table yet (a new database): let Alembic create it
        return False
    return stored == heads
