"""The unit geometry index as SP-GiST instead of GiST (PostGIS).

Why: every row a load COPYs into ``unit`` is inserted into the spatial index one by one, and
SP-GiST insertion is cheaper than GiST's (choosing a subtree by penalty, splitting pages). The
queries that use the index take ``&&`` through PostGIS's support functions either way:
``ST_Covers(geom, point)`` (locate's reference path) and ``ST_Intersects(geom, envelope)``
(export and OGC ``bbox``, a little slower on SP-GiST). Loads write far more rows than a bbox
page reads, so the trade is taken. (The figures that decided it were taken by hand when this
migration was written; no script reproduces them, so they are not repeated here.) SpatiaLite
keeps its R*Tree.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS idx_unit_geom")
    op.execute("CREATE INDEX idx_unit_geom ON unit USING spgist (geom)")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS idx_unit_geom")
    op.execute("CREATE INDEX idx_unit_geom ON unit USING gist (geom)")
