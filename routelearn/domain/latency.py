"""Bounded response-time summary: a fixed log-bucket histogram.

Bucket 0 holds [0, 1) ms; buckets 1..N-2 split [1 ms, 1,000 s) into 20 per decade (each about
12% wide, so a percentile read from it is within ~6% of the true value at the bucket middle);
the last bucket holds everything from 1,000 s up. The layout is part of the stored data:
changing it needs a migration.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

PER_DECADE = 20
DECADES = 6  # 1 ms .. 1,000,000 ms
NUM_BUCKETS = PER_DECADE * DECADES + 2


def bucket_of(ms: float) -> int:
    """Index of the bucket holding ``ms`` (ms >= 0)."""
    if ms < 1.0:
        return 0
    index = 1 + math.floor(math.log10(ms) * PER_DECADE + 1e-9)
    return min(index, NUM_BUCKETS - 1)


def bucket_bounds(index: int) -> tuple[float, float]:
    """[low, high) of a bucket in ms; the overflow bucket's high is infinity."""
    if index == 0:
        return 0.0, 1.0
    low = 10 ** ((index - 1) / PER_DECADE)
    high = math.inf if index == NUM_BUCKETS - 1 else 10 ** (index / PER_DECADE)
    return low, high


def empty() -> list[int]:
    return [0] * NUM_BUCKETS


def percentile(counts: Sequence[int], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) estimated from bucket counts; None when there is no sample.

    Inside a bucket the samples are taken as spread geometrically (linearly in bucket 0), which
    matches the log layout; the overflow bucket answers its lower bound.
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    total = sum(counts)
    if total == 0:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(counts):
        if count == 0:
            continue
        if seen + count >= rank:
            low, high = bucket_bounds(index)
            fraction = (rank - seen) / count
            if index == 0:
                return low + (high - low) * fraction
            if math.isinf(high):
                return low
            return float(low * (high / low) ** fraction)
        seen += count
    return bucket_bounds(len(counts) - 1)[0]  # unreachable unless counts shrink meanwhile
