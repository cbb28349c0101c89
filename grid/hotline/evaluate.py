"""Measuring the matcher on a labelled address set: precision of what it places, recall of what
it should place, and the addresses that should have gone to a person but were placed — by kind.

A labelled set is a TSV (``#`` lines are comments) with columns ``address``, ``expected`` (a
building code, or ``queue`` when no single building should be chosen) and ``kind``.
"""

from __future__ import annotations

import csv
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from grid.hotline.gazetteer import Gazetteer

QUEUE = "queue"


@dataclass(frozen=True)
class Labelled:
    """One address of a labelled set."""

    address: str
    expected: str
    kind: str


@dataclass
class Report:
    """Counts over a labelled set, overall and by kind."""

    total: int = 0
    positives: int = 0
    placed: int = 0
    correct: int = 0
    #: Placed on a building other than the expected one (expected a building).
    wrong_building: list[tuple[str, str, str]] = field(default_factory=list)
    #: Placed although the address should have gone to a person.
    placed_should_queue: list[tuple[str, str]] = field(default_factory=list)
    by_kind: dict[str, Counter] = field(default_factory=dict)

    @property
    def precision(self) -> float:
        """Correct placements / placements (1.0 when nothing was placed)."""
        return self.correct / self.placed if self.placed else 1.0

    @property
    def recall(self) -> float:
        """Correct placements / addresses that name a building."""
        return self.correct / self.positives if self.positives else 1.0

    @property
    def confident_wrong(self) -> int:
        """Every placement that is not the expected building."""
        return len(self.wrong_building) + len(self.placed_should_queue)


def read_labelled(path: Path) -> list[Labelled]:
    """The rows of a labelled TSV."""
    with path.open(encoding="utf-8") as handle:
        lines = [line for line in handle if not line.startswith("#")]
    return [Labelled(r["address"], r["expected"], r["kind"])
            for r in csv.DictReader(lines, delimiter="\t")]


def evaluate(gazetteer: Gazetteer, rows: list[Labelled]) -> Report:
    """Match every address and count."""
    report = Report()
    for row in rows:
        kind = report.by_kind.setdefault(row.kind, Counter())
        placed = gazetteer.match(row.address).placed
        report.total += 1
        kind["total"] += 1
        if row.expected != QUEUE:
            report.positives += 1
            kind["positives"] += 1
        if placed is None:
            continue
        report.placed += 1
        kind["placed"] += 1
        if placed == row.expected:
            report.correct += 1
            kind["correct"] += 1
        elif row.expected == QUEUE:
            report.placed_should_queue.append((row.address, placed))
            kind["placed_should_queue"] += 1
        else:
            report.wrong_building.append((row.address, row.expected, placed))
            kind["wrong_building"] += 1
    return report


def lines(report: Report) -> list[str]:
    """The report as printable lines."""
    out = [f"addresses {report.total} ({report.positives} name a building, "
           f"{report.total - report.positives} should be queued); placed {report.placed}, "
           f"correct {report.correct}; precision {report.precision:.3f}, recall "
           f"{report.recall:.3f}; wrong building {len(report.wrong_building)}, placed but "
           f"should queue {len(report.placed_should_queue)}",
           f"{'kind':<12}{'total':>6}{'named':>6}{'placed':>7}{'right':>6}{'recall':>7}"
           f"{'wrong':>6}{'should-queue placed':>20}"]
    for kind, c in sorted(report.by_kind.items()):
        recall = f"{c['correct'] / c['positives']:.2f}" if c["positives"] else "-"
        out.append(f"{kind:<12}{c['total']:>6}{c['positives']:>6}{c['placed']:>7}"
                   f"{c['correct']:>6}{recall:>7}{c['wrong_building']:>6}"
                   f"{c['placed_should_queue']:>20}")
    out += [f"  WRONG {a} expected {e} placed {p}" for a, e, p in report.wrong_building]
    out += [f"  SHOULD QUEUE {a} placed {p}" for a, p in report.placed_should_queue]
    return out
