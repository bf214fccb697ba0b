"""What a score policy reads and what it answers: `Evidence` in, `ScoreDecision` out.

A policy is a pure function of one immutable snapshot: no clock, no I/O, no randomness, so the
same snapshot always gives the same decision and a learner tick can be replayed in a unit test.
The learner builds the snapshot from aggregated counters (``model_routing_metrics`` and a few
recent windows), never from audit rows.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Protocol

from routelearn.domain import latency

MIN_SCORE = 0.0
MAX_SCORE = 5.0
# Scores leave a policy rounded, so the history table and every instance's catalog hold 4.5 and
# not 4.499999999999999 (4.8 - 0.2 - 0.1 in binary floating point).
SCORE_DECIMALS = 6
# Slack when comparing a change with the publish threshold: 4.9 - 4.8 is 0.10000000000000053 in
# floating point, which is a change of 0.1 and must not count as "above 0.1".
_EPSILON = 1e-9

Histogram = tuple[int, ...]  # latency.py's bucket layout; () means "no response times recorded"


def _check_counts(owner: str, successes: int, failures: int, histogram: Histogram) -> None:
    if successes < 0 or failures < 0:
        raise ValueError(f"{owner}: successes and failures must be >= 0")
    if histogram and len(histogram) != latency.NUM_BUCKETS:
        raise ValueError(
            f"{owner}.histogram has {len(histogram)} buckets, expected {latency.NUM_BUCKETS} "
            "(latency.py's layout) or none"
        )
    if histogram and min(histogram) < 0:  # min() runs in C: a learner tick checks 45,000
        raise ValueError(f"{owner}.histogram has a negative count")


@dataclass(frozen=True, slots=True)
class Window:
    """Outcomes counted during one recent slice of time (one learner tick, typically a minute).

    A learner can get these without reading audit rows: each tick it keeps the totals it read,
    and a window is the difference between two consecutive snapshots of the counters.
    """

    successes: int
    failures: int
    histogram: Histogram = ()

    def __post_init__(self) -> None:
        _check_counts("Window", self.successes, self.failures, self.histogram)

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything known about one (model, complexity) when the learner ticks.

    ``successes``/``failures``/``histogram`` are all-time totals (they include ``recent``);
    ``recent`` holds the latest windows, oldest first and newest last, each ``window_seconds``
    long. ``outcomes_at_last_adjustment`` is ``samples`` as it was when this row's score last
    changed (the learner stores ``ScoreDecision.based_on_samples`` when ``changed``).
    """

    model: str
    complexity: str
    current_score: float
    successes: int
    failures: int
    histogram: Histogram = ()
    mean_response_ms: float | None = None
    recent: tuple[Window, ...] = ()
    window_seconds: float = 60.0
    outcomes_at_last_adjustment: int = 0

    def __post_init__(self) -> None:
        # A score outside the range is a broken catalog row, not something to learn from.
        if not MIN_SCORE <= self.current_score <= MAX_SCORE:
            raise ValueError(
                f"Evidence.current_score must be within [{MIN_SCORE}, {MAX_SCORE}], "
                f"got {self.current_score!r} for {self.model}/{self.complexity}"
            )
        _check_counts("Evidence", self.successes, self.failures, self.histogram)
        if self.mean_response_ms is not None and not (
            math.isfinite(self.mean_response_ms) and self.mean_response_ms >= 0
        ):
            raise ValueError(f"Evidence.mean_response_ms must be >= 0, got {self.mean_response_ms}")
        if not (math.isfinite(self.window_seconds) and self.window_seconds > 0):
            raise ValueError(f"Evidence.window_seconds must be > 0, got {self.window_seconds}")
        if self.outcomes_at_last_adjustment < 0:
            raise ValueError("Evidence.outcomes_at_last_adjustment must be >= 0")

    @property
    def samples(self) -> int:
        """Decisions with an outcome (a decision still waiting for one is not evidence)."""
        return self.successes + self.failures

    @property
    def new_outcomes(self) -> int:
        """Outcomes counted since the last adjustment.

        A marker above the total means the counters were reset (a rebuilt table), so every
        outcome counts as new rather than none ever again.
        """
        if self.outcomes_at_last_adjustment > self.samples:
            return self.samples
        return self.samples - self.outcomes_at_last_adjustment


@dataclass(frozen=True, slots=True)
class ScoreDecision:
    """A policy's answer. When ``changed`` is false, ``new_score == old_score``: store nothing."""

    policy: str
    old_score: float
    new_score: float
    changed: bool
    reason: str
    confidence: float
    based_on_samples: int


class Policy(Protocol):
    """A score policy: a name (stored in the history table) and a pure decision function."""

    @property
    def name(self) -> str: ...

    def decide(self, evidence: Evidence) -> ScoreDecision: ...


def confidence(samples: float, half_at: float) -> float:
    """``n / (n + k)``: 0 with no evidence, 0.5 at ``k`` samples, approaching 1."""
    if samples <= 0:
        return 0.0
    return samples / (samples + half_at)


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))


def settle(
    policy: str,
    evidence: Evidence,
    proposed: float,
    *,
    threshold: float,
    reason: str,
    confidence: float,
) -> ScoreDecision:
    """Clamp and round ``proposed``; keep the old score unless it moves by more than
    ``threshold`` (a smaller move is never stored, so instances and the database never drift
    apart by unpublished steps)."""
    old = evidence.current_score
    new = round(clamp(proposed, MIN_SCORE, MAX_SCORE), SCORE_DECIMALS)
    if new != round(proposed, SCORE_DECIMALS):
        reason += f"; clamped to [{MIN_SCORE:g}, {MAX_SCORE:g}]"
    changed = abs(new - old) > threshold + _EPSILON
    if not changed and round(new - old, 3) != 0:
        reason += f"; change {new - old:+.3f} not above {threshold:g}, kept"
    return ScoreDecision(
        policy=policy,
        old_score=old,
        new_score=new if changed else old,
        changed=changed,
        reason=reason,
        confidence=confidence,
        based_on_samples=evidence.samples,
    )
