"""The unit geometry index as SP-GiST instead of GiST (PostGIS).

Why: every row a load COPYs into ``unit`` is inserted into the spatial index one by one; GiST
insertion (choosing a subtree by penalty, splitting pages) cost a 200,000-building load about
0.95 s of the server's time, SP-GiST about 0.5 s (INSERT … SELECT of the benchmark's buildings
into otherwise identical tables, same server). The queries that use the index take ``&&``
through PostGIS's support functions either way: ``ST_Covers(geom, point)`` (locate's reference
path) measured the same (5,000 random points: 0.84–0.96 s GiST, 0.85–0.87 s SP-GiST);
``ST_Intersects(geom, envelope)`` (export and OGC ``bbox``) somewhat slower (500 boxes of
~330 rows: 0.24–0.26 s GiST, 0.29–0.36 s SP-GiST). Loads write far more rows than a bbox
page reads, so the trade is taken. SpatiaLite keeps its R*Tree.

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
