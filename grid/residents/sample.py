"""A fictitious resident register for the sample street (demo and tests).

Every ID number is well-formed (GB 11643 check digit) but made up — region 110105, birth dates
1940–2005, sequence numbers from the seed — and every phone is 1360000xxxx (the sample grid workers
have 1380000xxxx / 1390000xxxx, so a test can tell them apart).
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from grid.residents.pii import id_check_digit

SURNAMES = "王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华"
HEADINGS = ["姓名", "身份证号", "手机", "地址", "楼栋", "单元", "楼层", "室", "党员"]


def make_id(rng: random.Random, region: str = "110105") -> str:
    """A made-up, well-formed 18-character ID number."""
    first17 = (f"{region}{rng.randint(1940, 2005):04d}{rng.randint(1, 12):02d}"
               f"{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}")
    return first17 + id_check_digit(first17)


def sample_rows(buildings: list[dict], count: int, seed: int = 11) -> list[list[str]]:
    """``count`` register rows spread over ``buildings`` (dicts with code, name, units,
    floors), about one in six a Party member."""
    rng = random.Random(seed)
    rows = []
    used: set[str] = set()
    for i in range(count):
        b = buildings[i % len(buildings)]
        id_number = make_id(rng)
        while id_number in used:
            id_number = make_id(rng)
        used.add(id_number)
        entrance = rng.randint(1, int(b.get("units") or 1))
        floor = rng.randint(1, int(b.get("floors") or 6))
        room = f"{floor}{rng.randint(1, 4):02d}"
        phone = f"1360000{rng.randint(0, 9999):04d}"
        rows.append([rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), id_number,
                     phone, f"{b['name']}{entrance}单元{room}室", b["code"], str(entrance),
                     str(floor), room, "是" if rng.random() < 1 / 6 else "否"])
    return rows


def write_csv(path: str | Path, rows: list[list[str]]) -> Path:
    """Write a register CSV (UTF-8) with the Chinese headings."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(HEADINGS)
        writer.writerows(rows)
    return path
