"""The resident register (居民登记): one row per registered resident.

Residents are keyed by building and resident-group *codes*, like Party organisations: a redrawn
boundary keeps its people. ID numbers and phones are held only as ciphertext, a masked form and
(for ID numbers) a keyed fingerprint; see ``grid.residents.pii``.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from grid.orm import Base, UTCDateTime, utcnow


class Resident(Base):
    """A registered resident of a building, in one resident group (居民小组)."""

    __tablename__ = "resident"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    #: AES-GCM ciphertext of the 18-character ID number, its masked form and its keyed HMAC.
    id_cipher: Mapped[str] = mapped_column(Text)
    id_masked: Mapped[str] = mapped_column(String(32))
    id_hmac: Mapped[str] = mapped_column(String(64), unique=True)
    phone_cipher: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_masked: Mapped[str | None] = mapped_column(String(20), nullable=True)
    address: Mapped[str] = mapped_column(String(300), default="")
    building_code: Mapped[str] = mapped_column(String(32), index=True)
    grid_code: Mapped[str] = mapped_column(String(32), index=True)
    group_code: Mapped[str | None] = mapped_column(String(32), nullable=True, index=True)
    #: 单元 (entrance/stairwell), floor and room as written (room may be "301" or "B2").
    entrance: Mapped[int | None] = mapped_column(Integer, nullable=True)
    floor: Mapped[int | None] = mapped_column(Integer, nullable=True)
    room: Mapped[str] = mapped_column(String(20), default="")
    party_member: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
