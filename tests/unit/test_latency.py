from __future__ import annotations

import random

import pytest

from routelearn.domain import latency


def test_buckets_cover_the_range_in_order() -> None:
    assert latency.bucket_of(0.0) == 0
    assert latency.bucket_of(0.999) == 0
    assert latency.bucket_of(1.0) == 1
    assert latency.bucket_of(10.0) == 1 + latency.PER_DECADE
    assert latency.bucket_of(1e9) == latency.NUM_BUCKETS - 1
    previous = 0
    for ms in [0.5, 1, 2, 5, 10, 99, 100, 450, 2000, 5000, 60_000, 999_999]:
        index = latency.bucket_of(ms)
        low, high = latency.bucket_bounds(index)
        assert low <= ms < high
        assert index >= previous
        previous = index


def test_percentiles_are_close_to_exact_ones() -> None:
    rng = random.Random(1)
    samples = sorted(rng.lognormvariate(6, 1) for _ in range(20_000))
    counts = latency.empty()
    for s in samples:
        counts[latency.bucket_of(s)] += 1
    for q in (0.5, 0.95, 0.99):
        exact = samples[int(q * len(samples)) - 1]
        estimate = latency.percentile(counts, q)
        assert estimate is not None
        assert abs(estimate - exact) / exact < 0.07, (q, exact, estimate)


def test_percentile_of_nothing_is_none() -> None:
    assert latency.percentile(latency.empty(), 0.5) is None


@pytest.mark.parametrize("q", [0.0, 1.5, -1])
def test_percentile_rejects_bad_q(q: float) -> None:
    with pytest.raises(ValueError, match="q must be"):
        latency.percentile([1], q)
