"""What the simulator measures, per second of the run, and the figures it reports.

Success is measured twice: observed (the sampled outcomes) and expected (the true success
probability of the model chosen, against the oracle's best): the expected ratio is the same
quantity without the sampling noise, so short runs compare policies fairly.
"""

from __future__ import annotations

import math
import threading
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field


@dataclass(slots=True)
class Bucket:
    """One second of the run."""

    requests: int = 0
    successes: int = 0
    expected: float = 0.0  # sum of the chosen models' true success probabilities
    oracle: float = 0.0  # sum of the oracle's
    cost: float = 0.0
    exploratory: int = 0
    # (complexity, model) -> requests routed there first (before any fallback)
    routed: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))


class Recorder:
    """Thread-safe: every simulated instance records into one."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._buckets: dict[int, Bucket] = defaultdict(Bucket)

    def record(
        self,
        t: float,
        complexity: str,
        model: str,
        *,
        success: bool,
        expected: float,
        oracle: float,
        cost: float,
        exploratory: bool,
    ) -> None:
        with self._lock:
            b = self._buckets[int(t)]
            b.requests += 1
            b.successes += success
            b.expected += expected
            b.oracle += oracle
            b.cost += cost
            b.exploratory += exploratory
            b.routed[(complexity, model)] += 1

    def buckets(self) -> dict[int, Bucket]:
        with self._lock:
            return dict(self._buckets)


@dataclass(frozen=True, slots=True)
class Point:
    """One interval of the curves (a learner tick long)."""

    start: float
    requests: int
    success_rate: float
    expected_rate: float
    oracle_rate: float
    mean_cost: float
    share: dict[str, float]  # tracked model -> share of its complexity's traffic


def curve(
    buckets: dict[int, Bucket], width: float, tracked: Iterable[tuple[str, str]] = ()
) -> list[Point]:
    """The run in intervals of ``width`` seconds; ``tracked`` are (complexity, model) whose
    share of that complexity's requests is followed (a degraded model, a new one)."""
    tracked = list(tracked)
    if not buckets:
        return []
    last = max(buckets)
    points = []
    start = 0.0
    while start <= last:
        seconds = [buckets[s] for s in range(int(start), int(start + width)) if s in buckets]
        n = sum(b.requests for b in seconds)
        share = {}
        for complexity, model in tracked:
            total = sum(v for b in seconds for (c, _), v in b.routed.items() if c == complexity)
            mine = sum(b.routed.get((complexity, model), 0) for b in seconds)
            share[f"{model}/{complexity}"] = mine / total if total else math.nan
        points.append(
            Point(
                start=start,
                requests=n,
                success_rate=sum(b.successes for b in seconds) / n if n else math.nan,
                expected_rate=sum(b.expected for b in seconds) / n if n else math.nan,
                oracle_rate=sum(b.oracle for b in seconds) / n if n else math.nan,
                mean_cost=sum(b.cost for b in seconds) / n if n else math.nan,
                share=share,
            )
        )
        start += width
    return points


@dataclass(frozen=True, slots=True)
class Summary:
    requests: int
    success_rate: float  # observed
    expected_rate: float  # the chosen models' true success probability, averaged
    oracle_rate: float
    relative_to_oracle: float  # expected / oracle
    observed_relative_to_oracle: float
    mean_cost: float
    exploratory_share: float


def summarise(buckets: dict[int, Bucket]) -> Summary:
    all_ = list(buckets.values())
    n = sum(b.requests for b in all_)
    if n == 0:
        raise ValueError("no request was recorded")
    successes = sum(b.successes for b in all_)
    expected = sum(b.expected for b in all_)
    oracle = sum(b.oracle for b in all_)
    return Summary(
        requests=n,
        success_rate=successes / n,
        expected_rate=expected / n,
        oracle_rate=oracle / n,
        relative_to_oracle=expected / oracle if oracle else math.nan,
        observed_relative_to_oracle=successes / oracle if oracle else math.nan,
        mean_cost=sum(b.cost for b in all_) / n,
        exploratory_share=sum(b.exploratory for b in all_) / n,
    )


def time_to_move_away(
    buckets: dict[int, Bucket],
    complexity: str,
    model: str,
    since: float,
    *,
    below: float = 0.2,
    hold: int = 3,
) -> float | None:
    """Seconds from ``since`` until ``model``'s share of ``complexity``'s traffic fell below
    ``below`` and stayed there for ``hold`` consecutive seconds (counted from the first of
    them); None if it never did. Exploration keeps sending a few percent on purpose, hence a
    threshold rather than zero."""
    run = 0
    for second in range(int(since), max(buckets, default=-1) + 1):
        b = buckets.get(second)
        if b is None:
            continue
        total = sum(v for (c, _), v in b.routed.items() if c == complexity)
        if total == 0:
            continue
        share = b.routed.get((complexity, model), 0) / total
        run = run + 1 if share < below else 0
        if run == hold:
            return max(0.0, second - hold + 1 - since)
    return None


def share_between(
    buckets: dict[int, Bucket], complexity: str, model: str, start: float, end: float
) -> float:
    """``model``'s share of ``complexity``'s requests in [start, end) seconds (0 if none)."""
    total = mine = 0
    for second in range(int(start), int(end)):
        b = buckets.get(second)
        if b is None:
            continue
        total += sum(v for (c, _), v in b.routed.items() if c == complexity)
        mine += b.routed.get((complexity, model), 0)
    return mine / total if total else 0.0


def time_to_win(
    buckets: dict[int, Bucket],
    complexity: str,
    model: str,
    since: float,
    *,
    above: float = 0.5,
    hold: int = 3,
) -> float | None:
    """Seconds from ``since`` until ``model`` took more than ``above`` of ``complexity``'s
    traffic for ``hold`` consecutive seconds; None if it never did."""
    run = 0
    for second in range(int(since), max(buckets, default=-1) + 1):
        share = share_between(buckets, complexity, model, second, second + 1)
        run = run + 1 if share > above else 0
        if run == hold:
            return max(0.0, second - hold + 1 - since)
    return None
