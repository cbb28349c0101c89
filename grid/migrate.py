"""Run the Alembic migrations on either store, from code (CLI, app start, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config

from grid.db import Database

MIGRATIONS = Path(__file__).parent / "migrations"


def upgrade(db: Database, revision: str = "heads") -> None:
    """Bring the schema to ``revision`` (default: every head — features may add migration
    branches from the initial revision); a no-op when it is already there."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with db.engine.begin() as connection:
        if not db.is_spatialite:
            connection.exec_driver_sql("CREATE EXTENSION IF NOT EXISTS postgis")
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
