"""Incident columns the three rates read (late, callbacks, satisfied callbacks), kept by every
ladder move, so the monthly ranking is one scan of the month's cases instead of a join with
the whole step table; filled here from the steps already recorded.

Revision ID: 0006b
Revises: 0006
Create Date: 2026-11-24
"""

import sqlalchemy as sa
from alembic import op

revision = "0006b"
down_revision = "0006"
branch_labels = None
depends_on = None

#: The same definitions as ``grid.incidents.rates`` (a migration must not import the models).
LATE_STEPS = """
    SELECT incident_id FROM incident_step
    WHERE (action = 'escalate' AND actor_role = 'system')
       OR (action = 'report_in' AND reason LIKE '逾期报到%')"""


def upgrade() -> None:
    # Defaulted NOT NULL columns: plain ADD COLUMN works on SQLite without batch mode.
    op.add_column("incident", sa.Column("late", sa.Boolean, nullable=False,
                                        server_default=sa.false()))
    op.add_column("incident", sa.Column("callbacks", sa.Integer, nullable=False,
                                        server_default="0"))
    op.add_column("incident", sa.Column("satisfied_callbacks", sa.Integer, nullable=False,
                                        server_default="0"))
    op.execute(f"UPDATE incident SET late = true WHERE id IN ({LATE_STEPS})")
    op.execute("""
        UPDATE incident SET
            callbacks = (SELECT count(*) FROM incident_step s
                         WHERE s.incident_id = incident.id AND s.action = 'rate'),
            satisfied_callbacks = (SELECT count(*) FROM incident_step s
                                   WHERE s.incident_id = incident.id AND s.action = 'rate'
                                     AND s.reason NOT LIKE '不满意%')
        WHERE id IN (SELECT incident_id FROM incident_step WHERE action = 'rate')""")


def downgrade() -> None:
    op.drop_column("incident", "satisfied_callbacks")
    op.drop_column("incident", "callbacks")
    op.drop_column("incident", "late")
