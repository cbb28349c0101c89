"""The unit table as a partitioned table, one partition per large load (PostGIS).

Why: a large load COPYed into ``unit`` paid for its five indexes row by row, and that was most
of the server's time for it. Building the same indexes once over the finished rows is far
cheaper (a sorted GiST build in particular), which is what ``ogr2ogr`` does with a new table
(``benchmarks/load_bench.py`` prints both loads and the old shared-partition path side by side).
Here a large load (``GRID_LOAD_PARTITION_ROWS``, default 20,000 rows) COPYs its rows into a
new, unindexed table ``unit_b<N>`` and attaches it as partition ``batch = N`` at the end of the
write, still inside the load's transaction: PostgreSQL builds the partition's indexes in bulk.
A load that fails or is rolled back leaves no table behind (DDL is transactional in
PostgreSQL). Everything else — small loads, reparenting, edits — writes through ``unit`` into
partition ``unit_b0``.

Nothing that reads ``unit`` changes: the partitioned table has the same name and columns plus
``batch``, which the application never reads (the ORM model does not declare it). Trade-offs:

* the primary key is ``(id, batch)`` (a partitioned table's unique keys must hold the
  partition key); ``id`` still comes from one sequence, so it stays unique; no table has a
  foreign key to ``unit.id``;
* a lookup by ``id`` alone probes every partition's index: one partition per large load is a
  handful a year;
* the geometry index returns to GiST (0008 had made it SP-GiST to cheapen row-by-row inserts,
  at the cost of ~20 % slower bbox reads): large loads now build it sorted, in bulk, where GiST
  is the faster of the two (0.46 s against 0.65 s to attach 200,000 buildings).

SpatiaLite has no partitions; its ``unit`` table is unchanged.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-27
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

#: The btree indexes, kept as they are on the old table (which becomes partition unit_b0).
_BTREES = {
    "ix_unit_level_versions": "(level, version_low, version_high)",
    "ix_unit_code_versions": "(code, version_low, version_high)",
    "ix_unit_parent": "(parent_code)",
}


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE unit RENAME TO unit_b0")
    op.execute("ALTER INDEX unit_pkey RENAME TO unit_b0_pkey")
    for name in _BTREES:
        op.execute(f"ALTER INDEX {name} RENAME TO {name.replace('ix_unit', 'unit_b0')}")
    op.execute("DROP INDEX IF EXISTS idx_unit_geom")
    op.execute("ALTER TABLE unit_b0 ADD COLUMN batch integer NOT NULL DEFAULT 0")
    op.execute("CREATE TABLE unit (LIKE unit_b0 INCLUDING DEFAULTS INCLUDING STORAGE) "
               "PARTITION BY LIST (batch)")
    op.execute("ALTER SEQUENCE unit_id_seq OWNED BY unit.id")
    op.execute("ALTER TABLE unit_b0 DROP CONSTRAINT unit_b0_pkey")
    op.execute("ALTER TABLE unit ATTACH PARTITION unit_b0 FOR VALUES IN (0)")
    op.execute("ALTER TABLE unit ADD CONSTRAINT unit_pkey PRIMARY KEY (id, batch)")
    for name, columns in _BTREES.items():  # attaches the partition's matching index as is
        op.execute(f"CREATE INDEX {name} ON unit {columns}")
    op.execute("CREATE INDEX idx_unit_geom ON unit USING gist (geom)")
    op.execute("CREATE SEQUENCE unit_batch_seq START 1")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE unit RENAME TO unit_parted")
    op.execute("CREATE TABLE unit (LIKE unit_parted INCLUDING DEFAULTS INCLUDING STORAGE)")
    op.execute("INSERT INTO unit SELECT * FROM unit_parted")
    op.execute("ALTER SEQUENCE unit_id_seq OWNED BY unit.id")
    op.execute("DROP TABLE unit_parted CASCADE")
    op.execute("DROP SEQUENCE unit_batch_seq")
    op.execute("ALTER TABLE unit DROP COLUMN batch")
    op.execute("ALTER TABLE unit ADD CONSTRAINT unit_pkey PRIMARY KEY (id)")
    for name, columns in _BTREES.items():
        op.execute(f"CREATE INDEX {name} ON unit {columns}")
    op.execute("CREATE INDEX idx_unit_geom ON unit USING spgist (geom)")
