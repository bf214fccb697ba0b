"""Counters of what a router did since it was made, and the error of its cost estimates;
thread-safe."""

from __future__ import annotations

import math
import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class RouterStats:
    decisions: int = 0  # decisions published (routed events), attempts of execute included
    exploratory: int = 0  # of which explored an uncertain or stale model
    splits: int = 0  # of which went to a split's canary
    user_requests: int = 0  # of which honoured an explicit user request
    fallbacks: int = 0  # of which were a later attempt of execute
    successes: int = 0  # outcomes reported
    failures: int = 0
    cache_hits: int = 0  # execute calls answered from the cache (no decision published)
    events_dropped: int = 0  # events the publisher refused or failed to take


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(RouterStats)), 0)

    def add(self, *names: str) -> None:
        with self._lock:
            counts = self._counts
            for name in names:
                counts[name] += 1

    def snapshot(self) -> RouterStats:
        with self._lock:
            return RouterStats(**self._counts)


# Upper bounds of the cost-estimate error buckets: (estimated - actual) / actual, so -0.5 is an
# estimate at half the actual cost and 1.0 one at twice it. The last bucket is +Inf.
COST_ERROR_BOUNDS = (-0.75, -0.5, -0.25, -0.1, -0.05, 0.0, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0)


@dataclass(frozen=True, slots=True)
class CostErrorStats:
    """How far cost estimates were from the actual costs, as a cumulative histogram."""

    buckets: tuple[tuple[float, int], ...]  # (upper bound, estimates at or below it), +Inf last
    count: int
    sum: float


class CostErrors:
    """The error of each cost estimate against the actual cost once known; thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = [0] * (len(COST_ERROR_BOUNDS) + 1)  # per bucket, not cumulative
        self._sum = 0.0

    def record(self, estimated: float | None, actual: float | None) -> None:
        """Nothing without both, or with a free actual cost (no ratio to it)."""
        if estimated is None or actual is None or actual <= 0:
            return
        error = (estimated - actual) / actual
        index = next(
            (i for i, bound in enumerate(COST_ERROR_BOUNDS) if error <= bound),
            len(COST_ERROR_BOUNDS),
        )
        with self._lock:
            self._counts[index] += 1
            self._sum += error

    def snapshot(self) -> CostErrorStats:
        with self._lock:
            counts, total = list(self._counts), self._sum
        cumulative, buckets = 0, []
        for bound, n in zip((*COST_ERROR_BOUNDS, math.inf), counts, strict=True):
            cumulative += n
            buckets.append((bound, cumulative))
        return CostErrorStats(tuple(buckets), cumulative, total)
