"""The simulated models' hidden truth over time, and the oracle that knows it.

Pure and deterministic given a ``random.Random``: routelearn only ever sees the outcomes sampled
here, as events, exactly like it sees real providers' outcomes.
"""

from __future__ import annotations

import bisect
import math
import random
from collections.abc import Iterable
from dataclasses import dataclass

from routelearn.domain.event import Complexity
from routelearn.simulation.scenario import Behaviour, Change, Outage, Scenario

# A call to a provider in an outage fails fast (a connection refused, a 503).
OUTAGE_LATENCY_MS = 50.0

_State = dict[str, dict[Complexity, Behaviour]]


@dataclass(frozen=True, slots=True)
class Sample:
    success: bool
    latency_ms: float


class World:
    def __init__(self, scenario: Scenario) -> None:
        self._provider = {m.name: m.provider for m in scenario.models}
        self._available_from = {m.name: m.available_from for m in scenario.models}
        state: _State = {m.name: dict(m.truth) for m in scenario.models}
        # Piecewise-constant truth: the state from each change on, by time.
        self._times: list[float] = [0.0]
        self._states: list[_State] = [state]
        for change in sorted(
            (e for e in scenario.events if isinstance(e, Change)), key=lambda e: e.at
        ):
            state = {name: dict(per) for name, per in state.items()}
            for complexity, delta in change.truth.items():
                current = state[change.model][complexity]
                state[change.model][complexity] = current.model_copy(
                    update=delta.model_dump(exclude_none=True)
                )
            self._times.append(change.at)
            self._states.append(state)
        self._outages = [
            (e.provider, e.at, e.at + e.duration) for e in scenario.events if isinstance(e, Outage)
        ]

    def models(self) -> list[str]:
        return list(self._provider)

    def provider(self, model: str) -> str:
        return self._provider[model]

    def available(self, model: str, t: float) -> bool:
        return model in self._provider and self._available_from[model] <= t

    def available_at(self, t: float) -> list[str]:
        return [name for name in self._provider if self.available(name, t)]

    def in_outage(self, provider: str, t: float) -> bool:
        return any(p == provider and start <= t < end for p, start, end in self._outages)

    def behaviour(self, model: str, complexity: Complexity | str, t: float) -> Behaviour:
        state = self._states[bisect.bisect_right(self._times, t) - 1]
        return state[model][Complexity(complexity)]

    def success_probability(self, model: str, complexity: Complexity | str, t: float) -> float:
        """What a call would succeed with at ``t``: 0 when unknown, unavailable or in outage."""
        if not self.available(model, t) or self.in_outage(self._provider[model], t):
            return 0.0
        return self.behaviour(model, complexity, t).success

    def sample(
        self, model: str, complexity: Complexity | str, t: float, rng: random.Random
    ) -> Sample:
        if not self.available(model, t) or self.in_outage(self._provider[model], t):
            return Sample(False, OUTAGE_LATENCY_MS)
        truth = self.behaviour(model, complexity, t)
        latency = truth.latency_ms * math.exp(rng.gauss(0.0, truth.latency_sigma))
        return Sample(rng.random() < truth.success, latency)

    def oracle(
        self, complexity: Complexity | str, t: float, candidates: Iterable[str]
    ) -> tuple[str | None, float]:
        """The candidate with the best true success probability at ``t`` (ties: the faster
        median), and that probability. The oracle chooses among the same candidates as the
        router (capabilities, what the instance's catalog holds), knowing the truth."""
        best: tuple[float, float, str] | None = None
        for model in candidates:
            if model not in self._provider:
                continue
            p = self.success_probability(model, complexity, t)
            key = (p, -self.behaviour(model, complexity, t).latency_ms, model)
            if best is None or key > best:
                best = key
        return (None, 0.0) if best is None else (best[2], best[0])
