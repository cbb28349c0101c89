"""People in the loop (issue 14): in-service Party members (双报到), service orders (下单 · 接单 ·
回单) with their steps and offers, deliberation topics (议事协商: log, participants, meetings,
options, tasks), grid workers' rounds with track batches and 民情日志 visits.

Revision ID: 0016
Revises: 0010
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from grid.orm import UTCDateTime

revision = "0016"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "party_member",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_name", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("phone_cipher", sa.Text(), nullable=True),
        sa.Column("phone_masked", sa.String(length=20), nullable=True),
        sa.Column("workplace_org", sa.String(length=100), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("availability", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("registered_at", UTCDateTime, nullable=False),
        sa.Column("confirmed_by", sa.String(length=100), nullable=True),
        sa.Column("confirmed_at", UTCDateTime, nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_name"),
    )
    op.create_index(
        "ix_party_member_community_state", "party_member", ["community_code", "state"], unique=False
    )
    op.create_index(
        op.f("ix_party_member_workplace_org"), "party_member", ["workplace_org"], unique=False
    )
    op.create_table(
        "round",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("client_key", sa.String(length=64), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("started_at", UTCDateTime, nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("worker", "client_key"),
    )
    op.create_index(op.f("ix_round_grid_code"), "round", ["grid_code"], unique=False)
    op.create_table(
        "topic",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("source_ref", sa.String(length=200), nullable=False),
        sa.Column("procedure", sa.String(length=40), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("unit_codes", sa.JSON(), nullable=False),
        sa.Column("decision", sa.Text(), nullable=True),
        sa.Column("decided_at", UTCDateTime, nullable=True),
        sa.Column("evaluation", sa.JSON(), nullable=True),
        sa.Column("evaluation_note", sa.Text(), nullable=False),
        sa.Column("published_at", UTCDateTime, nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_topic_community_code"), "topic", ["community_code"], unique=False)
    op.create_table(
        "round_batch",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("points", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["round.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("round_id", "seq"),
    )
    op.create_index(op.f("ix_round_batch_round_id"), "round_batch", ["round_id"], unique=False)
    op.create_table(
        "service_order",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("skills", sa.JSON(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("requester_name", sa.String(length=100), nullable=False),
        sa.Column("requester_phone_cipher", sa.Text(), nullable=True),
        sa.Column("requester_phone_masked", sa.String(length=20), nullable=True),
        sa.Column("lon", sa.Float(), nullable=False),
        sa.Column("lat", sa.Float(), nullable=False),
        sa.Column("building_code", sa.String(length=32), nullable=True),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("needed_at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(length=20), nullable=False),
        sa.Column("level", sa.String(length=20), nullable=False),
        sa.Column("take_due_at", UTCDateTime, nullable=True),
        sa.Column("taker_id", sa.Integer(), nullable=True),
        sa.Column("taken_at", UTCDateTime, nullable=True),
        sa.Column("done_at", UTCDateTime, nullable=True),
        sa.Column("hours", sa.Float(), nullable=True),
        sa.Column("rating", sa.String(length=20), nullable=True),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("link", sa.String(length=20), nullable=True),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("created_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("row_version", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["taker_id"],
            ["party_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_service_order_incident_id"), "service_order", ["incident_id"], unique=False
    )
    op.create_index(
        "ix_service_order_state_due", "service_order", ["state", "take_due_at"], unique=False
    )
    op.create_table(
        "topic_entry",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("move", sa.String(length=20), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_topic_entry_topic_id"), "topic_entry", ["topic_id"], unique=False)
    op.create_table(
        "topic_meeting",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.Column("held_at", UTCDateTime, nullable=False),
        sa.Column("place", sa.String(length=200), nullable=False),
        sa.Column("minutes", sa.Text(), nullable=False),
        sa.Column("attendees", sa.Integer(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_topic_meeting_topic_id"), "topic_meeting", ["topic_id"], unique=False)
    op.create_table(
        "topic_option",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.String(length=300), nullable=False),
        sa.Column("votes_for", sa.Integer(), nullable=True),
        sa.Column("votes_against", sa.Integer(), nullable=True),
        sa.Column("abstentions", sa.Integer(), nullable=True),
        sa.Column("chosen", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_topic_option_topic_id"), "topic_option", ["topic_id"], unique=False)
    op.create_table(
        "topic_participant",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("unit_code", sa.String(length=32), nullable=True),
        sa.Column("step", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_topic_participant_topic_id"), "topic_participant", ["topic_id"], unique=False
    )
    op.create_table(
        "visit",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("worker", sa.String(length=100), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=True),
        sa.Column("building_code", sa.String(length=32), nullable=False),
        sa.Column("grid_code", sa.String(length=32), nullable=False),
        sa.Column("community_code", sa.String(length=32), nullable=False),
        sa.Column("household", sa.String(length=50), nullable=False),
        sa.Column("category", sa.String(length=30), nullable=False),
        sa.Column("mood", sa.String(length=20), nullable=False),
        sa.Column("heard", sa.Text(), nullable=False),
        sa.Column("follow_up", sa.Text(), nullable=False),
        sa.Column("visited_at", UTCDateTime, nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["round.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_visit_grid_at", "visit", ["grid_code", "visited_at"], unique=False)
    op.create_table(
        "service_order_offer",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("distance_m", sa.Float(), nullable=False),
        sa.Column("offered_at", UTCDateTime, nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["party_member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["service_order.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "member_id"),
    )
    op.create_index(
        op.f("ix_service_order_offer_member_id"), "service_order_offer", ["member_id"], unique=False
    )
    op.create_index(
        op.f("ix_service_order_offer_order_id"), "service_order_offer", ["order_id"], unique=False
    )
    op.create_table(
        "service_order_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("order_id", sa.Integer(), nullable=False),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("move", sa.String(length=20), nullable=False),
        sa.Column("actor", sa.String(length=100), nullable=False),
        sa.Column("actor_role", sa.String(length=20), nullable=False),
        sa.Column("from_state", sa.String(length=20), nullable=True),
        sa.Column("to_state", sa.String(length=20), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("attachments", sa.JSON(), nullable=True),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["service_order.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        op.f("ix_service_order_step_order_id"), "service_order_step", ["order_id"], unique=False
    )
    op.create_table(
        "topic_task",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=True),
        sa.Column("order_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(
            ["incident_id"],
            ["incident.id"],
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["service_order.id"],
        ),
        sa.ForeignKeyConstraint(
            ["topic_id"],
            ["topic.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_topic_task_topic_id"), "topic_task", ["topic_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_topic_task_topic_id"), table_name="topic_task")
    op.drop_table("topic_task")
    op.drop_index(op.f("ix_service_order_step_order_id"), table_name="service_order_step")
    op.drop_table("service_order_step")
    op.drop_index(op.f("ix_service_order_offer_order_id"), table_name="service_order_offer")
    op.drop_index(op.f("ix_service_order_offer_member_id"), table_name="service_order_offer")
    op.drop_table("service_order_offer")
    op.drop_index("ix_visit_grid_at", table_name="visit")
    op.drop_table("visit")
    op.drop_index(op.f("ix_topic_participant_topic_id"), table_name="topic_participant")
    op.drop_table("topic_participant")
    op.drop_index(op.f("ix_topic_option_topic_id"), table_name="topic_option")
    op.drop_table("topic_option")
    op.drop_index(op.f("ix_topic_meeting_topic_id"), table_name="topic_meeting")
    op.drop_table("topic_meeting")
    op.drop_index(op.f("ix_topic_entry_topic_id"), table_name="topic_entry")
    op.drop_table("topic_entry")
    op.drop_index("ix_service_order_state_due", table_name="service_order")
    op.drop_index(op.f("ix_service_order_incident_id"), table_name="service_order")
    op.drop_table("service_order")
    op.drop_index(op.f("ix_round_batch_round_id"), table_name="round_batch")
    op.drop_table("round_batch")
    op.drop_index(op.f("ix_topic_community_code"), table_name="topic")
    op.drop_table("topic")
    op.drop_index(op.f("ix_round_grid_code"), table_name="round")
    op.drop_table("round")
    op.drop_index(op.f("ix_party_member_workplace_org"), table_name="party_member")
    op.drop_index("ix_party_member_community_state", table_name="party_member")
    op.drop_table("party_member")
