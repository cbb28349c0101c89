"""Incident workflow: deadlines on summonses, attachments on steps, reporters (merging
duplicates), attachments, the notification outbox, reopen count.

Revision ID: 0006
Revises: 0001
Create Date: 2026-11-23
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0006"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable or defaulted columns: plain ADD COLUMN works on SQLite without batch mode.
    op.add_column("incident", sa.Column("reopen_count", sa.Integer, nullable=False,
                                        server_default="0"))
    op.add_column("incident", sa.Column("merged_into", sa.Integer, nullable=True))
    op.add_column("incident_step", sa.Column("attachments", sa.JSON, nullable=True))
    op.add_column("summons", sa.Column("report_in_due_at", UTCDateTime, nullable=True))
    op.add_column("summons", sa.Column("done_due_at", UTCDateTime, nullable=True))
    op.create_table(
        "incident_reporter",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("original_incident_id", sa.Integer, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("contact", sa.String(100), nullable=False),
        sa.Column("source", sa.String(20), nullable=False),
        sa.Column("reported_at", UTCDateTime, nullable=False),
        sa.Column("rating", sa.String(20), nullable=True),
        sa.Column("rated_at", UTCDateTime, nullable=True),
    )
    op.create_index("ix_incident_reporter_incident_id", "incident_reporter", ["incident_id"])
    op.create_table(
        "incident_attachment",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=True),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("content_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("key", sa.String(300), nullable=False),
        sa.Column("uploaded_by", sa.String(100), nullable=False),
        sa.Column("uploaded_at", UTCDateTime, nullable=False),
        sa.Column("lon", sa.Float, nullable=True),
        sa.Column("lat", sa.Float, nullable=True),
    )
    op.create_index("ix_incident_attachment_incident_id", "incident_attachment",
                    ["incident_id"])
    op.create_table(
        "notification",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key", sa.String(200), nullable=False, unique=True),
        sa.Column("incident_id", sa.Integer, sa.ForeignKey("incident.id"), nullable=False),
        sa.Column("recipient_kind", sa.String(20), nullable=False),
        sa.Column("recipient", sa.String(100), nullable=False),
        sa.Column("message", sa.Text, nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("sent_at", UTCDateTime, nullable=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text, nullable=False),
    )
    op.create_index("ix_notification_incident_id", "notification", ["incident_id"])
    op.create_index("ix_notification_unsent", "notification", ["sent_at", "id"])
    op.create_index("ix_incident_created", "incident", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_incident_created", "incident")
    op.drop_table("notification")
    op.drop_table("incident_attachment")
    op.drop_table("incident_reporter")
    op.drop_column("summons", "done_due_at")
    op.drop_column("summons", "report_in_due_at")
    op.drop_column("incident_step", "attachments")
    op.drop_column("incident", "merged_into")
    op.drop_column("incident", "reopen_count")
