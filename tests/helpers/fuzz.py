"""Schemathesis over the whole OpenAPI of an app: every operation, valid and invalid input,
as an authenticated user; collects every server error (5xx, or an exception that escaped the
app) instead of stopping at the first. Used by ``tests/test_fuzz_api.py`` (a short run with a
fixed seed) and ``scripts/fuzz_api.py`` (a longer one)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import schemathesis
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode


@dataclass
class FuzzResult:
    """Requests sent and server errors seen, by operation."""

    requests: int = 0
    operations: int = 0
    statuses: Counter = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)
    #: Operations and modes with nothing to generate (no invalid input exists for them).
    unsatisfiable: list[str] = field(default_factory=list)

    def summary(self) -> str:
        """One line: requests, operations, status classes, server errors."""
        by_class: Counter = Counter()
        for status, n in self.statuses.items():
            by_class[f"{status // 100}xx"] += n
        return (f"{self.requests} requests over {self.operations} operations, "
                f"{dict(sorted(by_class.items()))}, {len(self.server_errors)} server errors")


def fuzz(app, token: str, *, examples: int, seed_value: int = 20261203,
         skip: tuple[str, ...] = ()) -> FuzzResult:
    """Send up to ``examples`` generated requests per operation and mode (positive and
    negative) to ``app`` with ``token``; ``skip`` lists operation labels
    (``"POST /api/v1/…"``) not to call."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    result = FuzzResult()
    headers = {"Authorization": f"Bearer {token}"}
    for found in schema.get_all_operations():
        operation = found.ok()
        if operation.label in skip:
            continue
        result.operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            _run(operation, mode, headers, examples, seed_value, result)
    return result


def _run(operation, mode, headers: dict, examples: int, seed_value: int,
         result: FuzzResult) -> None:
    @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
              phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
    @seed(seed_value)
    @given(case=operation.as_strategy(generation_mode=mode))
    def check(case) -> None:
        result.requests += 1
        try:
            response = case.call(headers=headers)
        except Exception as exc:  # escaped the app: as bad as a 500
            result.server_errors.append(f"{operation.label} [{mode}] raised {exc!r} for "
                                        f"{_describe(case)}")
            return
        result.statuses[response.status_code] += 1
        if response.status_code >= 500:
            result.server_errors.append(
                f"{operation.label} [{mode}] {response.status_code} for {_describe(case)}: "
                f"{response.text[:200]}")

    try:
        check()
    except Unsatisfiable:  # e.g. no invalid value exists for a free-text path parameter
        result.unsatisfiable.append(f"{operation.label} [{mode}]")


def _describe(case) -> str:
    return (f"path={case.path_parameters!r} query={case.query!r} "
            f"body={str(case.body)[:200]!r}")
