"""The administrative part of 12345 addresses: our parser against jionlp and cpca, measured on
the hand-written held-out set (``tests/data/hotline_heldout.tsv``) before deciding whether to
adopt either.

For each parser: of the addresses labelled ``outside`` (another city, district or street), how
many it recognises as outside; of the addresses that name a building of the sample street, how
many it wrongly calls outside, and how many lose the 小区 name (or road) from the text left
after the administrative part; and milliseconds per address (median of 3 runs, load average
printed). jionlp and cpca are not dependencies: ``pip install jionlp cpca`` to compare.

    python benchmarks/hotline_admin_compare.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grid.hotline.evaluate import read_labelled  # noqa: E402
from grid.hotline.normalize import fold, strip_admin  # noqa: E402

OURS = ("北京市", "北京", "朝阳区", "朝阳", "和平街道", "和平街")   # what the gazetteer passes


def ours(address: str) -> tuple[bool, str]:
    """(outside?, text after the administrative part)."""
    rest, _, foreign = strip_admin(fold(address), OURS)
    return bool(foreign), rest


def jionlp_parser():
    import jionlp

    def parse(address: str) -> tuple[bool, str]:
        r = jionlp.parse_location(address)
        outside = (r.get("province") not in (None, "北京市")
                   or r.get("county") not in (None, "朝阳区")
                   or r.get("town") not in (None, "和平街道"))
        return outside, r.get("detail") or ""
    return parse


def cpca_parser():
    import cpca

    def parse(address: str) -> tuple[bool, str]:
        row = cpca.transform([address]).iloc[0]
        code = row["adcode"]
        outside = isinstance(code, str) and not "110105".startswith(code[:6].rstrip("0")) \
            and not code.startswith("110105")
        return outside, row["地址"] if isinstance(row["地址"], str) else address
    return parse


def main() -> None:
    """Print the comparison."""
    rows = read_labelled(ROOT / "tests" / "data" / "hotline_heldout.tsv")
    names = {f["properties"]["code"]: f["properties"]["xiaoqu"].removesuffix("小区")
             for f in json.loads((ROOT / "data" / "boundaries" / "building.geojson")
                                 .read_text("utf-8"))["features"]}
    parsers = {"ours": lambda: ours}
    parsers["jionlp"] = jionlp_parser
    parsers["cpca"] = cpca_parser
    print(f"load average {open('/proc/loadavg').read().split()[:3]}; {len(rows)} addresses")
    print(f"{'parser':<8}{'outside found':>15}{'in-street called outside':>26}"
          f"{'小区 name lost':>15}{'ms/address':>12}")
    for name, make in parsers.items():
        try:
            parse = make()
            parse("北京市朝阳区和平街道安贞嘉园小区3号楼")          # load its tables first
        except ImportError:
            print(f"{name:<8} not installed")
            continue
        times, results = [], []
        for _ in range(3):
            start = time.perf_counter()
            results = [parse(r.address) for r in rows]
            times.append((time.perf_counter() - start) / len(rows) * 1000)
        outside = [r for r in rows if r.kind == "outside"]
        found = sum(res[0] for r, res in zip(rows, results, strict=True) if r.kind == "outside")
        positives = [(r, res) for r, res in zip(rows, results, strict=True)
                     if r.expected != "queue"]
        false_out = sum(res[0] for _, res in positives)
        lost = sum(1 for r, res in positives if r.kind != "road"
                   and names[r.expected] not in fold(res[1]) and names[r.expected]
                   in fold(r.address))
        print(f"{name:<8}{found:>9} / {len(outside):<4}{false_out:>20} / {len(positives):<4}"
              f"{lost:>10}{statistics.median(times):>12.2f}")


if __name__ == "__main__":
    main()
