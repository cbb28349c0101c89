"""Overlays (issue 13): temporary Party branches, street/lane segments in versions and their
chiefs, building heads, stationed units; and each incident's overlays as filed.

Revision ID: 0015
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from grid.orm import UTCDateTime

revision = "0015"
down_revision = "0010"
branch_labels = None
depends_on = None

SRID = 4490  # CGCS2000 geographic; see grid.db.STORAGE_SRID


def _validity() -> list[sa.Column]:
    return [sa.Column("valid_from", sa.Date, nullable=False),
            sa.Column("valid_to", sa.Date, nullable=True)]


def upgrade() -> None:
    op.create_table(
        "temporary_branch",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("purpose", sa.String(40), nullable=False),
        sa.Column("parent_org_code", sa.String(32), nullable=False),
        sa.Column("secretary", sa.String(100), nullable=False),
        sa.Column("contact", sa.String(100), nullable=False),
        *_validity(),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("geom", Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True),
                  nullable=False),
    )
    op.create_table(
        "segment_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("source", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("activated_at", UTCDateTime, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "street_segment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("version_id", sa.Integer, sa.ForeignKey("segment_version.id"),
                  nullable=False),
        sa.Column("code", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("kind", sa.String(20), nullable=False),
        sa.Column("attrs", sa.JSON, nullable=False),
        sa.Column("geom", Geometry("MULTILINESTRING", srid=SRID, spatial_index=True),
                  nullable=False),
    )
    op.create_index("ix_street_segment_version_code", "street_segment", ["version_id", "code"],
                    unique=True)
    op.create_table(
        "segment_chief",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("segment_code", sa.String(40), nullable=False),
        sa.Column("tier", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("title", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        *_validity(),
    )
    op.create_index("ix_segment_chief_code", "segment_chief", ["segment_code", "tier"])
    op.create_table(
        "building_head",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("building_code", sa.String(32), nullable=False),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("part", sa.String(40), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        *_validity(),
    )
    op.create_index("ix_building_head_building", "building_head", ["building_code"])
    op.create_table(
        "stationed_unit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(40), nullable=False, unique=True),
        sa.Column("name", sa.String(60), nullable=False, unique=True),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("street_code", sa.String(32), nullable=False),
        sa.Column("party_org", sa.String(200), nullable=False),
        sa.Column("contact", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("resources", sa.JSON, nullable=False),
        *_validity(),
        sa.Column("geom", Geometry("GEOMETRY", srid=SRID, spatial_index=True), nullable=False),
    )
    op.add_column("incident", sa.Column("overlays", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("overlays")
    for table in ("stationed_unit", "building_head", "segment_chief", "street_segment",
                  "segment_version", "temporary_branch"):
        op.drop_table(table)
