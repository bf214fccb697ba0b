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
   A change cuts the memory short: when the outcomes of the learner's change window (its last
   three ticks, counted from the counter snapshots it keeps) disagree with the older evidence
   (a G-test at ``P.shift_g`` [6.63, p = 0.01], ``P.shift_min`` [5] outcomes on each side; for
   a change for the better at ``P.rise_g`` [6.63]), the row is judged on the window alone.
   The window is also compared, the same way, with the segment just before it (the six ticks
   before, ``Evidence.before``): a leader that recovers after a bad spell has a good past, and
   its older evidence as a whole (good past and bad spell) may not differ clearly from the few
   outcomes exploration gives it, but the spell does.
   And the last tick and the last two (``Evidence.short``) are each compared with the ticks
   before them: a change one tick old is a third of the window, and only its last tick shows
   it clearly. Of the comparisons that find a change, the clearest (the largest statistic;
   among those that split the same ticks, the likeliest change point) says which recent
   outcomes the row is judged on, and the learner keeps them as the row's weighted sums
   (`state_after`): the change is kept after the test stops firing.
   A model that recovered, or was upgraded, while exploration was all it got would otherwise
   stay judged on its bad past for several half-lives (the recovery scenario: 9 ticks); a
   degradation shows as fast.
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
   ``limit = P.max_step * confidence`` [0.5 per tick], unless the score is more than
   ``P.band_z`` [2] *spreads* from the target: then it moves to the target at once. The spread
   is the posterior's standard deviation of the target (``sqrt(rate * (1 - rate) / (n_eff + k
   + 1))`` mapped to score points): evidence that rules the current score out (a new model's
   first few dozen successes, a degraded leader's failures, a recovered model's run of
   successes) is followed in one tick, where the limit would spread the move over many;
   evidence that does not (a handful of outcomes, noise around the target) still moves the
   score by bounded steps. The change is kept only if it exceeds ``P.publish_threshold``
   [0.1], so the score rests within 0.1 of the target and noise below that never reaches the
   instances. Below ``P.min_samples`` [20] outcomes in all, no change.
5. Each tick the learner also sends every row's target and spread to the instances
   (`routelearn.domain.estimates`): their routers direct exploration with it. Where the change
   window alone points higher, its target and spread are sent (`estimate_all`).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
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
    from typing import Any

    import numpy as np

    from routelearn.domain.recency import Vector

    Flags = np.ndarray[Any, np.dtype[np.bool_]]
    Indices = np.ndarray[Any, np.dtype[np.int64]]

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
    # A score further than this many spreads (the posterior's standard deviation of the target)
    # from the target moves straight to it: the evidence rules the current score out, so the
    # step limit would only delay the move. 0: always the bounded step.
    band_z: float = 2.0
    # A change: the success rate over the learner's change window (its last few ticks), or a
    # short window (the last tick, the last two), and the one of what came before it differ
    # with a G statistic above shift_g [6.63, p = 0.01 for one degree of freedom], each side
    # having at least shift_min outcomes. The row is then judged on that recent segment alone
    # (step 1, `changes`). shift_g = 0: never (rises included). rise_g [6.63]: the threshold
    # for a recent segment better than what came before it. A laxer one (3.84, p = 0.05) finds
    # an upgraded model sooner, since it is seen only through exploration's few outcomes, but
    # judges a recovering one on its first few outcomes and then climbs slowly from them
    # (docs/score-policies.md, "Many seeds"); a false rise is kept (`state_after`) until the
    # row's own outcomes say otherwise.
    shift_g: float = 6.63
    rise_g: float = 6.63
    shift_min: float = 5.0
    publish_threshold: float = 0.1

    def __post_init__(self) -> None:
        for f in fields(self):
            if getattr(self, f.name) < 0:
                raise ValueError(f"CalibratedParams.{f.name} must be >= 0")
        for name in (
            "prior_successes",
            "prior_failures",
            "half_life_seconds",
            "confidence_k",
            "rise_g",
        ):
            value = getattr(self, name)
            if not value > 0:  # NaN too
                raise ValueError(f"CalibratedParams.{name} must be > 0, got {value!r}")
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
    spread: float  # the target's posterior standard deviation, in score points
    confidence: float
    # Step 1's change: 0 none (judged on the weighted sums), 1 judged on the change window
    # alone, 2 + k on short window k alone (the last tick, the last two ticks).
    judged_on: int = 0

    @property
    def shifted(self) -> bool:
        return self.judged_on > 0

    @property
    def judged_over(self) -> str:
        """What the outcomes are, for the reason text."""
        if self.judged_on == 0:
            return "weighted outcomes"
        if self.judged_on == 1:
            return "outcomes of the change window"
        ticks = self.judged_on - 1
        return "outcomes of the last tick" if ticks == 1 else f"outcomes of the last {ticks} ticks"

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
    spread: Vector
    confidence: Vector
    judged_on: Indices  # Assessment.judged_on, per row

    @property
    def shifted(self) -> Flags:
        return self.judged_on > 0

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
            spread=float(self.spread[i]),
            confidence=float(self.confidence[i]),
            judged_on=int(self.judged_on[i]),
        )


def _badness(ms: Vector, good: float, bad: float) -> Vector:
    """0 at or below ``good`` (and with no response times), 1 at or above ``bad``, log-linear
    between."""
    import numpy as np

    scaled = np.log(np.fmax(ms, good) / good) / math.log(bad / good)  # fmax: NaN -> good
    return np.clip(scaled, 0.0, 1.0)


def _xlogx_over(observed: Vector, expected: Vector) -> Vector:
    """``o * ln(o / e)``, 0 where ``o`` is 0 (its limit)."""
    import numpy as np

    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(observed > 0, observed * np.log(observed / expected), 0.0)


def _g_statistic(s1: Vector, f1: Vector, s2: Vector, f2: Vector) -> Vector:
    """The G statistic of the 2x2 table (side 1, side 2) x (successes, failures); 0 where a
    side is empty."""
    import numpy as np

    n1, n2 = s1 + f1, s2 + f2
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = (s1 + s2) / (n1 + n2)
        g = 2.0 * (
            _xlogx_over(s1, n1 * rate)
            + _xlogx_over(f1, n1 * (1.0 - rate))
            + _xlogx_over(s2, n2 * rate)
            + _xlogx_over(f2, n2 * (1.0 - rate))
        )
    return np.nan_to_num(g, nan=0.0)


def changes(
    successes: Vector,
    failures: Vector,
    window_successes: Vector,
    window_failures: Vector,
    p: CalibratedParams,
    before: tuple[Vector, Vector] | None = None,
    short: Sequence[tuple[Vector, Vector]] = (),
) -> tuple[Indices, Vector, Vector]:
    """Which outcomes each row is judged on (`Assessment.judged_on`: 0 where nothing changed),
    and their successes and failures (the weighted sums where nothing changed). A change is a
    recent success rate that disagrees with what came before it. Candidates,
    each a G-test of a 2x2 table (recent, other) x (successes, failures):

    - the change window against the older evidence: the weighted sums less the window's
      counts, which undercounts it a little (the window's own outcomes weigh a little under 1
      in the sums), so the test errs toward "no change" (except for a few ticks after
      `state_after` restarted the sums from a window: the sums then hold less than the new
      window, and what is left of the older side is mostly noise);
    - the change window against the ticks before it (``before``): a model that recovers after
      a bad spell has a good past, and its older evidence (good past and bad spell) may not
      differ clearly from a window of exploration's few outcomes, but the spell just before
      the window does;
    - each ``short`` window (the last tick, the last two) against the ticks the snapshots hold
      before it (the rest of the change window and ``before``): a change one tick old is a
      third of the change window, and the window does not disagree clearly with anything until
      most of it comes after the change; the last tick alone does.

    Of the candidates above their threshold (``rise_g`` for a recent side better than the
    other, ``shift_g`` otherwise), the one with the largest statistic wins, and the row is
    judged on its recent side: among the comparisons that split the same ticks (the window
    against the ticks before it, each short window against the rest), the likeliest change
    point. NaN counts: not known, no candidate."""
    import numpy as np

    def known(pair: tuple[Vector, Vector]) -> Flags:
        return ~(np.isnan(pair[0]) | np.isnan(pair[1]))

    def candidate(
        recent_s: Vector, recent_f: Vector, other_s: Vector, other_f: Vector, usable: Flags
    ) -> Vector:
        """The G statistic where it is above its threshold (rise_g where the recent side's
        rate is the higher, else shift_g), 0 elsewhere: no change there."""
        usable = usable & (recent_s + recent_f >= p.shift_min) & (other_s + other_f >= p.shift_min)
        g = _g_statistic(recent_s, recent_f, other_s, other_f)
        rose = recent_s * (other_s + other_f) > other_s * (recent_s + recent_f)
        return np.where(usable & (g > np.where(rose, p.rise_g, p.shift_g)), g, 0.0)

    window_known = known((window_successes, window_failures))
    ws = np.nan_to_num(window_successes, nan=0.0)
    wf = np.nan_to_num(window_failures, nan=0.0)
    os_ = np.maximum(successes - ws, 0.0)
    of = np.maximum(failures - wf, 0.0)
    # Per candidate: its recent side's counts and what judging on it is called.
    recent_s, recent_f, source = [ws], [wf], [1]
    g = [candidate(ws, wf, os_, of, window_known)]
    bs = bf = np.zeros(len(ws))  # the segment before the window; 0 where not known
    if before is not None:
        before_known = known(before)
        bs, bf = np.where(before_known, before[0], 0.0), np.where(before_known, before[1], 0.0)
        recent_s.append(ws)
        recent_f.append(wf)
        source.append(1)
        g.append(candidate(ws, wf, bs, bf, window_known & before_known))
    for k, pair in enumerate(short):
        ks, kf = np.nan_to_num(pair[0], nan=0.0), np.nan_to_num(pair[1], nan=0.0)
        rest_s = np.maximum(ws - ks, 0.0) + bs
        rest_f = np.maximum(wf - kf, 0.0) + bf
        recent_s.append(ks)
        recent_f.append(kf)
        source.append(2 + k)
        g.append(candidate(ks, kf, rest_s, rest_f, window_known & known(pair)))
    stats = np.column_stack(g)
    best = np.argmax(stats, axis=1)
    rows = np.arange(len(ws))
    change = (stats[rows, best] > 0.0) & (p.shift_g > 0)
    judged_on: Indices = np.where(change, np.array(source, dtype=np.int64)[best], 0)
    judged_s = np.where(change, np.column_stack(recent_s)[rows, best], successes)
    judged_f = np.where(change, np.column_stack(recent_f)[rows, best], failures)
    return judged_on, judged_s, judged_f


def assess_all(
    current_scores: Vector,
    recent: recency.Rows,
    params: CalibratedParams | None = None,
    window: tuple[Vector, Vector] | None = None,
    before: tuple[Vector, Vector] | None = None,
    short: Sequence[tuple[Vector, Vector]] = (),
) -> Assessments:
    """Steps 1-4 of the module doc for every row at once (numpy): the learner's form.
    ``window``: the successes and failures over the change window, ``before`` over the ticks
    before it, ``short`` over each short window (NaN: not known)."""
    import numpy as np  # here, not at the top: ingestion workers import this package

    p = params if params is not None else CalibratedParams()
    s, f = recent.successes, recent.failures
    if window is None:
        judged_on = np.zeros(len(s), dtype=np.int64)
    else:
        judged_on, s, f = changes(s, f, window[0], window[1], p, before, short)
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
    # The Beta posterior's standard deviation of the success rate, carried through the linear
    # map to score points (the latency factor taken as known): wide for a model with little
    # recent evidence, a few hundredths for a busy one.
    rate_sd = np.sqrt(rate * (1.0 - rate) / (n + strength + 1.0))
    spread = MAX_SCORE * q_latency * rate_sd / (p.success_full - p.success_floor)
    return Assessments(
        successes=s,
        failures=f,
        success_rate=rate,
        p50_ms=p50,
        p95_ms=p95,
        latency_factor=q_latency,
        target=MAX_SCORE * q_success * q_latency,
        spread=spread,
        confidence=n / (n + p.confidence_k),  # base.confidence: 0 without evidence
        judged_on=judged_on,
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

    def column(counts: tuple[int, int] | None) -> tuple[Vector, Vector] | None:
        if counts is None:
            return None
        return np.array([float(counts[0])]), np.array([float(counts[1])])

    def known(counts: tuple[int, int] | None) -> tuple[Vector, Vector]:
        return column(counts) or (np.array([np.nan]), np.array([np.nan]))

    current = np.array([evidence.current_score])
    short = [known(counts) for counts in evidence.short]
    window, before = column(evidence.window), column(evidence.before)
    return assess_all(current, rows, p, window, before, short).row(0)


def _window(batch: EvidenceBatch) -> tuple[Vector, Vector] | None:
    if batch.window_successes is None or batch.window_failures is None:
        return None
    return batch.window_successes, batch.window_failures


def _before(batch: EvidenceBatch) -> tuple[Vector, Vector] | None:
    if batch.before_successes is None or batch.before_failures is None:
        return None
    return batch.before_successes, batch.before_failures


def _limits(distance: Vector, spread: Vector, confidence: Vector, p: CalibratedParams) -> Vector:
    """Step 4's limit per row: ``max_step * confidence``, or none at all where the score is
    more than ``band_z`` spreads from the target (the evidence rules it out)."""
    import numpy as np

    bounded = p.max_step * confidence
    if p.band_z <= 0:
        return bounded
    return np.where(np.abs(distance) > p.band_z * spread, np.inf, bounded)


def _ms(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.0f} ms"


def _decision(evidence: Evidence, a: Assessment, p: CalibratedParams) -> ScoreDecision:
    """Step 4's bounded step toward the target, settled against the publish threshold."""
    current = evidence.current_score
    if evidence.samples < p.min_samples:
        proposed = current
        why = f"{NAME}: {evidence.samples} outcomes, fewer than {p.min_samples}"
    else:
        import numpy as np

        distance = a.target - current
        limit = float(
            _limits(np.array([distance]), np.array([a.spread]), np.array([a.confidence]), p)[0]
        )
        step = clamp(distance, -limit, limit)
        proposed = current + step
        bound = "none: outside the band" if math.isinf(limit) else f"{limit:.2f}"
        over = a.judged_over
        why = (
            f"{NAME}: success {a.success_rate:.3f} over {a.effective_samples:.1f} {over}, "
            f"p50 {_ms(a.p50_ms)}, p95 {_ms(a.p95_ms)}, latency factor {a.latency_factor:.2f}; "
            f"target {a.target:.2f} ± {a.spread:.2f}, step {step:+.2f} "
            f"(limit {bound})"
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
    a = assess_all(
        batch.current_scores, batch.recent, p, _window(batch), _before(batch), batch.short
    )
    current = batch.current_scores
    samples = np.asarray(batch.successes, dtype=np.float64) + np.asarray(batch.failures)
    limit = _limits(a.target - current, a.spread, a.confidence, p)
    proposed = np.where(
        samples < p.min_samples, current, current + np.clip(a.target - current, -limit, limit)
    )
    moved = np.abs(np.clip(proposed, MIN_SCORE, MAX_SCORE) - current)
    # A margin below the threshold: `settle`, row by row, has the last word on every candidate.
    for i in np.flatnonzero(moved > p.publish_threshold - _CANDIDATE_MARGIN).tolist():
        decision = _decision(batch.row(i), a.row(i), p)
        if decision.changed:
            yield i, decision


def estimate_all(
    batch: EvidenceBatch, params: CalibratedParams | None = None
) -> tuple[Vector, Vector]:
    """Step 5: each row's target and spread, for the routers' exploration. Where the change
    window alone points higher than the whole evidence, the window's: exploration asks whether
    a model could be the best *now*, and a model that got better while only exploration
    reached it shows it in its last ticks well before the change test (step 1) can be sure of
    it. A window of a few outcomes leans on the prior (centred on the score) and is wide, so it
    weighs as little as it says."""
    import numpy as np

    p = params if params is not None else CalibratedParams()
    window = _window(batch)
    whole = assess_all(batch.current_scores, batch.recent, p, window, _before(batch), batch.short)
    if window is None:
        return whole.target, whole.spread
    ws, wf = np.nan_to_num(window[0]), np.nan_to_num(window[1])
    known = ~(np.isnan(window[0]) | np.isnan(window[1])) & (ws + wf > 0)
    recent = recency.Rows(ws, wf, batch.recent.histograms)
    last = assess_all(batch.current_scores, recent, p)
    use = known & (last.target > whole.target)
    return np.where(use, last.target, whole.target), np.where(use, last.spread, whole.spread)


def state_after(batch: EvidenceBatch, params: CalibratedParams | None = None) -> recency.Rows:
    """Step 1's change, kept: a row judged on a recent segment alone restarts its weighted sums
    from that segment's counts (its histogram is kept: the percentiles do not depend on its
    total). Otherwise the row goes back to its sums as soon as the change test stops firing,
    which it does once a degraded model has lost its traffic and its windows hold too few
    outcomes: its good past, decaying more slowly than the spell's few outcomes arrive,
    carried it back up while it was still degraded (the simulator: from 2.0 to 3.9 two ticks
    into a spell), and the routers' probes of a cut model (docs/router.md) stopped."""
    p = params if params is not None else CalibratedParams()
    window = _window(batch)
    recent = batch.recent
    if window is None:
        return recent
    # The sums where nothing changed, the judged segment's counts where something did.
    _, successes, failures = changes(
        recent.successes, recent.failures, window[0], window[1], p, _before(batch), batch.short
    )
    return recency.Rows(successes, failures, recent.histograms)


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

    def estimate_all(self, batch: EvidenceBatch) -> tuple[Vector, Vector]:
        """The target and spread of every row (step 5 of the module doc)."""
        return estimate_all(batch, self.params)

    def state_after(self, batch: EvidenceBatch) -> recency.Rows:
        """The recency state, restarted where a change was found (`state_after`)."""
        return state_after(batch, self.params)
