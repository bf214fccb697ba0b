"""``POST /api/route``: which model should take this request (seed 004's Route Request).

The choice comes from the central router (``routelearn.api.central``): in memory, no database
query. The answer names no provider call: the caller makes it, then reports the outcome as an
event (``POST /api/events``, or its EventPublisher) with the answer's ``decisionId``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError
from pydantic.alias_generators import to_camel
from starlette.routing import Match, Route
from starlette.types import Scope

from routelearn.api.auth import require
from routelearn.api.central import CentralRouter, NotLoaded
from routelearn.api.explain import Routed
from routelearn.api.problems import FieldProblem, Problem, ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.domain.event import MAX_CAPABILITIES, Capability, Complexity, Identifier, Prefer
from routelearn.domain.routing_policy.engine import BudgetExhausted
from routelearn.instance.router import BudgetExceededError, NoModelAvailableError

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
    # What the routing policy reads, copied into the routed event: the event's limits.
    agent_type: Identifier | None = None
    workspace_id: Identifier | None = None
    request_type: Identifier | None = Field(
        default=None, description="what routing rules match on; else metadata.requestType"
    )
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
    reason: str  # best, prefer, budget, exploration, split, rule or preferred
    explanation: str
    fallbacks: list[str]  # the next models to try, best first
    decision_id: str  # give it to the outcome event
    timestamp: datetime
    rule_id: str | None = None  # the routing rule whose target this is
    split_arm: str | None = None  # primary or canary: the rule's traffic split arm


def request_type(body: RouteRequest) -> str | None:
    """The request type rules match on: the field, else seed 004's ``metadata.requestType``."""
    if body.request_type is not None:
        return body.request_type
    found = body.metadata.get("requestType")
    if isinstance(found, str) and 0 < len(found) <= 128 and found.isprintable():
        return found
    return None  # not an identifier the event could carry: no request type


def answer(body: RouteRequest, routed: Routed) -> RouteDecision:
    decision = routed.decision
    return RouteDecision(
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
        rule_id=decision.rule,
        split_arm=None if decision.arm is None else decision.arm.value,
    )


def _id() -> str:
    return "route-" + os.urandom(12).hex()


_AUTHORIZE = require(Permission.ROUTE)


async def route(request: Request) -> Response:
    """Choose a model for this request from the fleet's learned scores and the central registry
    (only active models), and publish the decision's ``routed`` event.

    A plain Starlette endpoint, not a FastAPI route: FastAPI's dependency solving, body
    parsing and response validation cost more than the whole choice (bench api). It does the
    same steps itself: the same key check, the body parsed by pydantic-core in one pass,
    errors as the same problem documents; ``document`` puts it in the OpenAPI schema."""
    await _AUTHORIZE(request)
    try:
        body = RouteRequest.model_validate_json(await request.body())
    except ValidationError as exc:
        # FastAPI's handler for these: the same 422 problem, each field under ``body``.
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from None
    central: CentralRouter = request.app.state.central
    try:
        routed = central.route(
            body.prompt,
            complexity=body.complexity,
            max_tokens=body.parameters.max_tokens,
            capabilities=body.capabilities,
            prefer=body.prefer,
            budget=body.budget,
            agent_type=body.agent_type,
            workspace_id=body.workspace_id,
            request_type=request_type(body),
        )
    except NotLoaded as exc:
        raise ProblemError(503, str(exc), headers={"Retry-After": "1"}) from None
    except BudgetExhausted as exc:
        status = exc.status
        problem = FieldProblem(field="body.workspaceId", value=body.workspace_id, message=str(exc))
        raise ProblemError(
            402,
            f"workspace {status.workspace}: {status.period} budget spent "
            f"({status.spent:.6g} of {status.limit:.6g} USD)",
            [problem],
        ) from None
    except BudgetExceededError as exc:
        if exc.scope is not None and exc.scope[0].startswith("workspace"):  # what it has left
            problem = FieldProblem(
                field="body.workspaceId", value=body.workspace_id, message=str(exc)
            )
            raise ProblemError(402, f"workspace {body.workspace_id}: {exc}", [problem]) from None
        problem = FieldProblem(field="body.budget", value=body.budget, message=str(exc))
        raise ProblemError(422, f"budget {body.budget}: {exc}", [problem]) from None
    except NoModelAvailableError as exc:
        if body.capabilities:
            problem = FieldProblem(
                field="body.capabilities", value=body.capabilities, message=str(exc)
            )
            raise ProblemError(422, f"capabilities {body.capabilities}: {exc}", [problem]) from None
        raise ProblemError(503, f"{exc}: register or activate a model") from None
    result = answer(body, routed)
    # Serialized by pydantic-core in one pass (FastAPI would validate the model again first).
    return Response(result.model_dump_json(by_alias=True), media_type="application/json")


class _Route(Route):
    """A Starlette route that, as FastAPI's, tells the middleware which route matched (the
    ``route`` label of the request metrics)."""

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        match, child = super().matches(scope)
        if match is not Match.NONE:
            child["route"] = self
        return match, child


ROUTE = _Route("/api/route", route, methods=["POST"])


def document(schema: dict[str, Any]) -> None:
    """Add ``POST /api/route`` to an OpenAPI schema: its request, its answer, its problems."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    refs = "#/components/schemas/{model}"
    for model in (RouteRequest, RouteDecision, Problem):
        found = model.model_json_schema(by_alias=True, ref_template=refs)
        components.update(found.pop("$defs", {}))
        components[model.__name__] = found
    problem = {
        "content": {"application/problem+json": {"schema": {"$ref": refs.format(model="Problem")}}}
    }
    schema["paths"]["/api/route"] = {
        "post": {
            "tags": ["route"],
            "summary": "Route",
            "description": route.__doc__,
            "operationId": "route_api_route_post",
            "requestBody": {
                "required": True,
                "content": {
                    "application/json": {"schema": {"$ref": refs.format(model="RouteRequest")}}
                },
            },
            "responses": {
                "200": {
                    "description": "the decision",
                    "content": {
                        "application/json": {"schema": {"$ref": refs.format(model="RouteDecision")}}
                    },
                },
                "401": {"description": "no valid key", **problem},
                "402": {"description": "the workspace's budget period is spent", **problem},
                "403": {"description": "a role that may not route", **problem},
                "422": {
                    "description": "invalid request, or no active model has the capabilities "
                    "or fits the budget",
                    **problem,
                },
                "503": {"description": "no model can be routed to yet", **problem},
            },
        }
    }
