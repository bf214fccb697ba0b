"""``POST /api/route``: which model should take this request (seed 004's Route Request).

The choice comes from the central router (``routelearn.api.central``): in memory, no database
query. The answer names no provider call: the caller makes it, then reports the outcome as an
event (``POST /api/events``, or its EventPublisher) with the answer's ``decisionId``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints
from pydantic.alias_generators import to_camel

from routelearn.api.auth import require
from routelearn.api.central import CentralRouter, NotLoaded
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.domain.event import MAX_CAPABILITIES, Capability, Complexity, Identifier, Prefer
from routelearn.instance.router import BudgetExceededError, NoModelAvailableError

router = APIRouter(tags=["route"])

MAX_PROMPT_CHARS = 1_000_000
_Text = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f]+$")
]


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="forbid")


class Parameters(BaseModel):
    """The generation parameters the caller will send; only ``maxTokens`` is read (the
    answer's size), the others are kept as they are."""

    model_config = ConfigDict(extra="allow", populate_by_name=True)
    max_tokens: int | None = Field(
        default=None, alias="maxTokens", ge=1, le=10_000_000, strict=True
    )


class RouteRequest(_Camel):
    """Seed 004's request, plus what the choice needs. Unknown fields are refused: a misspelt
    ``capabilites`` would otherwise route without the capability asked for."""

    id: Identifier | None = Field(default=None, description="the caller's request id")
    agent_type: _Text | None = None
    workspace_id: _Text | None = None
    user_id: _Text | None = None
    prompt: str = Field(max_length=MAX_PROMPT_CHARS)
    parameters: Parameters = Field(default_factory=Parameters)
    metadata: dict[str, Any] = Field(default_factory=dict, max_length=64)
    complexity: Complexity | None = Field(
        default=None, description="simple, medium or complex; estimated from the size if absent"
    )
    capabilities: list[Capability] = Field(default_factory=list, max_length=MAX_CAPABILITIES)
    prefer: Prefer | None = Field(default=None, description="break near-ties by speed or cost")
    budget: float | None = Field(
        default=None, ge=0.0, allow_inf_nan=False, description="USD this request may cost"
    )


class EstimatedTokens(BaseModel):
    prompt: int
    completion: int  # maxTokens, else the router's expected completion size
    total: int


class RouteDecision(_Camel):
    id: str
    request_id: str | None
    model_id: str
    provider: str
    complexity: Complexity
    score: float  # the model's learned score for the complexity
    estimated_tokens: EstimatedTokens
    estimated_cost: float | None  # USD, from the registry's prices; null without them
    reason: str  # best, prefer, budget, exploration or split
    explanation: str
    fallbacks: list[str]  # the next models to try, best first
    decision_id: str  # give it to the outcome event
    timestamp: datetime


def _id() -> str:
    return "route-" + os.urandom(12).hex()


@router.post(
    "/api/route",
    response_model=RouteDecision,
    dependencies=[Depends(require(Permission.ROUTE))],
    responses={
        422: {"description": "invalid request, or no active model has the capabilities or fits "
              "the budget"},
        503: {"description": "no model can be routed to yet"},
    },
)  # fmt: skip
async def route(body: RouteRequest, request: Request) -> Response:
    """Choose a model for this request from the fleet's learned scores and the central registry
    (only active models), and publish the decision's ``routed`` event."""
    central: CentralRouter = request.app.state.central
    try:
        routed = central.route(
            body.prompt,
            complexity=body.complexity,
            max_tokens=body.parameters.max_tokens,
            capabilities=body.capabilities,
            prefer=body.prefer,
            budget=body.budget,
        )
    except NotLoaded as exc:
        raise ProblemError(503, str(exc), headers={"Retry-After": "1"}) from None
    except BudgetExceededError as exc:
        problem = FieldProblem(field="body.budget", value=body.budget, message=str(exc))
        raise ProblemError(422, f"budget {body.budget}: {exc}", [problem]) from None
    except NoModelAvailableError as exc:
        if body.capabilities:
            problem = FieldProblem(
                field="body.capabilities", value=body.capabilities, message=str(exc)
            )
            raise ProblemError(422, f"capabilities {body.capabilities}: {exc}", [problem]) from None
        raise ProblemError(503, f"{exc}: register or activate a model") from None
    decision = routed.decision
    answer = RouteDecision(
        id=_id(),
        request_id=body.id,
        model_id=decision.model,
        provider=decision.provider,
        complexity=decision.complexity,
        score=decision.score,
        estimated_tokens=EstimatedTokens(
            prompt=routed.prompt_tokens,
            completion=routed.completion_tokens,
            total=routed.prompt_tokens + routed.completion_tokens,
        ),
        estimated_cost=decision.estimated_cost,
        reason=decision.reason.value,
        explanation=routed.explanation,
        fallbacks=routed.fallbacks,
        decision_id=decision.decision_id,
        timestamp=datetime.now(UTC),
    )
    # Serialized by pydantic-core in one pass (FastAPI would validate the model again first).
    return Response(answer.model_dump_json(by_alias=True), media_type="application/json")
