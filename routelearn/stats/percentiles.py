"""Response-time summaries read from the fixed log-bucket histogram (routelearn.domain.latency).

The database sums histograms (element-wise, one array per group); this module turns a summed
histogram into p50/p95/p99, each within ~6% of the true value (the bucket width).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from routelearn.domain import latency

QUANTILES = (0.50, 0.95, 0.99)


@dataclass(frozen=True, slots=True)
class LatencySummary:
    samples: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


def summarize(histogram: Sequence[int], count: int, total_ms: float) -> LatencySummary:
    """Percentiles from ``histogram``; the mean from the exact ``count`` and ``total_ms``."""
    if histogram and len(histogram) != latency.NUM_BUCKETS:
        raise ValueError(f"histogram has {len(histogram)} buckets, not {latency.NUM_BUCKETS}")
    p50, p95, p99 = (latency.percentile(histogram, q) if histogram else None for q in QUANTILES)
    return LatencySummary(count, total_ms / count if count else None, p50, p95, p99)


def add_histograms(histograms: Iterable[Sequence[int]]) -> list[int]:
    """Element-wise sum (what the SQL does), for callers that already hold the arrays."""
    total = latency.empty()
    for histogram in histograms:
        if len(histogram) != latency.NUM_BUCKETS:
            raise ValueError(f"histogram has {len(histogram)} buckets, not {latency.NUM_BUCKETS}")
        for i, count in enumerate(histogram):
            total[i] += count
    return total
