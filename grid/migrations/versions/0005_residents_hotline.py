"""Resident register (personal data encrypted) and hotline address queue.

Revision ID: 0005
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0005"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "resident",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("id_cipher", sa.Text, nullable=False),
        sa.Column("id_masked", sa.String(32), nullable=False),
        sa.Column("id_hmac", sa.String(64), nullable=False, unique=True),
        sa.Column("phone_cipher", sa.Text, nullable=True),
        sa.Column("phone_masked", sa.String(20), nullable=True),
        sa.Column("address", sa.String(300), nullable=False),
        sa.Column("building_code", sa.String(32), nullable=False),
        sa.Column("grid_code", sa.String(32), nullable=False),
        sa.Column("group_code", sa.String(32), nullable=True),
        sa.Column("entrance", sa.Integer, nullable=True),
        sa.Column("floor", sa.Integer, nullable=True),
        sa.Column("room", sa.String(20), nullable=False),
        sa.Column("party_member", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_resident_building_code", "resident", ["building_code"])
    op.create_index("ix_resident_grid_code", "resident", ["grid_code"])
    op.create_index("ix_resident_group_code", "resident", ["group_code"])
    op.create_table(
        "hotline_address",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("address", sa.Text, nullable=False),
        sa.Column("ref", sa.String(64), nullable=False),
        sa.Column("status", sa.String(12), nullable=False),
        sa.Column("building_code", sa.String(32), nullable=True),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("candidates", sa.JSON, nullable=False),
        sa.Column("boundary_version", sa.Integer, nullable=True),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("resolved_at", UTCDateTime, nullable=True),
        sa.Column("resolved_by", sa.String(100), nullable=True),
    )
    op.create_index("ix_hotline_address_status", "hotline_address", ["status"])


def downgrade() -> None:
    op.drop_table("hotline_address")
    op.drop_table("resident")
