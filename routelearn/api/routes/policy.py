"""Routing policy set centrally (seed 004): ``/api/routing/rules``, ``/api/agents/{agentType}``,
``/api/workspaces/{workspaceId}/config`` and the dry run ``POST /api/routing/test``.

Reads need a ``reader`` key; writes an ``operator`` key. A write is validated whole (a rule that
names a model the registry does not hold, weights that do not add up to 1, a budget below
zero: 422 naming the field, nothing stored), then fanned out to every instance like a registry
change (``routelearn.fan_out_registry``), so instances decide locally as the server does.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Body, Depends, Path, Request, Response
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from routelearn.api.announce import announce
from routelearn.api.auth import require
from routelearn.api.central import NotLoaded
from routelearn.api.dry_run import DryRun, agent_models, test
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.api.routes.route import RouteDecision, RouteRequest, answer, request_type
from routelearn.domain.api_keys import Permission
from routelearn.domain.routing_policy.change import PolicyKind
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    Key,
    RoutingRule,
    RuleSpec,
    WorkspaceConfig,
)
from routelearn.store import policy, usage
from routelearn.store.policy import PolicyNotFound, Stored, UnknownReferences

router = APIRouter(tags=["routing policy"])
_READ = [Depends(require(Permission.READ))]
_WRITE = [Depends(require(Permission.WRITE_REGISTRY))]

AgentType = Annotated[Key, Path(alias="agentType")]
WorkspaceId = Annotated[Key, Path(alias="workspaceId")]


class _Stamped(BaseModel):
    version: int  # from one sequence: instances apply only a newer one
    created_at: datetime = Field(alias="createdAt")
    updated_at: datetime = Field(alias="updatedAt")


class RuleOut(RoutingRule, _Stamped):
    pass


class RuleList(BaseModel):
    rules: list[RuleOut]  # in the order they are tried: priority, highest first, then id
    total: int


class AgentPreferencesOut(AgentPreferences, _Stamped):
    agent_type: str = Field(alias="agentType")


class WorkspaceConfigOut(WorkspaceConfig, _Stamped):
    workspace_id: str = Field(alias="workspaceId")


def _stamp(stored: Stored) -> dict[str, Any]:
    return {
        **stored.document,
        "version": stored.version,
        "createdAt": stored.created_at,
        "updatedAt": stored.updated_at,
    }


async def _run(request: Request, func: Any, *args: Any) -> Any:
    try:
        return await anyio.to_thread.run_sync(func, request.app.state.engine, *args)
    except UnknownReferences as exc:
        errors = [
            FieldProblem(field=f"body.{path}", value=model, message="not in the model registry")
            for path, model in exc.missing
        ]
        raise ProblemError(422, str(exc), errors) from None
    except PolicyNotFound as exc:
        raise ProblemError(404, str(exc)) from None
    except ValidationError as exc:  # a partial update that leaves the rule invalid
        details = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(details) from None


# -- rules ------------------------------------------------------------------------------------


@router.post("/api/routing/rules", status_code=201, response_model=RuleOut, dependencies=_WRITE)
async def add_rule(spec: RuleSpec, request: Request, response: Response) -> RuleOut:
    """Add a rule; its id is made here and answered (and in ``Location``)."""
    stored = await _run(request, policy.add_rule, spec)
    await announce(request)
    response.headers["Location"] = f"/api/routing/rules/{stored.key}"
    return RuleOut.model_validate(_stamp(stored))


@router.get("/api/routing/rules", response_model=RuleList, dependencies=_READ)
async def list_rules(request: Request) -> RuleList:
    found = await _run(request, policy.list_kind, PolicyKind.RULE)
    rules = [RuleOut.model_validate(_stamp(s)) for s in found]
    rules.sort(key=lambda r: (-r.priority, r.id))
    return RuleList(rules=rules, total=len(rules))


@router.get("/api/routing/rules/{ruleId}", response_model=RuleOut, dependencies=_READ)
async def get_rule(rule_id: Annotated[Key, Path(alias="ruleId")], request: Request) -> RuleOut:
    stored = await _run(request, policy.get, PolicyKind.RULE, rule_id)
    if stored is None:
        raise ProblemError(404, f"no rule {rule_id!r}")
    return RuleOut.model_validate(_stamp(stored))


@router.patch("/api/routing/rules/{ruleId}", response_model=RuleOut, dependencies=_WRITE)
async def update_rule(
    rule_id: Annotated[Key, Path(alias="ruleId")],
    request: Request,
    changes: Annotated[dict[str, Any], Body(examples=[{"enabled": False}])],
) -> RuleOut:
    """Change some of a rule's fields (seed 004's names); the rule as it would be after the
    change is validated whole, or nothing changes. ``id`` cannot change."""
    if "id" in changes and changes["id"] != rule_id:
        problem = FieldProblem(field="body.id", value=changes["id"], message="cannot change")
        raise ProblemError(422, "a rule's id cannot change", [problem])
    stored = await _run(request, policy.update_rule, rule_id, changes)
    await announce(request)
    return RuleOut.model_validate(_stamp(stored))


@router.delete("/api/routing/rules/{ruleId}", status_code=204, dependencies=_WRITE)
async def delete_rule(rule_id: Annotated[Key, Path(alias="ruleId")], request: Request) -> Response:
    await _run(request, policy.remove, PolicyKind.RULE, rule_id)
    await announce(request)
    return Response(status_code=204)


# -- agents -----------------------------------------------------------------------------------


@router.post(
    "/api/agents/{agentType}/preferences",
    response_model=AgentPreferencesOut,
    dependencies=_WRITE,
)
async def set_agent_preferences(
    agent_type: AgentType, preferences: AgentPreferences, request: Request
) -> AgentPreferencesOut:
    """Set (create or replace) an agent type's preferences."""
    stored = await _run(request, policy.put, PolicyKind.AGENT, agent_type, preferences)
    await announce(request)
    return AgentPreferencesOut.model_validate({**_stamp(stored), "agentType": agent_type})


@router.get(
    "/api/agents/{agentType}/preferences",
    response_model=AgentPreferencesOut,
    dependencies=_READ,
)
async def get_agent_preferences(agent_type: AgentType, request: Request) -> AgentPreferencesOut:
    stored = await _run(request, policy.get, PolicyKind.AGENT, agent_type)
    if stored is None:
        raise ProblemError(404, f"no preferences for agent type {agent_type!r}")
    return AgentPreferencesOut.model_validate({**_stamp(stored), "agentType": agent_type})


@router.delete("/api/agents/{agentType}/preferences", status_code=204, dependencies=_WRITE)
async def delete_agent_preferences(agent_type: AgentType, request: Request) -> Response:
    await _run(request, policy.remove, PolicyKind.AGENT, agent_type)
    await announce(request)
    return Response(status_code=204)


class QualifyingModel(BaseModel):
    model_id: str = Field(alias="modelId")
    tier: str | None  # preferred or fallback: the agent lists it; null: by learned score


class ExcludedModel(BaseModel):
    model_id: str = Field(alias="modelId")
    stage: str  # restriction, compliance, capability, performance, quality, or status
    detail: str


class AgentModelsOut(BaseModel):
    agent_type: str = Field(alias="agentType")
    qualifying: list[QualifyingModel]
    excluded: list[ExcludedModel]


@router.get("/api/agents/{agentType}/models", response_model=AgentModelsOut, dependencies=_READ)
async def get_agent_models(agent_type: AgentType, request: Request) -> AgentModelsOut:
    """The active models this agent's requests may go to now, and for each other model why
    not (outside any workspace's restrictions)."""
    try:
        found = agent_models(request.app.state.central, agent_type)
    except NotLoaded as exc:
        raise ProblemError(503, str(exc), headers={"Retry-After": "1"}) from None
    return AgentModelsOut(
        agentType=agent_type,
        qualifying=[QualifyingModel(modelId=m, tier=t) for m, t in found.qualifying],
        excluded=[
            ExcludedModel(modelId=e.model, stage=e.stage, detail=e.detail) for e in found.excluded
        ],
    )


# -- workspaces -------------------------------------------------------------------------------


@router.post(
    "/api/workspaces/{workspaceId}/config",
    response_model=WorkspaceConfigOut,
    dependencies=_WRITE,
)
async def set_workspace_config(
    workspace_id: WorkspaceId, config: WorkspaceConfig, request: Request
) -> WorkspaceConfigOut:
    """Set (create or replace) a workspace's restrictions, budgets, quality and compliance."""
    stored = await _run(request, policy.put, PolicyKind.WORKSPACE, workspace_id, config)
    await announce(request)
    return WorkspaceConfigOut.model_validate({**_stamp(stored), "workspaceId": workspace_id})


@router.get(
    "/api/workspaces/{workspaceId}/config",
    response_model=WorkspaceConfigOut,
    dependencies=_READ,
)
async def get_workspace_config(workspace_id: WorkspaceId, request: Request) -> WorkspaceConfigOut:
    stored = await _run(request, policy.get, PolicyKind.WORKSPACE, workspace_id)
    if stored is None:
        raise ProblemError(404, f"no config for workspace {workspace_id!r}")
    return WorkspaceConfigOut.model_validate({**_stamp(stored), "workspaceId": workspace_id})


@router.delete("/api/workspaces/{workspaceId}/config", status_code=204, dependencies=_WRITE)
async def delete_workspace_config(workspace_id: WorkspaceId, request: Request) -> Response:
    await _run(request, policy.remove, PolicyKind.WORKSPACE, workspace_id)
    await announce(request)
    return Response(status_code=204)


class PeriodOut(BaseModel):
    period: str  # daily, weekly or monthly, in the workspace's time zone
    spent: float
    limit: float
    remaining: float
    warning: bool  # past the config's warningRatio of the limit


class WorkspaceBudgetOut(BaseModel):
    workspace_id: str = Field(alias="workspaceId")
    time_zone: str = Field(alias="timeZone")
    periods: list[PeriodOut]


@router.get(
    "/api/workspaces/{workspaceId}/budget",
    response_model=WorkspaceBudgetOut,
    dependencies=_READ,
)
async def get_workspace_budget(workspace_id: WorkspaceId, request: Request) -> WorkspaceBudgetOut:
    """What the workspace has spent in each budget period so far (from the cost its events
    report) against its limits."""
    stored = await _run(request, policy.get, PolicyKind.WORKSPACE, workspace_id)
    if stored is None:
        raise ProblemError(404, f"no config for workspace {workspace_id!r}")
    limits = WorkspaceConfig.model_validate(stored.document).budget_limits
    zone = limits.time_zone

    def read(engine: Any) -> dict[str, dict[str, float]]:
        with engine.connect() as conn:
            return usage.spend(conn, {workspace_id: zone}, datetime.now(UTC))

    found = await _run(request, read)
    spent = found.get(workspace_id, {})
    periods = []
    for period, limit in limits.limits().items():
        used = spent.get(period, 0.0)
        periods.append(
            PeriodOut(
                period=period,
                spent=used,
                limit=limit,
                remaining=max(limit - used, 0.0),
                warning=used >= limits.warning_ratio * limit,
            )
        )
    return WorkspaceBudgetOut(workspaceId=workspace_id, timeZone=zone, periods=periods)


# -- the dry run ------------------------------------------------------------------------------


class RoutingTestRequest(RouteRequest):
    """``POST /api/route``'s request; ``prompt`` may be left out (seed 004's example sends
    only ``agentType`` and ``requestType``)."""

    prompt: str = Field(default="", max_length=1_000_000)


class MatchedRule(BaseModel):
    id: str
    arm: str | None  # primary or canary, when the rule has a traffic split and took it


class TierOut(BaseModel):
    kind: str  # rule, preferred or fallback
    models: list[str]


class BudgetOut(BaseModel):
    workspace_id: str = Field(alias="workspaceId")
    period: str
    spent: float
    limit: float
    remaining: float
    warning: bool


class RoutingTestResult(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    decision: RouteDecision | None  # null: the request would be refused
    refused: str | None
    rule: MatchedRule | None
    tiers: list[TierOut]
    excluded: list[ExcludedModel]
    budget: BudgetOut | None
    published: bool = False


@router.post("/api/routing/test", response_model=RoutingTestResult, dependencies=_READ)
async def routing_test(body: RoutingTestRequest, request: Request) -> RoutingTestResult:
    """A dry run of ``POST /api/route``: the decision and its explanation (the rule that
    matched, each model left out and by what) from the same policy and scores. Nothing is
    published."""
    try:
        run: DryRun = test(
            request.app.state.central,
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
    decision = None if run.routed is None else answer(body, run.routed)
    rule = None
    if run.rule is not None:
        chosen = run.routed.decision if run.routed is not None else None
        arm = chosen.arm.value if chosen is not None and chosen.arm is not None else None
        rule = MatchedRule(id=run.rule, arm=arm)
    budget = run.budget
    return RoutingTestResult(
        decision=decision,
        refused=run.refusal,
        rule=rule,
        tiers=[TierOut(kind=t.kind.value, models=list(t.models)) for t in run.tiers],
        excluded=[
            ExcludedModel(modelId=e.model, stage=e.stage, detail=e.detail) for e in run.excluded
        ],
        budget=None
        if budget is None
        else BudgetOut(
            workspaceId=budget.workspace,
            period=budget.period,
            spent=budget.spent,
            limit=budget.limit,
            remaining=budget.remaining,
            warning=budget.warning,
        ),
    )
