"""Photos and documents on reports and steps (附件): checked, stored behind one interface, and
the photo's EXIF GPS read when a report comes without coordinates.

``Storage`` is the interface (``put``/``get`` by key); ``DiskStorage`` keeps files under
``GRID_ATTACHMENTS_DIR`` named by their SHA-256, so the same photo sent twice is stored once. An
object store would implement the same two methods.
"""

from __future__ import annotations

import hashlib
import io
import os
import secrets
from pathlib import Path
from typing import Protocol

from sqlalchemy.orm import Session

from grid.errors import InvalidInput, NotFound
from grid.incidents.models import Attachment

#: Accepted types, recognised by their first bytes (a client's Content-Type is not trusted).
_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"%PDF-": "application/pdf",
}


class Storage(Protocol):
    """Where attachment bytes live."""

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...


class DiskStorage:
    """Files in a directory, two-level fan-out by hash prefix."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        return self.root / key[:2] / key

    def put(self, key: str, data: bytes) -> None:
        """Write atomically (temp file + rename), so a reader never sees half a file. The
        temporary name is the writer's own: two processes (or hosts sharing the directory)
        storing the same photo at once would otherwise truncate one file under each other."""
        path = self._path(key)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"{key}.{os.getpid()}-{secrets.token_hex(4)}.part")
        try:
            tmp.write_bytes(data)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)

    def get(self, key: str) -> bytes:
        """The stored bytes."""
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound(f"附件文件缺失 attachment file {key} missing") from None


def sniff(data: bytes) -> str:
    """The content type from the file's first bytes; anything else is refused."""
    for magic, kind in _MAGIC.items():
        if data.startswith(magic):
            return kind
    raise InvalidInput("附件类型不支持 attachment must be a JPEG, PNG or PDF file",
                       details={"accepted": sorted(set(_MAGIC.values()))})


def _degrees(value, ref: str) -> float:
    d, m, s = (float(x) for x in value)
    out = d + m / 60 + s / 3600
    return -out if ref in ("S", "W") else out


def exif_lonlat(data: bytes) -> tuple[float, float] | None:
    """(lon, lat) from a JPEG's EXIF GPS block (WGS 84, as phones write it), or None."""
    from PIL import Image  # Pillow is only needed for photos

    try:
        with Image.open(io.BytesIO(data)) as image:
            gps = image.getexif().get_ifd(0x8825)  # GPSInfo IFD
    except (OSError, ValueError):
        return None
    try:
        lat = _degrees(gps[2], gps.get(1, "N"))
        lon = _degrees(gps[4], gps.get(3, "E"))
    except (KeyError, TypeError, ValueError, ZeroDivisionError):
        return None
    return lon, lat


#: Control characters (NUL included, which PostgreSQL refuses in text) dropped from file names.
_CONTROL = dict.fromkeys([*range(0x20), 0x7F])


def _safe_name(filename: str | None) -> str:
    """The file name a client sent, without folders or control characters, at most 200
    characters (the column's length)."""
    name = Path((filename or "").translate(_CONTROL).replace("\\", "/")).name[:200]
    return name or "file"


def store(session: Session, storage: Storage, *, filename: str, data: bytes, uploaded_by: str,
          max_bytes: int) -> Attachment:
    """Check and keep one file; returns its row (not yet tied to an incident)."""
    if not data:
        raise InvalidInput("附件为空 the attachment is empty")
    if len(data) > max_bytes:
        raise InvalidInput(f"附件过大 attachment is {len(data)} bytes; the limit is {max_bytes}",
                           details={"size": len(data), "max_bytes": max_bytes})
    kind = sniff(data)
    digest = hashlib.sha256(data).hexdigest()
    storage.put(digest, data)
    lonlat = exif_lonlat(data) if kind == "image/jpeg" else None
    row = Attachment(filename=_safe_name(filename), content_type=kind,
                     size=len(data), sha256=digest, key=digest, uploaded_by=uploaded_by,
                     lon=lonlat and lonlat[0], lat=lonlat and lonlat[1])
    session.add(row)
    session.flush()
    return row


def photo_location(session: Session, ids: list[int], uploaded_by: str
                   ) -> tuple[float, float] | None:
    """The first GPS position among the attachments ``ids`` that ``uploaded_by`` uploaded and
    nobody has linked yet (someone else's photo neither places a report nor tells where it
    was taken)."""
    for attachment_id in ids:
        row = session.get(Attachment, attachment_id)
        if row is None or row.incident_id is not None or row.uploaded_by != uploaded_by:
            continue
        if row.lon is not None and row.lat is not None:
            return row.lon, row.lat
    return None
