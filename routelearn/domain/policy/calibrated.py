"""``calibrated`` (the default): the evidence sets a target score; the score steps toward it.

Unlike ``classic``, the new score is a function of the evidence, not of how many ticks ran: on
unchanged evidence the score reaches the target's neighbourhood and stays there (a fixed point).
With ``P`` = `CalibratedParams` (defaults in brackets):

1. Recency weights. Recent window ``i`` (age ``a`` = 0 for the newest) weighs
   ``w = 0.5 ** (a * window_seconds / P.half_life_seconds)`` [180 s]. Outcomes older than the
   windows (totals minus windows) are the model's own history; they weigh at most
   ``P.history_weight`` [100] in all, decayed as outcomes older than every window:
   ``w_old = min(1, history_weight / old_outcomes) * 0.5 ** (windows * window_seconds /
   half_life_seconds)``. So a busy model's score follows its last few minutes, and a model that
   lost its traffic is judged by what exploration still sees of it, not carried back up by its
   good past; with no recent evidence at all, the prior (centred on its current score, step 2)
   holds the score where it is.
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
3. Latency: p50 and p95 from the weighted histogram (latency.percentile). Each percentile's
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
from dataclasses import dataclass, fields

from routelearn.domain import latency
from routelearn.domain.policy.base import (
    MAX_SCORE,
    Evidence,
    ScoreDecision,
    clamp,
    confidence,
    settle,
)

NAME = "calibrated"
# latency.percentile counts in integers; weighted counts are scaled up before rounding so that
# small weights survive (a percentile does not change when every count is scaled alike).
_HISTOGRAM_SCALE = 1_000_000


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


def _badness(ms: float | None, good: float, bad: float) -> float:
    if ms is None or ms <= good:
        return 0.0
    return clamp(math.log(ms / good) / math.log(bad / good), 0.0, 1.0)


def _weighted_histogram(evidence: Evidence, weights: list[float], w_old: float) -> list[int]:
    """The latency histogram with the same weights as the outcomes, scaled to integers."""
    # Vectorised: the learner runs this for thousands of rows a tick (15 windows x 122 buckets
    # each), which element by element in Python took most of a tick.
    import numpy as np  # here, not at the top: ingestion workers never load numpy (memory)

    weighted = np.zeros(latency.NUM_BUCKETS)
    in_windows = np.zeros(latency.NUM_BUCKETS)
    rows = [(w, win.histogram) for w, win in zip(weights, evidence.recent, strict=True)]
    rows = [(w, h) for w, h in rows if h]
    if rows:
        matrix = np.array([h for _, h in rows], dtype=np.float64)
        weighted = np.array([w for w, _ in rows]) @ matrix
        in_windows = matrix.sum(axis=0)
    if evidence.histogram:
        old = np.array(evidence.histogram, dtype=np.float64) - in_windows
        weighted = weighted + w_old * np.clip(old, 0.0, None)
    return [int(x) for x in np.rint(weighted * _HISTOGRAM_SCALE)]


def assess(evidence: Evidence, params: CalibratedParams | None = None) -> Assessment:
    """The target score and the confidence the evidence supports."""
    p = params if params is not None else CalibratedParams()
    windows = evidence.recent
    last = len(windows) - 1
    weights = [
        0.5 ** ((last - i) * evidence.window_seconds / p.half_life_seconds)
        for i in range(len(windows))
    ]
    # Outcomes before the windows; max(0, ...) because a snapshot read in two statements may
    # see a window that the totals do not include yet.
    old_s = max(0, evidence.successes - sum(w.successes for w in windows))
    old_f = max(0, evidence.failures - sum(w.failures for w in windows))
    old_n = old_s + old_f
    # The history is older than every window: it decays like an outcome that old would, so a
    # model's good past does not carry it back to the top once its recent outcomes turned bad.
    age = len(windows) * evidence.window_seconds / p.half_life_seconds
    w_old = (1.0 if old_n <= p.history_weight else p.history_weight / old_n) * 0.5**age

    s = w_old * old_s + sum(w * win.successes for w, win in zip(weights, windows, strict=True))
    f = w_old * old_f + sum(w * win.failures for w, win in zip(weights, windows, strict=True))
    strength = p.prior_successes + p.prior_failures
    if p.prior_from_score:
        # The rate the current score stands for (its latency factor taken as 1).
        anchor = p.success_floor + (p.success_full - p.success_floor) * (
            evidence.current_score / MAX_SCORE
        )
        prior_s = strength * anchor
    else:
        prior_s = p.prior_successes
    rate = (s + prior_s) / (s + f + strength)
    q_success = clamp((rate - p.success_floor) / (p.success_full - p.success_floor), 0.0, 1.0)

    scaled = _weighted_histogram(evidence, weights, w_old)
    p50 = latency.percentile(scaled, 0.5)
    p95 = latency.percentile(scaled, 0.95)
    badness = max(
        _badness(p50, p.p50_good_ms, p.p50_bad_ms), _badness(p95, p.p95_good_ms, p.p95_bad_ms)
    )
    q_latency = 1.0 - p.latency_weight * badness

    return Assessment(
        successes=s,
        failures=f,
        success_rate=rate,
        p50_ms=p50,
        p95_ms=p95,
        latency_factor=q_latency,
        target=MAX_SCORE * q_success * q_latency,
        confidence=confidence(s + f, p.confidence_k),
    )


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def decide(evidence: Evidence, params: CalibratedParams | None = None) -> ScoreDecision:
    """One tick for one (model, complexity): a bounded step toward the evidence's target."""
    p = params if params is not None else CalibratedParams()
    current = evidence.current_score
    a = assess(evidence, p)
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


@dataclass(frozen=True, slots=True)
class CalibratedPolicy:
    """`decide` bound to its parameters, satisfying the `Policy` protocol."""

    params: CalibratedParams = CalibratedParams()

    @property
    def name(self) -> str:
        return NAME

    def decide(self, evidence: Evidence) -> ScoreDecision:
        return decide(evidence, self.params)
