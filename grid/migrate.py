"""Run the Alembic migrations on either store, from code (CLI, app start, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from grid.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"
#: The PostgreSQL advisory lock (one bigint) an upgrade holds until it commits.
UPGRADE_LOCK = 0x67726964_6D696772  # "gridmigr"


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head — features may add migration
    branches from the initial revision); a no-op when it is already there.

    Every host runs this at start (``grid serve``, each CLI command), so on PostgreSQL two
    may run it at once: without a lock both find the schema behind and both apply the same
    revision, and one fails (seen: ``CREATE EXTENSION postgis`` racing itself on a fresh
    database). A transaction-scoped advisory lock makes the second wait for the first's
    commit and then find nothing to do. SpatiaLite is one file on one host: its writers
    are serialised already."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        if not db.is_spatialite:
            connection.exec_driver_sql(f"SELECT pg_advisory_xact_lock({UPGRADE_LOCK})")
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
