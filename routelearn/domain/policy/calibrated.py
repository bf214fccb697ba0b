"""``calibrated`` (the default): the evidence sets a target score; the score steps toward it.

Unlike ``classic``, the new score is a function of the evidence, not of how many ticks ran: on
unchanged evidence the score reaches the target's neighbourhood and stays there (a fixed point).
With ``P`` = `CalibratedParams` (defaults in brackets):

1. Recency. Every outcome weighs ``0.5 ** (age / P.half_life_seconds)`` [180 s]; the learner
   keeps the weighted successes, failures and latency histogram per (model, complexity) as
   running sums (`routelearn.domain.recency`): each tick decays them by the time that passed and
   adds the new outcomes. Outcomes from before the learner first saw the row (its history)
   weigh at most ``P.history_weight`` [100] in all, then decay like any others. So a busy
   model's score follows its last few minutes, and a model that lost its traffic is judged by
   what exploration still sees of it, not carried back up by its good past; with no recent
   evidence at all, the prior (centred on its current score, step 2) holds the score where it
   is. Evidence without a recency state is taken as first seen.
2. Success: ``s`` and ``f`` = the weighted successes and failures, ``n_eff = s + f``. The prior
   is ``k`` = ``P.prior_successes + P.prior_failures`` [2] pseudo-outcomes at the success rate
   ``r0`` the current score stands for (``r0 = floor + (full - floor) * score / 5``, the inverse
   of the mapping below), so the posterior mean is ``rate = (s + k * r0) / (n_eff + k)``: 3/3 at
   the default score 2.5 gives 0.90, 970/1000 counted in full 0.97. Centring the prior on the
   score rather than on 0.5 (``P.prior_from_score`` [True]; False gives the plain
   Beta(prior_successes, prior_failures)) matters for a model that gets little traffic, such as
   a runner-up seen only through exploration: a prior at 0.5 drags its rate down at every tick
   (12 outcomes at a true 0.93 read as 0.87, a score of 3.7 instead of 4.3), so it could not take
   over when the leader degrades. With the prior on the score, the fixed point of the score is
   the target of the observed rate ``s / n_eff`` itself, unbiased, and few outcomes move it
   little. Mapped linearly
   to ``q_success = clamp((rate - P.success_floor) / (P.success_full - P.success_floor), 0, 1)``
   [0.5, 1.0]. The posterior mean, not a lower credible bound: a bound would tie the target to
   traffic volume for good (a rarely used model could never score high); small samples are
   already held back by the confidence in step 4.
3. Latency: p50 and p95 from the recency-weighted histogram (latency.percentiles). Each percentile's
   badness is ``clamp(log(x / good) / log(bad / good), 0, 1)`` with p50 [500, 2000 ms] (seed
   000's thresholds, applied to the median) and p95 [1000, 5000 ms] (5 s is the anomaly sweep's
   threshold); ``q_latency = 1 - P.latency_weight * max(bad50, bad95)`` [0.4]: a slow but
   reliable model keeps at least 60% of its score. No response times: ``q_latency = 1``.
4. ``target = 5 * q_success * q_latency``; ``confidence = n_eff / (n_eff + P.confidence_k)``
   [20]. ``new = current + clamp(target - current, -limit, +limit)`` with
   ``limit = P.max_step * confidence`` [0.5 per tick]. The change is kept only if it exceeds
   ``P.publish_threshold`` [0.1], so the score rests within 0.1 of the target and noise below
   that never reaches the instances. Below ``P.min_samples`` [20] outcomes in all, no change.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING

from routelearn.domain import latency, recency
from routelearn.domain.policy.base import (
    MAX_SCORE,
    MIN_SCORE,
    Evidence,
    EvidenceBatch,
    ScoreDecision,
    clamp,
    settle,
)
from routelearn.domain.recency import Decay

if TYPE_CHECKING:
    from routelearn.domain.recency import Vector

NAME = "calibrated"
# Rounding and clamping happen in `settle`; a candidate within this of the threshold is passed
# to it rather than judged by the vectorised pre-filter.
_CANDIDATE_MARGIN = 1e-6


@dataclass(frozen=True, slots=True)
class CalibratedParams:
    min_samples: int = 20
    prior_successes: float = 1.0
    prior_failures: float = 1.0
    # True: the prior's pseudo-outcomes (as many as prior_successes + prior_failures) are
    # centred on the success rate the current score stands for, not on prior_successes' share
    # (see step 2 of the module doc); False: the plain Beta(prior_successes, prior_failures).
    prior_from_score: bool = True
    half_life_seconds: float = 180.0
    history_weight: float = 100.0
    success_floor: float = 0.5
    success_full: float = 1.0
    p50_good_ms: float = 500.0
    p50_bad_ms: float = 2000.0
    p95_good_ms: float = 1000.0
    p95_bad_ms: float = 5000.0
    latency_weight: float = 0.4
    confidence_k: float = 20.0
    max_step: float = 0.5
    publish_threshold: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"CalibratedParams.{f.name} must be >= 0")
        for name in ("prior_successes", "prior_failures", "half_life_seconds", "confidence_k"):
            if getattr(self, name) <= 0:
                raise ValueError(f"CalibratedParams.{name} must be > 0")
        if not 0 <= self.success_floor < self.success_full <= 1:
            raise ValueError("CalibratedParams needs 0 <= success_floor < success_full <= 1")
        for prefix in ("p50", "p95"):
            if not 0 < getattr(self, f"{prefix}_good_ms") < getattr(self, f"{prefix}_bad_ms"):
                raise ValueError(f"CalibratedParams needs 0 < {prefix}_good_ms < {prefix}_bad_ms")
        if self.latency_weight > 1:
            raise ValueError("CalibratedParams.latency_weight must be <= 1")
        try:
            self.decay  # noqa: B018 - refuses an infinite half-life or a NaN weight now, not at a tick
        except ValueError as exc:
            raise ValueError(f"CalibratedParams: {exc}") from None

    @property
    def decay(self) -> Decay:
        return Decay(self.half_life_seconds, self.history_weight)


@dataclass(frozen=True, slots=True)
class Assessment:
    """What the evidence says, before any step: the learner may log or display it."""

    successes: float  # recency-weighted
    failures: float
    success_rate: float  # Beta posterior mean
    p50_ms: float | None
    p95_ms: float | None
    latency_factor: float
    target: float
    confidence: float

    @property
    def effective_samples(self) -> float:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class Assessments:
    """`Assessment`s of many rows as columns (NaN percentile: no response times)."""

    successes: Vector
    failures: Vector
    success_rate: Vector
    p50_ms: Vector
    p95_ms: Vector
    latency_factor: Vector
    target: Vector
    confidence: Vector

    def row(self, i: int) -> Assessment:
        def ms(value: float) -> float | None:
            return None if math.isnan(value) else value

        return Assessment(
            successes=float(self.successes[i]),
            failures=float(self.failures[i]),
            success_rate=float(self.success_rate[i]),
            p50_ms=ms(float(self.p50_ms[i])),
            p95_ms=ms(float(self.p95_ms[i])),
            latency_factor=float(self.latency_factor[i]),
            target=float(self.target[i]),
            confidence=float(self.confidence[i]),
        )


def _badness(ms: Vector, good: float, bad: float) -> Vector:
    """0 at or below ``good`` (and with no response times), 1 at or above ``bad``, log-linear
    between."""
    import numpy as np

    scaled = np.log(np.fmax(ms, good) / good) / math.log(bad / good)  # fmax: NaN -> good
    return np.clip(scaled, 0.0, 1.0)


def assess_all(
    current_scores: Vector, recent: recency.Rows, params: CalibratedParams | None = None
) -> Assessments:
    """Steps 2-4 of the module doc for every row at once (numpy): the learner's form."""
    import numpy as np  # here, not at the top: ingestion workers import this package

    p = params if params is not None else CalibratedParams()
    s, f = recent.successes, recent.failures
    strength = p.prior_successes + p.prior_failures
    if p.prior_from_score:
        # The rate the current score stands for (its latency factor taken as 1).
        anchor = p.success_floor + (p.success_full - p.success_floor) * (current_scores / MAX_SCORE)
        prior_s = strength * anchor
    else:
        prior_s = np.full(len(s), p.prior_successes)
    rate = (s + prior_s) / (s + f + strength)
    q_success = np.clip((rate - p.success_floor) / (p.success_full - p.success_floor), 0.0, 1.0)
    p50 = latency.percentiles(recent.histograms, 0.5)
    p95 = latency.percentiles(recent.histograms, 0.95)
    badness = np.maximum(
        _badness(p50, p.p50_good_ms, p.p50_bad_ms), _badness(p95, p.p95_good_ms, p.p95_bad_ms)
    )
    q_latency = 1.0 - p.latency_weight * badness
    n = s + f
    return Assessments(
        successes=s,
        failures=f,
        success_rate=rate,
        p50_ms=p50,
        p95_ms=p95,
        latency_factor=q_latency,
        target=MAX_SCORE * q_success * q_latency,
        confidence=n / (n + p.confidence_k),  # base.confidence: 0 without evidence
    )


def assess(evidence: Evidence, params: CalibratedParams | None = None) -> Assessment:
    """The target score and the confidence the evidence supports (`assess_all` of one row)."""
    import numpy as np

    p = params if params is not None else CalibratedParams()
    recent = evidence.recent
    if recent is None:
        recent = recency.first(evidence.successes, evidence.failures, evidence.histogram, p.decay)
    histogram = list(recent.histogram) or [0.0] * latency.NUM_BUCKETS
    rows = recency.Rows(
        np.array([recent.successes]), np.array([recent.failures]), np.array([histogram])
    )
    return assess_all(np.array([evidence.current_score]), rows, p).row(0)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _decision(evidence: Evidence, a: Assessment, p: CalibratedParams) -> ScoreDecision:
    """Step 4's bounded step toward the target, settled against the publish threshold."""
    current = evidence.current_score
    if evidence.samples < p.min_samples:
        proposed = current
        why = f"{NAME}: {evidence.samples} outcomes, fewer than {p.min_samples}"
    else:
        limit = p.max_step * a.confidence
        step = clamp(a.target - current, -limit, limit)
        proposed = current + step
        why = (
            f"{NAME}: success {a.success_rate:.3f} over {a.effective_samples:.1f} weighted "
            f"outcomes, p50 {_ms(a.p50_ms)}, p95 {_ms(a.p95_ms)}, latency factor "
            f"{a.latency_factor:.2f}; target {a.target:.2f}, step {step:+.2f} (limit {limit:.2f})"
        )
    return settle(
        NAME, evidence, proposed, threshold=p.publish_threshold, reason=why, confidence=a.confidence
    )


def decide(evidence: Evidence, params: CalibratedParams | None = None) -> ScoreDecision:
    """One tick for one (model, complexity): a bounded step toward the evidence's target."""
    p = params if params is not None else CalibratedParams()
    return _decision(evidence, assess(evidence, p), p)


def decide_all(
    batch: EvidenceBatch, params: CalibratedParams | None = None
) -> Iterator[tuple[int, ScoreDecision]]:
    """`decide` for every row of a tick, yielding the changes: the arithmetic runs on the
    columns; only rows whose score would move past the threshold become `ScoreDecision`s."""
    import numpy as np

    p = params if params is not None else CalibratedParams()
    a = assess_all(batch.current_scores, batch.recent, p)
    current = batch.current_scores
    samples = np.asarray(batch.successes, dtype=np.float64) + np.asarray(batch.failures)
    limit = p.max_step * a.confidence
    proposed = np.where(
        samples < p.min_samples, current, current + np.clip(a.target - current, -limit, limit)
    )
    moved = np.abs(np.clip(proposed, MIN_SCORE, MAX_SCORE) - current)
    # A margin below the threshold: `settle`, row by row, has the last word on every candidate.
    for i in np.flatnonzero(moved > p.publish_threshold - _CANDIDATE_MARGIN).tolist():
        decision = _decision(batch.row(i), a.row(i), p)
        if decision.changed:
            yield i, decision


@dataclass(frozen=True, slots=True)
class CalibratedPolicy:
    """`decide` bound to its parameters, satisfying the `Policy` protocol."""

    params: CalibratedParams = CalibratedParams()

    @property
    def name(self) -> str:
        return NAME

    @property
    def decay(self) -> Decay:
        return self.params.decay

    def decide(self, evidence: Evidence) -> ScoreDecision:
        return decide(evidence, self.params)

    def decide_all(self, batch: EvidenceBatch) -> Iterator[tuple[int, ScoreDecision]]:
        return decide_all(batch, self.params)
