"""A simulation scenario: a YAML file (``scenarios/*.yaml``), validated like every config.

It holds what the simulated world is (models with their hidden truth per complexity, and the
changes that happen mid-run) and how the fleet is driven (instances, request rate, complexity
mix, learner and sweep intervals). What the instances start with is the ``catalog`` part of
each model: the operators' initial scores, prices and latencies, not the truth.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from routelearn.domain.event import Complexity
from routelearn.errors import ConfigError

Probability = Annotated[float, Field(strict=False, ge=0.0, le=1.0)]
Seconds = Annotated[float, Field(ge=0.0)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Behaviour(_Strict):
    """How a model really behaves on one complexity: a success probability and a log-normal
    response time (median and sigma of its log)."""

    success: Probability
    latency_ms: Annotated[float, Field(gt=0.0)] = 800.0
    latency_sigma: Annotated[float, Field(ge=0.0, le=3.0)] = 0.4


class BehaviourChange(_Strict):
    """A partial change of a behaviour: the fields given replace the current ones."""

    success: Probability | None = None
    latency_ms: Annotated[float, Field(gt=0.0)] | None = None
    latency_sigma: Annotated[float, Field(ge=0.0, le=3.0)] | None = None


class SimModel(_Strict):
    name: str
    provider: str
    # The catalog entry the instances start with (ModelSpec fields: scores, prices, ...).
    catalog: dict[str, Any] = Field(default_factory=dict)
    truth: dict[Complexity, Behaviour]
    # A model that appears mid-run: not in the instances' catalogs before this many seconds.
    available_from: Seconds = 0.0

    @model_validator(mode="after")
    def _every_complexity(self) -> SimModel:
        missing = [c.value for c in Complexity if c not in self.truth]
        if missing:
            raise ValueError(f"model {self.name!r}: truth lacks {', '.join(missing)}")
        return self


class Change(_Strict):
    """At ``at`` seconds, a model's behaviour changes (``degrade`` / ``recover``)."""

    at: Seconds
    kind: Literal["change"] = "change"
    model: str
    truth: dict[Complexity, BehaviourChange]
    label: str = ""


class Outage(_Strict):
    """From ``at`` for ``duration`` seconds every call to a provider's models fails fast."""

    at: Seconds
    kind: Literal["outage"] = "outage"
    provider: str
    duration: Annotated[float, Field(gt=0.0)]
    label: str = ""


class Breaker(_Strict):
    """Each instance's circuit breaker (ModelRouter's, per model)."""

    failures: Annotated[int, Field(ge=1)] = 3
    reset_seconds: Annotated[float, Field(ge=0.0)] = 60.0


class Scenario(_Strict):
    name: str
    description: str = ""
    duration: Annotated[float, Field(gt=0.0, le=24 * 3600)] = 120.0
    instances: Annotated[int, Field(ge=1, le=64)] = 8
    requests_per_second: Annotated[float, Field(gt=0.0, le=1000.0)] = 20.0  # per instance
    mix: dict[Complexity, Probability] = Field(
        default_factory=lambda: {
            Complexity.SIMPLE: 0.4,
            Complexity.MEDIUM: 0.35,
            Complexity.COMPLEX: 0.25,
        }
    )
    learner_interval: Annotated[float, Field(gt=0.0)] = 5.0
    anomaly_interval: Annotated[float, Field(gt=0.0)] = 5.0
    exploration: Probability = 0.05
    # The routers' exploration strategy (routelearn.instance.router.exploration.Strategy).
    exploration_strategy: Literal["thompson", "ucb", "uniform"] = "thompson"
    default_score: Annotated[float, Field(ge=0.0, le=5.0)] = 2.5
    # null: no breaker, so a run shows what the learned scores alone do (a breaker cuts a
    # failing model off at each instance within seconds, whatever the scores say).
    circuit_breaker: Breaker | None = Breaker()
    seed: int = 7
    models: tuple[SimModel, ...] = Field(min_length=1)
    events: tuple[Change | Outage, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Scenario:
        names = [m.name for m in self.models]
        if len(set(names)) != len(names):
            raise ValueError("model names must be unique")
        providers = {m.provider for m in self.models}
        for event in self.events:
            if isinstance(event, Change) and event.model not in names:
                raise ValueError(f"event at {event.at}s: unknown model {event.model!r}")
            if isinstance(event, Outage) and event.provider not in providers:
                raise ValueError(f"event at {event.at}s: unknown provider {event.provider!r}")
            if event.at > self.duration:
                raise ValueError(f"event at {event.at}s is after the end ({self.duration}s)")
        if abs(sum(self.mix.values()) - 1.0) > 1e-6:
            raise ValueError(f"mix must add up to 1, got {sum(self.mix.values())}")
        return self

    def catalog_config(self, at: float) -> dict[str, Any]:
        """The catalog file an instance holds at ``at`` seconds (models available by then)."""
        models = []
        for model in self.models:
            if model.available_from > at:
                continue
            entry: dict[str, Any] = {"name": model.name, "provider": model.provider}
            entry.update(model.catalog)
            models.append(entry)
        return {"version": 1, "default_score": self.default_score, "models": models}

    def arrivals(self) -> list[float]:
        """Times at which the set of available models changes (instances reload then)."""
        return sorted({m.available_from for m in self.models if m.available_from > 0})


def load_scenario(path: str | Path) -> Scenario:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read scenario {path}: {exc}") from None
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or '(top)'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"invalid scenario {path}:\n  " + "\n  ".join(problems)) from None
