"""Tables of the people in the loop (issue 14): in-service Party members who register with the
community they live in (在职党员双报到), the orders they take (下单 · 接单 · 回单), deliberation
topics walked through a configured procedure (大家商量着办 / 五议), and the grid worker's rounds
with their 民情日志.

Places are kept as plain lon/lat columns (CGCS2000) and the unit codes that own them, not as
geometry columns: matching volunteers to an order, and buildings to a round, is done for one
community at a time in its Gauss-Krüger zone (``grid.spatial.crs``), where a community's few
hundred members and buildings need no spatial index; the same code then runs on both stores.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grid.orm import Base, UTCDateTime, utcnow


class Member(Base):
    """An in-service Party member (在职党员) registered with the community they live in.

    ``user_name`` is their account (role ``volunteer``); ``workplace_org`` names their
    workplace Party organisation, whose ``party_org`` account sees their service counts and
    hours only. Contact details are stored as ciphertext and a masked form, like residents'.
    """

    __tablename__ = "party_member"
    __table_args__ = (Index("ix_party_member_community_state", "community_code", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_name: Mapped[str] = mapped_column(String(100), unique=True)
    name: Mapped[str] = mapped_column(String(100))
    phone_cipher: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20), nullable=True)
    workplace_org: Mapped[str] = mapped_column(String(100), index=True)
    building_code: Mapped[str] = mapped_column(String(32))
    grid_code: Mapped[str] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(String(32))
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Weekdays (1 = Monday … 7 = Sunday) the member is free to serve.
    availability: Mapped[list[int]] = mapped_column(JSON, default=list)
    state: Mapped[str] = mapped_column(String(20))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    confirmed_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Order(Base):
    """A need placed for Party volunteers (一呼百应): 下单 → 接单 → 回单."""

    __tablename__ = "service_order"
    __table_args__ = (Index("ix_service_order_state_due", "state", "take_due_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    #: Who placed it: a resident (through a grid worker), a community or a Party organisation.
    source: Mapped[str] = mapped_column(String(20))
    requester_name: Mapped[str] = mapped_column(String(100), default="")
    requester_phone_cipher: Mapped[str | None] = mapped_column(Text, nullable=True)
    requester_phone_masked: Mapped[str | None] = mapped_column(String(20), nullable=True)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    building_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    grid_code: Mapped[str] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(String(32))
    needed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    state: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20), default="grid")
    take_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    taker_id: Mapped[int | None] = mapped_column(ForeignKey("party_member.id"), nullable=True)
    taken_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    hours: Mapped[float | None] = mapped_column(Float, nullable=True)
    rating: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: The incident this order came from, or the one it was turned into (``link`` says which).
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), nullable=True,
                                                    index=True)
    link: Mapped[str | None] = mapped_column(String(20), nullable=True)
    #: The deliberation topic whose follow-up task this order is.
    topic_id: Mapped[int | None] = mapped_column(ForeignKey("topic.id"), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}

    steps: Mapped[list[OrderStep]] = relationship(order_by="OrderStep.id", lazy="selectin")
    offers: Mapped[list[OrderOffer]] = relationship(order_by="OrderOffer.rank",
                                                    lazy="selectin")


class OrderStep(Base):
    """One recorded move of an order (who, when, from which state to which, why)."""

    __tablename__ = "service_order_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    move: Mapped[str] = mapped_column(String(20))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")
    attachments: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)


class OrderOffer(Base):
    """An order offered to one matching volunteer, nearest first (``rank`` 1 is nearest)."""

    __tablename__ = "service_order_offer"
    __table_args__ = (UniqueConstraint("order_id", "member_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("service_order.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("party_member.id"), index=True)
    rank: Mapped[int] = mapped_column(Integer)
    distance_m: Mapped[float] = mapped_column(Float)
    offered_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class Topic(Base):
    """A matter for residents and the community to settle (议题), walked through the steps of
    a configured procedure (``grid/data/people.yaml``)."""

    __tablename__ = "topic"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    #: residents / incidents (a cluster of cases) / monthly (每月一题).
    source: Mapped[str] = mapped_column(String(20))
    source_ref: Mapped[str] = mapped_column(String(200), default="")
    procedure: Mapped[str] = mapped_column(String(40))
    step: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(20))
    community_code: Mapped[str] = mapped_column(String(32), index=True)
    unit_codes: Mapped[list[str]] = mapped_column(JSON, default=list)
    decision: Mapped[str | None] = mapped_column(Text, nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Residents' evaluation (群众评议): counts per rating.
    evaluation: Mapped[dict[str, int] | None] = mapped_column(JSON, nullable=True)
    evaluation_note: Mapped[str] = mapped_column(Text, default="")
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    row_version: Mapped[int] = mapped_column(Integer, default=1)

    __mapper_args__ = {"version_id_col": row_version}

    log: Mapped[list[TopicEntry]] = relationship(order_by="TopicEntry.id", lazy="selectin")
    participants: Mapped[list[Participant]] = relationship(order_by="Participant.id",
                                                           lazy="selectin")
    meetings: Mapped[list[Meeting]] = relationship(order_by="Meeting.id", lazy="selectin")
    options: Mapped[list[TopicOption]] = relationship(order_by="TopicOption.id",
                                                      lazy="selectin")
    tasks: Mapped[list[TopicTask]] = relationship(order_by="TopicTask.id", lazy="selectin")


class TopicEntry(Base):
    """One recorded move on a topic, at the step it was made in."""

    __tablename__ = "topic_entry"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    move: Mapped[str] = mapped_column(String(20))
    step: Mapped[int] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text, default="")


class Participant(Base):
    """Someone invited to a topic, by role (resident, building head, property company, deputy,
    lawyer, planner, mediator …); kept off the public notice."""

    __tablename__ = "topic_participant"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    name: Mapped[str] = mapped_column(String(100))
    unit_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    step: Mapped[int] = mapped_column(Integer)


class Meeting(Base):
    """A meeting held on a topic, with its minutes and attachments."""

    __tablename__ = "topic_meeting"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    step: Mapped[int] = mapped_column(Integer)
    held_at: Mapped[datetime] = mapped_column(UTCDateTime)
    place: Mapped[str] = mapped_column(String(200), default="")
    minutes: Mapped[str] = mapped_column(Text)
    attendees: Mapped[int] = mapped_column(Integer, default=0)
    attachments: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)


class TopicOption(Base):
    """An option put to the vote, with the votes it got."""

    __tablename__ = "topic_option"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    text: Mapped[str] = mapped_column(String(300))
    votes_for: Mapped[int | None] = mapped_column(Integer, nullable=True)
    votes_against: Mapped[int | None] = mapped_column(Integer, nullable=True)
    abstentions: Mapped[int | None] = mapped_column(Integer, nullable=True)
    chosen: Mapped[bool] = mapped_column(default=False)


class TopicTask(Base):
    """A task that follows a decision: an incident filed or an order placed."""

    __tablename__ = "topic_task"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    topic_id: Mapped[int] = mapped_column(ForeignKey("topic.id"), index=True)
    title: Mapped[str] = mapped_column(String(200))
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), nullable=True)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("service_order.id"), nullable=True)


class Round(Base):
    """A grid worker's round (走访): a walk through a grid, its GPS track sent in batches."""

    __tablename__ = "round"
    __table_args__ = (UniqueConstraint("worker", "client_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker: Mapped[str] = mapped_column(String(100))
    client_key: Mapped[str] = mapped_column(String(64))
    grid_code: Mapped[str] = mapped_column(String(32), index=True)
    community_code: Mapped[str] = mapped_column(String(32))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    points: Mapped[int] = mapped_column(Integer, default=0)

    batches: Mapped[list[TrackBatch]] = relationship(order_by="TrackBatch.seq", lazy="selectin")


class TrackBatch(Base):
    """One batch of a round's track points; (round, seq) is unique, so a batch sent twice
    (offline retry) is stored once."""

    __tablename__ = "round_batch"
    __table_args__ = (UniqueConstraint("round_id", "seq"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    round_id: Mapped[int] = mapped_column(ForeignKey("round.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    #: [[lon, lat, unix seconds], …] in CGCS2000.
    points: Mapped[list[list[float]]] = mapped_column(JSON)


class Visit(Base):
    """A visit on a round (走访) and its 民情日志 entry: who was visited, what was heard, the
    follow-up; an entry can file an incident on the spot (``incident_id``)."""

    __tablename__ = "visit"
    __table_args__ = (Index("ix_visit_grid_at", "grid_code", "visited_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    worker: Mapped[str] = mapped_column(String(100))
    round_id: Mapped[int | None] = mapped_column(ForeignKey("round.id"), nullable=True)
    building_code: Mapped[str] = mapped_column(String(32))
    grid_code: Mapped[str] = mapped_column(String(32))
    community_code: Mapped[str] = mapped_column(String(32))
    household: Mapped[str] = mapped_column(String(50), default="")
    category: Mapped[str] = mapped_column(String(30))
    mood: Mapped[str] = mapped_column(String(20), default="")
    heard: Mapped[str] = mapped_column(Text)
    follow_up: Mapped[str] = mapped_column(Text, default="")
    visited_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), nullable=True)
