"""Attribute encodings of boundary files: honour ``.cpg``, else detect UTF-8 vs GB18030.

Shapefiles from Chinese GIS desktops are very often GBK with no ``.cpg``; GDAL then falls back to
ISO-8859-1 and every Chinese name becomes ``ºÍÆ½½ÖµÀ``. We read the raw ``.dbf`` bytes once: if
they decode as strict UTF-8 the file is UTF-8 (GBK text almost never is valid UTF-8), otherwise
GB18030 (a superset of GBK and GB2312). Names that still look like mojibake after decoding are
reported as errors by the validator, so no garbled name is ever stored.
"""

from __future__ import annotations

import codecs
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

#: ``.cpg`` spellings mapped to Python codec names.
_CPG_ALIASES = {
    "utf-8": "UTF-8", "utf8": "UTF-8", "65001": "UTF-8",
    "gbk": "GBK", "936": "GBK", "cp936": "GBK", "gb2312": "GBK",
    "gb18030": "GB18030", "54936": "GB18030",
    "iso-8859-1": "ISO-8859-1", "latin1": "ISO-8859-1", "1252": "CP1252",
}

#: Tell-tale sequences: UTF-8 read as GBK (锟斤拷 from U+FFFD), Latin-1 read of UTF-8/GBK.
MOJIBAKE = re.compile("锟斤拷|烫烫|屯屯|\ufffd|[\u00c0-\u00ff][\u0080-\u00ff]")


#: Bytes of a ``.dbf`` read to tell UTF-8 from GB18030: enough records for any real table,
#: and a bound on memory whatever the file's size.
DETECT_BYTES = 16 * 1024 * 1024


@dataclass(frozen=True)
class EncodingChoice:
    """The encoding used to read a file's attributes and how it was chosen."""

    encoding: str | None  # None: the format defines it (GeoPackage, GeoJSON are UTF-8)
    how: str  # "cpg", "detected", "override", "format"

    def describe(self) -> str:
        """One line for the report: 编码 GB18030 (detected)."""
        return f"{self.encoding or 'UTF-8'} ({self.how})"


def _shapefile_parts(path: Path) -> tuple[bytes | None, str | None]:
    """The first DETECT_BYTES of the ``.dbf`` and the ``.cpg`` text of a shapefile given as
    .shp, folder or .zip."""
    if path.suffix.lower() == ".zip":
        with zipfile.ZipFile(path) as zf:
            names = {n.lower(): n for n in zf.namelist()}
            dbf = next((n for k, n in names.items() if k.endswith(".dbf")), None)
            cpg = next((n for k, n in names.items() if k.endswith(".cpg")), None)
            return (_head(zf.open(dbf)) if dbf else None,
                    _head(zf.open(cpg)).decode("ascii", "replace") if cpg else None)
    if path.is_dir():
        dbfs = sorted(path.glob("*.dbf")) + sorted(path.glob("*.DBF"))
        if not dbfs:
            return None, None
        path = dbfs[0]
    if path.suffix.lower() not in (".shp", ".dbf"):
        return None, None
    dbf = next((p for p in (path.with_suffix(".dbf"), path.with_suffix(".DBF")) if p.exists()),
               None)
    cpg = next((p for p in (path.with_suffix(".cpg"), path.with_suffix(".CPG")) if p.exists()),
               None)
    return (_head(dbf.open("rb")) if dbf else None,
            _head(cpg.open("rb")).decode("ascii", "replace") if cpg else None)


def _head(handle: BinaryIO) -> bytes:
    """The first DETECT_BYTES of an open file, which is closed."""
    with handle:
        return handle.read(DETECT_BYTES)


def _dbf_records(data: bytes) -> bytes:
    """The record section of a dBASE file (the header holds field names, ASCII or not)."""
    if len(data) < 32:
        return b""
    header_len = int.from_bytes(data[8:10], "little")
    return data[header_len:]


def choose_encoding(path: Path, override: str | None = None) -> EncodingChoice:
    """The encoding to read ``path``'s attributes with: ``override``, else ``.cpg``, else
    detected from the ``.dbf`` bytes; for non-shapefiles the format's own (UTF-8)."""
    if override:
        return EncodingChoice(override.upper(), "override")
    dbf, cpg = _shapefile_parts(path)
    if dbf is None:
        return EncodingChoice(None, "format")
    if cpg and cpg.strip():
        name = cpg.strip()
        return EncodingChoice(_CPG_ALIASES.get(name.lower(), name.upper()), "cpg")
    records = _dbf_records(dbf)
    try:
        # not final: the read may end inside a character (DETECT_BYTES)
        codecs.getincrementaldecoder("utf-8")().decode(records, final=False)
    except UnicodeDecodeError:
        return EncodingChoice("GB18030", "detected")
    return EncodingChoice("UTF-8", "detected")


def looks_garbled(text: str) -> bool:
    """True when ``text`` looks like mojibake: replacement characters, Latin-1 runs where CJK
    was meant, or CJK text that is really UTF-8 bytes read as GBK (it round-trips back)."""
    if not text:
        return False
    if MOJIBAKE.search(text):
        return True
    if text.isascii():
        return False
    try:
        raw = text.encode("gb18030")
    except UnicodeEncodeError:
        return False
    # UTF-8 bytes decoded as GBK give CJK-looking text; re-encoding recovers valid UTF-8 with
    # fewer characters (but for a last character cut in half). Real GBK names almost never
    # decode as UTF-8: nearly every byte pair fails.
    again = raw.decode("utf-8", errors="replace")
    core = again.rstrip("\ufffd")
    return "\ufffd" not in core and len(again) - len(core) <= 1 and 0 < len(core) < len(text)
