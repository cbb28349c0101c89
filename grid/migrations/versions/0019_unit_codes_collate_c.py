"""Unit codes and levels compared byte by byte (``COLLATE "C"``) on PostGIS.

Why: a large load attaches its partition and PostgreSQL then builds the unit table's btree
indexes over its rows; the code, parent-code and level columns had the database's collation
(``C.UTF-8`` here, ``zh_CN.UTF-8`` on many servers), whose comparisons go through the C
library's ``strcoll`` and get no abbreviated sort keys. Measured on 200,000 buildings (same
session, alternating): the ``(code, version_low, version_high)`` index 0.66/0.63 s with the
database's collation against 0.50/0.39 s with ``"C"``, the level index 0.34 s against 0.28 s.

Nothing reads differently: a code is ASCII digits (the code scheme refuses anything else), and
digits sort the same in every collation; equality is byte equality in both. A comparison with
a column of the default collation (another table's code) takes ``"C"``, so joins need no
change, and a ``LIKE 'prefix%'`` on a code can now use the btree index.

SpatiaLite compares bytes already; nothing changes there.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-03
"""

from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None

_COLUMNS = {"code": "varchar(32)", "parent_code": "varchar(32)", "level": "varchar(20)"}


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    # on the partitioned table: every partition follows, and its indexes are rebuilt
    changes = ", ".join(f'ALTER COLUMN {column} TYPE {kind} COLLATE "{collation}"'
                        for column, kind in _COLUMNS.items())
    op.execute(f"ALTER TABLE unit {changes}")


def upgrade() -> None:
    _collate("C")


def downgrade() -> None:
    _collate("default")
