"""The significance test of the failure-spike rule, against exact and hand-computed values."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from routelearn.domain.anomaly.stats import binomial_sf, failure_spike_test


def exact_tails(n: int, p: float) -> list[float]:
    """P(X >= k) for k = 0..n+1 in exact rational arithmetic: the reference."""
    q = Fraction(p)
    pmf = [math.comb(n, i) * q**i * (1 - q) ** (n - i) for i in range(n + 1)]
    tails = [Fraction(0)] * (n + 2)
    for i in range(n, -1, -1):
        tails[i] = tails[i + 1] + pmf[i]
    return [float(t) for t in tails]


def brute_sf(k: int, n: int, p: float, terms: int | None = None) -> float:
    """P(X >= k) by adding every pmf term from k (or ``terms`` of them) in log space."""
    last = n if terms is None else min(n, k + terms - 1)
    log_terms = [
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
        for i in range(k, last + 1)
    ]
    top = max(log_terms)
    return math.exp(top) * math.fsum(math.exp(t - top) for t in log_terms)


def test_hand_computed_case() -> None:
    # P(X >= 3 | n=10, p=0.1) = 1 - 0.9^10 - 10(0.1)(0.9^9) - 45(0.01)(0.9^8)
    #                          = 1 - 0.3486784401 - 0.3874204890 - 0.1937102445 = 0.0701908264
    assert binomial_sf(3, 10, 0.1) == pytest.approx(0.0701908264, rel=1e-9)
    # All ten of ten fair coins: 2^-10.
    assert binomial_sf(10, 10, 0.5) == pytest.approx(2**-10, rel=1e-12)


@pytest.mark.parametrize("n", [1, 2, 7, 20, 60, 150])
@pytest.mark.parametrize("p", [0.001, 0.05, 0.3, 0.5, 0.93])
def test_matches_exact_arithmetic_for_every_k(n: int, p: float) -> None:
    tails = exact_tails(n, p)
    for k in range(-1, n + 2):
        expected = tails[max(k, 0)]
        got = binomial_sf(k, n, p)
        assert got == pytest.approx(expected, rel=1e-9, abs=1e-300), (k, n, p)


def test_far_tail_of_a_large_window_is_accurate() -> None:
    n, p, k = 200_000, 0.01, 2_300  # mean 2,000, sd ~44.5: k is 6.7 sd out
    reference = brute_sf(k, n, p, terms=2_000)  # the terms past those are below 1e-100
    assert binomial_sf(k, n, p) == pytest.approx(reference, rel=1e-9)
    assert 1e-12 < reference < 1e-9


def test_edges() -> None:
    assert binomial_sf(0, 0, 0.3) == 1.0
    assert binomial_sf(1, 0, 0.3) == 0.0
    assert binomial_sf(1, 5, 0.0) == 0.0
    assert binomial_sf(5, 5, 1.0) == 1.0
    assert binomial_sf(400, 1_000_000, 1e-6) == 0.0  # underflows to 0 rather than failing
    with pytest.raises(ValueError, match="p must be"):
        binomial_sf(1, 5, 1.5)
    with pytest.raises(ValueError, match="n must be"):
        binomial_sf(1, -1, 0.5)


def test_the_normal_approximation_would_overflag_small_windows() -> None:
    # Why the exact test: 5 failures in 20 against a 5% baseline.
    z = (5 / 20 - 0.05) / math.sqrt(0.05 * 0.95 / 20)
    z_test_p = 0.5 * math.erfc(z / math.sqrt(2))
    assert z_test_p == pytest.approx(2.03e-5, rel=0.01)  # would alarm at alpha = 0.001
    assert binomial_sf(5, 20, 0.05) == pytest.approx(0.002574, rel=1e-3)  # does not


def test_52_of_1000_against_5_percent_is_not_significant() -> None:
    test = failure_spike_test(52, 1000, 5_000, 100_000, 0.5, 0.5)
    assert test.baseline_rate == pytest.approx(0.05, abs=1e-5)
    assert test.p_value == pytest.approx(brute_sf(52, 1000, test.baseline_rate), rel=1e-9)
    assert 0.3 < test.p_value < 0.5
    assert test.effect == pytest.approx(0.002, abs=1e-4)


def test_30_of_100_against_5_percent_is_significant() -> None:
    test = failure_spike_test(30, 100, 5_000, 100_000, 0.5, 0.5)
    assert test.p_value == pytest.approx(brute_sf(30, 100, test.baseline_rate), rel=1e-9)
    assert test.p_value < 1e-14
    assert test.effect == pytest.approx(0.25, abs=1e-4)


def test_a_baseline_without_failures_reads_as_a_small_rate_not_zero() -> None:
    one = failure_spike_test(1, 20, 0, 10_000, 0.5, 0.5)
    assert one.baseline_rate == pytest.approx(0.5 / 10_001)
    assert one.p_value == pytest.approx(1 - (1 - 0.5 / 10_001) ** 20, rel=1e-9)
    assert one.p_value > 0.0  # with a rate of exactly 0 any failure would be "impossible"
    three = failure_spike_test(3, 20, 0, 10_000, 0.5, 0.5)
    assert three.p_value < 1e-9


def test_spike_test_rejects_inconsistent_counts() -> None:
    with pytest.raises(ValueError, match="no outcome"):
        failure_spike_test(0, 0, 1, 10, 0.5, 0.5)
    with pytest.raises(ValueError, match="window failures"):
        failure_spike_test(3, 2, 1, 10, 0.5, 0.5)
    with pytest.raises(ValueError, match="baseline failures"):
        failure_spike_test(1, 2, 11, 10, 0.5, 0.5)
