"""The gazetteer (地名库): every building of the active boundary version under the names people
use for it, and a matcher from free-text hotline addresses to scored candidate buildings.

A building is found by its 小区 (attribute ``xiaoqu``) and its number (from the name: 3号楼), or
by an alias (attribute ``aliases``: a list or a 、-separated string, e.g. 综合楼). The 小区 name is
compared by Levenshtein similarity (rapidfuzz) over windows of the address, so one wrong
character in a four-character name still scores 0.75 while the exact name scores 1.0. A match is
placed automatically only when its score clears ``threshold`` *and* beats the next building by
``margin`` — near-twins such as 和平园 / 和平苑 / 和平嘉园 otherwise go to a person.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from rapidfuzz.distance import Levenshtein
from sqlalchemy.orm import Session

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline.normalize import ParsedAddress, core_name, fold, parse

_NUMBER = re.compile(r"(\d+)(?:号楼|栋|幢|座|号)$")
#: Auto-place at or above this score …
THRESHOLD = 0.72
#: … when the runner-up building scores at least this much less.
MARGIN = 0.1
#: Only 小区 at least this similar are considered at all.
FLOOR = 0.5
#: A community named in the address that is not the building's own costs this factor.
WRONG_COMMUNITY = 0.8


@dataclass(frozen=True)
class BuildingEntry:
    """One building as the gazetteer knows it."""

    code: str
    name: str
    xiaoqu: str
    number: int | None
    community: str = ""
    aliases: tuple[str, ...] = ()


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

    @property
    def score(self) -> float:
        """The best candidate's score (0 when there is none)."""
        return self.candidates[0].score if self.candidates else 0.0


def building_number(name: str) -> int | None:
    """The number of a building from its name: 安贞嘉园小区3号楼 → 3."""
    found = _NUMBER.search(fold(name))
    return int(found.group(1)) if found else None


def _aliases(value) -> tuple[str, ...]:
    if not value:
        return ()
    items = value if isinstance(value, list) else re.split(r"[、,，;；]", str(value))
    return tuple(fold(item) for item in items if str(item).strip())


def _similarity(core: str, text: str) -> float:
    """Best Levenshtein similarity of ``core`` to any window of ``text`` of about its length."""
    if not text:
        return 0.0
    if core in text:
        return 1.0
    n = len(core)
    best = Levenshtein.normalized_similarity(core, text)
    for width in (n - 1, n, n + 1):
        for start in range(0, max(len(text) - width, 0) + 1):
            window = text[start:start + width]
            if window:
                best = max(best, Levenshtein.normalized_similarity(core, window))
    return best


class Gazetteer:
    """Buildings by 小区 and number, by alias, and the prefixes addresses may carry."""

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
        self.by_alias: dict[str, BuildingEntry] = {}
        self.by_community: dict[str, list[BuildingEntry]] = defaultdict(list)
        for entry in entries:
            if entry.xiaoqu:
                self.by_xiaoqu[core_name(entry.xiaoqu)].append(entry)
            for alias in entry.aliases:
                self.by_alias[alias] = entry
            if entry.community:
                self.by_community[fold(entry.community)].append(entry)
        # Character index of 小区 names: a name sharing fewer than half its characters with the
        # address cannot reach the similarity floor, so it is never compared (city scale).
        self.by_char: dict[str, set[str]] = defaultdict(set)
        for core in self.by_xiaoqu:
            for char in set(core):
                self.by_char[char].add(core)

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
            prefixes.add(str((attrs or {}).get("district") or ""))
        entries = []
        for code, name, parent, attrs in rows(Level.building):
            attrs = attrs or {}
            community = communities.get(grids.get(parent or "", ""), "")
            entries.append(BuildingEntry(
                code=code, name=name, xiaoqu=str(attrs.get("xiaoqu") or ""),
                number=building_number(name), community=community,
                aliases=_aliases(attrs.get("aliases")),
            ))
        return cls(entries, tuple(prefixes), tuple(communities.values()), **kwargs)

    def _community_hint(self, place: str) -> tuple[str, str]:
        """The community named in ``place`` and the place without it. Only the full name
        (…社区) counts: a bare 青年沟 may be the start of the 小区 青年沟园."""
        for name in self.communities:
            if name in place:
                return name, place.replace(name, "", 1)
        return "", place

    def match(self, address: str, limit: int = 5) -> Match:
        """Scored candidates for ``address``, best first; ``placed`` is set when the best one
        clears the threshold and the margin."""
        parsed = parse(address, self.prefixes)
        result = Match(address, parsed)
        alias = self.by_alias.get(parsed.folded) or self.by_alias.get(
            parsed.place + (f"{parsed.building}号楼" if parsed.building else ""))
        rivals: dict[str, float] = {}
        if alias is not None:
            result.candidates = [Candidate(alias.code, alias.name, 1.0, "别名 alias")]
        else:
            found, rivals = self._by_xiaoqu(parsed)
            result.candidates = found[:limit]
        ranked = result.candidates
        runner_up = ranked[1].score if len(ranked) > 1 else 0.0
        if ranked:
            # Another 小区 as close to the address as the winner's — even one lacking this
            # building number — makes the address ambiguous: 小黄庄花园18号楼 must not land on
            # 小黄庄嘉园18号楼 just because 小黄庄花园 has no building 18.
            runner_up = max([runner_up] + [v for k, v in rivals.items()
                                           if k != ranked[0].xiaoqu])
        if ranked and ranked[0].score >= self.threshold and \
                ranked[0].score - runner_up >= self.margin:
            result.placed = ranked[0].code
        return result

    def _similar_xiaoqu(self, place: str) -> dict[str, float]:
        """Every 小区 at least ``FLOOR`` similar to ``place``, with its similarity."""
        shared: Counter[str] = Counter()
        for char in set(place):
            shared.update(self.by_char.get(char, ()))
        similarities = {}
        for core, hits in shared.items():
            if hits * 2 >= len(core):
                similarity = _similarity(core, place)
                if similarity >= FLOOR:
                    similarities[core] = similarity
        return similarities

    def _by_xiaoqu(self, parsed: ParsedAddress) -> tuple[list[Candidate], dict[str, float]]:
        """Candidate buildings best first, and the similarity of every 小区 considered."""
        community, place = self._community_hint(parsed.place)
        found: dict[str, Candidate] = {}
        similarities = self._similar_xiaoqu(place)
        for core, similarity in similarities.items():
            for entry in self.by_xiaoqu[core]:
                if parsed.building is None:
                    # No number: any building of the 小区 may be meant; never auto-placed.
                    score, why = similarity * 0.5, "小区匹配，缺楼号 小区 only, no building number"
                elif entry.number == parsed.building:
                    score = similarity * parsed.marker_weight
                    why = f"小区 {similarity:.2f} × 楼号 building {parsed.building}"
                else:
                    continue
                if community and entry.community and fold(entry.community) != community:
                    score *= WRONG_COMMUNITY
                    why += "；社区不符 community differs"
                if entry.code not in found or found[entry.code].score < score:
                    found[entry.code] = Candidate(entry.code, entry.name, round(score, 4), why,
                                                  core)
        if not found and community and parsed.building is not None and not place:
            # Only a community and a number (和平里西社区3号楼): offer its buildings of that
            # number to the person working the queue; never placed automatically.
            for entry in self.by_community.get(community, []):
                if entry.number == parsed.building:
                    found[entry.code] = Candidate(entry.code, entry.name, 0.3,
                                                  "仅社区与楼号 community and number only")
        return sorted(found.values(), key=lambda c: (-c.score, c.code)), similarities
