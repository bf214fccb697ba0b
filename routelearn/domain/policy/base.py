"""What a score policy reads and what it answers: `Evidence` in, `ScoreDecision` out.

A policy is a pure function of one immutable snapshot: no clock, no I/O, no randomness, so the
same snapshot always gives the same decision and a learner tick can be replayed in a unit test.
The learner builds the snapshot from aggregated counters (``model_routing_metrics`` and its own
recency-weighted sums), never from audit rows.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from routelearn.domain import latency
from routelearn.domain.recency import Decay, Recent, Rows

if TYPE_CHECKING:
    from routelearn.domain.recency import Counts, Vector

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
    if histogram and min(histogram) < 0:  # min() runs in C
        raise ValueError(f"{owner}.histogram has a negative count")


@dataclass(frozen=True, slots=True)
class Evidence:
    """Everything known about one (model, complexity) when the learner ticks.

    ``successes``/``failures``/``histogram`` are all-time totals; ``recent`` the same outcomes
    weighted by age (`routelearn.domain.recency`), as the learner keeps them; None when there is
    no such state (a policy that weighs recency then starts from the totals, as the learner
    does at first sight). ``outcomes_at_last_adjustment`` is ``samples`` as it was when this
    row's score last changed (the learner stores ``ScoreDecision.based_on_samples`` when
    ``changed``). ``window`` is (successes, failures) counted over the learner's last few
    ticks (its change window), or None when not known (no counter snapshot that old yet);
    ``before`` the same over the few ticks before the window; ``short`` the same over windows
    shorter than the change window and ending with it (the last tick, the last two), shortest
    first, each None when not known.
    """

    model: str
    complexity: str
    current_score: float
    successes: int
    failures: int
    histogram: Histogram = ()
    mean_response_ms: float | None = None
    recent: Recent | None = None
    outcomes_at_last_adjustment: int = 0
    window: tuple[int, int] | None = None
    before: tuple[int, int] | None = None
    short: tuple[tuple[int, int] | None, ...] = ()

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
        if self.outcomes_at_last_adjustment < 0:
            raise ValueError("Evidence.outcomes_at_last_adjustment must be >= 0")
        for name in ("window", "before"):
            counts = getattr(self, name)
            if counts is not None and min(counts) < 0:
                raise ValueError(f"Evidence.{name} counts must be >= 0, got {counts}")
        for counts in self.short:
            if counts is not None and min(counts) < 0:
                raise ValueError(f"Evidence.short counts must be >= 0, got {counts}")
        recent = self.recent.histogram if self.recent is not None else ()
        if recent and len(recent) != latency.NUM_BUCKETS:
            raise ValueError(
                f"Evidence.recent.histogram has {len(recent)} buckets, "
                f"expected {latency.NUM_BUCKETS} (latency.py's layout) or none"
            )

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


@dataclass(frozen=True, slots=True)
class EvidenceBatch:
    """The `Evidence` of many rows as columns: what one learner tick hands a policy.

    Row ``i`` of every column is the (model, complexity) ``keys[i]``; ``histograms`` holds the
    all-time totals (rows x NUM_BUCKETS), ``recent`` the recency-weighted outcomes. A policy
    that weighs rows one at a time reads them through `row`; ``calibrated`` computes on the
    columns directly (numpy), which is what keeps a tick of thousands of rows well under a
    second.
    """

    keys: Sequence[tuple[str, str]]
    current_scores: Vector
    successes: Sequence[int]
    failures: Sequence[int]
    histograms: Counts
    mean_response_ms: Sequence[float | None]
    recent: Rows
    outcomes_at_last_adjustment: Sequence[int]
    # Evidence.window as two columns; NaN where not known. None: not known for any row.
    window_successes: Vector | None = None
    window_failures: Vector | None = None
    # Evidence.before, likewise.
    before_successes: Vector | None = None
    before_failures: Vector | None = None
    # Evidence.short: a (successes, failures) pair of columns per short window, shortest first.
    short: tuple[tuple[Vector, Vector], ...] = ()

    def __post_init__(self) -> None:
        n = len(self.keys)
        columns = (
            self.current_scores,
            self.successes,
            self.failures,
            self.histograms,
            self.mean_response_ms,
            self.recent.successes,
            self.outcomes_at_last_adjustment,
            *(c for c in self._segment_columns() if c is not None),
        )
        for name in ("window", "before"):
            if (getattr(self, f"{name}_successes") is None) != (
                getattr(self, f"{name}_failures") is None
            ):
                raise ValueError(f"EvidenceBatch: {name}_successes and {name}_failures go together")
        if any(len(column) != n for column in columns):
            raise ValueError(f"EvidenceBatch: columns of different lengths for {n} keys")
        if n and self.histograms.shape[1] != latency.NUM_BUCKETS:
            raise ValueError(
                f"EvidenceBatch.histograms has {self.histograms.shape[1]} buckets, expected "
                f"{latency.NUM_BUCKETS}"
            )
        self._check_columns()

    def _check_columns(self) -> None:
        """Evidence's refusals, for whole columns at once: a row that `decide` would refuse
        is refused here too, whether or not it would have changed."""
        import numpy as np  # here, not at the top: ingestion workers import this package

        def check(ok: Any, what: Callable[[int], str]) -> None:
            bad = np.flatnonzero(~np.asarray(ok, dtype=bool))
            if len(bad):
                model, complexity = self.keys[int(bad[0])]
                raise ValueError(f"Evidence.{what(int(bad[0]))} for {model}/{complexity}")

        if not len(self):
            return
        scores = self.current_scores
        check(
            (scores >= MIN_SCORE) & (scores <= MAX_SCORE),
            lambda i: (
                f"current_score must be within [{MIN_SCORE}, {MAX_SCORE}], got {float(scores[i])!r}"
            ),
        )
        counts = np.column_stack([self.successes, self.failures, self.outcomes_at_last_adjustment])
        check(
            (counts >= 0).all(axis=1),
            lambda i: "successes, failures and outcomes_at_last_adjustment must be >= 0",
        )
        check((self.histograms >= 0).all(axis=1), lambda i: "histogram has a negative count")
        means = np.array([0.0 if m is None else m for m in self.mean_response_ms], dtype=float)
        check(
            np.isfinite(means) & (means >= 0),
            lambda i: f"mean_response_ms must be >= 0, got {self.mean_response_ms[i]}",
        )
        r = self.recent
        weights = np.column_stack([r.successes, r.failures, r.histograms])
        check((weights >= 0).all(axis=1), lambda i: "recent has a negative or NaN weight")

        def check_segment(name: str, successes: Vector | None, failures: Vector | None) -> None:
            if successes is None or failures is None:
                return
            segment = np.column_stack([successes, failures])
            whole = np.isfinite(segment) & (segment >= 0) & (np.floor(segment) == segment)
            check(
                np.isnan(segment).all(axis=1) | whole.all(axis=1),
                lambda i: f"{name} counts must be whole numbers >= 0 (or both NaN: not known)",
            )

        check_segment("window", self.window_successes, self.window_failures)
        check_segment("before", self.before_successes, self.before_failures)
        for k, (successes, failures) in enumerate(self.short):
            if successes is None or failures is None:
                raise ValueError(f"EvidenceBatch.short[{k}]: successes and failures go together")
            check_segment(f"short[{k}]", successes, failures)

    def _segment_columns(self) -> tuple[Vector | None, ...]:
        return (
            self.window_successes,
            self.window_failures,
            self.before_successes,
            self.before_failures,
            *(column for pair in self.short for column in pair),
        )

    def __len__(self) -> int:
        return len(self.keys)

    def row(self, i: int) -> Evidence:
        model, complexity = self.keys[i]
        return Evidence(
            model=model,
            complexity=complexity,
            current_score=float(self.current_scores[i]),
            successes=self.successes[i],
            failures=self.failures[i],
            histogram=tuple(self.histograms[i].tolist()),
            mean_response_ms=self.mean_response_ms[i],
            recent=Recent(
                float(self.recent.successes[i]),
                float(self.recent.failures[i]),
                self.recent.histograms[i].tolist(),
            ),
            outcomes_at_last_adjustment=self.outcomes_at_last_adjustment[i],
            window=_counts(self.window_successes, self.window_failures, i),
            before=_counts(self.before_successes, self.before_failures, i),
            short=tuple(_counts(s, f, i) for s, f in self.short),
        )


def _counts(successes: Vector | None, failures: Vector | None, i: int) -> tuple[int, int] | None:
    if successes is None or failures is None:
        return None
    s, f = float(successes[i]), float(failures[i])
    return None if math.isnan(s) or math.isnan(f) else (int(s), int(f))


class Policy(Protocol):
    """A score policy: a name (stored in the history table), how fast the evidence it weighs
    decays (the learner keeps `Evidence.recent` by it), and pure decision functions: one row,
    and a whole tick's rows."""

    @property
    def name(self) -> str: ...

    @property
    def decay(self) -> Decay: ...

    def decide(self, evidence: Evidence) -> ScoreDecision: ...

    def decide_all(self, batch: EvidenceBatch) -> Iterator[tuple[int, ScoreDecision]]:
        """The decisions that change a score, with their row in ``batch``; exactly those of
        `decide` on each row."""
        ...

    def estimate_all(self, batch: EvidenceBatch) -> tuple[Vector, Vector] | None:
        """Each row's estimated score and its spread (`routelearn.domain.estimates`), for the
        routers' exploration; None for a policy that has no posterior to offer."""
        ...

    def state_after(self, batch: EvidenceBatch) -> Rows | None:
        """The recency state the learner keeps after this tick: ``batch.recent``, except where
        the policy holds that what it weighed no longer describes the row (a change); None:
        ``batch.recent`` as it is."""
        ...


def decide_each(policy: Policy, batch: EvidenceBatch) -> Iterator[tuple[int, ScoreDecision]]:
    """`Policy.decide_all` for a policy that weighs one row at a time."""
    for i in range(len(batch)):
        decision = policy.decide(batch.row(i))
        if decision.changed:
            yield i, decision


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
