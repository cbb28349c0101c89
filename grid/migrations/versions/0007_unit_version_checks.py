"""Unit rows name their boundary versions without row-by-row foreign keys (PostGIS).

Why: every row COPYed into ``unit`` fired two foreign-key triggers (``version_low`` and
``version_high`` → ``boundary_version``), each a separate lookup and row lock: loading 200,000
buildings spent over a second of the server's time on them, for two values that are the same
for every row of a load. They are replaced by

* one set-based check per write (``grid.spatial.write.require_versions``): every statement that
  writes unit rows names versions that are looked up together first and locked ``FOR KEY
  SHARE`` until commit, as the foreign key check would; a missing version refuses the load;
* a trigger on ``boundary_version`` that refuses to delete a version (or change its id) while
  unit rows still name it — the other half of what the foreign keys guaranteed. The
  application never deletes versions; the trigger keeps a hand-written ``DELETE`` honest.

Trade-off: a unit row written by hand in SQL (not through the loader) with a made-up version id
is no longer refused by the database. SpatiaLite keeps its foreign keys (dropping one there
means rebuilding the table and its spatial metadata, and SQLite writes are not where the time
goes); the same check runs on both.

Revision ID: 0007
Revises: 0005, 0006b
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = ("0005", "0006b")
branch_labels = None
depends_on = None

_COLUMNS = ("version_low", "version_high")


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    for fk in sa.inspect(bind).get_foreign_keys("unit"):
        if fk["referred_table"] == "boundary_version" and \
                set(fk["constrained_columns"]) <= set(_COLUMNS):
            op.drop_constraint(fk["name"], "unit", type_="foreignkey")
    op.execute("""
        CREATE FUNCTION boundary_version_in_use() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF EXISTS (SELECT 1 FROM unit WHERE version_low = OLD.id OR version_high = OLD.id)
            THEN
                RAISE EXCEPTION 'boundary version % is still named by unit rows', OLD.id
                    USING ERRCODE = 'foreign_key_violation';
            END IF;
            RETURN CASE WHEN TG_OP = 'DELETE' THEN OLD ELSE NEW END;
        END $$""")
    op.execute("""
        CREATE TRIGGER boundary_version_in_use
        BEFORE DELETE OR UPDATE OF id ON boundary_version
        FOR EACH ROW EXECUTE FUNCTION boundary_version_in_use()""")


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    op.execute("DROP TRIGGER boundary_version_in_use ON boundary_version")
    op.execute("DROP FUNCTION boundary_version_in_use()")
    for column in _COLUMNS:
        op.create_foreign_key(f"unit_{column}_fkey", "unit", "boundary_version", [column],
                              ["id"])
