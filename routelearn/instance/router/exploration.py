"""Exploration: send a small share of traffic where the fleet may be wrong about a model.

Scores only move with evidence, and a router that always takes the best score gives the others
none: a model whose score is too low (never learned, or learned while it was worse than it is
now) would never get the traffic to prove it. So with probability ``share`` (default 0.05) a
decision explores: it takes another of the models the request could go to (capable, circuit
available, within budget), chosen by the strategy:

- ``thompson`` (the default) and ``ucb`` are *directed*, by the learner's estimates
  (`routelearn.domain.estimates`, fanned out every tick): ``thompson`` draws each model's score
  from its posterior (``mean + spread * N(0, 1)``) and takes the highest draw, *top-two*
  style: it draws the model the decision would have taken (the leader) too, and draws again
  until a challenger beats it (at most ``_TOP_TWO_ROUNDS`` times; then it takes the highest
  of one more draw of every challenger, as plain Thompson sampling does). So the share goes to
  each challenger about in proportion to its chance of being better than the leader, not of
  being the best of the rest: a runner-up that is surely worse than the leader gets little of
  it while one that may be better gets most of it (Russo, "Simple Bayesian Algorithms for
  Best Arm Identification", 2016). ``ucb`` takes the highest ``mean + UCB_Z * spread``. A
  model with little recent evidence has a wide spread, so it is explored until the evidence
  says where it stands; a model the estimates do not list at all (no evidence yet, such as one
  just added) goes first. So most of the share goes to the models that could be the best,
  instead of being spread over every model. Before the strategy draws, a ``probe_share`` of
  the exploring decisions probes a model the learner cut (it degraded: has it recovered?).
- ``uniform``, and the directed strategies until an estimate report arrives (or under the
  ``classic`` policy, which has none): a random pick weighted by ``UNCERTAIN_WEIGHT`` if the
  model's score for the complexity is *uncertain* (version 0, i.e. still the operator's guess
  or ``default_score``) plus ``STALE_WEIGHT`` if this router has not chosen it for the
  complexity in the last ``stale_after_s`` seconds; weight 0 is not explored.

The random draws come from an injectable ``random.Random``, so a seeded router makes the same
choices every run.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum

from routelearn.domain.estimates import Estimate
from routelearn.domain.event import Complexity
from routelearn.instance.catalog.estimates import EstimateBook
from routelearn.instance.catalog.model import ModelEntry

UNCERTAIN_WEIGHT = 2.0
STALE_WEIGHT = 1.0
MAX_WEIGHT = UNCERTAIN_WEIGHT + STALE_WEIGHT
# Uniform draws tried before weighing every eligible model (see Explorer._weighted).
_PROPOSALS = 16
# ucb's optimism: about the 98th percentile of the posterior.
UCB_Z = 2.0
# thompson: a candidate whose mean + _REACH_Z spreads is below the best draw so far is not drawn.
_REACH_Z = 4.0
# thompson: rounds of draws for a challenger that beats the leader's draw. When none can (the
# leader is surely the best), one more draw of every challenger decides, as before top-two.
_TOP_TWO_ROUNDS = 16
# A model whose score is this much below the highest this router saw of it within the last
# ``probe_s`` seconds was cut (a degraded model the learner marked down): it is probed.
CUT_DROP = 1.0


def _checked(entry: ModelEntry) -> bool:
    """The eligibility test of a list already filtered by the real one."""
    return True


class Strategy(StrEnum):
    THOMPSON = "thompson"
    UCB = "ucb"
    UNIFORM = "uniform"


class Explorer:
    """Decides whether a decision explores, and which model it takes; thread-safe."""

    def __init__(
        self,
        share: float,
        stale_after_s: float,
        rng: random.Random,
        clock: Callable[[], float],
        strategy: Strategy | str = Strategy.THOMPSON,
        estimates: EstimateBook | None = None,
        probe_share: float = 0.5,
        probe_s: float = 1200.0,
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"explore_share must be within 0.0-1.0, got {share!r}")
        if stale_after_s < 0:
            raise ValueError(f"stale_after_s must be >= 0, got {stale_after_s!r}")
        if not 0.0 <= probe_share <= 1.0:
            raise ValueError(f"probe_share must be within 0.0-1.0, got {probe_share!r}")
        if not probe_s >= 0:
            raise ValueError(f"probe_s must be >= 0, got {probe_s!r}")
        try:
            self.strategy = Strategy(strategy)
        except ValueError:
            choices = ", ".join(s.value for s in Strategy)
            raise ValueError(
                f"explore_strategy must be one of {choices}, got {strategy!r}"
            ) from None
        self.share = share
        self.stale_after_s = stale_after_s
        self.probe_share = probe_share
        self.probe_s = probe_s
        self._estimates = estimates if estimates is not None else EstimateBook()
        self._rng = rng
        self._clock = clock
        # When this router last chose each model, per complexity. Written without a lock: a
        # dict item assignment is atomic, and two racing writers both store "just now".
        self._last_chosen: dict[Complexity, dict[str, float]] = {c: {} for c in Complexity}
        # The same as an order (a decision count), for "least lately" without ties where the
        # clock is coarse. next() of a count is atomic under the GIL.
        self._decisions = itertools.count()
        self._last_order: dict[Complexity, dict[str, int]] = {c: {} for c in Complexity}
        # The highest score this router saw of each model, per complexity, and when it last
        # saw it that high (see `_cut`). Written without a lock, like _last_chosen.
        self._peaks: dict[Complexity, dict[str, tuple[float, float]]] = {c: {} for c in Complexity}

    def should_explore(self) -> bool:
        return self.share > 0.0 and self._rng.random() < self.share

    def note(self, model: str, complexity: Complexity) -> None:
        self._last_chosen[complexity][model] = self._clock()
        self._last_order[complexity][model] = next(self._decisions)

    def weight(self, entry: ModelEntry, complexity: Complexity, now: float) -> float:
        weight = UNCERTAIN_WEIGHT if entry.versions[complexity] == 0 else 0.0
        last = self._last_chosen[complexity].get(entry.name)
        if last is None or now - last >= self.stale_after_s:
            weight += STALE_WEIGHT
        return weight

    def pick(
        self,
        ranked: Sequence[tuple[ModelEntry, float]],
        complexity: Complexity,
        eligible: Callable[[ModelEntry], bool],
        leader: ModelEntry | None = None,
    ) -> ModelEntry | None:
        """The model to explore among the ``eligible`` ones (None: none to explore);
        ``leader`` is the one the decision takes if it does not explore.

        Under the directed strategies, a ``probe_share`` of the exploring decisions goes to a
        challenger that was cut, if any (the one this router chose least lately): a degraded
        model, whose posterior says it is poor, gets no exploration from the strategies below,
        so nothing would show that it recovered. As a circuit breaker's half-open state does,
        the probes ask."""
        if self.strategy is not Strategy.UNIFORM:
            report = self._estimates.report
            if report is not None and report.estimates:  # empty: a policy without any
                cut = self._cut(ranked, complexity, eligible, leader)
                if cut and self._rng.random() < self.probe_share:
                    return self._least_lately(cut, complexity)
                table = report.at(complexity.value)
                if self.strategy is Strategy.THOMPSON and leader is not None:
                    bar = table.get(leader.name)
                    if bar is not None:
                        return self._top_two(ranked, eligible, table, leader, bar)
                return self._directed(ranked, eligible, table)
        return self._weighted(ranked, complexity, eligible)

    def _least_lately(self, entries: Sequence[ModelEntry], complexity: Complexity) -> ModelEntry:
        """The one of ``entries`` this router chose least lately (never chosen first)."""
        order = self._last_order[complexity]
        return min(entries, key=lambda entry: order.get(entry.name, -1))

    def _cut(
        self,
        ranked: Sequence[tuple[ModelEntry, float]],
        complexity: Complexity,
        eligible: Callable[[ModelEntry], bool],
        leader: ModelEntry | None,
    ) -> list[ModelEntry]:
        """The eligible challengers whose learned score is at least ``CUT_DROP`` below the
        highest this router saw of it in the last ``probe_s`` seconds, where that peak was
        within ``CUT_DROP`` of the leader's score now: a model that could be the best again,
        not one that was never in the running, nor an operator's guess (version 0) replaced
        by its first learned score. Notes what it sees; it sees only at exploring decisions."""
        if self.probe_share <= 0.0:
            return []
        now = self._clock()
        peaks = self._peaks[complexity]
        bar = -math.inf if leader is None else leader.scores[complexity] - CUT_DROP
        cut = []
        for entry, score in ranked:
            if entry.versions[complexity] == 0:
                continue
            peak = peaks.get(entry.name)
            if peak is None or score >= peak[0] or now - peak[1] > self.probe_s:
                peaks[entry.name] = (score, now)
            elif peak[0] - score >= CUT_DROP and peak[0] >= bar and eligible(entry):
                cut.append(entry)
        return cut

    def _top_two(
        self,
        ranked: Sequence[tuple[ModelEntry, float]],
        eligible: Callable[[ModelEntry], bool],
        table: Mapping[str, Estimate],
        leader: ModelEntry,
        bar: Estimate,
    ) -> ModelEntry | None:
        """The eligible model of highest draw not below a draw of the leader's (``bar``, its
        estimate); after ``_TOP_TWO_ROUNDS`` rounds without one, the highest of one more draw
        of every eligible model."""
        # The rounds run over the contenders only: eligible models that can reach the leader's
        # lowest draw (4 spreads under its mean). Usually few or none, so a leader that is
        # surely the best costs one pass, not sixteen.
        low = bar.mean - _REACH_Z * bar.spread
        contenders = [
            (entry, score)
            for entry, score in ranked
            if entry is not leader
            and ((estimate := table.get(entry.name)) is None or estimate.upper(_REACH_Z) >= low)
            and eligible(entry)
        ]
        if contenders:
            for _ in range(_TOP_TWO_ROUNDS):
                found = self._directed(contenders, _checked, table, bar.sample(self._rng))
                if found is not None:
                    return found
        return self._directed(ranked, eligible, table)

    def _directed(
        self,
        ranked: Sequence[tuple[ModelEntry, float]],
        eligible: Callable[[ModelEntry], bool],
        table: Mapping[str, Estimate],
        floor: float = -math.inf,
    ) -> ModelEntry | None:
        """The eligible model of highest draw (thompson) or bound (ucb), if not below
        ``floor``; one the report does not list comes first. Ties go to a random one of
        them."""
        rng = self._rng
        thompson = self.strategy is Strategy.THOMPSON
        best: ModelEntry | None = None
        best_value = floor
        tied = 0
        for entry, _ in ranked:
            estimate = table.get(entry.name)
            if estimate is None:
                value = math.inf
            else:
                # A model whose draw cannot beat the best so far is passed over before any
                # draw: 4 spreads above the mean is a 1-in-30,000 draw, an exact bound for ucb.
                reach = estimate.upper(_REACH_Z if thompson else UCB_Z)
                if reach < best_value:
                    continue
                value = estimate.sample(rng) if thompson else reach
            if value < best_value or not eligible(entry):
                continue
            if value > best_value or best is None:
                best, best_value, tied = entry, value, 1
            else:
                tied += 1
                if rng.random() * tied < 1.0:  # each of the tied kept with chance 1/tied
                    best = entry
        return best

    def _weighted(
        self,
        ranked: Sequence[tuple[ModelEntry, float]],
        complexity: Complexity,
        eligible: Callable[[ModelEntry], bool],
    ) -> ModelEntry | None:
        """A random model among the ``eligible`` ones, with probability proportional to its
        weight; None if none has any weight.

        Rejection sampling first, so that an exploratory route does not weigh all 200 models:
        draw a model uniformly, keep it with probability weight / MAX_WEIGHT. A kept draw
        follows the weights exactly; if a few draws keep nothing (few eligible models), weigh
        them all, which follows the weights too, so the mixture does.
        """
        if not ranked:
            return None
        now = self._clock()
        rng = self._rng
        count = len(ranked)
        for _ in range(_PROPOSALS):
            entry = ranked[int(rng.random() * count)][0]
            if eligible(entry) and rng.random() * MAX_WEIGHT < self.weight(entry, complexity, now):
                return entry
        entries = [entry for entry, _ in ranked if eligible(entry)]
        weights = [self.weight(entry, complexity, now) for entry in entries]
        if not any(weights):
            return None
        return rng.choices(entries, weights=weights)[0]
