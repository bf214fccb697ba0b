"""``classic``: seed 000's step rules, applied once per batch of new evidence.

Rules as seed 000 lists them (every number is a `ClassicParams` field):

- nothing happens below ``min_samples`` (100) outcomes;
- success rate (successes / outcomes) above 95% adds 0.2, below 85% subtracts 0.2;
- mean response time above 2,000 ms subtracts 0.1, below 500 ms adds 0.1;
- the result is clamped to [0, 5] and kept only if it moved by more than 0.1.

The seed applies these every 60 s to the same cumulative numbers, so any model outside the dead
zones walks to 0 or 5 however good or bad it is, at a speed set by the clock. ``classic`` applies
them only when at least ``min_samples`` outcomes arrived since its last adjustment, so a step
needs new evidence. ``gate_on_new_outcomes=False`` restores the seed's every-tick behaviour (to
show the drift); ``dead_zones=False`` is seed 001's code, where every model not above 95% loses
0.2 and every model not above 2 s gains 0.1. See docs/score-policies.md.

Seed 000's example "gpt-4o complex 4.8 -> 4.9 at success 0.98, 450 ms" does not follow from its
own rules: 0.98 > 0.95 gives +0.2 and 450 < 500 gives +0.1, so 4.8 becomes 5.1, clamped to 5.0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from routelearn.domain.policy.base import (
    Evidence,
    EvidenceBatch,
    ScoreDecision,
    confidence,
    decide_each,
    settle,
)
from routelearn.domain.recency import Decay

if TYPE_CHECKING:
    from routelearn.domain.recency import Rows, Vector

NAME = "classic"


@dataclass(frozen=True, slots=True)
class ClassicParams:
    min_samples: int = 100
    success_boost_above: float = 0.95
    success_penalty_below: float = 0.85
    success_step: float = 0.2
    slow_above_ms: float = 2000.0
    fast_below_ms: float = 500.0
    speed_step: float = 0.1
    publish_threshold: float = 0.1
    # False: seed 001's rules (no band between the thresholds: "not above" counts as "below").
    dead_zones: bool = True
    # False: the seed's behaviour, re-applying the rules every tick to the same numbers.
    gate_on_new_outcomes: bool = True

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, bool) and value < 0:
                raise ValueError(f"ClassicParams.{f.name} must be >= 0, got {value!r}")
        if not 0 <= self.success_penalty_below <= self.success_boost_above <= 1:
            raise ValueError(
                "ClassicParams needs 0 <= success_penalty_below <= success_boost_above <= 1, "
                f"got {self.success_penalty_below} and {self.success_boost_above}"
            )
        if self.fast_below_ms > self.slow_above_ms:
            raise ValueError(
                f"ClassicParams.fast_below_ms ({self.fast_below_ms}) must not exceed "
                f"slow_above_ms ({self.slow_above_ms})"
            )


# The seeds' behaviour, for documentation and for demonstrating the drift in tests.
SEED_000 = ClassicParams(gate_on_new_outcomes=False)
# Seed 001 also publishes any change at all (``new_score != current_score``).
SEED_001 = ClassicParams(dead_zones=False, gate_on_new_outcomes=False, publish_threshold=0.0)


def _success_rule(rate: float, p: ClassicParams) -> tuple[float, str]:
    if rate > p.success_boost_above:
        return p.success_step, f"success {rate:.3f} > {p.success_boost_above:g}"
    if not p.dead_zones or rate < p.success_penalty_below:
        limit = p.success_boost_above if not p.dead_zones else p.success_penalty_below
        relation = "<=" if not p.dead_zones else "<"
        return -p.success_step, f"success {rate:.3f} {relation} {limit:g}"
    return (
        0.0,
        f"success {rate:.3f} within [{p.success_penalty_below:g}, {p.success_boost_above:g}]",
    )


def _speed_rule(mean_ms: float | None, p: ClassicParams) -> tuple[float, str]:
    # No response time recorded: no evidence either way. (In the seed's Elixir a nil average
    # compares greater than any number, so it would take the slow penalty.)
    if mean_ms is None:
        return 0.0, "no response times"
    if mean_ms > p.slow_above_ms:
        return -p.speed_step, f"mean {mean_ms:.0f} ms > {p.slow_above_ms:g}"
    if not p.dead_zones or mean_ms < p.fast_below_ms:
        limit = p.slow_above_ms if not p.dead_zones else p.fast_below_ms
        relation = "<=" if not p.dead_zones else "<"
        return p.speed_step, f"mean {mean_ms:.0f} ms {relation} {limit:g}"
    return 0.0, f"mean {mean_ms:.0f} ms within [{p.fast_below_ms:g}, {p.slow_above_ms:g}]"


def decide(evidence: Evidence, params: ClassicParams | None = None) -> ScoreDecision:
    """One tick of the classic rules for one (model, complexity)."""
    p = params if params is not None else ClassicParams()
    n = evidence.samples
    conf = confidence(n, p.min_samples)
    current = evidence.current_score
    hold_why: str | None = None
    if n < p.min_samples:
        hold_why = f"{n} outcomes, fewer than {p.min_samples}"
    elif p.gate_on_new_outcomes and evidence.new_outcomes < p.min_samples:
        hold_why = (
            f"{evidence.new_outcomes} new outcomes since the last adjustment, "
            f"fewer than {p.min_samples}"
        )
    if hold_why is not None:
        return settle(
            NAME,
            evidence,
            current,
            threshold=p.publish_threshold,
            reason=f"{NAME}: {hold_why}",
            confidence=conf,
        )
    success_delta, success_why = _success_rule(evidence.successes / n, p)
    speed_delta, speed_why = _speed_rule(evidence.mean_response_ms, p)
    delta = success_delta + speed_delta
    why = (
        f"{NAME}: {success_why} ({success_delta:+g}), {speed_why} ({speed_delta:+g}) "
        f"over {n} outcomes: {current:g} {delta:+g}"
    )
    return settle(
        NAME, evidence, current + delta, threshold=p.publish_threshold, reason=why, confidence=conf
    )


@dataclass(frozen=True, slots=True)
class ClassicPolicy:
    """`decide` bound to its parameters, satisfying the `Policy` protocol."""

    params: ClassicParams = ClassicParams()

    @property
    def name(self) -> str:
        return NAME

    @property
    def decay(self) -> Decay:
        # Classic reads totals only; the learner keeps the recency state all the same (at the
        # default decay), so a switch to calibrated finds recent outcomes to weigh.
        return Decay()

    def decide(self, evidence: Evidence) -> ScoreDecision:
        return decide(evidence, self.params)

    def decide_all(self, batch: EvidenceBatch) -> Iterator[tuple[int, ScoreDecision]]:
        return decide_each(self, batch)

    def estimate_all(self, batch: EvidenceBatch) -> tuple[Vector, Vector] | None:
        """Seed 000's rules step scores without a posterior: routers explore by their own
        uncertainty and staleness weights."""
        return None

    def state_after(self, batch: EvidenceBatch) -> Rows | None:
        """Seed 000's rules read the all-time counters: the recency state is kept as it is."""
        return None
