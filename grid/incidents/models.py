"""Tables of the incident workflow: incidents, their steps, and department summonses."""

from __future__ import annotations

from datetime import datetime

from geoalchemy2 import Geometry
from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from grid.db import STORAGE_SRID
from grid.orm import Base, UTCDateTime, utcnow


class Incident(Base):
    """A problem reported at a place (事件), owned by the units whose polygons hold it.

    The owner codes are copied at report time against the version active then, so the incident
    keeps its owners when boundaries are redrawn later. ``row_version`` guards every move:
    an UPDATE that finds another version wrote nothing, and the move is refused, not doubled.
    """

    __tablename__ = "incident"
    __table_args__ = (
        Index("ix_incident_state_level_due", "state", "level", "due_at"),
        Index("ix_incident_grid", "grid_code"),
        Index("ux_incident_client_key", "client_key", unique=True),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    category: Mapped[str] = mapped_column(String(40))
    description: Mapped[str] = mapped_column(Text, default="")
    reporter: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(20))
    geom = mapped_column(Geometry("POINT", srid=STORAGE_SRID, spatial_index=True))
    boundary_version: Mapped[int] = mapped_column(ForeignKey("boundary_version.id"))
    street_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    community_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    grid_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    building_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    state: Mapped[str] = mapped_column(String(20))
    level: Mapped[str] = mapped_column(String(20))
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    rating: Mapped[str | None] = mapped_column(String(20), nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    row_version: Mapped[int] = mapped_column(Integer, default=1)
    #: How often a 不满意 callback has reopened it; the case it was merged into, if any.
    reopen_count: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    merged_into: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), nullable=True)
    #: Kept by every move for the three rates (``grid.incidents.rates``), so a month's
    #: ranking reads only the month's cases: whether a level's time limit ran out on it or a
    #: summoned department reported in late, and its callbacks (回访) and satisfied ones.
    late: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    callbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    satisfied_callbacks: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: The reporting account's id and the ``Idempotency-Key`` its report was sent with: a
    #: report sent again with the same key answers this case instead of filing another.
    client_key: Mapped[str | None] = mapped_column(String(140), nullable=True)
    #: The overlays that applied when the case was filed (``grid.overlays.routing``): the
    #: temporary Party branch, the street/lane chiefs, the building heads — who they were
    #: then and whether they were told. Kept as filed, so a later change of chief or an
    #: expired branch does not rewrite history.
    overlays: Mapped[dict | None] = mapped_column(JSON, nullable=True)

    __mapper_args__ = {"version_id_col": row_version}

    steps: Mapped[list[IncidentStep]] = relationship(
        order_by="IncidentStep.id", back_populates="incident", lazy="selectin"
    )
    summonses: Mapped[list[Summons]] = relationship(
        order_by="Summons.id", back_populates="incident", lazy="selectin"
    )
    reporters: Mapped[list[IncidentReporter]] = relationship(
        order_by="IncidentReporter.id", back_populates="incident", lazy="selectin",
        foreign_keys="IncidentReporter.incident_id",
    )


class IncidentStep(Base):
    """One recorded move (who, when, from which state/level to which, why); append-only."""

    __tablename__ = "incident_step"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    actor: Mapped[str] = mapped_column(String(100))
    actor_role: Mapped[str] = mapped_column(String(20))
    from_state: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_state: Mapped[str] = mapped_column(String(20))
    from_level: Mapped[str | None] = mapped_column(String(20), nullable=True)
    to_level: Mapped[str] = mapped_column(String(20))
    department: Mapped[str | None] = mapped_column(String(60), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    #: Ids of the attachments (photos, documents) filed with this step.
    attachments: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)

    incident: Mapped[Incident] = relationship(back_populates="steps")


class Summons(Base):
    """A department whistled to an incident (街乡吹哨), and its report-in (部门报到) and finish."""

    __tablename__ = "summons"
    __table_args__ = (UniqueConstraint("incident_id", "department"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"))
    department: Mapped[str] = mapped_column(String(60))
    summoned_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    reported_in_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    #: Deadlines: report in (部门报到, minutes) and finish (the category's street-level limit).
    report_in_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    done_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    incident: Mapped[Incident] = relationship(back_populates="summonses")

    def is_report_in_late(self, now: datetime) -> bool:
        """Reported in after its deadline, or not yet and the deadline has passed."""
        if self.report_in_due_at is None:
            return False
        return (self.reported_in_at or now) > self.report_in_due_at


class IncidentReporter(Base):
    """A person who reported the problem (报告人) and their callback (回访); merging duplicates
    moves every reporter to the surviving case, so nobody's callback is lost."""

    __tablename__ = "incident_reporter"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    original_incident_id: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(100), default="")
    contact: Mapped[str] = mapped_column(String(100), default="")
    source: Mapped[str] = mapped_column(String(20))
    reported_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rating: Mapped[str | None] = mapped_column(String(20), nullable=True)
    rated_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    incident: Mapped[Incident] = relationship(back_populates="reporters",
                                              foreign_keys=[incident_id])


class Attachment(Base):
    """A photo or document stored by ``grid.incidents.attachments`` (bytes live outside the DB)."""

    __tablename__ = "incident_attachment"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("incident.id"), index=True,
                                                    nullable=True)
    filename: Mapped[str] = mapped_column(String(200))
    content_type: Mapped[str] = mapped_column(String(100))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(300))
    uploaded_by: Mapped[str] = mapped_column(String(100))
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lon: Mapped[float | None] = mapped_column(nullable=True)
    lat: Mapped[float | None] = mapped_column(nullable=True)


class Notification(Base):
    """The outbox (通知): one row per party due to act on a step; ``key`` is unique, so a
    message is queued once, and ``sent_at`` marks it delivered, so it is sent once."""

    __tablename__ = "notification"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(200), unique=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incident.id"), index=True)
    recipient_kind: Mapped[str] = mapped_column(String(20))
    recipient: Mapped[str] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
