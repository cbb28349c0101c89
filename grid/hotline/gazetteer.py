"""The gazetteer (地名库): every building of the active boundary version under the names people
use for it, and a matcher from free-text hotline addresses to scored candidate buildings.

A building is found by its 小区 (attribute ``xiaoqu``) and its label (from the name: 3号楼,
甲3号楼), by a road 门牌 or courtyard (attributes ``road``, ``doorplate``, ``courtyard``), by an
alias (attribute ``aliases``), or by an alias learned from the manual queue.

The matcher reads an address the way an experienced dispatcher does, and is never confidently
wrong on purpose:

- every part the address states must agree with the building: the 小区, the building with its
  甲/乙 prefix or 之 suffix, the 单元 (when the gazetteer knows how many), the road and 门牌;
  a part that contradicts a building rules it out (an administrative name that is not ours
  rules out every building);
- the 小区 name is compared by sound and shape (``similar``): a homophone or look-alike slip
  costs a penalty, a different generic ending (北里 for 南里, 花园 for 园) rules the name out;
- a name shortened to a root that several 小区 share (安贞 → 安贞嘉园 / 安贞花园 / 安贞苑) and
  two 小区 within ``margin`` of each other both go to a person, with both shown;
- a 社区 named with the 小区 settles a tie between 小区 of different communities, and costs
  little when the caller named the wrong one.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline import similar
from grid.hotline.normalize import ParsedAddress, core_name, fold, parse

_LABEL = re.compile(r"([甲乙丙丁]?)(\d+)(之\d+)?(?:号楼|栋|幢|座|号)$")
#: Auto-place at or above this score …
THRESHOLD = 0.8
#: … when no other 小区 or building scores within this much of it, in cost units of the
#: winner's name (divided by its length): a rival one same-sound slip away (和平家园 written,
#: 和平嘉园 a slip away) does not stop a name written exactly; two readings that differ by less
#: (和平院: 和平苑 by sound, 和平园 by syllable) go to a person.
MARGIN = 0.25
#: 小区 at least this similar to the address are rivals of the winner.
FLOOR = 0.6
#: A name shortened to its root (西坝河 for 西坝河苑) that only one 小区 has.
ABBREVIATED = 0.9
#: 小区 outside the 社区 the address names, when another candidate lies inside it.
OTHER_COMMUNITY = 0.8
#: Every candidate, when the 社区 the address names holds none of them (a caller's slip).
WRONG_COMMUNITY = 0.97
#: Score of a building whose 单元 count contradicts the address (shown, never placed).
CONTRADICTED = 0.5
#: Names this close by plain edit distance, though ruled out (another ending: 和平北里 for
#: 和平南里), are offered to the person working the queue at this fraction of it.
HINT_FLOOR, HINT = 0.66, 0.4


@dataclass(frozen=True)
class BuildingEntry:
    """One building as the gazetteer knows it."""

    code: str
    name: str
    xiaoqu: str
    number: int | None
    community: str = ""
    aliases: tuple[str, ...] = ()
    label: str = ""
    units: int | None = None
    road: str = ""
    doorplate: str = ""
    courtyard: str = ""


@dataclass(frozen=True)
class Candidate:
    """A building an address may mean, with a score in 0–1 and why."""

    code: str
    name: str
    score: float
    reason: str
    xiaoqu: str = ""


@dataclass
class Match:
    """The answer for one address: candidates best first, and the building when auto-placed."""

    address: str
    parsed: ParsedAddress
    candidates: list[Candidate] = field(default_factory=list)
    placed: str | None = None
    #: Why nothing was placed, when nothing was (empty when placed).
    why: str = ""

    @property
    def score(self) -> float:
        """The best candidate's score (0 when there is none)."""
        return self.candidates[0].score if self.candidates else 0.0


def building_label(name: str) -> tuple[int | None, str]:
    """The number and label of a building from its name: 安贞嘉园小区甲3号楼 → (3, 甲3)."""
    found = _LABEL.search(fold(name))
    if not found:
        return None, ""
    return int(found.group(2)), f"{found.group(1)}{found.group(2)}{found.group(3) or ''}"


def building_number(name: str) -> int | None:
    """The number of a building from its name: 安贞嘉园小区3号楼 → 3."""
    return building_label(name)[0]


def _aliases(value) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else re.split(r"[、,，;；]", str(value))
    return tuple(fold(item) for item in items if str(item).strip())


def _int(value) -> int | None:
    try:
        return int(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def alias_key(parsed: ParsedAddress) -> str:
    """What a learned alias remembers of an address: the place and building, or the road and
    门牌 — not the 单元, room or complaint, so the next call about the same building matches."""
    if parsed.road:
        return f"{parsed.road}{parsed.doorplate or parsed.courtyard}|{parsed.place}|{parsed.label}"
    return f"{parsed.place}|{parsed.label}"


class Gazetteer:
    """Buildings by 小区 and label, by road and 门牌, by alias, and the prefixes addresses may
    carry."""

    def __init__(self, entries: list[BuildingEntry], prefixes: tuple[str, ...] = (),
                 communities: tuple[str, ...] = (), threshold: float = THRESHOLD,
                 margin: float = MARGIN) -> None:
        self.entries = entries
        self.threshold = threshold
        self.margin = margin
        # Longest first, so 和平街道 is stripped before 和平街 could leave a stray 道.
        self.prefixes = tuple(sorted({fold(p) for p in prefixes if p}, key=len, reverse=True))
        self.communities = tuple(sorted({fold(c) for c in communities if c}, key=len,
                                        reverse=True))
        self.by_xiaoqu: dict[str, list[BuildingEntry]] = defaultdict(list)
        self.by_label: dict[tuple[str, str], BuildingEntry] = {}
        self.by_alias: dict[str, BuildingEntry] = {}
        self.by_community: dict[str, list[BuildingEntry]] = defaultdict(list)
        self.by_doorplate: dict[str, dict[str, BuildingEntry]] = defaultdict(dict)
        self.by_courtyard: dict[str, list[BuildingEntry]] = defaultdict(list)
        self.community_of: dict[str, str] = {}
        self.by_code = {entry.code: entry for entry in entries}
        for entry in entries:
            self._index(entry)
        #: Every road the gazetteer knows (by 门牌 or courtyard), longest first.
        courtyard_roads = {re.sub(r"[甲乙丙丁]?\d+号院$", "", c) for c in self.by_courtyard}
        self.roads = sorted(set(self.by_doorplate) | courtyard_roads, key=len, reverse=True)
        # Shortened names: the root (西坝河) and, for …东里/西里/南里/北里, root + direction
        # (曙光北).
        self.by_short: dict[str, set[str]] = defaultdict(set)
        for core in self.by_xiaoqu:
            root, suffix = similar.split_name(core)
            if len(root) >= 2 and suffix:
                self.by_short[root].add(core)
                if len(suffix) == 2 and suffix.endswith("里"):
                    self.by_short[root + suffix[0]].add(core)
        # Character index of 小区 names (and their sounds): a name sharing no character or
        # syllable with the address cannot be similar, so it is never compared (city scale).
        self.by_char: dict[str, set[str]] = defaultdict(set)
        for core in self.by_xiaoqu:
            for char in core:
                self.by_char[similar.key(char)].add(core)
        #: Aliases learned from the manual queue: alias key → building code, and by sound.
        self.learned: dict[str, str] = {}
        self.learned_by_sound: dict[str, str] = {}

    def _index(self, entry: BuildingEntry) -> None:
        if entry.xiaoqu:
            core = core_name(entry.xiaoqu)
            self.by_xiaoqu[core].append(entry)
            label = entry.label or ("" if entry.number is None else str(entry.number))
            if label:
                self.by_label[(core, label)] = entry
            if entry.community:
                self.community_of[core] = fold(entry.community)
        for alias in entry.aliases:
            self.by_alias[alias] = entry
        if entry.community:
            self.by_community[fold(entry.community)].append(entry)
        if entry.road and entry.doorplate:
            self.by_doorplate[fold(entry.road)][fold(entry.doorplate)] = entry
        if entry.courtyard:
            self.by_courtyard[fold(entry.courtyard)].append(entry)

    @classmethod
    def from_session(cls, session: Session, version_id: int, **kwargs) -> Gazetteer:
        """The gazetteer of one boundary version's buildings."""
        def rows(level: Level):  # plain rows, not Unit objects: a city has a million
            return store.unit_rows(session, version_id, level, "code", "name", "parent_code",
                                   "attrs")

        communities = {code: name for code, name, _, _ in rows(Level.community)}
        grids = {code: parent for code, _, parent, _ in rows(Level.grid)}
        prefixes: set[str] = {"北京市", "北京"}
        for _, name, _, attrs in rows(Level.street):
            prefixes.add(name)
            prefixes.add(name.removesuffix("道"))  # 和平街道 is also said 和平街
            district = str((attrs or {}).get("district") or "")
            prefixes.update({district, district.removesuffix("区")} if district else set())
        entries = []
        for code, name, parent, attrs in rows(Level.building):
            attrs = attrs or {}
            number, label = building_label(name)
            entries.append(BuildingEntry(
                code=code, name=name, xiaoqu=str(attrs.get("xiaoqu") or ""), number=number,
                community=communities.get(grids.get(parent or "", ""), ""),
                aliases=_aliases(attrs.get("aliases")), label=label,
                units=_int(attrs.get("units")), road=str(attrs.get("road") or ""),
                doorplate=str(attrs.get("doorplate") or ""),
                courtyard=str(attrs.get("courtyard") or ""),
            ))
        return cls(entries, tuple(p for p in prefixes if len(p) >= 2),
                   tuple(communities.values()), **kwargs)

    def learn(self, aliases: dict[str, str]) -> None:
        """Replace the learned aliases (alias key → building code)."""
        self.learned = dict(aliases)
        self.learned_by_sound = {similar.key(k): v for k, v in aliases.items()}

    def entry(self, code: str) -> BuildingEntry | None:
        """The building with ``code``, if the gazetteer has it."""
        return self.by_code.get(code)

    def _community_hint(self, place: str) -> tuple[str, str]:
        """The community named in ``place`` and the place without it. Only the full name
        (…社区) counts: a bare 青年沟 may be the start of the 小区 青年沟园."""
        for name in self.communities:
            if name in place:
                return name, place.replace(name, "", 1)
        return "", place

    def match(self, address: str, limit: int = 5) -> Match:
        """Scored candidates for ``address``, best first; ``placed`` is set when the best one
        agrees with every stated part, clears the threshold and no rival is within the
        margin."""
        parsed = parse(address, self.prefixes)
        result = Match(address, parsed)
        if parsed.foreign:  # contradicts every building, an alias's too
            result.why = f"不在本辖区 outside the area: {parsed.foreign}"
            return result
        known = self._alias(parsed)
        if known is not None:
            result.candidates = [known]
            result.placed = known.code
            return result
        if parsed.road:
            found, rival, why = self._by_road(parsed)
        else:
            found, rival, why = self._by_xiaoqu(parsed)
        result.candidates = found[:limit]
        best = found[0] if found else None
        runner_up = max([rival] + [c.score for c in found[1:]])
        margin = self.margin / max(len(core_name(best.xiaoqu)), 1) if best else 0.0
        if best is None:
            result.why = why or "无候选 no candidate"
        elif best.score < self.threshold:
            result.why = why or f"把握不足 score {best.score:.2f} < {self.threshold}"
        elif best.score - runner_up < margin:
            result.why = f"两个候选过近 two candidates within {margin:.2f}"
        else:
            result.placed = best.code
        return result

    def _alias(self, parsed: ParsedAddress) -> Candidate | None:
        static = self.by_alias.get(parsed.folded) or self.by_alias.get(
            parsed.place + (f"{parsed.label}号楼" if parsed.label else ""))
        if static is not None:
            return Candidate(static.code, static.name, 1.0, "别名 alias", static.xiaoqu)
        key = alias_key(parsed)
        code = self.learned.get(key)
        reason = "已学别名 learned alias"
        if code is None:
            code = self.learned_by_sound.get(similar.key(key))
            reason = "已学别名（同音）learned alias, same sound"
        entry = self.entry(code) if code else None
        if entry is None:
            return None
        return Candidate(entry.code, entry.name, 1.0, reason, entry.xiaoqu)

    def _by_road(self, parsed: ParsedAddress) -> tuple[list[Candidate], float, str]:
        """A road address: the building at the 门牌, or the courtyard's building."""
        road = next((r for r in self.roads if parsed.road.endswith(r)), None)
        if road is None:
            return [], 0.0, f"未知道路 road not in the gazetteer: {parsed.road}"
        if parsed.courtyard:
            entries = self.by_courtyard.get(road + parsed.courtyard, [])
            if not entries:
                return [], 0.0, f"未知门牌 no {road}{parsed.courtyard}"
            cores = {core_name(e.xiaoqu) for e in entries}
            if parsed.building is None:
                return [], 0.0, "院内未说明楼号 courtyard without a building"
            found = [self.by_label.get((core, parsed.label)) for core in cores]
            found = [self._checked(e, 1.0, f"{road}{parsed.courtyard} {parsed.label}号楼", parsed)
                     for e in found if e is not None]
            return sorted(found, key=lambda c: (-c.score, c.code)), 0.0, \
                "" if found else f"院内无此楼 no building {parsed.label} in the courtyard"
        entry = self.by_doorplate[road].get(parsed.doorplate) if road in self.by_doorplate \
            else None
        if entry is None:
            return [], 0.0, f"未知门牌 no {road}{parsed.doorplate}"
        candidate = self._checked(entry, 1.0, f"门牌 {road}{parsed.doorplate}", parsed)
        core = core_name(entry.xiaoqu)
        if parsed.place and similar.similarity(core, parsed.place)[0] < self.threshold:
            return [], 0.0, f"门牌与小区不符 {road}{parsed.doorplate} is not in {parsed.place}"
        if parsed.building is not None and parsed.label != entry.label:
            return [], 0.0, f"门牌与楼号不符 {road}{parsed.doorplate} is not {parsed.label}"
        return [candidate], 0.0, ""

    def _checked(self, entry: BuildingEntry, score: float, why: str, parsed: ParsedAddress
                 ) -> Candidate:
        """A candidate, demoted when the address's 单元 is one the building does not have."""
        if parsed.entrance and entry.units and parsed.entrance > entry.units:
            return Candidate(entry.code, entry.name, round(score * CONTRADICTED, 4),
                             f"{why}；单元不符 the building has {entry.units} 单元",
                             entry.xiaoqu)
        return Candidate(entry.code, entry.name, round(score, 4), why, entry.xiaoqu)

    def _considered(self, place: str) -> list[str]:
        """小区 names sharing at least half their syllables with ``place``: no other can reach
        the similarity floor, so no other is compared (a city has tens of thousands)."""
        shared: Counter[str] = Counter()
        for syllable in {similar.key(char) for char in place}:
            shared.update(self.by_char.get(syllable, ()))
        return [core for core, hits in shared.items()
                if hits * 2 >= len({similar.key(char) for char in core})]

    def similar_xiaoqu(self, place: str) -> dict[str, tuple[float, str]]:
        """Every 小区 at least ``FLOOR`` similar to ``place``: similarity and how it matched."""
        found: dict[str, tuple[float, str]] = {}
        for core in self._considered(place):
            value, slips = similar.similarity(core, place)
            if value >= FLOOR:
                found[core] = (value, "名称" if not slips else f"名称有{slips}处笔误 {slips} slip")
        # A name shortened to a root: only where the place ends (西坝河12号楼), so 樱花北里 is
        # never read as 樱花 + noise.
        for short, cores in self.by_short.items():
            if place.endswith(short):
                for core in cores:
                    if found.get(core, (0.0, ""))[0] < ABBREVIATED:
                        found[core] = (ABBREVIATED, f"简称 {short}")
        return found

    def _by_xiaoqu(self, parsed: ParsedAddress) -> tuple[list[Candidate], float, str]:
        """Candidate buildings best first, the best score of a rival 小区 (one that may be
        meant even if it lacks this building), and why nothing fits."""
        community, place = self._community_hint(parsed.place)
        similarities = self.similar_xiaoqu(place)
        factors = self._community_factors(community, similarities)
        found: dict[str, Candidate] = {}
        for core, (value, how) in similarities.items():
            score = value * factors[core]
            if parsed.building is None:
                continue
            entry = self.by_label.get((core, parsed.label))
            if entry is None:
                continue
            why = f"{core} {how} {value:.2f} × 楼号 {parsed.label}"
            if factors[core] < 1:
                why += "；社区不符 community differs"
            found[entry.code] = self._checked(entry, score * parsed.marker_weight, why, parsed)
        ranked = sorted(found.values(), key=lambda c: (-c.score, c.code))
        winner = core_name(ranked[0].xiaoqu) if ranked else ""
        rival = max([v * factors[c] for c, (v, _) in similarities.items() if c != winner],
                    default=0.0)
        if parsed.building is None:
            return self._no_number(community, place, similarities), 0.0, \
                "未说明楼号 no building number"
        hints = self._hints(place, parsed, similarities)
        if not ranked:
            why = "无此楼 no such building in " + "、".join(sorted(similarities)) \
                if similarities else "未知小区 小区 not in the gazetteer"
            return self._community_only(community, place, parsed) + hints, 0.0, why
        return ranked + hints, rival, ""

    def _hints(self, place: str, parsed: ParsedAddress, similarities: dict) -> list[Candidate]:
        """Buildings of 小区 whose names differ in their ending (和平院 → 和平园, 和平苑), for
        the person: scored below any placement and never a rival."""
        out = []
        for core in sorted(set(self._considered(place)) - set(similarities)):
            n = len(core)
            value = max((Levenshtein.normalized_similarity(core, place[i:i + w])
                         for w in (n - 1, n, n + 1) for i in range(max(len(place) - w, 0) + 1)),
                        default=0.0)
            entry = self.by_label.get((core, parsed.label))
            if value >= HINT_FLOOR and entry is not None:
                out.append(Candidate(entry.code, entry.name, round(HINT * value, 4),
                                     f"名称相近但不同 {core} looks alike, another name",
                                     entry.xiaoqu))
        return sorted(out, key=lambda c: (-c.score, c.code))

    def _community_factors(self, community: str, similarities: dict) -> dict[str, float]:
        """Community named with the 小区: demote 小区 elsewhere when one lies inside it; a
        small penalty for all when none does (the caller named the wrong 社区)."""
        if not community:
            return dict.fromkeys(similarities, 1.0)
        inside = {c for c in similarities if self.community_of.get(c) == community}
        if not inside:
            return dict.fromkeys(similarities, WRONG_COMMUNITY)
        return {c: 1.0 if c in inside else OTHER_COMMUNITY for c in similarities}

    def _no_number(self, community: str, place: str, similarities: dict) -> list[Candidate]:
        """No building number: a few buildings of the likeliest 小区, for the person."""
        out = []
        for core, (value, _) in sorted(similarities.items(), key=lambda kv: -kv[1][0])[:2]:
            for entry in self.by_xiaoqu[core][:3]:
                out.append(Candidate(entry.code, entry.name, round(value * 0.5, 4),
                                     "小区匹配，缺楼号 小区 only, no building number",
                                     entry.xiaoqu))
        return out

    def _community_only(self, community: str, place: str, parsed: ParsedAddress
                        ) -> list[Candidate]:
        """Only a community and a number (和平里西社区3号楼): its buildings of that number, for
        the person working the queue; never placed automatically."""
        if not community or place or parsed.building is None:
            return []
        return [Candidate(e.code, e.name, 0.3, "仅社区与楼号 community and number only",
                          e.xiaoqu)
                for e in self.by_community.get(community, []) if e.label == parsed.label]
