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


def test_the_vectorised_percentiles_agree_with_the_scalar_ones() -> None:
    import numpy as np

    rng = random.Random(7)
    rows: list[list[float]] = [[0.0] * latency.NUM_BUCKETS for _ in range(3)]  # no sample
    rows[1][0] = 3  # bucket 0 interpolates linearly
    rows[2][-1] = 0.25  # the overflow bucket answers its lower bound
    for _ in range(300):
        kind = rng.random()
        row: list[float] = [0.0] * latency.NUM_BUCKETS
        if kind < 0.3:  # one bucket, weighted
            row[rng.randrange(latency.NUM_BUCKETS)] = rng.random() * 5
        else:  # spread, integer or decayed weights, with empty buckets between
            for b in range(latency.NUM_BUCKETS):
                row[b] = rng.choice([0, 0, 1, 17, rng.random() * 1e-3, rng.random() * 1e6])
        rows.append(row)
    matrix = np.array(rows)
    for q in (0.01, 0.5, 0.95, 0.99, 1.0):
        vector = latency.percentiles(matrix, q)
        for i, row in enumerate(rows):
            scalar = latency.percentile(row, q)
            if scalar is None:
                assert np.isnan(vector[i])
            else:
                assert vector[i] == pytest.approx(scalar, rel=1e-9), (q, i)
    with pytest.raises(ValueError, match="q must be in"):
        latency.percentiles(matrix, 0.0)
