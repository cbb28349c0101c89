"""Initial schema: boundary versions, units, Party organisations, grid workers, users,
incidents, steps and summonses.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op
from geoalchemy2 import Geometry

from grid.orm import UTCDateTime

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SRID = 4490  # CGCS2000 geographic; see grid.db.STORAGE_SRID


def upgrade() -> None:
    op.create_table(
        "boundary_version",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(200), nullable=False),
        sa.Column("note", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("activated_at", UTCDateTime, nullable=True),
        sa.Column("is_active", sa.Boolean, nullable=False),
    )
    op.create_table(
        "unit",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code", sa.String(32), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("parent_code", sa.String(32), nullable=True),
        sa.Column("version_low", sa.Integer, sa.ForeignKey("boundary_version.id"), nullable=False),
        sa.Column(
            "version_high", sa.Integer, sa.ForeignKey("boundary_version.id"), nullable=False
        ),
        sa.Column("attrs", sa.JSON, nullable=False),
        sa.Column(
            "geom", Geometry("MULTIPOLYGON", srid=SRID, spatial_index=True), nullable=True
        ),
    )
    op.create_index("ix_unit_level_versions", "unit", ["level", "version_low", "version_high"])
    op.create_index("ix_unit_code_versions", "unit", ["code", "version_low", "version_high"])
    op.create_index("ix_unit_parent", "unit", ["parent_code"])
    op.create_table(
        "party_org",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("unit_code", sa.String(32), nullable=False, unique=True),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("org_type", sa.String(40), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("secretary", sa.String(100), nullable=False),
        sa.Column("contact", sa.String(100), nullable=False),
    )
    op.create_table(
        "grid_worker",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("grid_code", sa.String(32), nullable=False, index=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("phone", sa.String(40), nullable=False),
        sa.Column("role", sa.String(40), nullable=False),
    )
    op.create_table(
        "app_user",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(100), nullable=False, unique=True),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("scope_code", sa.String(32), nullable=False),
        sa.Column("department", sa.String(60), nullable=True),
        sa.Column("token_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
    )
    op.create_table(
        "incident",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("reporter", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("geom", Geometry("POINT", srid=SRID, spatial_index=True), nullable=False),
        sa.Column(
            "boundary_version", sa.Integer, sa.ForeignKey("boundary_version.id"), nullable=False
        ),
        sa.Column("street_code", sa.String(32), nullable=True),
        sa.Column("community_code", sa.String(32), nullable=True),
        sa.Column("grid_code", sa.String(32), nullable=True),
        sa.Column("building_code", sa.String(32), nullable=True),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("level", sa.String(20), nullable=False),
        sa.Column("due_at", UTCDateTime, nullable=True),
        sa.Column("rating", sa.String(20), nullable=True),
        sa.Column("created_by", sa.String(100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("updated_at", UTCDateTime, nullable=False),
        sa.Column("row_version", sa.Integer, nullable=False),
    )
    op.create_index("ix_incident_state_level_due", "incident", ["state", "level", "due_at"])
    op.create_index("ix_incident_grid", "incident", ["grid_code"])
    op.create_table(
        "incident_step",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("action", sa.String(30), nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("actor_role", sa.String(20), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("from_level", sa.String(20), nullable=True),
        sa.Column("to_level", sa.String(20), nullable=False),
        sa.Column("department", sa.String(60), nullable=True),
        sa.Column("reason", sa.Text, nullable=False),
    )
    op.create_index("ix_incident_step_incident_id", "incident_step", ["incident_id"])
    op.create_table(
        "summons",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("department", sa.String(60), nullable=False),
        sa.Column("summoned_at", UTCDateTime, nullable=False),
        sa.Column("reported_in_at", UTCDateTime, nullable=True),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.UniqueConstraint("incident_id", "department"),
    )


def downgrade() -> None:
    for table in (
        "summons", "incident_step", "incident", "app_user", "grid_worker", "party_org", "unit",
        "boundary_version",
    ):
        op.drop_table(table)
