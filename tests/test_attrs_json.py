"""A unit's other attributes are stored as the JSON text ``json.dumps`` gives for the row's
dict of present values, however the columns are typed (the loader builds it column by
column, integers and plain text in Arrow)."""

from __future__ import annotations

import json
import random

import numpy as np
import pandas as pd

from grid.spatial.write import attrs_json


def _expected(frame: pd.DataFrame) -> list[str]:
    rows = []
    for i in range(len(frame)):
        present = {}
        for column in frame.columns:
            value = frame[column].iloc[i]  # the column's own value, not a row's upcast one
            if pd.notna(value):
                if isinstance(value, str):
                    value = value.replace("\x00", "")
                elif hasattr(value, "item"):
                    value = value.item()
                present[column] = value
        rows.append(json.dumps(present, ensure_ascii=False, default=str))
    return rows


def _column(rng: random.Random, kind: str, n: int) -> pd.Series:
    pick = {
        "int": lambda: rng.randint(-10**12, 10**12),
        "int_or_none": lambda: rng.choice([None, rng.randint(-5, 5), 10**15]),
        "float": lambda: rng.choice([np.nan, np.inf, -np.inf, 0.1, 1e20, -3.0]),
        "bool": lambda: rng.choice([True, False]),
        "text": lambda: rng.choice([None, "", "网格", "x y", "q\"x", "a\\b", "t\tn\n", "\x00z"]),
        "plain_text": lambda: rng.choice([None, "", "网格楼", "110101001"]),
        "mixed": lambda: rng.choice([None, 1, "x", 2.5, True]),
        "huge": lambda: rng.choice([None, 2**70, 5]),
    }[kind]
    values = [pick() for _ in range(n)]
    if kind == "int":
        return pd.Series(values, dtype=np.int64)
    if kind == "int_or_none":
        return pd.Series(values, dtype="Int64" if rng.random() < 0.5 else object)
    if kind in ("text", "plain_text"):
        return pd.Series(values, dtype="str" if rng.random() < 0.5 else object)
    return pd.Series(values, dtype=object if kind in ("mixed", "huge") else None)


def test_attributes_are_the_json_of_each_rows_present_values():
    rng = random.Random(15)
    kinds = ["int", "int_or_none", "float", "bool", "text", "plain_text", "mixed", "huge"]
    for _ in range(300):
        n = rng.randint(0, 25)
        columns = {f"c{i}" + rng.choice(["", '"', "网"]): _column(rng, rng.choice(kinds), n)
                   for i in range(rng.randint(0, 4))}
        frame = pd.DataFrame({"code": ["1"] * n, **columns})
        got = attrs_json(frame, ("code",))
        assert got.dtype == object and len(got) == n
        assert list(got) == _expected(frame.drop(columns="code")), frame.dtypes
