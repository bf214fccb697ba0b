"""Analytics of a traffic split: is the canary (b) better or worse than the model it shadows (a)?

Success rate: the two-proportion z-test with the pooled rate, two-sided. Latency: the
Mann-Whitney U test (no assumption of normal latencies, which are skewed), with the normal
approximation, the tie correction and a continuity correction, two-sided; it gives the same
p-value as ``scipy.stats.mannwhitneyu(a, b, method="asymptotic")``. Standard library only.

The split itself is applied by the router (selection.py); these functions only read counts.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum


class Verdict(StrEnum):
    INSUFFICIENT_DATA = "insufficient_data"
    B_BETTER = "b_better"  # higher success rate
    B_WORSE = "b_worse"  # lower success rate
    B_FASTER = "b_faster"  # same success rate, lower latencies
    B_SLOWER = "b_slower"
    NO_DIFFERENCE = "no_difference"


@dataclass(frozen=True, slots=True)
class SplitComparison:
    a_success_rate: float | None
    b_success_rate: float | None
    success_z: float | None  # positive: b succeeds more often
    success_p_value: float | None
    latency_u: float | None  # U of b: pairs in which b is slower than a (ties count half)
    latency_z: float | None  # positive: b is slower
    latency_p_value: float | None
    a_median_ms: float | None
    b_median_ms: float | None
    verdict: Verdict
    summary: str


def normal_sf(z: float) -> float:
    """P(Z > z) for a standard normal Z, accurate in the tail."""
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z(
    a_success: int, a_total: int, b_success: int, b_total: int
) -> tuple[float, float]:
    """(z, two-sided p) of H0: both rates equal; z > 0 when b's rate is higher."""
    for name, success, total in (("a", a_success, a_total), ("b", b_success, b_total)):
        if total <= 0 or not 0 <= success <= total:
            raise ValueError(f"{name}: need 0 <= success <= total and total > 0")
    pooled = (a_success + b_success) / (a_total + b_total)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / a_total + 1.0 / b_total))
    if se == 0.0:  # every outcome the same on both sides: no evidence of a difference
        return 0.0, 1.0
    z = (b_success / b_total - a_success / a_total) / se
    return z, min(1.0, 2.0 * normal_sf(abs(z)))


def mann_whitney_u(a: Sequence[float], b: Sequence[float]) -> tuple[float, float, float]:
    """(U of b, z, two-sided p) of H0: a and b come from one distribution; z > 0 when b's
    values tend to be larger."""
    n_a, n_b = len(a), len(b)
    if n_a == 0 or n_b == 0:
        raise ValueError("both samples must be non-empty")
    pooled = sorted([(x, 0) for x in a] + [(x, 1) for x in b])
    n = n_a + n_b
    rank_sum_b = 0.0
    tie_term = 0.0
    i = 0
    while i < n:  # average ranks over each run of equal values
        j = i
        while j + 1 < n and pooled[j + 1][0] == pooled[i][0]:
            j += 1
        run = j - i + 1
        rank = (i + j) / 2.0 + 1.0
        rank_sum_b += rank * sum(1 for k in range(i, j + 1) if pooled[k][1] == 1)
        tie_term += run**3 - run
        i = j + 1
    u_b = rank_sum_b - n_b * (n_b + 1) / 2.0
    mean = n_a * n_b / 2.0
    variance = n_a * n_b / 12.0 * ((n + 1) - tie_term / (n * (n - 1))) if n > 1 else 0.0
    if variance <= 0.0:  # every value equal
        return u_b, 0.0, 1.0
    sd = math.sqrt(variance)
    distance = max(abs(u_b - mean) - 0.5, 0.0)  # continuity correction, towards the mean
    z = math.copysign(distance / sd, u_b - mean)
    return u_b, z, min(1.0, 2.0 * normal_sf(distance / sd))


def compare_split(
    a_success: int,
    a_total: int,
    b_success: int,
    b_total: int,
    a_latencies: Sequence[float] = (),
    b_latencies: Sequence[float] = (),
    *,
    alpha: float = 0.05,
    min_samples: int = 30,
) -> SplitComparison:
    """Compare the canary ``b`` with ``a``. A difference in success rate decides the verdict;
    latency decides only when the success rates do not differ significantly. Either side
    with fewer than ``min_samples`` outcomes gives ``insufficient_data`` (statistics are still
    computed when possible)."""
    rate_a = a_success / a_total if a_total > 0 else None
    rate_b = b_success / b_total if b_total > 0 else None
    z = p = None
    if a_total > 0 and b_total > 0:
        z, p = two_proportion_z(a_success, a_total, b_success, b_total)
    u = lz = lp = None
    if a_latencies and b_latencies:
        u, lz, lp = mann_whitney_u(a_latencies, b_latencies)
    med_a = statistics.median(a_latencies) if a_latencies else None
    med_b = statistics.median(b_latencies) if b_latencies else None

    if min(a_total, b_total) < min_samples:
        verdict = Verdict.INSUFFICIENT_DATA
    elif p is not None and z is not None and p < alpha:
        verdict = Verdict.B_BETTER if z > 0 else Verdict.B_WORSE
    elif lp is not None and lz is not None and lp < alpha:
        verdict = Verdict.B_SLOWER if lz > 0 else Verdict.B_FASTER
    else:
        verdict = Verdict.NO_DIFFERENCE

    parts = [f"verdict {verdict.value}"]
    if rate_a is not None and rate_b is not None and p is not None:
        parts.append(f"success {rate_b:.1%} (b) vs {rate_a:.1%} (a), p={p:.3g}")
    if med_a is not None and med_b is not None and lp is not None:
        parts.append(f"median latency {med_b:g} ms (b) vs {med_a:g} ms (a), p={lp:.3g}")
    if verdict is Verdict.INSUFFICIENT_DATA:
        parts.append(f"need {min_samples} outcomes per side, have {a_total} (a), {b_total} (b)")
    return SplitComparison(
        a_success_rate=rate_a,
        b_success_rate=rate_b,
        success_z=z,
        success_p_value=p,
        latency_u=u,
        latency_z=lz,
        latency_p_value=lp,
        a_median_ms=med_a,
        b_median_ms=med_b,
        verdict=verdict,
        summary="; ".join(parts),
    )
