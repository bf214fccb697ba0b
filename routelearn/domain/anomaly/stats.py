"""The significance test behind the failure-spike rule, with the standard library only.

The window's failures are tested against the baseline's failure rate with a one-sided *exact*
binomial test: p = P(X >= failures) for X ~ Binomial(window outcomes, baseline rate). Why not the
two-proportion z-test: the alarm level (alpha = 0.001) sits deep in the tail, where the normal
approximation of a small, skewed binomial is badly anti-conservative. 5 failures out of 20 against
a 5% baseline gives z = 4.10 and p = 2e-5 (an alarm), while the exact p is 0.0026 (no alarm). The
binomial test treats the baseline rate as known, which is fair because the baseline (24 hours)
holds hundreds of times the window's (5 minutes) outcomes; a minimum baseline size guards the rest.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# Summing stops once a term no longer changes the total in double precision.
_NEGLIGIBLE = 1e-17


def binomial_sf(k: int, n: int, p: float) -> float:
    """P(X >= k) for X ~ Binomial(n, p), accurate in the far tail.

    Terms are summed from the start point away from the mode, so they shrink geometrically and
    only a few dozen standard deviations' worth are added whatever n is.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p!r}")
    if k <= 0:
        return 1.0
    if k > n:
        return 0.0
    if p == 0.0:
        return 0.0
    if p == 1.0:
        return 1.0
    if k > n * p:
        return min(1.0, _tail_upward(k, n, p))
    # k at or below the mean: the answer is at least ~1/2, so 1 - lower tail loses nothing.
    return max(0.0, 1.0 - _tail_downward(k - 1, n, p))


def _log_pmf(i: int, n: int, p: float) -> float:
    return (
        math.lgamma(n + 1)
        - math.lgamma(i + 1)
        - math.lgamma(n - i + 1)
        + i * math.log(p)
        + (n - i) * math.log1p(-p)
    )


def _tail_upward(k: int, n: int, p: float) -> float:
    """sum_{i=k}^{n} pmf(i), for k above the mean (terms decrease with i)."""
    odds = p / (1.0 - p)
    term, total = 1.0, 1.0  # relative to pmf(k), so a tail below 1e-308 still sums safely
    for i in range(k, n):
        term *= (n - i) / (i + 1) * odds
        total += term
        if term < total * _NEGLIGIBLE:
            break
    return math.exp(_log_pmf(k, n, p) + math.log(total))


def _tail_downward(j: int, n: int, p: float) -> float:
    """sum_{i=0}^{j} pmf(i), for j below the mean (terms decrease as i falls)."""
    inverse_odds = (1.0 - p) / p
    term, total = 1.0, 1.0
    for i in range(j, 0, -1):
        term *= i / (n - i + 1) * inverse_odds
        total += term
        if term < total * _NEGLIGIBLE:
            break
    return math.exp(_log_pmf(j, n, p) + math.log(total))


@dataclass(frozen=True, slots=True)
class SpikeTest:
    window_rate: float
    baseline_rate: float  # with the prior: never exactly 0 or 1
    effect: float  # window_rate - baseline_rate
    p_value: float


def failure_spike_test(
    window_failures: int,
    window_outcomes: int,
    baseline_failures: int,
    baseline_outcomes: int,
    prior_failures: float,
    prior_successes: float,
) -> SpikeTest:
    """Is the window's failure rate higher than the baseline's by more than chance?

    The baseline rate is the posterior mean under a Beta(prior_failures, prior_successes) prior:
    (failures + a) / (outcomes + a + b). With the default Jeffreys prior (a = b = 1/2) a baseline
    of 0 failures in 10,000 reads as 0.005%, not 0%, so one failure is not a certain spike.
    """
    if window_outcomes <= 0:
        raise ValueError("the window has no outcome to test")
    if not 0 <= window_failures <= window_outcomes:
        raise ValueError(f"window failures {window_failures} not in [0, {window_outcomes}]")
    if not 0 <= baseline_failures <= baseline_outcomes:
        raise ValueError(f"baseline failures {baseline_failures} not in [0, {baseline_outcomes}]")
    baseline_rate = (baseline_failures + prior_failures) / (
        baseline_outcomes + prior_failures + prior_successes
    )
    window_rate = window_failures / window_outcomes
    return SpikeTest(
        window_rate=window_rate,
        baseline_rate=baseline_rate,
        effect=window_rate - baseline_rate,
        p_value=binomial_sf(window_failures, window_outcomes, baseline_rate),
    )
