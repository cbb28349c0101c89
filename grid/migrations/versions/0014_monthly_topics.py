"""每月一题: the topics a street adopts, each with a lead, tracked to closure.

Why: the ranking of categories by count and growth (``/stats/top-categories``) only suggests a
month's problem; the street office then adopts one, names the leader who answers for it and
follows its cases until it closes the topic with a conclusion. One topic per street, month and
category (adopting it twice is refused by the unique index).

Revision ID: 0014
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0014"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "monthly_topic",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("street_code", sa.String(32), nullable=False),
        sa.Column("month", sa.String(7), nullable=False),
        sa.Column("category", sa.String(40), nullable=False),
        sa.Column("title", sa.String(200), nullable=False),
        sa.Column("lead", sa.String(100), nullable=False),
        sa.Column("note", sa.Text, nullable=False, server_default=""),
        sa.Column("state", sa.String(20), nullable=False, server_default="active"),
        sa.Column("adopted_by", sa.String(100), nullable=False),
        sa.Column("adopted_at", UTCDateTime, nullable=False),
        sa.Column("closed_by", sa.String(100), nullable=True),
        sa.Column("closed_at", UTCDateTime, nullable=True),
        sa.Column("conclusion", sa.Text, nullable=False, server_default=""),
        sa.UniqueConstraint("street_code", "month", "category", name="ux_monthly_topic"),
    )


def downgrade() -> None:
    op.drop_table("monthly_topic")
