"""The central model registry's records (seed 004's fields) and the change instances receive.

``ModelRecord`` is what an operator registers (``POST /api/models``) and what ``catalog import``
derives from a catalog file: seed 004's ``name``, ``version``, ``provider``, ``modelType``,
``capabilities`` (with ``maxTokens``), ``parameters``, ``status`` and ``tags``, plus what the
catalog file holds (prices, context window, typical latency). ``modelId`` is the name events
and scores use for the model; it defaults to ``version`` (the provider's model identifier, as in
seed 004's routing answer), then to ``name``.

``RegistryChange`` is one model's registry entry as the fan-out sends it to every instance:
versioned from one sequence, so an instance applies a change only when it is newer than the one
it holds, whatever order they arrive in, across a removal and a re-registration too.

Pure: pydantic only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from routelearn.domain.event import MAX_CAPABILITIES, Capability, ModelName, ProviderName
from routelearn.domain.messages import AwareDatetime, first_error
from routelearn.errors import RouteLearnError

EVENT_TYPE = "model_registry_update"
REMOVED = "removed"  # a RegistryChange's status once the model is deleted
MAX_TAGS = 32
MAX_PARAMETERS = 64
MAX_BATCH = 1000

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Text = Annotated[str, StringConstraints(min_length=1, max_length=200, pattern=_PRINTABLE)]
Tag = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
Region = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
MAX_REGIONS = 64
ModelType = Annotated[str, StringConstraints(min_length=1, max_length=32, pattern=r"^[a-z0-9_-]+$")]


class ModelStatus(StrEnum):
    ACTIVE = "active"
    INACTIVE = "inactive"
    DEPRECATED = "deprecated"
    MAINTENANCE = "maintenance"


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return value


Usd = Annotated[float, Field(strict=False, ge=0.0), AfterValidator(_finite)]


class _Camel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ModelCapability(_Camel):
    type: Capability
    max_tokens: Annotated[int, Field(gt=0, le=100_000_000)] | None = Field(
        default=None, alias="maxTokens"
    )


class ModelPrices(_Camel):
    """USD per 1,000 tokens, as in the catalog file."""

    input_per_1k: Usd = Field(alias="inputPer1k")
    output_per_1k: Usd = Field(alias="outputPer1k")


class ModelRecord(_Camel):
    """One registered model; see the module doc. Field names are seed 004's (camelCase)."""

    model_id: ModelName | None = Field(default=None, alias="modelId")
    name: Text
    version: Text | None = None
    provider: ProviderName
    model_type: ModelType = Field(default="chat", alias="modelType")
    capabilities: tuple[ModelCapability, ...] = Field(default=(), max_length=MAX_CAPABILITIES)
    parameters: dict[Annotated[str, StringConstraints(max_length=64)], Any] = Field(
        default_factory=dict, max_length=MAX_PARAMETERS
    )
    status: ModelStatus = ModelStatus.ACTIVE
    tags: tuple[Tag, ...] = Field(default=(), max_length=MAX_TAGS)
    # Where the provider serves and keeps the model's data (workspace compliance reads it).
    regions: tuple[Region, ...] = Field(default=(), max_length=MAX_REGIONS)
    prices: ModelPrices | None = None
    context_window: Annotated[int, Field(gt=0)] | None = Field(default=None, alias="contextWindow")
    typical_latency_ms: Annotated[float, Field(gt=0.0), AfterValidator(_finite)] | None = Field(
        default=None, alias="typicalLatencyMs"
    )

    @field_validator("capabilities")
    @classmethod
    def _unique(cls, value: tuple[ModelCapability, ...]) -> tuple[ModelCapability, ...]:
        seen: set[str] = set()
        for capability in value:
            if capability.type in seen:
                raise ValueError(f"{capability.type!r} is listed twice")
            seen.add(capability.type)
        return value

    @field_validator("parameters")
    @classmethod
    def _scalars(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Generation parameters are flat settings (temperature, maxTokens...): a nested or
        # unbounded value is a mistake, and would make a record of any size.
        for key, item in value.items():
            if item is not None and not isinstance(item, bool | int | float | str):
                raise ValueError(f"{key}: must be a number, string, boolean or null")
            if isinstance(item, float) and not math.isfinite(item):
                raise ValueError(f"{key}: {item!r} is not a finite number")
            if isinstance(item, str) and len(item) > 1000:
                raise ValueError(f"{key}: longer than 1000 characters")
        return value

    @model_validator(mode="after")
    def _identify(self) -> ModelRecord:
        if self.model_id is None:
            object.__setattr__(self, "model_id", self.version or self.name)
        return self

    @property
    def id(self) -> str:
        assert self.model_id is not None  # set by _identify
        return self.model_id

    def capability_types(self) -> tuple[str, ...]:
        return tuple(c.type for c in self.capabilities)

    def document(self) -> dict[str, Any]:
        """JSON-ready, camelCase, as the API shows and the store keeps it."""
        return self.model_dump(mode="json", by_alias=True)


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    UNHEALTHY = "unhealthy"


Url = Annotated[str, StringConstraints(max_length=2048, pattern=r"^https?://[^\s\x00-\x1f]+$")]


class EndpointSpec(_Camel):
    """One of a model's endpoints (seed 004's ``POST /api/models/{modelId}/endpoints``)."""

    url: Url
    type: ModelType = "primary"
    weight: Annotated[float, Field(ge=0.0, le=1000.0), AfterValidator(_finite)] = 1.0
    health_check_url: Url | None = Field(default=None, alias="healthCheckUrl")


class HealthSpec(_Camel):
    """A health report on a model (seed 004's ``POST /api/models/{modelId}/health``):
    ``responseTime`` in ms, ``errorRate`` 0-1, ``availability`` in percent."""

    status: HealthStatus
    response_time: Annotated[float, Field(ge=0.0), AfterValidator(_finite)] | None = Field(
        default=None, alias="responseTime"
    )
    error_rate: Annotated[float, Field(ge=0.0, le=1.0)] | None = Field(
        default=None, alias="errorRate"
    )
    availability: Annotated[float, Field(ge=0.0, le=100.0)] | None = None


class StatusChange(_Camel):
    model_id: ModelName = Field(alias="modelId")
    status: ModelStatus


class StatusBatch(_Camel):
    """``PATCH /api/models/batch/status``: applied all or nothing."""

    updates: tuple[StatusChange, ...] = Field(min_length=1, max_length=MAX_BATCH)

    @field_validator("updates")
    @classmethod
    def _once_each(cls, value: tuple[StatusChange, ...]) -> tuple[StatusChange, ...]:
        seen: set[str] = set()
        for change in value:
            if change.model_id in seen:
                raise ValueError(f"modelId {change.model_id!r} is listed twice")
            seen.add(change.model_id)
        return value


class InvalidRegistryChange(RouteLearnError, ValueError):
    """A registry change message is malformed; the message names the field."""


@dataclass(frozen=True, slots=True)
class RegistryChange:
    """What an instance needs of one model's registry entry, at one version (module doc)."""

    model: str
    version: int
    status: str  # a ModelStatus value, or REMOVED
    provider: str
    capabilities: tuple[str, ...]
    input_per_1k: float | None
    output_per_1k: float | None
    context_window: int | None
    typical_latency_ms: float | None
    timestamp: datetime
    tags: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()

    @property
    def active(self) -> bool:
        return self.status == ModelStatus.ACTIVE

    @classmethod
    def of(cls, record: ModelRecord, version: int, timestamp: datetime) -> RegistryChange:
        prices = record.prices
        return cls(
            model=record.id,
            version=version,
            status=record.status.value,
            provider=record.provider,
            capabilities=record.capability_types(),
            input_per_1k=None if prices is None else prices.input_per_1k,
            output_per_1k=None if prices is None else prices.output_per_1k,
            context_window=record.context_window,
            typical_latency_ms=record.typical_latency_ms,
            timestamp=timestamp,
            tags=record.tags,
            regions=record.regions,
        )

    def removed(self, version: int, timestamp: datetime) -> RegistryChange:
        return replace(self, version=version, status=REMOVED, timestamp=timestamp)

    def to_message(self) -> dict[str, Any]:
        return {
            "event_type": EVENT_TYPE,
            "timestamp": self.timestamp.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "version": self.version,
            "status": self.status,
            "provider": self.provider,
            "capabilities": list(self.capabilities),
            "input_per_1k": self.input_per_1k,
            "output_per_1k": self.output_per_1k,
            "context_window": self.context_window,
            "typical_latency_ms": self.typical_latency_ms,
            "tags": list(self.tags),
            "regions": list(self.regions),
        }

    @classmethod
    def from_message(cls, data: object) -> RegistryChange:
        """Validate one change off the network; unknown keys are ignored (a newer producer
        may add some)."""
        if not isinstance(data, Mapping):
            raise InvalidRegistryChange(f"registry change must be an object, got {data!r:.200}")
        try:
            parsed = _ChangeMessage.model_validate(data)
        except ValidationError as exc:
            raise InvalidRegistryChange(first_error("registry change", exc)) from None
        return cls(
            model=parsed.model,
            version=parsed.version,
            status=parsed.status,
            provider=parsed.provider,
            capabilities=parsed.capabilities,
            input_per_1k=parsed.input_per_1k,
            output_per_1k=parsed.output_per_1k,
            context_window=parsed.context_window,
            typical_latency_ms=parsed.typical_latency_ms,
            timestamp=parsed.timestamp,
            tags=parsed.tags,
            regions=parsed.regions,
        )


class _ChangeMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    event_type: str = EVENT_TYPE
    timestamp: AwareDatetime
    model: ModelName
    version: int = Field(ge=1, strict=True)
    status: str
    provider: ProviderName
    capabilities: tuple[Capability, ...] = Field(default=(), max_length=MAX_CAPABILITIES)
    input_per_1k: Usd | None = None
    output_per_1k: Usd | None = None
    context_window: int | None = Field(default=None, gt=0)
    typical_latency_ms: float | None = Field(default=None, gt=0.0, allow_inf_nan=False)
    tags: tuple[Tag, ...] = Field(default=(), max_length=MAX_TAGS)
    regions: tuple[Region, ...] = Field(default=(), max_length=MAX_REGIONS)

    @field_validator("event_type")
    @classmethod
    def _event_type(cls, value: str) -> str:
        if value != EVENT_TYPE:
            raise ValueError(f"must be {EVENT_TYPE!r}")
        return value

    @field_validator("status")
    @classmethod
    def _status(cls, value: str) -> str:
        allowed = [*ModelStatus, REMOVED]
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value


class UnknownModels(RouteLearnError, LookupError):
    """Models the registry does not hold; nothing was changed."""

    def __init__(self, model_ids: list[str]) -> None:
        super().__init__(f"not in the registry: {', '.join(model_ids)}")
        self.model_ids = model_ids


class ModelExists(RouteLearnError, ValueError):
    def __init__(self, model_id: str) -> None:
        super().__init__(f"modelId {model_id!r} is registered already")
        self.model_id = model_id
