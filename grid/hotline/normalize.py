"""Free-text addresses, folded to one spelling and split into place, building, 单元 and room.

Callers write the same building many ways: 3号楼 / 三号楼 / 3栋 / 3幢 / 3座 / ３号楼 (full-width)
/ 3-2-301, with or without 北京市朝阳区和平街道…, with 单元/室 suffixes. Folding (Unicode NFKC for
full-width forms, cn2an for Chinese numerals) comes first, then one regular expression per shape.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cn2an

#: Chinese numerals followed by a marker that counts something (building, 单元, floor, room).
_CN_NUMBER = re.compile(r"([零〇一二两三四五六七八九十百]+)(?=号楼|号|栋|幢|座|单元|门|层|楼|室)")
#: A building number with its marker; "号院" is a courtyard, not a building.
_BUILDING = re.compile(r"(\d+)(?:号楼|栋|幢|座|号(?!院))")
#: The dashed form 3-2-301 (building-单元-room) or 3-2.
_DASHED = re.compile(r"(\d+)-(\d+)(?:-(\d+))?")
#: A bare "3楼" — in speech often the floor, so it is the weakest building marker.
_BARE_FLOOR = re.compile(r"(\d+)楼")
_ENTRANCE = re.compile(r"(\d+)(?:单元|门)")
_ROOM = re.compile(r"(\d+)(?:室|号房|户)?$")
#: A city prefix ("北京", or "XX市" when a district follows — 城市花园 is a 小区) and a district
#: prefix ("XX区", never "…小区" or "…社区").
_CITY = re.compile(r"^(?:北京|[\u4e00-\u9fff]{2,3}市(?=[\u4e00-\u9fff]{1,3}(?<![小社])[区县]))")
_DISTRICT = re.compile(r"^[\u4e00-\u9fff]{1,3}(?<![小社])[区县]")
_NOISE = re.compile(r"[\s,，。.、:：;；()（）\[\]【】\"'“”]")


@dataclass(frozen=True)
class ParsedAddress:
    """An address split into its parts; ``place`` is what names the 小区 (or building alias)."""

    folded: str
    place: str
    building: int | None
    entrance: int | None
    room: str
    #: 1.0 for an explicit building marker (号楼, 栋, 幢, 座, 号, dashes); less for a bare 楼.
    marker_weight: float


def _to_arabic(match: re.Match) -> str:
    text = match.group(1).replace("两", "二").replace("〇", "零")
    try:
        return str(cn2an.cn2an(text, "smart"))
    except ValueError:  # not a well-formed numeral (e.g. "十百"): leave it as written
        return match.group(1)


def fold(text: str) -> str:
    """NFKC (full-width → ASCII digits), no spaces or punctuation, Chinese numerals before a
    counting marker as Arabic digits, dash variants as '-'."""
    text = unicodedata.normalize("NFKC", str(text))
    text = re.sub(r"[‐-―−~～]", "-", text)
    text = _NOISE.sub("", text)
    return _CN_NUMBER.sub(_to_arabic, text)


def strip_prefixes(text: str, names: tuple[str, ...] = ()) -> str:
    """Drop a leading city, district and any of ``names`` (street names, district names),
    repeatedly, so 北京市朝阳区和平街道安贞嘉园 → 安贞嘉园."""
    previous = None
    while previous != text:
        previous = text
        for name in names:
            if name and text.startswith(name):
                text = text[len(name):]
        text = _CITY.sub("", text, count=1)
        text = _DISTRICT.sub("", text, count=1)
    return text


def parse(text: str, prefixes: tuple[str, ...] = ()) -> ParsedAddress:
    """Split a folded address into place, building number, 单元 and room."""
    folded = fold(text)
    body = strip_prefixes(folded, prefixes)
    weight = 1.0
    match = _BUILDING.search(body) or _DASHED.search(body)
    if match is None:
        match = _BARE_FLOOR.search(body)
        weight = 0.9
    if match is None:
        return ParsedAddress(folded, _place(body), None, None, "", weight)
    building = int(match.group(1))
    tail = body[match.end():]
    entrance: int | None = None
    room = ""
    if match.re is _DASHED:
        entrance = int(match.group(2))
        room = match.group(3) or ""
    else:
        found = _ENTRANCE.search(tail)
        if found:
            entrance = int(found.group(1))
            tail = tail[found.end():]
        found = _ROOM.search(tail)
        room = found.group(1) if found else ""
    return ParsedAddress(folded, _place(body[:match.start()]), building, entrance, room, weight)


def _place(text: str) -> str:
    # "小区" and a trailing "-" say nothing about which 小区; everything else is kept.
    return text.replace("小区", "").rstrip("-")


def core_name(xiaoqu: str) -> str:
    """A 小区 name as people say it: 安贞嘉园小区 → 安贞嘉园."""
    return fold(xiaoqu).replace("小区", "")
