"""What the router tests pass in: a list-collecting publisher (the router's port, not a mocked
broker), a clock the test moves, and small catalogs built from plain data."""

from __future__ import annotations

import random
import threading
from typing import Any

from routelearn.domain.event import RoutingEvent
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.router import ModelRouter


class Collector:
    """An EventSink that keeps every event; thread-safe like the real publisher."""

    def __init__(self, accept: bool = True) -> None:
        self.accept = accept
        self._lock = threading.Lock()
        self._events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> bool:
        with self._lock:
            self._events.append(event)
        return self.accept

    @property
    def events(self) -> list[dict[str, Any]]:
        with self._lock:
            return list(self._events)

    def outcomes(self) -> list[str]:
        return [e["routing_decision"]["outcome"] for e in self.events]


class FakeClock:
    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def model(
    name: str,
    scores: dict[str, float] | None = None,
    *,
    provider: str = "p",
    capabilities: tuple[str, ...] = (),
    prices: tuple[float, float] | None = None,
    latency: float | None = None,
    enabled: bool = True,
    splits: dict[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"name": name, "provider": provider, "capabilities": list(capabilities)}
    spec["scores"] = scores or {}
    if prices is not None:
        spec["prices"] = {"input_per_1k": prices[0], "output_per_1k": prices[1]}
    if latency is not None:
        spec["typical_latency_ms"] = latency
    if not enabled:
        spec["enabled"] = False
    if splits:
        spec["splits"] = splits
    return spec


def catalog(*models: dict[str, Any], default_score: float = 2.5) -> ModelCatalog:
    return ModelCatalog.from_config(
        {"version": 1, "default_score": default_score, "models": list(models)}
    )


def make_router(cat: ModelCatalog, **kwargs: Any) -> tuple[ModelRouter, Collector, FakeClock]:
    """A router with a fake clock, no exploration unless asked, and a seeded RNG."""
    publisher = Collector()
    clock = kwargs.pop("clock", None) or FakeClock()
    kwargs.setdefault("explore_share", 0.0)
    kwargs.setdefault("rng", random.Random(42))
    kwargs.setdefault("instance_id", "test-1")
    router = ModelRouter(cat, publisher, clock=clock, **kwargs)
    return router, publisher, clock


def validate(event: dict[str, Any]) -> RoutingEvent:
    """The central schema's check. It has no ``exploratory`` field yet (see docs/router.md),
    so that key is taken out first; everything else must pass as published."""
    body = {k: v for k, v in event["routing_decision"].items() if k != "exploratory"}
    return RoutingEvent.model_validate({**event, "routing_decision": body})
