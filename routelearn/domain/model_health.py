"""A model's health from the fleet's evidence, and the fleet's from its models'
(``GET /api/health/overview``). Pure: the caller reads the evidence.

A model is

- **unhealthy** when an anomaly of severity *critical* is open on it, or its success rate over
  the window is below ``unhealthy_below`` (default 70%) on at least ``min_outcomes`` (default
  20) outcomes;
- **degraded** when, short of that, an anomaly of severity *warning* is open on it, or its
  success rate is below ``degraded_below`` (default 85%) on at least ``min_outcomes`` outcomes;
- **healthy** otherwise: no sign of trouble. That includes a model without traffic in the
  window; its request count (0) says how much evidence there was.

The default thresholds are the anomaly sweep's low-success-rate ones (``RuleParams``), so a
rate that would open an anomaly over the sweep's few minutes marks the model over the window.
Health reports posted to the registry are shown beside the figures, not judged: their freshness
is their reporter's business.

The fleet is judged on its models **in service**: registered *active*, or not registered but
seen (requests in the window, or an open anomaly). A model taken out of rotation on purpose
(inactive, deprecated, maintenance) does not count, whatever its health. The fleet is

- **healthy** when every model in service is (or none is in service);
- **unhealthy** when no model in service is healthy: nothing good is left to route to;
- **degraded** otherwise.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from routelearn.domain.anomaly import AnomalyKind, OpenAnomaly, RuleParams, Severity
from routelearn.domain.registry import ModelStatus

UNREGISTERED = "unregistered"  # the status of a model seen in events but not in the registry

_ANOMALY_RULES = RuleParams()


class Health(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


@dataclass(frozen=True, slots=True)
class HealthRule:
    min_outcomes: int = _ANOMALY_RULES.min_outcomes
    degraded_below: float = _ANOMALY_RULES.success_rate_warning
    unhealthy_below: float = _ANOMALY_RULES.success_rate_critical

    def __post_init__(self) -> None:
        if self.min_outcomes < 1:
            raise ValueError(f"HealthRule.min_outcomes must be >= 1, got {self.min_outcomes}")
        if not 0.0 <= self.unhealthy_below <= self.degraded_below <= 1.0:
            raise ValueError(
                "HealthRule needs 0 <= unhealthy_below <= degraded_below <= 1, got "
                f"{self.unhealthy_below!r} and {self.degraded_below!r}"
            )


@dataclass(frozen=True, slots=True)
class ModelEvidence:
    """One model over the window: its registry status (a ModelStatus value or UNREGISTERED),
    its decisions and outcomes, and the anomalies open on it."""

    model: str
    status: str
    decisions: int = 0
    successes: int = 0
    failures: int = 0
    anomalies: tuple[OpenAnomaly, ...] = ()

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures

    @property
    def success_rate(self) -> float | None:
        return self.successes / self.outcomes if self.outcomes else None

    @property
    def in_service(self) -> bool:
        if self.status == UNREGISTERED:
            return self.decisions > 0 or bool(self.anomalies)
        return self.status == ModelStatus.ACTIVE


@dataclass(frozen=True, slots=True)
class ModelHealth:
    health: Health
    reasons: tuple[str, ...]  # why it is not healthy, worst first; empty when healthy


_NOT_A_MODEL = (AnomalyKind.INSTANCE_SILENT, AnomalyKind.BUDGET_WARNING)


def anomalies_by_model(anomalies: Iterable[OpenAnomaly]) -> dict[str, tuple[OpenAnomaly, ...]]:
    """Open anomalies per model; an instance's (``instance_silent``) and a workspace's
    (``budget_warning``) belong to no model."""
    found: dict[str, list[OpenAnomaly]] = {}
    for anomaly in anomalies:
        if anomaly.kind not in _NOT_A_MODEL and anomaly.subject:
            found.setdefault(anomaly.subject[0], []).append(anomaly)
    return {model: tuple(items) for model, items in found.items()}


def _describe(anomaly: OpenAnomaly) -> str:
    where = f" ({'/'.join(anomaly.subject[1:])})" if len(anomaly.subject) > 1 else ""
    return f"{anomaly.severity.value} anomaly open: {anomaly.kind.value}{where}"


def judge(evidence: ModelEvidence, rule: HealthRule | None = None) -> ModelHealth:
    """The model's health by the rule of the module doc, with its reasons."""
    rule = rule or HealthRule()
    unhealthy: list[str] = []
    degraded: list[str] = []
    for anomaly in sorted(evidence.anomalies, key=lambda a: (a.kind, a.subject)):
        target = unhealthy if anomaly.severity == Severity.CRITICAL else degraded
        target.append(_describe(anomaly))
    rate = evidence.success_rate
    if rate is not None and evidence.outcomes >= rule.min_outcomes:
        said = f"success rate {rate:.1%} over {evidence.outcomes} outcomes"
        if rate < rule.unhealthy_below:
            unhealthy.append(f"{said}, below {rule.unhealthy_below:.0%}")
        elif rate < rule.degraded_below:
            degraded.append(f"{said}, below {rule.degraded_below:.0%}")
    if unhealthy:
        return ModelHealth(Health.UNHEALTHY, (*unhealthy, *degraded))
    if degraded:
        return ModelHealth(Health.DEGRADED, tuple(degraded))
    return ModelHealth(Health.HEALTHY, ())


def fleet_health(models: Iterable[tuple[ModelEvidence, Health]]) -> Health:
    """The fleet's health, by the rule of the module doc, from each model's evidence and
    health."""
    healths = [health for evidence, health in models if evidence.in_service]
    if all(h == Health.HEALTHY for h in healths):
        return Health.HEALTHY
    if Health.HEALTHY not in healths:
        return Health.UNHEALTHY
    return Health.DEGRADED
