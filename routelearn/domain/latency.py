"""Bounded response-time summary: a fixed log-bucket histogram.

Bucket 0 holds [0, 1) ms; buckets 1..N-2 split [1 ms, 1,000 s) into 20 per decade (each about
12% wide, so a percentile read from it is within ~6% of the true value at the bucket middle);
the last bucket holds everything from 1,000 s up. The layout is part of the stored data:
changing it needs a migration.
"""

from __future__ import annotations

import math
from bisect import bisect_left
from collections.abc import Sequence
from functools import cache
from itertools import accumulate
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    Vector = np.ndarray[Any, np.dtype[np.float64]]
    Matrix = np.ndarray[Any, Any]

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


def percentile(counts: Sequence[float], q: float) -> float | None:
    """The q-quantile (0 < q <= 1) estimated from bucket counts; None when there is no sample.

    Inside a bucket the samples are taken as spread geometrically (linearly in bucket 0), which
    matches the log layout; the overflow bucket answers its lower bound. Counts may be weighted
    (floats).
    """
    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    # Cumulative sums and a binary search run in C: the learner reads two percentiles of each
    # of thousands of histograms a tick.
    cumulative = list(accumulate(counts))
    total = cumulative[-1] if cumulative else 0
    if total <= 0:
        return None
    rank = q * total
    # The first bucket whose cumulative count reaches the rank. An empty bucket reaches no
    # further than the one before it, so it is found only as bucket 0 with a rank of 0 (a
    # weight so small that q * total underflows): the first non-empty bucket is meant.
    index = bisect_left(cumulative, rank)
    while counts[index] == 0:
        index += 1
    count = counts[index]
    seen = cumulative[index - 1] if index else 0
    low, high = bucket_bounds(index)
    fraction = min(1.0, (rank - seen) / count)
    if index == 0:
        return low + (high - low) * fraction
    if math.isinf(high):
        return low
    return float(low * (high / low) ** fraction)


def percentiles(histograms: Matrix, q: float) -> Vector:
    """`percentile` of every row of a (rows x NUM_BUCKETS) matrix at once; NaN for a row with no
    sample. The learner's form: one numpy pass instead of thousands of Python loops."""
    import numpy as np  # here, not at the top: ingestion workers import this module

    if not 0.0 < q <= 1.0:
        raise ValueError(f"q must be in (0, 1], got {q!r}")
    counts = np.asarray(histograms, dtype=np.float64)
    rows, buckets = counts.shape
    if buckets == 0:
        return np.full(rows, np.nan)
    cumulative = np.cumsum(counts, axis=1)
    total = cumulative[:, -1]
    rank = q * total
    # `percentile`'s bucket: the first non-empty one whose cumulative count reaches the rank
    # (a row without any is all empty, and answers NaN below).
    reached = (cumulative >= rank[:, None]) & (counts > 0)
    index = np.argmax(reached, axis=1)
    at = np.arange(rows)
    count = counts[at, index]
    seen = np.where(index > 0, cumulative[at, np.maximum(index - 1, 0)], 0.0)
    bounds = _bounds_table(buckets)
    low, high = bounds[0][index], bounds[1][index]
    with np.errstate(divide="ignore", invalid="ignore"):
        fraction = np.minimum(1.0, (rank - seen) / count)
        inside = np.where(
            index == 0,
            low + (high - low) * fraction,
            np.where(np.isinf(high), low, low * (high / low) ** fraction),
        )
    return np.where(total > 0, inside, np.nan)


@cache
def _bounds_table(buckets: int) -> tuple[Vector, Vector]:
    import numpy as np

    lows, highs = zip(*(bucket_bounds(i) for i in range(buckets)), strict=True)
    return np.array(lows), np.array(highs)
