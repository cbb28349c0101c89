"""A report's idempotency key (``Idempotency-Key`` on ``POST /incidents``), unique.

Why: the mobile report page keeps every report as an offline draft until the server has it;
a page closed after the server stored the report but before the draft was deleted sent it
again, and the street got the same problem twice. The page now sends a random key per draft;
the server stores it (prefixed with the account's id) and answers a repeated key with the case
it already has instead of filing a new one. The unique index settles two sends racing.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-27
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("incident", sa.Column("client_key", sa.String(140), nullable=True))
    op.create_index("ux_incident_client_key", "incident", ["client_key"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_incident_client_key", "incident")
    with op.batch_alter_table("incident") as batch:
        batch.drop_column("client_key")
