"""The hotline address gazetteer: folding and parsing, and precision/recall of automatic
placement on the labelled set ``tests/data/hotline_addresses.csv`` (≥ 200 addresses), built
from each store's loaded buildings. Run with ``-s`` to see the numbers."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from grid.hierarchy import store
from grid.hierarchy.levels import Level
from grid.hotline.gazetteer import BuildingEntry, Gazetteer, building_number
from grid.hotline.normalize import fold, parse

LABELLED = Path(__file__).parent / "data" / "hotline_addresses.csv"
#: Floors the matcher meets on the set today (measured: see the printed numbers).
MIN_PRECISION = 0.98
MIN_RECALL = 0.95


@pytest.mark.parametrize(("text", "building", "entrance", "room"), [
    ("安贞嘉园3号楼2单元301室", 3, 2, "301"),
    ("安贞嘉园三号楼二单元", 3, 2, ""),
    ("安贞嘉园３栋", 3, None, ""),
    ("安贞嘉园十二幢", 12, None, ""),
    ("安贞嘉园二十三座", 23, None, ""),
    ("安贞嘉园3-2-301", 3, 2, "301"),
    ("安贞嘉园3号", 3, None, ""),
    ("安贞嘉园3号院", None, None, ""),
    ("安贞嘉园两号楼", 2, None, ""),
])
def test_parse_variants(text, building, entrance, room):
    parsed = parse(text)
    assert (parsed.building, parsed.entrance, parsed.room) == (building, entrance, room)
    assert parsed.place.startswith("安贞嘉园")


def test_prefixes_are_stripped_but_not_xiaoqu():
    prefixes = ("和平街道", "和平街", "朝阳区", "北京市", "北京")
    assert parse("北京市朝阳区和平街道安贞嘉园小区3号楼", prefixes).place == "安贞嘉园"
    assert parse("上海市浦东新区芍药园1号楼").place == "芍药园"
    assert parse("城市花园小区3号楼").place == "城市花园"        # 城市 is no city prefix
    assert fold("１２３　号楼") == "123号楼"


def test_aliases_place_directly():
    entries = [BuildingEntry("1", "甲小区1号楼", "甲小区", 1, aliases=(fold("社区服务中心"),)),
               BuildingEntry("2", "甲小区2号楼", "甲小区", 2)]
    gazetteer = Gazetteer(entries)
    assert gazetteer.match("社区服务中心").placed == "1"
    assert gazetteer.match("甲小区2号楼").placed == "2"
    assert building_number("甲小区12号楼") == 12


def _labelled() -> list[dict[str, str]]:
    with LABELLED.open(encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_labelled_set_is_big_enough_and_valid(demo):
    rows = _labelled()
    assert len(rows) >= 200
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        codes = {u.code for u in store.units(session, version)}
    assert all(r["building_code"] in codes for r in rows if r["building_code"])
    assert sum(1 for r in rows if not r["building_code"]) >= 20   # negatives, not just positives


def test_precision_and_recall(demo):
    with demo.db.read() as session:
        gazetteer = Gazetteer.from_session(session, store.require_active_version(session).id)
    rows = _labelled()
    placed = correct = 0
    wrong, by_kind = [], Counter()
    for row in rows:
        match = gazetteer.match(row["address"])
        if match.placed:
            placed += 1
            if match.placed == row["building_code"]:
                correct += 1
                by_kind[row["kind"]] += 1
            else:
                wrong.append((row["address"], row["building_code"], match.placed))
        if row["building_code"]:
            # The right building should at least be offered to the person working the queue.
            assert match.placed or row["building_code"] in [c.code for c in match.candidates] \
                or row["kind"] in ("typo", "hard"), row["address"]
    positives = sum(1 for r in rows if r["building_code"])
    precision = correct / placed
    recall = correct / positives
    print(f"\n[{demo.settings.database_url.split(':')[0]}] hotline addresses: {len(rows)} "
          f"({positives} with a building, {len(rows) - positives} without); auto-placed "
          f"{placed}, correct {correct}; precision {precision:.3f}, recall {recall:.3f}; "
          f"queued {len(rows) - placed}")
    totals = Counter(r["kind"] for r in rows if r["building_code"])
    print("  recall by kind: " + ", ".join(
        f"{kind} {by_kind[kind]}/{totals[kind]}" for kind in sorted(totals)))
    hard = [r for r in rows if r["kind"] in ("hard", "nonexistent")]
    hard_placed = [(r, gazetteer.match(r["address"]).placed) for r in hard]
    hard_placed = [(r, p) for r, p in hard_placed if p]
    hard_correct = sum(1 for r, p in hard_placed if p == r["building_code"])
    print(f"  hand-written hard + nonexistent only: {len(hard)} addresses "
          f"({sum(1 for r in hard if r['building_code'])} with a building), auto-placed "
          f"{len(hard_placed)}, correct {hard_correct}")
    for line in wrong:
        print("  WRONG (address, label, placed)", line)
    assert precision >= MIN_PRECISION
    assert recall >= MIN_RECALL


def test_community_and_number_only_offers_candidates(demo):
    with demo.db.read() as session:
        version = store.require_active_version(session).id
        gazetteer = Gazetteer.from_session(session, version)
        community = store.units(session, version, Level.community)[0]
    match = gazetteer.match(f"{community.name}3号楼")
    assert match.placed is None and len(match.candidates) >= 2
    assert all(c.code.startswith(community.code) and c.name.endswith("3号楼")
               for c in match.candidates)


def test_missing_number_does_not_fall_through_to_a_near_twin(demo):
    with demo.db.read() as session:
        gazetteer = Gazetteer.from_session(session, store.require_active_version(session).id)
    # 小黄庄花园 has 13 buildings; 小黄庄嘉园 (one character away) has 18.
    assert gazetteer.match("小黄庄嘉园18号楼").placed
    assert gazetteer.match("小黄庄花园18号楼").placed is None
