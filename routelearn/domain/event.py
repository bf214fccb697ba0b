"""The routing-decision event: seed 001's format, plus optional ``event_id`` and ``decision_id``.

Unknown fields are refused rather than ignored: a misspelt ``respone_time_ms`` would otherwise
vanish silently. Every string and list is bounded, and strings may not hold control characters
(they break logs, and PostgreSQL refuses NUL).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationInfo,
    field_validator,
)

MAX_FUTURE_SKEW = timedelta(days=1)
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
MAX_RESPONSE_TIME_MS = 86_400_000.0  # one day
MAX_CAPABILITIES = 32
MAX_TOKENS = 1_000_000_000  # one request's tokens
MAX_COST_USD = 1_000_000.0  # one request's cost

_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"
Identifier = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
ModelName = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=_PRINTABLE)]
ProviderName = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
Capability = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]


class Complexity(StrEnum):
    SIMPLE = "simple"
    MEDIUM = "medium"
    COMPLEX = "complex"


class Outcome(StrEnum):
    ROUTED = "routed"
    SUCCESS = "success"
    FAILURE = "failure"


class Prefer(StrEnum):
    SPEED = "speed"
    COST = "cost"


class SplitArm(StrEnum):
    PRIMARY = "primary"
    CANARY = "canary"


class Usage(BaseModel):
    """What the request used, as the provider reported it; report it on the outcome event
    only (budgets add up every event's ``cost_usd``)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    prompt_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS, strict=True)
    completion_tokens: int | None = Field(default=None, ge=0, le=MAX_TOKENS, strict=True)
    cost_usd: float | None = Field(
        default=None, ge=0.0, le=MAX_COST_USD, allow_inf_nan=False, strict=True
    )


class RoutingDecision(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    complexity: Complexity
    selected_model: ModelName
    selected_provider: ProviderName
    complexity_score: float = Field(ge=0.0, le=5.0, allow_inf_nan=False, strict=True)
    outcome: Outcome
    response_time_ms: float | None = Field(
        default=None, ge=0.0, le=MAX_RESPONSE_TIME_MS, allow_inf_nan=False, strict=True
    )
    capabilities_required: tuple[Capability, ...] = Field(default=(), max_length=MAX_CAPABILITIES)
    prefer: Prefer | None = None
    user_model_request: ModelName | None = None
    # Added: the router sent this request to a model whose score is uncertain or stale, to
    # gather evidence, not because it scored best. Optional, so seed-format events still pass.
    exploratory: bool = Field(default=False, strict=True)
    # Added (routing policy): the rule whose target this is, and its traffic split's arm.
    rule_id: Identifier | None = None
    split_arm: SplitArm | None = None


class RoutingEvent(BaseModel):
    """One routing decision or its outcome, as an instance publishes it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    timestamp: datetime
    instance_id: Identifier
    routing_decision: RoutingDecision
    event_id: Identifier | None = None
    decision_id: Identifier | None = None
    # Added (cost and attribution): optional, so seed-format events still pass.
    workspace_id: Identifier | None = None
    agent_type: Identifier | None = None
    request_type: Identifier | None = None
    usage: Usage | None = None

    @field_validator("timestamp", mode="before")
    @classmethod
    def _iso8601(cls, value: Any, info: ValidationInfo) -> datetime:
        # Pydantic would also take epoch numbers; the format is ISO 8601 text only.
        if not isinstance(value, str):
            raise ValueError("must be an ISO 8601 string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            raise ValueError("is not an ISO 8601 date-time") from None
        if parsed.tzinfo is None:  # a naive time is taken as UTC, as producers mean it
            parsed = parsed.replace(tzinfo=UTC)
        parsed = parsed.astimezone(UTC)
        now = (info.context or {}).get("now") or datetime.now(UTC)
        if parsed < EARLIEST:
            raise ValueError(f"is before {EARLIEST.date().isoformat()}")
        if parsed > now + MAX_FUTURE_SKEW:
            raise ValueError("is more than a day in the future")
        return parsed
