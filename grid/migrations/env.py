"""Alembic environment: runs on the connection handed in by ``grid.migrate.upgrade``."""

from alembic import context

from grid.orm import Base

target_metadata = Base.metadata
connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=target_metadata)
with context.begin_transaction():
    context.run_migrations()
