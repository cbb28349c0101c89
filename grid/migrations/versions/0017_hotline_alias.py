"""Aliases learned from the hotline's manual queue (hotline_alias); why an address was queued.

Why: an address a person resolved once (an old estate name, a caller's habit) went to the
queue again on every call; the resolution can now be kept as an alias of the building, so
the next identical or near-identical address is placed. Revoked aliases stay for the audit.

Revision ID: 0017
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0017"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hotline_alias",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("building_code", sa.String(32), nullable=False),
        sa.Column("example", sa.Text, nullable=False),
        sa.Column("source_address_id", sa.Integer, nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("revoked_by", sa.String(100), nullable=True),
        sa.Column("revoked_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_hotline_alias_key", "hotline_alias", ["key"])
    op.create_index("ix_hotline_alias_building_code", "hotline_alias", ["building_code"])
    with op.batch_alter_table("hotline_address") as batch:
        batch.add_column(sa.Column("why", sa.String(300), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("hotline_address") as batch:
        batch.drop_column("why")
    op.drop_table("hotline_alias")
