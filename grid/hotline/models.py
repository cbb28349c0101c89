"""Hotline (12345 接诉即办) addresses placed on buildings, and the manual queue for the rest."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Float, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grid.orm import Base, UTCDateTime, utcnow


class AddressStatus:
    """Where an address stands: placed automatically, waiting for a person, resolved by one,
    or rejected as not in our area."""

    placed = "placed"
    queued = "queued"
    resolved = "resolved"
    rejected = "rejected"


class HotlineAddress(Base):
    """One free-text address from the hotline, with the building it was matched to."""

    __tablename__ = "hotline_address"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    address: Mapped[str] = mapped_column(Text)
    #: The caller's reference, e.g. the 12345 work-order number (工单号).
    ref: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(12), index=True)
    building_code: Mapped[str | None] = mapped_column(String(32), nullable=True)
    score: Mapped[float] = mapped_column(Float, default=0.0)
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    #: Why it was not placed (the matcher's reason), for the person working the queue.
    why: Mapped[str] = mapped_column(String(300), default="", server_default="")
    boundary_version: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    resolved_by: Mapped[str | None] = mapped_column(String(100), nullable=True)


class HotlineAlias(Base):
    """A way of writing a building learned from the manual queue (地址别名): the key of an
    address a person resolved (place + building, or road + 门牌), and the building it means.
    Kept for audit when revoked: who added it, from which queued address, who revoked it."""

    __tablename__ = "hotline_alias"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    key: Mapped[str] = mapped_column(String(300), index=True)
    building_code: Mapped[str] = mapped_column(String(32), index=True)
    #: The address it was learned from (as written), and that address's queue id if any.
    example: Mapped[str] = mapped_column(Text, default="")
    source_address_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_by: Mapped[str] = mapped_column(String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_by: Mapped[str | None] = mapped_column(String(100), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
