"""Merge the five features that each started from 0010 (sessions, monthly topics, overlays,
people, hotline aliases) into one head, so ``alembic heads`` names one revision again.

Revision ID: 0018
Revises: 0013, 0014, 0015, 0016, 0017
"""

revision = "0018"
down_revision = ("0013", "0014", "0015", "0016", "0017")
branch_labels = None
depends_on = None


def upgrade() -> None:
    """Nothing to change: the five branches touch different tables."""


def downgrade() -> None:
    """Nothing to change."""
