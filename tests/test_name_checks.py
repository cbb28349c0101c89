"""The name checks of the validation report over whole columns give, name by name, what a
plain regex search of each name gives (they skip work on files where nothing can match)."""

from __future__ import annotations

import random
import re

import numpy as np

from grid.hierarchy.codes import CodeScheme
from grid.hierarchy.levels import Level
from grid.settings import Settings
from grid.spatial.validate import attribute_problems

MARKUP = re.compile(r"[<>`]|\$\{|&#|(?i:javascript:)")


def _names(seed: int, alphabet: str, count: int) -> list[str]:
    rng = random.Random(seed)
    return ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 14)))
            for _ in range(count)]


def _markup_codes(names: list[str]) -> tuple[set[str], list[str]]:
    scheme = CodeScheme(Settings().code_widths)
    width = scheme.length(Level.building)
    codes = [str(10**(width - 1) + i) for i in range(len(names))]
    geoms = np.full(len(names), None, dtype=object)
    found = attribute_problems(codes, names, Level.building, scheme, geoms)
    return {p.codes[0] for p in found if p.kind == "name_markup"}, codes


def test_markup_found_exactly_where_a_search_finds_it():
    # names built from the characters the markup pattern is made of, and Chinese text
    for seed in range(5):
        names = _names(seed, "ab<>`${}&#:;jJavascriptSCRIPT 网格楼", 3_000)
        found, codes = _markup_codes(names)
        assert found == {c for c, n in zip(codes, names, strict=True) if MARKUP.search(n)}
        assert found  # the alphabet makes some


def test_names_without_any_markup_character_give_no_warning():
    names = _names(7, "网格楼号栋单元东西南北中一二三四五六七八九十jav", 3_000)
    found, _ = _markup_codes(names)
    assert found == set()
    found, codes = _markup_codes(names[:-1] + ["x JavaScript:alert(1)"])
    assert found == {codes[-1]}
