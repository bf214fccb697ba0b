"""What an operator sets to steer routing fleet-wide (seed 004's field names, camelCase).

- ``RoutingRule``: requests matching a ``condition`` (agent type, request type, content length)
  go to ``targetModels``, picked by ``weight``, tried next in ``fallbackOrder``; a
  ``trafficSplit`` sends ``canary`` percent of the matching traffic to the rule's other targets
  and ``primary`` percent to its first (lowest ``fallbackOrder``). The highest ``priority``
  enabled rule that matches applies; only one does.
- ``AgentPreferences`` (per ``agentType``): models to choose among first, models to fall back
  to, capabilities every request of the agent needs, and performance floors.
- ``WorkspaceConfig`` (per ``workspaceId``): allowed and blocked models and providers, budget
  limits on calendar periods, quality floors judged on the fleet's learned metrics, and
  compliance (allowed providers and regions, tags a model must carry).

Every shape validates itself whole; references to models are checked against the registry by
``references`` (the engine needs no registry to read a config). Pure: pydantic only.
"""

from __future__ import annotations

import math
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
    model_validator,
)

from routelearn.domain.event import MAX_CAPABILITIES, Capability, ModelName, ProviderName

MAX_TARGETS = 32
MAX_LISTED = 256  # models, providers, regions or tags in one list
MAX_VALUES = 64  # agent types or request types in one condition
# Weights are fractions that must add up to 1; what binary floats leave over is tolerated.
WEIGHT_TOLERANCE = 1e-6

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Key = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
Region = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value


Fraction = Annotated[float, Field(ge=0.0, le=1.0), AfterValidator(_finite)]
Usd = Annotated[float, Field(ge=0.0), AfterValidator(_finite)]
Milliseconds = Annotated[float, Field(gt=0.0), AfterValidator(_finite)]


def _unique(values: tuple[str, ...]) -> tuple[str, ...]:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"{value!r} is listed twice")
        seen.add(value)
    return values


Models = Annotated[tuple[ModelName, ...], Field(max_length=MAX_LISTED), AfterValidator(_unique)]
Providers = Annotated[
    tuple[ProviderName, ...], Field(max_length=MAX_LISTED), AfterValidator(_unique)
]
Regions = Annotated[tuple[Region, ...], Field(max_length=MAX_LISTED), AfterValidator(_unique)]
Tags = Annotated[tuple[Tag, ...], Field(max_length=MAX_LISTED), AfterValidator(_unique)]
Capabilities = Annotated[
    tuple[Capability, ...], Field(max_length=MAX_CAPABILITIES), AfterValidator(_unique)
]
Keys = Annotated[
    tuple[Key, ...], Field(min_length=1, max_length=MAX_VALUES), AfterValidator(_unique)
]


class _Camel(BaseModel):
    """Unknown fields are refused: a misspelt ``blockedModel`` must not silently allow it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    def document(self) -> dict[str, Any]:
        """JSON-ready and camelCase, as the API shows it and the store keeps it; unset
        optional fields are left out, so an export reads back to the same document."""
        return self.model_dump(mode="json", by_alias=True, exclude_none=True)


# -- routing rules ----------------------------------------------------------------------------


class ContentLength(_Camel):
    """Bounds on the prompt's length in characters, both inclusive."""

    min: Annotated[int, Field(ge=0)] | None = None
    max: Annotated[int, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _ordered(self) -> ContentLength:
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class RuleCondition(_Camel):
    """Every given part must match; an absent part matches anything. A request that does not
    say its agent type does not match a condition on agent types (the same for request type)."""

    agent_type: Keys | None = Field(default=None, alias="agentType")
    request_type: Keys | None = Field(default=None, alias="requestType")
    content_length: ContentLength | None = Field(default=None, alias="contentLength")


class TargetModel(_Camel):
    model_id: ModelName = Field(alias="modelId")
    weight: Fraction
    fallback_order: Annotated[int, Field(ge=1, le=1000)] = Field(alias="fallbackOrder")


class TrafficSplit(_Camel):
    """Percent of the rule's traffic for its primary target and for the others (canaries)."""

    primary: Annotated[float, Field(ge=0.0, le=100.0), AfterValidator(_finite)]
    canary: Annotated[float, Field(ge=0.0, le=100.0), AfterValidator(_finite)]

    @model_validator(mode="after")
    def _whole(self) -> TrafficSplit:
        if abs(self.primary + self.canary - 100.0) > 1e-9:
            raise ValueError(
                f"primary {self.primary:g} and canary {self.canary:g} add up to "
                f"{self.primary + self.canary:g}, not 100"
            )
        return self


class RuleSpec(_Camel):
    """A rule as an operator writes it (``POST /api/routing/rules``); the store gives its id."""

    name: Name
    condition: RuleCondition = Field(default_factory=RuleCondition)
    target_models: tuple[TargetModel, ...] = Field(
        alias="targetModels", min_length=1, max_length=MAX_TARGETS
    )
    traffic_split: TrafficSplit | None = Field(default=None, alias="trafficSplit")
    priority: Annotated[int, Field(ge=0, le=1_000_000)] = 0
    enabled: bool = True

    @field_validator("target_models")
    @classmethod
    def _targets(cls, value: tuple[TargetModel, ...]) -> tuple[TargetModel, ...]:
        _unique(tuple(t.model_id for t in value))
        orders = [t.fallback_order for t in value]
        if len(set(orders)) != len(orders):
            raise ValueError(f"fallbackOrder values must differ, got {orders}")
        total = math.fsum(t.weight for t in value)
        if abs(total - 1.0) > WEIGHT_TOLERANCE:
            weights = ", ".join(f"{t.model_id}={t.weight:g}" for t in value)
            raise ValueError(f"weights must add up to 1, got {total:g} ({weights})")
        return value

    @model_validator(mode="after")
    def _split_needs_a_canary(self) -> RuleSpec:
        split = self.traffic_split
        if split is not None and split.canary > 0 and len(self.target_models) < 2:
            raise ValueError("trafficSplit.canary needs a second target model to send it to")
        return self

    def models(self) -> tuple[str, ...]:
        return tuple(t.model_id for t in self.target_models)

    def by_fallback_order(self) -> tuple[TargetModel, ...]:
        return tuple(sorted(self.target_models, key=lambda t: t.fallback_order))


class RoutingRule(RuleSpec):
    """A stored rule: its spec and its id."""

    id: Key


# -- agent preferences ------------------------------------------------------------------------


class PerformanceRequirements(_Camel):
    max_latency: Milliseconds | None = Field(default=None, alias="maxLatency")
    min_success_rate: Fraction | None = Field(default=None, alias="minSuccessRate")
    max_cost_per_token: Usd | None = Field(default=None, alias="maxCostPerToken")


class AgentPreferences(_Camel):
    preferred_models: Models = Field(default=(), alias="preferredModels")
    fallback_models: Models = Field(default=(), alias="fallbackModels")
    required_capabilities: Capabilities = Field(default=(), alias="requiredCapabilities")
    performance_requirements: PerformanceRequirements = Field(
        default_factory=PerformanceRequirements, alias="performanceRequirements"
    )

    @model_validator(mode="after")
    def _disjoint(self) -> AgentPreferences:
        both = sorted(set(self.preferred_models) & set(self.fallback_models))
        if both:
            raise ValueError(f"preferred and fallback at once: {', '.join(both)}")
        return self

    def models(self) -> tuple[str, ...]:
        return (*self.preferred_models, *self.fallback_models)


# -- workspace configuration ------------------------------------------------------------------


class ModelRestrictions(_Camel):
    """Empty ``allowed`` lists allow everything; ``blocked`` wins over ``allowed``."""

    allowed_models: Models = Field(default=(), alias="allowedModels")
    blocked_models: Models = Field(default=(), alias="blockedModels")
    allowed_providers: Providers = Field(default=(), alias="allowedProviders")
    blocked_providers: Providers = Field(default=(), alias="blockedProviders")

    @model_validator(mode="before")
    @classmethod
    def _seed_list(cls, data: Any) -> Any:
        # Seed 004 writes ``"modelRestrictions": ["gpt-4", ...]``: the models allowed.
        if isinstance(data, list | tuple):
            return {"allowedModels": data}
        return data


class BudgetLimits(_Camel):
    """USD per calendar day, week (from Monday) and month in ``timeZone``."""

    daily: Usd | None = None
    weekly: Usd | None = None
    monthly: Usd | None = None
    time_zone: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        default="UTC", alias="timeZone"
    )
    warning_ratio: Annotated[float, Field(gt=0.0, le=1.0), AfterValidator(_finite)] = Field(
        default=0.8, alias="warningRatio"
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(
                f"{value!r} is not an IANA time zone (e.g. UTC, Europe/Paris)"
            ) from None
        return value

    def limits(self) -> dict[str, float]:
        """The periods that have a limit, shortest first."""
        found = {"daily": self.daily, "weekly": self.weekly, "monthly": self.monthly}
        return {period: limit for period, limit in found.items() if limit is not None}


class QualityRequirements(_Camel):
    min_success_rate: Fraction | None = Field(default=None, alias="minSuccessRate")
    max_latency: Milliseconds | None = Field(default=None, alias="maxLatency")


class ComplianceRequirements(_Camel):
    """Allowed providers and regions (a model's regions come from the registry); tags a model
    must carry (seed 004's ``["gdpr", "hipaa"]`` list form means these)."""

    allowed_providers: Providers = Field(default=(), alias="allowedProviders")
    allowed_regions: Regions = Field(default=(), alias="allowedRegions")
    required_tags: Tags = Field(default=(), alias="requiredTags")

    @model_validator(mode="before")
    @classmethod
    def _seed_list(cls, data: Any) -> Any:
        if isinstance(data, list | tuple):
            return {"requiredTags": data}
        return data


class WorkspaceConfig(_Camel):
    model_restrictions: ModelRestrictions = Field(
        default_factory=ModelRestrictions, alias="modelRestrictions"
    )
    budget_limits: BudgetLimits = Field(default_factory=BudgetLimits, alias="budgetLimits")
    quality_requirements: QualityRequirements = Field(
        default_factory=QualityRequirements, alias="qualityRequirements"
    )
    compliance_requirements: ComplianceRequirements = Field(
        default_factory=ComplianceRequirements, alias="complianceRequirements"
    )

    def models(self) -> tuple[str, ...]:
        restrictions = self.model_restrictions
        return (*restrictions.allowed_models, *restrictions.blocked_models)


def model_references(
    config: RuleSpec | AgentPreferences | WorkspaceConfig,
) -> list[tuple[str, str]]:
    """(field path, modelId) of every model a config names, to check against the registry."""
    if isinstance(config, RuleSpec):
        return [
            (f"targetModels.{i}.modelId", t.model_id) for i, t in enumerate(config.target_models)
        ]
    if isinstance(config, AgentPreferences):
        lists = {
            "preferredModels": config.preferred_models,
            "fallbackModels": config.fallback_models,
        }
    else:
        restrictions = config.model_restrictions
        lists = {
            "modelRestrictions.allowedModels": restrictions.allowed_models,
            "modelRestrictions.blockedModels": restrictions.blocked_models,
        }
    return [(f"{field}.{i}", m) for field, models in lists.items() for i, m in enumerate(models)]
