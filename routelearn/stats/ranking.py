"""Ranking (model, complexity) pairs by success rate, aware of how many outcomes back it.

A raw success rate ranks a model with 3 successes out of 3 above one with 990 out of 1,000.
The Wilson score interval (95%) fixes that: the top list orders by its LOWER bound (what the
rate is at least, with 95% confidence), the bottom list by its UPPER bound, ascending (what the
rate is at most). Few outcomes give a wide interval, so a pair climbs either list only as its
evidence grows; pairs under ``min_samples`` outcomes are left out altogether.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

Z_95 = 1.959963984540054  # two-sided 95% normal quantile
DEFAULT_MIN_SAMPLES = 20


def wilson_interval(successes: int, outcomes: int, z: float = Z_95) -> tuple[float, float]:
    """(lower, upper) bounds of the success rate; (0, 1) when there is no outcome."""
    if outcomes < 0 or not 0 <= successes <= outcomes:
        raise ValueError(f"need 0 <= successes <= outcomes, got {successes}/{outcomes}")
    if outcomes == 0:
        return 0.0, 1.0
    p = successes / outcomes
    z2 = z * z
    centre = p + z2 / (2 * outcomes)
    spread = z * math.sqrt(p * (1 - p) / outcomes + z2 / (4 * outcomes * outcomes))
    denominator = 1 + z2 / outcomes
    return max(0.0, (centre - spread) / denominator), min(1.0, (centre + spread) / denominator)


@dataclass(frozen=True, slots=True)
class Candidate:
    model: str
    complexity: str
    successes: int
    failures: int

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class Ranked:
    rank: int
    candidate: Candidate
    success_rate: float
    bound: float  # the Wilson bound the list is ordered by


def rank(
    candidates: Iterable[Candidate],
    n: int,
    *,
    bottom: bool = False,
    min_samples: int = DEFAULT_MIN_SAMPLES,
) -> list[Ranked]:
    """The ``n`` best (or, with ``bottom``, worst) candidates with at least ``min_samples``
    outcomes. Ties go to the pair with more outcomes, then by name, so the order is stable."""
    if n < 0 or min_samples < 1:
        raise ValueError(f"need n >= 0 and min_samples >= 1, got {n}, {min_samples}")
    scored = []
    for c in candidates:
        if c.outcomes < min_samples:
            continue
        low, high = wilson_interval(c.successes, c.outcomes)
        bound = high if bottom else low
        # Best first: highest lower bound; worst first: lowest upper bound.
        scored.append(((bound if bottom else -bound, -c.outcomes, c.model, c.complexity), c, bound))
    scored.sort(key=lambda item: item[0])
    return [
        Ranked(i, c, c.successes / c.outcomes, bound)
        for i, (_, c, bound) in enumerate(scored[:n], start=1)
    ]
