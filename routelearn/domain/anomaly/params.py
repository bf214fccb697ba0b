"""Thresholds of the anomaly rules and of the open/update/close lifecycle.

Each alarm threshold has a *clear* twin a little on the healthy side: an anomaly opens past the
alarm threshold but, once open, holds until the value is back past the clear threshold. A value
hovering at the threshold therefore does not open and close it every minute (hysteresis). The
same applies to the critical severity. docs/anomalies.md explains every default.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from itertools import pairwise


@dataclass(frozen=True, slots=True)
class RuleParams:
    # Low success rate: success / (success + failure) in the window.
    min_outcomes: int = 20
    success_rate_warning: float = 0.85  # opens below
    success_rate_clear: float = 0.87  # an open anomaly holds below
    success_rate_critical: float = 0.70
    success_rate_critical_clear: float = 0.72

    # Slow responses: a percentile of the window's response-time histogram, in ms.
    min_latency_samples: int = 20
    latency_quantile: float = 0.95
    slow_ms_warning: float = 5_000.0  # opens above
    slow_ms_clear: float = 4_500.0  # an open anomaly holds above
    slow_ms_critical: float = 10_000.0
    slow_ms_critical_clear: float = 9_000.0

    # Failure spike: one-sided exact binomial test of the window against the baseline rate.
    spike_min_outcomes: int = 20
    spike_min_baseline_outcomes: int = 100
    spike_alpha: float = 0.001  # opens when p < alpha ...
    spike_clear_alpha: float = 0.01  # ... an open anomaly holds while p < this
    spike_min_effect: float = 0.10  # ... and the failure rate exceeds the baseline's by this
    spike_clear_effect: float = 0.05
    spike_critical_effect: float = 0.25
    spike_critical_clear_effect: float = 0.20
    # Jeffreys prior Beta(1/2, 1/2) on the baseline failure rate: a baseline without a single
    # failure does not make every later failure infinitely significant.
    spike_prior_failures: float = 0.5
    spike_prior_successes: float = 0.5

    # Instance silence.
    silence_min_rate_per_min: float = 1.0  # instances quieter than this are never "silent"
    silence_min_gap: timedelta = timedelta(minutes=5)
    silence_gap_factor: float = 10.0  # x the usual inter-arrival time (1 / rate)
    silence_critical_factor: float = 3.0  # x the silence threshold

    def __post_init__(self) -> None:
        for name in ("min_outcomes", "min_latency_samples", "spike_min_outcomes"):
            _require(self, name, getattr(self, name) >= 1, "must be >= 1")
        _require(
            self,
            "spike_min_baseline_outcomes",
            self.spike_min_baseline_outcomes >= 0,
            "must be >= 0",
        )
        _ordered(self, "success_rate_critical", "success_rate_warning", "success_rate_clear")
        _ordered(self, "success_rate_critical", "success_rate_critical_clear", "success_rate_clear")
        _require(self, "success_rate_clear", self.success_rate_clear <= 1.0, "must be <= 1")
        _require(self, "success_rate_critical", self.success_rate_critical > 0.0, "must be > 0")
        _require(self, "latency_quantile", 0.0 < self.latency_quantile <= 1.0, "must be in (0, 1]")
        _ordered(self, "slow_ms_clear", "slow_ms_warning", "slow_ms_critical")
        _ordered(self, "slow_ms_clear", "slow_ms_critical_clear", "slow_ms_critical")
        _require(self, "slow_ms_clear", self.slow_ms_clear > 0.0, "must be > 0")
        _ordered(self, "spike_alpha", "spike_clear_alpha")
        _require(self, "spike_alpha", 0.0 < self.spike_alpha < 1.0, "must be in (0, 1)")
        _require(self, "spike_clear_alpha", self.spike_clear_alpha < 1.0, "must be < 1")
        _ordered(self, "spike_clear_effect", "spike_min_effect", "spike_critical_effect")
        _ordered(self, "spike_clear_effect", "spike_critical_clear_effect", "spike_critical_effect")
        _require(self, "spike_clear_effect", self.spike_clear_effect > 0.0, "must be > 0")
        for name in ("spike_prior_failures", "spike_prior_successes"):
            _require(self, name, getattr(self, name) > 0.0, "must be > 0")
        _require(
            self, "silence_min_rate_per_min", self.silence_min_rate_per_min > 0.0, "must be > 0"
        )
        _require(self, "silence_min_gap", self.silence_min_gap > timedelta(0), "must be positive")
        _require(self, "silence_gap_factor", self.silence_gap_factor > 0.0, "must be > 0")
        _require(
            self, "silence_critical_factor", self.silence_critical_factor >= 1.0, "must be >= 1"
        )


@dataclass(frozen=True, slots=True)
class LifecycleParams:
    # An open anomaly closes after this many consecutive sweeps judged it clear.
    clear_after: int = 2
    # An open anomaly no sweep could judge (too few samples, no data) closes after this long
    # since it was last seen, so a model nobody routes to any more does not stay open forever.
    expire_after: timedelta = timedelta(hours=1)
    # An update is published when the severity changes or the value moved this far from the one
    # last published: absolute for rates, relative for response times. Silence durations grow
    # every sweep by design, so only a change of severity updates them.
    rate_tolerance: float = 0.05
    latency_tolerance: float = 0.25

    def __post_init__(self) -> None:
        _require(self, "clear_after", self.clear_after >= 1, "must be >= 1")
        _require(self, "expire_after", self.expire_after > timedelta(0), "must be positive")
        _require(self, "rate_tolerance", self.rate_tolerance >= 0.0, "must be >= 0")
        _require(self, "latency_tolerance", self.latency_tolerance >= 0.0, "must be >= 0")


def _require(params: object, name: str, ok: bool, what: str) -> None:
    if not ok:
        raise ValueError(f"{type(params).__name__}.{name} {what}, got {getattr(params, name)!r}")


def _ordered(params: object, *names: str) -> None:
    """The named thresholds must not decrease in the order given."""
    values = [getattr(params, name) for name in names]
    if any(a > b for a, b in pairwise(values)):
        shown = " <= ".join(f"{n} ({v!r})" for n, v in zip(names, values, strict=True))
        raise ValueError(f"{type(params).__name__} needs {shown}")
