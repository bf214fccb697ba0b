"""The simulated instances: each a thread with its own catalog, router, publisher and
subscriber, routing synthetic requests and reporting what the simulated models did."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.event import Complexity
from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.publisher import EventPublisher
from routelearn.instance.router import CircuitBreaker, EventSink, ModelRouter
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.settings import Settings
from routelearn.simulation.metrics import Recorder
from routelearn.simulation.scenario import Scenario
from routelearn.simulation.world import World

# A request's size, for its cost: prompt and completion tokens.
PROMPT_TOKENS, COMPLETION_TOKENS = 600, 300


@dataclass
class Instance:
    instance_id: str
    catalog: ModelCatalog
    router: ModelRouter
    publisher: EventPublisher
    subscriber: ScoreUpdateSubscriber
    rng: random.Random


def scenario_router(
    scenario: Scenario,
    catalog: ModelCatalog,
    publisher: EventSink,
    instance_id: str,
    rng: random.Random,
    clock: Callable[[], float] = time.monotonic,
    **overrides: Any,
) -> ModelRouter:
    """An instance's router as the scenario sets it up (``overrides``: other settings)."""
    breaker = scenario.circuit_breaker
    settings: dict[str, Any] = {
        "explore_share": scenario.exploration,
        "explore_strategy": scenario.exploration_strategy,
        # The scenario's clock runs in learner ticks: a score older than 6 ticks is stale.
        "stale_after_s": 6 * scenario.learner_interval,
        # Production's 1,200 s is 20 ticks of 60 s.
        "probe_s": 20 * scenario.learner_interval,
        **overrides,
    }
    return ModelRouter(
        catalog,
        publisher,
        instance_id=instance_id,
        rng=rng,
        clock=clock,
        breaker=CircuitBreaker(
            # Off: a threshold no run reaches.
            breaker.failures if breaker else 2**62,
            breaker.reset_seconds if breaker else 0.0,
            clock=clock,
        ),
        **settings,
    )


class Fleet:
    """Start the instances, drive them for the scenario's duration, stop them."""

    def __init__(self, scenario: Scenario, settings: Settings, world: World) -> None:
        self.scenario = scenario
        self.world = world
        self.recorder = Recorder()
        self._settings = settings
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.instances = [self._instance(n) for n in range(scenario.instances)]
        self.started_at = 0.0
        self.started_at_wall = datetime.now(UTC)

    def _instance(self, n: int) -> Instance:
        instance_id = f"sim-{self.scenario.name}-{n}"
        rng = random.Random(self.scenario.seed * 1000 + n)
        catalog = ModelCatalog.from_config(self.scenario.catalog_config(0.0))
        publisher = EventPublisher(self._settings)
        router = scenario_router(
            self.scenario, catalog, publisher, instance_id, random.Random(rng.random())
        )
        subscriber = ScoreUpdateSubscriber(
            self._settings, instance_id, catalog, request_snapshot=True
        )
        return Instance(instance_id, catalog, router, publisher, subscriber, rng)

    def start(self) -> None:
        for instance in self.instances:
            instance.subscriber.start()
        for instance in self.instances:
            instance.subscriber.wait_until_current(30)
        self.started_at = time.monotonic()
        self.started_at_wall = datetime.now(UTC)
        for instance in self.instances:
            thread = threading.Thread(target=self._drive, args=(instance,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def beliefs(self, t: float) -> list[dict[str, object]]:
        """What the first instance holds at ``t`` of every model: its score and the learner's
        estimate (mean, spread; None before a report lists it), per complexity: what it ranked
        by and directed its exploration with (every instance gets the same fan-out, a moment
        apart)."""
        catalog = self.instances[0].catalog
        rows: list[dict[str, object]] = []
        for complexity in Complexity:
            for entry, score in catalog.candidates(complexity):
                estimate = catalog.estimates.of(entry.name, complexity.value)
                rows.append(
                    {
                        "t": round(t, 2),
                        "model": entry.name,
                        "complexity": complexity.value,
                        "score": round(score, 3),
                        "mean": None if estimate is None else estimate.mean,
                        "spread": None if estimate is None else estimate.spread,
                    }
                )
        return rows

    def elapsed(self) -> float:
        return time.monotonic() - self.started_at

    def join(self) -> None:
        for thread in self._threads:
            thread.join()

    def stop(self) -> None:
        self._stop.set()
        self.join()
        for instance in self.instances:
            instance.publisher.close(timeout=30)
            instance.subscriber.stop()

    def _drive(self, instance: Instance) -> None:
        scenario = self.scenario
        mix = list(scenario.mix.items())
        complexities = [c for c, _ in mix]
        weights = [w for _, w in mix]
        arrivals = scenario.arrivals()
        interval = 1.0 / scenario.requests_per_second
        # Spread the instances' requests over the interval instead of sending them together.
        next_at = instance.rng.random() * interval
        while not self._stop.is_set():
            t = self.elapsed()
            if t >= scenario.duration:
                return
            if t < next_at:
                time.sleep(min(next_at - t, 0.05))
                continue
            next_at += interval
            while arrivals and arrivals[0] <= t:
                instance.catalog.reload(scenario.catalog_config(arrivals.pop(0)))
            complexity: Complexity = instance.rng.choices(complexities, weights)[0]
            self._request(instance, complexity, t)

    def _request(self, instance: Instance, complexity: Complexity, t: float) -> None:
        world = self.world
        decision = instance.router.route(complexity)
        sample = world.sample(decision.model, complexity, t, instance.rng)
        cost = instance.router.report(
            decision,
            sample.success,
            sample.latency_ms,
            tokens=(PROMPT_TOKENS, COMPLETION_TOKENS),
        )
        candidates = [entry.name for entry, _ in instance.catalog.candidates(complexity)]
        _, oracle = world.oracle(complexity, t, candidates)
        self.recorder.record(
            t,
            complexity.value,
            decision.model,
            success=sample.success,
            expected=world.success_probability(decision.model, complexity, t),
            oracle=oracle,
            cost=cost or 0.0,
            exploratory=decision.exploratory,
        )
