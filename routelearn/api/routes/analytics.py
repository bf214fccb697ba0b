"""Seed 004's analytics: ``GET /api/metrics/requests``, ``GET /api/analytics/models`` and
``GET /api/analytics/workspaces/{workspaceId}``, read from the rollups (routelearn.stats.analytics)
with a ``reader`` key. ``timeRange`` is hours or days (``24h``, ``7d``)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import anyio
from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

from routelearn.api.auth import require
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.domain.api_keys import Permission
from routelearn.domain.routing_policy.change import PolicyKind
from routelearn.domain.routing_policy.config import Key
from routelearn.stats import analytics
from routelearn.stats.percentiles import LatencySummary
from routelearn.stats.splits import SplitEvaluation, evaluate_split
from routelearn.stats.window import Window
from routelearn.store import policy

router = APIRouter(tags=["analytics"], dependencies=[Depends(require(Permission.READ))])


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class LatencyOut(_Camel):
    samples: int
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class UsageOut(_Camel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    cost_usd: float


class ModelOut(_Camel):
    model_id: str
    requests: int
    successes: int
    failures: int
    success_rate: float | None
    latency: LatencyOut
    usage: UsageOut


class ModelsOut(_Camel):
    time_range: str
    since: datetime
    models: list[ModelOut]
    total: int  # models with requests in the time range


class TopModel(_Camel):
    model_id: str
    requests: int
    cost_usd: float


class WorkspaceOut(_Camel):
    workspace_id: str
    time_range: str
    since: datetime
    requests: int
    successes: int
    failures: int
    success_rate: float | None
    latency: LatencyOut
    usage: UsageOut
    top_models: list[TopModel]


class RecentOut(_Camel):
    timestamp: datetime
    instance_id: str
    model_id: str
    complexity: str
    outcome: str
    response_time_ms: float | None
    workspace_id: str | None
    cost_usd: float | None


class RequestsOut(_Camel):
    time_range: str
    since: datetime
    requests: int
    successes: int
    failures: int
    error_rate: float | None
    latency: LatencyOut
    recent: list[RecentOut]


def _window(text: str) -> Window:
    try:
        return Window.last_hours(analytics.time_range(text))
    except ValueError as exc:
        problem = FieldProblem(field="query.timeRange", value=text, message=str(exc))
        raise ProblemError(422, str(exc), [problem]) from None


def _latency(summary: LatencySummary) -> LatencyOut:
    return LatencyOut.model_validate(summary, from_attributes=True)


def _usage(usage: analytics.Usage) -> UsageOut:
    return UsageOut(
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        total_tokens=usage.prompt_tokens + usage.completion_tokens,
        cost_usd=usage.cost_usd,
    )


TimeRange = Annotated[str, Query(alias="timeRange", max_length=8)]


@router.get("/api/analytics/models", response_model=ModelsOut)
async def models_analytics(
    request: Request,
    time_range: TimeRange = "24h",
    model_id: Annotated[str | None, Query(alias="modelId", max_length=128)] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 20,
) -> ModelsOut:
    """The ``limit`` busiest models (or ``modelId``): requests, outcomes, success rate,
    latency mean/p50/p95/p99, tokens and cost over the time range; ``total``: how many models
    had requests."""
    window = _window(time_range)
    engine = request.app.state.engine
    found, total = await anyio.to_thread.run_sync(
        lambda: analytics.model_analytics(engine, window, model=model_id, limit=limit)
    )
    models = [
        ModelOut(
            model_id=a.model,
            requests=a.requests,
            successes=a.successes,
            failures=a.failures,
            success_rate=a.success_rate,
            latency=_latency(a.latency),
            usage=_usage(a.usage),
        )
        for a in found
    ]
    assert window.first_hour is not None
    return ModelsOut(time_range=time_range, since=window.first_hour, models=models, total=total)


@router.get("/api/analytics/workspaces/{workspaceId}", response_model=WorkspaceOut)
async def workspace_analytics(
    request: Request,
    workspace_id: Annotated[Key, Path(alias="workspaceId")],
    time_range: TimeRange = "7d",
    top: Annotated[int, Query(ge=1, le=100)] = 5,
) -> WorkspaceOut:
    """One workspace over the time range: requests, outcomes, latency p50/p95/p99, tokens,
    cost, and its top models (from the events that name the workspace)."""
    window = _window(time_range)
    a = await anyio.to_thread.run_sync(
        lambda: analytics.workspace_analytics(
            request.app.state.engine, workspace_id, window, top=top
        )
    )
    assert window.first_hour is not None
    return WorkspaceOut(
        workspace_id=workspace_id,
        time_range=time_range,
        since=window.first_hour,
        requests=a.requests,
        successes=a.successes,
        failures=a.failures,
        success_rate=a.success_rate,
        latency=_latency(a.latency),
        usage=_usage(a.usage),
        top_models=[
            TopModel(model_id=m.model, requests=m.requests, cost_usd=m.cost_usd)
            for m in a.top_models
        ],
    )


class ArmOut(_Camel):
    outcomes: int
    success_rate: float | None
    median_ms: float | None


class SplitOut(_Camel):
    rule_id: str
    time_range: str
    primary: ArmOut
    canary: ArmOut
    verdict: str  # insufficient_data, b_better, b_worse, b_faster, b_slower, no_difference
    summary: str
    success_p_value: float | None
    latency_p_value: float | None


class SplitsOut(_Camel):
    splits: list[SplitOut]


@router.get("/api/analytics/splits", response_model=SplitsOut)
async def splits_analytics(
    request: Request,
    time_range: TimeRange = "24h",
    rule_id: Annotated[Key | None, Query(alias="ruleId")] = None,
) -> SplitsOut:
    """Each routing rule with a traffic split (or ``ruleId``): its canary arm against its primary
    on the outcome events they sent (success rate: two-proportion z-test; latency:
    Mann-Whitney U; ``b`` is the canary)."""
    window = _window(time_range)
    engine = request.app.state.engine

    def evaluate() -> list[SplitEvaluation]:
        if rule_id is not None:
            ids = [rule_id]
        else:
            rules = policy.list_kind(engine, PolicyKind.RULE)
            ids = [r.key for r in rules if r.document.get("trafficSplit") is not None]
        return [evaluate_split(engine, i, window) for i in ids]

    found = await anyio.to_thread.run_sync(evaluate)
    return SplitsOut(
        splits=[
            SplitOut(
                rule_id=e.rule_id,
                time_range=time_range,
                primary=ArmOut(
                    outcomes=e.primary_outcomes,
                    success_rate=e.comparison.a_success_rate,
                    median_ms=e.comparison.a_median_ms,
                ),
                canary=ArmOut(
                    outcomes=e.canary_outcomes,
                    success_rate=e.comparison.b_success_rate,
                    median_ms=e.comparison.b_median_ms,
                ),
                verdict=e.comparison.verdict.value,
                summary=e.comparison.summary,
                success_p_value=e.comparison.success_p_value,
                latency_p_value=e.comparison.latency_p_value,
            )
            for e in found
        ]
    )


@router.get("/api/metrics/requests", response_model=RequestsOut)
async def request_metrics(
    request: Request,
    limit: Annotated[int, Query(ge=0, le=1000)] = 100,
    time_range: TimeRange = "1h",
) -> RequestsOut:
    """The fleet's requests, outcomes, error rate and latency over the time range (the last
    hour by default: what is happening now), and the ``limit`` newest routing events."""
    window = _window(time_range)
    m = await anyio.to_thread.run_sync(
        lambda: analytics.request_metrics(request.app.state.engine, window, limit=limit)
    )
    assert window.first_hour is not None
    return RequestsOut(
        time_range=time_range,
        since=window.first_hour,
        requests=m.requests,
        successes=m.successes,
        failures=m.failures,
        error_rate=m.error_rate,
        latency=_latency(m.latency),
        recent=[
            RecentOut(
                timestamp=r.timestamp,
                instance_id=r.instance_id,
                model_id=r.model,
                complexity=r.complexity,
                outcome=r.outcome,
                response_time_ms=r.response_time_ms,
                workspace_id=r.workspace_id,
                cost_usd=r.cost_usd,
            )
            for r in m.recent
        ],
    )
