"""Build the labelled hotline address set ``tests/data/hotline_addresses.csv``.

Generated part: buildings of the sample street (``data/boundaries``) written the ways 12345
call-takers write them — full address with city/district/street/community, Chinese numerals,
栋/幢/座/号, full-width digits, dashed 3-2-301, spaces and punctuation, no 小区, one homophone
typo. Hand-written part: hard, ambiguous and nonexistent addresses. Every row is labelled with
the building code it means, or empty when no single building should be chosen (nonexistent,
outside the street, or genuinely ambiguous).

    .venv/bin/python tests/data/make_hotline_addresses.py      # rewrites the CSV (seed 12345)
"""

from __future__ import annotations

import argparse
import csv
import json
import random
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BOUNDARIES = ROOT / "data" / "boundaries"
OUT = Path(__file__).with_name("hotline_addresses.csv")
CN = "零一二三四五六七八九"
#: Homophone or look-alike slips a call-taker makes (贞/珍, 慧/惠 …).
SLIPS = {"贞": "珍", "慧": "惠", "旺": "望", "熙": "希", "曙": "署", "坝": "霸", "庄": "装",
         "药": "要", "华": "化", "胜": "圣", "樱": "婴", "裕": "玉", "阳": "杨", "沟": "勾",
         "土": "士", "黄": "皇", "民": "明", "育": "玉"}
VARIANTS = ("full", "cn_numeral", "dong", "fullwidth", "dashed", "district", "spaces",
            "no_xiaoqu_suffix", "hao", "typo")


def chinese(n: int) -> str:
    """12 → 十二, 3 → 三, 20 → 二十 (how numbers are spoken)."""
    if n < 10:
        return CN[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN[tens]) + "十" + (CN[ones] if ones else "")


def fullwidth(text: str) -> str:
    """ASCII digits as full-width digits (３号楼)."""
    return "".join(chr(ord(c) + 0xFEE0) if c.isdigit() else c for c in text)


def variant(kind: str, b: dict, community: str, rng: random.Random) -> str | None:
    """One way of writing building ``b``'s address."""
    core = b["xiaoqu"].removesuffix("小区")
    n, unit = b["number"], rng.randint(1, b["units"])
    room = f"{rng.randint(1, 6)}0{rng.randint(1, 4)}"
    forms = {
        "full": f"北京市朝阳区和平街道{community}{b['xiaoqu']}{n}号楼{unit}单元{room}室",
        "cn_numeral": f"{b['xiaoqu']}{chinese(n)}号楼{chinese(unit)}单元",
        "dong": f"{core}{n}{rng.choice(['栋', '幢', '座'])}{unit}门",
        "fullwidth": fullwidth(f"朝阳区{b['xiaoqu']}{n}号楼{unit}单元{room}"),
        "dashed": f"{core}{n}-{unit}-{room}",
        "district": f"北京朝阳区{core}{n}号楼",
        "spaces": f"和平街道 {b['xiaoqu']}，{n} 号楼 {unit} 单元",
        "no_xiaoqu_suffix": f"{community}{core}{n}号楼{room}",
        "hao": f"和平街{core}{n}号",
    }
    if kind == "typo":
        slips = [i for i, c in enumerate(core) if c in SLIPS]
        if not slips:
            return None
        i = rng.choice(slips)
        return f"{core[:i]}{SLIPS[core[i]]}{core[i + 1:]}{n}号楼{unit}单元"
    return forms[kind]


#: (address, building name it means or "" for none, note). Hand-written hard cases.
HARD = [
    ("安贞嘉园99号楼", "", "number does not exist"),
    ("安贞嘉园小区门口垃圾堆", "", "小区 only, no building"),
    ("团结湖小区3号楼", "", "小区 not in this street"),
    ("上海市浦东新区张江镇碧波路690号", "", "another city"),
    ("和平里北街12号", "", "a road address, not a building"),
    ("和平里西社区3号楼", "", "community only: several 3号楼"),
    ("和平佳园2号楼", "", "typo equally close to 和平嘉园 and 和平园"),
    ("和平园5号楼", "和平园小区5号楼", "near-twin names"),
    ("和平苑5号楼", "和平苑小区5号楼", "near-twin names"),
    ("和平家园3号楼", "和平家园小区3号楼", "near-twin names"),
    ("和平嘉园3号楼", "和平嘉园小区3号楼", "near-twin names"),
    ("芍药园2号楼2单元", "芍药园小区2号楼", "near-twin 芍药苑"),
    ("芍药苑2号楼2单元", "芍药苑小区2号楼", "near-twin 芍药园"),
    ("东土城北里十号楼", "东土城北里小区10号楼", "Chinese numeral ten"),
    ("东土城北里十三栋", "东土城北里小区13号楼", "Chinese numeral thirteen"),
    ("小黄庄北里十八号楼三单元", "小黄庄北里小区18号楼", "Chinese numeral eighteen"),
    ("北京市朝阳区和平街道小黄庄嘉园小区１８号楼", "小黄庄嘉园小区18号楼", "full-width 18"),
    ("朝阳区和平街道光熙花园小区3号楼2单元501室", "光熙花园小区3号楼", "full address"),
    ("光熙花园3号院", "", "号院 is a courtyard, not building 3"),
    ("育慧东里 7 号 楼", "育慧东里小区7号楼", "spaces inside the number"),
    ("（来电）育慧北里小区4号楼，3单元", "育慧北里小区4号楼", "brackets and commas"),
    ("望京园小区", "", "小区 only"),
    ("望京园19号楼", "望京园小区19号楼", "highest plain number"),
    ("望京园21号楼", "", "one past the highest number"),
    ("望京西里0号楼", "", "building zero"),
    ("安华园两号楼", "安华园小区2号楼", "两 for two"),
    ("北京市海淀区中关村大街1号", "", "another district"),
    ("民旺苑小区8号楼旁边的自行车棚", "民旺苑小区8号楼", "landmark next to a building"),
    ("曙光园", "", "no building"),
    ("胜古家园9号楼402", "胜古家园小区9号楼", "room without 室"),
    ("西坝河苑16-1-101", "西坝河苑小区16号楼", "dashed"),
    ("西坝河16号楼", "西坝河苑小区16号楼", "truncated name, the only 西坝河…"),
    ("城市花园3号楼", "", "城市 is not a city prefix; no such 小区"),
    ("和平社区5号楼", "", "not a 小区 name (和平园? 和平苑?)"),
    ("太阳宫3号楼", "", "truncated name: 太阳宫西里 or 太阳宫家园"),
    ("和平小区3号楼", "", "not a 小区 name"),
    ("安贞3号楼", "", "truncated: 安贞嘉园 / 安贞花园 / 安贞苑"),
]


def negatives(buildings: list[dict], rng: random.Random, count: int) -> list[tuple]:
    """Addresses that name no building of the street: a number past a 小区's last building, and
    小区 that do not exist but look like ones that do (和平北里 beside 和平南里, 和平西里)."""
    rows = []
    last: dict[str, int] = {}
    for b in buildings:
        last[b["xiaoqu"]] = max(last.get(b["xiaoqu"], 0), b["number"])
    for xiaoqu in rng.sample(sorted(last), count // 2):
        rows.append((f"{xiaoqu}{last[xiaoqu] + rng.randint(1, 5)}号楼", "", "nonexistent",
                     "number past the last building"))
    roots = sorted({x.removesuffix("小区")[:2] for x in last})
    suffixes = ["北里", "南里", "东里", "西里", "园", "苑", "家园", "嘉园", "花园", "新村"]
    fake = sorted({r + s for r in roots for s in suffixes} - {x.removesuffix("小区") for x in last})
    for name in rng.sample(fake, count - count // 2):
        rows.append((f"{name}{rng.randint(1, 12)}号楼", "", "nonexistent", "no such 小区"))
    return rows


def main() -> None:
    """Write the CSV (address, building_code, kind, note)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=12345)
    parser.add_argument("--per-variant", type=int, default=20)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    buildings = [f["properties"] for f in json.loads(
        (BOUNDARIES / "building.geojson").read_text("utf-8"))["features"]]
    communities = {f["properties"]["code"]: f["properties"]["name"] for f in json.loads(
        (BOUNDARIES / "community.geojson").read_text("utf-8"))["features"]}
    # Infill buildings (甲3号楼) have their own hand-written cases in hotline_heldout.tsv.
    buildings = [b for b in buildings
                 if b["name"].removeprefix(b["xiaoqu"]).removesuffix("号楼").isdigit()]
    for b in buildings:
        b["number"] = int(b["name"].removeprefix(b["xiaoqu"]).removesuffix("号楼"))
    by_name = {b["name"]: b["code"] for b in buildings}
    rows = []
    for kind in VARIANTS:
        for b in rng.sample(buildings, args.per_variant):
            address = variant(kind, b, communities[b["parent_code"][:12]], rng)
            if address is not None:
                rows.append((address, b["code"], kind, ""))
    rows += negatives(buildings, rng, args.per_variant)
    for address, name, note in HARD:
        rows.append((address, by_name[name] if name else "", "hard", note))
    with OUT.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["address", "building_code", "kind", "note"])
        writer.writerows(rows)
    print(f"{len(rows)} addresses → {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
