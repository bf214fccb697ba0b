"""Exploration: send a small share of traffic to models whose score the fleet knows least.

Scores only move with evidence, and a router that always takes the best score gives the others
none: a model whose initial score was set too low would never get the traffic to prove it. So
with probability ``share`` (default 0.05) a decision picks, at random, among the other models
the request could go to (capable, circuit available, within budget), weighted by

- ``UNCERTAIN_WEIGHT`` if its score for the complexity is *uncertain*: version 0, i.e. still
  the operator's guess or ``default_score``, never learned by the fleet;
- plus ``STALE_WEIGHT`` if it is *stale* here: this router has not chosen it for this complexity
  in the last ``stale_after_s`` seconds (or ever).

A model neither uncertain nor stale has weight 0 and is not explored; when no model has weight,
the decision is an ordinary one. The random draws come from an injectable ``random.Random``, so
a seeded router makes the same choices every run.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence

from routelearn.domain.event import Complexity
from routelearn.instance.catalog.model import ModelEntry

UNCERTAIN_WEIGHT = 2.0
STALE_WEIGHT = 1.0
MAX_WEIGHT = UNCERTAIN_WEIGHT + STALE_WEIGHT
# Uniform draws tried before weighing every eligible model (see Explorer.pick).
_PROPOSALS = 16


class Explorer:
    """Decides whether a decision explores, and which model it takes; thread-safe."""

    def __init__(
        self,
        share: float,
        stale_after_s: float,
        rng: random.Random,
        clock: Callable[[], float],
    ) -> None:
        if not 0.0 <= share <= 1.0:
            raise ValueError(f"explore_share must be within 0.0-1.0, got {share!r}")
        if stale_after_s < 0:
            raise ValueError(f"stale_after_s must be >= 0, got {stale_after_s!r}")
        self.share = share
        self.stale_after_s = stale_after_s
        self._rng = rng
        self._clock = clock
        # When this router last chose each model, per complexity. Written without a lock: a
        # dict item assignment is atomic, and two racing writers both store "just now".
        self._last_chosen: dict[Complexity, dict[str, float]] = {c: {} for c in Complexity}

    def should_explore(self) -> bool:
        return self.share > 0.0 and self._rng.random() < self.share

    def note(self, model: str, complexity: Complexity) -> None:
        self._last_chosen[complexity][model] = self._clock()

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
