"""Precision and recall of 12345 address placement on the hand-written labelled sets, by kind.

Loads the sample street (``data/boundaries``) into a throwaway SpatiaLite database, builds the
gazetteer the service builds, and matches every address of ``tests/data/hotline_heldout.tsv``
(never tuned on) and ``tests/data/hotline_dev.tsv`` (the set the rules were tuned on).

    python benchmarks/hotline_eval.py [--set heldout|dev|both] [--misses]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grid.demo import load_sample  # noqa: E402
from grid.hierarchy import store  # noqa: E402
from grid.hotline.evaluate import evaluate, lines, read_labelled  # noqa: E402
from grid.hotline.gazetteer import Gazetteer  # noqa: E402
from grid.migrate import upgrade  # noqa: E402
from grid.services import Services  # noqa: E402
from grid.settings import Settings  # noqa: E402

SETS = {"heldout": ROOT / "tests" / "data" / "hotline_heldout.tsv",
        "dev": ROOT / "tests" / "data" / "hotline_dev.tsv"}


def sample_gazetteer(workdir: Path) -> Gazetteer:
    """The sample street's gazetteer, built from a freshly loaded SpatiaLite database."""
    svc = Services(Settings(database_url=f"sqlite:///{workdir / 'grid.db'}"))
    upgrade(svc.db)
    load_sample(svc, ROOT / "data" / "boundaries", say=lambda _line: None)
    with svc.db.read() as session:
        gazetteer = Gazetteer.from_session(session, store.require_active_version(session).id)
    svc.close()
    return gazetteer


def main() -> None:
    """Print the figures for the chosen set(s)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--set", choices=["heldout", "dev", "both"], default="both")
    parser.add_argument("--misses", action="store_true", help="list addresses queued that name "
                        "a building (the recall misses)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        gazetteer = sample_gazetteer(Path(tmp))
    for name in (["heldout", "dev"] if args.set == "both" else [args.set]):
        rows = read_labelled(SETS[name])
        print(f"== {name}: {SETS[name].relative_to(ROOT)}")
        for line in lines(evaluate(gazetteer, rows)):
            print(line)
        if args.misses:
            for row in rows:
                found = gazetteer.match(row.address)
                if row.expected != "queue" and found.placed is None:
                    print(f"  MISS {row.address} ({row.kind}): {found.why}; "
                          + "; ".join(f"{c.name} {c.score}" for c in found.candidates[:3]))


if __name__ == "__main__":
    main()
