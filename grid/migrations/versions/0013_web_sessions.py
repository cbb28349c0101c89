"""Browser sessions and one-time sign-in links (``grid.sessions``).

Why: pages were opened with ``?token=`` links, which wrote bearer tokens into the access log
and the browser history. A page now signs in once and holds a session cookie (HttpOnly,
SameSite=Lax); the session row keeps the user and the CSRF token. One-time links let the demo
print a link that is spent on first use.

Revision ID: 0013
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0013"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_session",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("key_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("csrf", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_web_session_user_id", "web_session", ["user_id"])
    op.create_table(
        "signin_link",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("code_hash", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("app_user.id"), nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
        sa.Column("used_at", UTCDateTime, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("signin_link")
    op.drop_index("ix_web_session_user_id", "web_session")
    op.drop_table("web_session")
