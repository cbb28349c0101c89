"""Free-text addresses, folded to one spelling and split into the parts a dispatcher reads:
administrative prefix, road + 门牌, 小区, building (with its 甲/乙 prefix or 之 suffix), 单元,
room, and landmark noise.

Callers write the same building many ways: 3号楼 / 三号楼 / 3栋 / 3幢 / 3座 / 3# / ３号楼
(full-width) / 3-2-301 / 第三栋, with or without 北京市朝阳区和平街道…, with 单元/门/室 suffixes and
a complaint around it. Folding (Unicode NFKC for full-width forms, cn2an for Chinese numerals)
comes first, then one regular expression per shape.

The administrative part is read here with a short list of the gazetteer's own names plus one
pattern for any other 省/市/区/县/镇/乡/街道 at the head of the address. jionlp's
``parse_location`` and cpca were measured for this part and not adopted (README, "12345 地址"):
jionlp read 和平里西社区 as a county 和平 and cut the 小区 text, cpca put 朝阳区 without 北京
in 长春, and neither knows streets (街道) — the part that decides whether an address is ours.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

import cn2an

#: Chinese numerals followed by a marker that counts something (building, 单元, floor, room).
_CN_NUMBER = re.compile(r"([零〇一二两三四五六七八九十百]+)(?=号楼|号|栋|幢|座|单元|门|层|楼|室|#)")
#: 之一 / 之二 after a 门牌 or building number.
_CN_ZHI = re.compile(r"之([一二三四五六七八九十]+)")
#: 第三栋 → 3栋 (an ordinal says nothing more than the number).
_ORDINAL = re.compile(r"第(?=\d)")
#: A building with its marker and optional 甲/乙/丙/丁 prefix or 之N suffix; "号院" is a
#: courtyard and "号" before a 单元/室 is still the building.
_BUILDING = re.compile(r"([甲乙丙丁]?)(\d+)(?:号楼|栋楼|栋|幢|座|#楼|#|号(?!院))(之\d+)?")
#: The dashed form 3-2-301 (building-单元-room) or 3-2.
_DASHED = re.compile(r"([甲乙丙丁]?)(\d+)-(\d+)(?:-(\d+))?")
#: A bare "3楼" — in speech often the floor, so it is a weaker building marker.
_BARE_FLOOR = re.compile(r"([甲乙丙丁]?)(\d+)楼")
#: A number with no marker at all, right after the place or before a 单元: 安贞嘉园18.
_BARE_NUMBER = re.compile(r"([甲乙丙丁]?)(\d{1,3})(?=$|\d+单元|-)")
_ENTRANCE = re.compile(r"(\d+)(?:单元|门)")
_ROOM = re.compile(r"^(\d{2,5})(?:室|号房|户)?")
#: A 门牌 on a road: 安贞路6号, 安贞路甲6号, 小黄庄路3号之1, 和平街15号院.
_DOORPLATE = re.compile(r"(大街|路|街|胡同|巷)([甲乙丙丁]?)(\d+)号(之\d+)?(院)?(?!楼)")
#: Any administrative unit at the head of an address (not …小区 / …社区 / …园区).
_ADMIN = re.compile(r"^[\u4e00-\u9fff]{2,5}?(?:省|自治区|市|新区|区|县|镇|乡|街道)")
_NOT_ADMIN = ("小区", "社区", "园区", "校区", "街区")
#: What a call-taker writes before the address itself (地址：, 反映：, 市民来电).
_LEAD = re.compile(r"^(?:市民)?(?:来电|地址|住址|反映|投诉|诉求地址|事发地址|来电人称住在)+")
#: Bracketed call-centre tags (【12345】) carry digits that are not a building.
_TAG = re.compile(r"【[^】]*】|\[[^\]]*\]")
_NOISE = re.compile(r"[\s,，。.、:：;；()（）\"'“”]")
#: Words that say where a problem is around a building, never which building.
_LANDMARK = re.compile(r"(?:东|西|南|北)?(?:门口|门前|对面|旁边|附近|楼下|楼前|后面|前面|内)")


@dataclass(frozen=True)
class ParsedAddress:
    """An address split into its parts; ``place`` is what names the 小区 (or building alias)."""

    folded: str
    place: str
    building: int | None
    entrance: int | None
    room: str
    #: 1.0 for an explicit building marker (号楼, 栋, 幢, 座, 号, #, dashes); less for a bare
    #: 楼 or a bare number.
    marker_weight: float
    #: 甲/乙/丙/丁 before the number or 之N after it ("" for a plain number).
    variant: str = ""
    #: Administrative names found at the head (ours or not), in order.
    admin: tuple[str, ...] = ()
    #: An administrative name at the head that is not one of ours (海淀区, 望京街道 …).
    foreign: str = ""
    #: A road and its 门牌 (安贞路, 甲6号) or courtyard (和平街15号院).
    road: str = ""
    doorplate: str = ""
    courtyard: str = ""
    #: Text after the building, 单元 and room: where around the building, or the complaint.
    noise: str = ""

    @property
    def label(self) -> str:
        """The building as its name writes it: 甲3, 3之1, 3 (empty without a number)."""
        if self.building is None:
            return ""
        if self.variant.startswith("之"):
            return f"{self.building}{self.variant}"
        return f"{self.variant}{self.building}"


def _to_arabic(match: re.Match) -> str:
    text = match.group(1).replace("两", "二").replace("〇", "零")
    try:
        return str(cn2an.cn2an(text, "smart"))
    except ValueError:  # not a well-formed numeral (e.g. "十百"): leave it as written
        return match.group(1)


def fold(text: str) -> str:
    """NFKC (full-width → ASCII digits and #), no spaces or punctuation, Chinese numerals before
    a counting marker as Arabic digits, 之一 as 之1, dash variants as '-'. Spaces between two
    numbers become a dash (安贞嘉园3 2单元 → 3-2单元) so they do not run together."""
    text = unicodedata.normalize("NFKC", str(text))
    text = _TAG.sub("", text)
    text = re.sub(r"[‐-―−~～]", "-", text)
    text = re.sub(r"(?<=\d)\s+(?=\d)", "-", text)
    text = _NOISE.sub("", text)
    text = _CN_ZHI.sub(lambda m: "之" + _to_arabic(m), text)
    text = _CN_NUMBER.sub(_to_arabic, text)
    return _ORDINAL.sub("", text)


def strip_admin(text: str, names: tuple[str, ...] = ()) -> tuple[str, tuple[str, ...], str]:
    """Drop administrative names from the head: ours (``names``: city, district, street, in any
    order and short forms) and any other (recorded as ``foreign``). A street name followed by a
    number is a road (和平街15号院), not the street, and stays."""
    found: list[str] = []
    foreign = ""
    text = _LEAD.sub("", text)
    while text:
        name = next((n for n in names if n and text.startswith(n)
                     and not text[len(n):len(n) + 1].isdigit()), None)
        if name is None:
            head = _ADMIN.match(text)
            if head is None or head.group(0).endswith(_NOT_ADMIN) or \
                    text[head.end():head.end() + 1].isdigit():
                break
            name = head.group(0)
            foreign = foreign or name
        found.append(name)
        text = text[len(name):]
    return text, tuple(found), foreign


def strip_prefixes(text: str, names: tuple[str, ...] = ()) -> str:
    """The address without its administrative head (ours or not)."""
    return strip_admin(text, names)[0]


def _building(body: str) -> tuple[re.Match | None, float]:
    for pattern, weight in ((_BUILDING, 1.0), (_DASHED, 1.0), (_BARE_FLOOR, 0.95)):
        found = pattern.search(body)
        if found:
            return found, weight
    # A bare number only after some place text (安贞嘉园18), never a whole address of digits.
    found = _BARE_NUMBER.search(body)
    if found and found.start() > 0 and not body[:found.start()][-1:].isdigit():
        return found, 0.9
    return None, 1.0


def parse(text: str, prefixes: tuple[str, ...] = ()) -> ParsedAddress:
    """Split an address into administrative head, road + 门牌, place, building, 单元, room and
    noise."""
    folded = fold(text)
    body, admin, foreign = strip_admin(folded, prefixes)
    road = doorplate = courtyard = ""
    plate = _DOORPLATE.search(body)
    if plate:
        road_text = body[:plate.start()] + plate.group(1)
        number = f"{plate.group(2)}{plate.group(3)}号{plate.group(4) or ''}"
        road = road_text
        if plate.group(5):
            courtyard = f"{number}院"
        else:
            doorplate = number
        body = body[plate.end():]
    match, weight = _building(body)
    if match is None:
        place, noise = _place_and_noise(body)
        return ParsedAddress(folded, place, None, None, "", weight, admin=admin,
                             foreign=foreign, road=road, doorplate=doorplate,
                             courtyard=courtyard, noise=noise)
    variant = match.group(1)
    building = int(match.group(2))
    tail = body[match.end():]
    entrance: int | None = None
    room = ""
    if match.re is _DASHED:
        entrance = int(match.group(3))
        room = match.group(4) or ""
    else:
        if match.re is _BUILDING and match.group(3):
            variant = variant or match.group(3)
        found = _ENTRANCE.search(tail)
        if found and found.start() <= 1:
            entrance = int(found.group(1))
            tail = tail[found.end():]
        found = _ROOM.search(tail)
        if found:
            room, tail = found.group(1), tail[found.end():]
    place, noise = _place_and_noise(body[:match.start()])
    return ParsedAddress(folded, place, building, entrance, room, weight, variant, admin,
                         foreign, road, doorplate, courtyard, noise=(noise + tail))


def _place_and_noise(text: str) -> tuple[str, str]:
    # "小区" and a trailing "-" say nothing about which 小区; landmark words (门口, 对面 …)
    # say where around it, and are kept apart as noise.
    text = text.replace("小区", "").rstrip("-")
    noise = "".join(_LANDMARK.findall(text))
    return _LANDMARK.sub("", text), noise


def core_name(xiaoqu: str) -> str:
    """A 小区 name as people say it: 安贞嘉园小区 → 安贞嘉园."""
    return fold(xiaoqu).replace("小区", "")
