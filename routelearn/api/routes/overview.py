"""``GET /api/health/overview``: every model's status, success, latency and open anomalies.

The models are those of the registry and those the fleet's events or scores name (the latter
with status ``unregistered``). Figures come from the monitoring queries (``routelearn.stats``),
health from the rule of ``routelearn.domain.model_health``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import anyio
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from sqlalchemy import Engine

from routelearn.api.auth import require
from routelearn.api.problems import FieldProblem, ProblemError
from routelearn.domain.anomaly import OpenAnomaly, Severity
from routelearn.domain.api_keys import Permission
from routelearn.domain.model_health import (
    UNREGISTERED,
    Health,
    ModelEvidence,
    anomalies_by_model,
    fleet_health,
    judge,
)
from routelearn.domain.registry import ModelRecord
from routelearn.stats.model import LatencyStats, ModelLatency, SuccessRate
from routelearn.stats.queries import known_models, latency_by_model, success_rates
from routelearn.stats.window import Window
from routelearn.store import registry
from routelearn.store.anomalies import read_open

router = APIRouter(tags=["health"], dependencies=[Depends(require(Permission.READ))])

MAX_WINDOW_HOURS = 7 * 24  # a wider window reads more rollup rows; "all" reads the counters
_WINDOW = re.compile(r"^(?:all|([1-9][0-9]{0,3})([hd]))$")


class _Camel(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Latency(_Camel):
    samples: int  # outcomes that carried a response time
    mean_ms: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


class Anomalies(_Camel):
    count: int
    critical: int
    kinds: list[str]  # each kind open on the model, once


class ComplexityFigures(_Camel):
    complexity: str
    requests: int
    successes: int
    failures: int
    success_rate: float | None
    latency: Latency


class HealthReportOut(_Camel):
    """The newest report posted for the model (``POST /api/models/{modelId}/health``)."""

    status: str
    response_time_ms: float | None
    error_rate: float | None
    availability: float | None
    reported_by: str | None
    reported_at: datetime


class ModelOverview(_Camel):
    model_id: str
    provider: str | None  # the registry's; None when the model is not registered
    status: str  # the registry's (active, inactive, deprecated, maintenance) or unregistered
    health: Health
    reasons: list[str]  # why it is not healthy, worst first
    requests: int  # decisions in the window
    successes: int
    failures: int
    success_rate: float | None  # successes / (successes + failures); None without an outcome
    latency: Latency
    complexities: list[ComplexityFigures]
    open_anomalies: Anomalies
    last_health_report: HealthReportOut | None


class Overview(_Camel):
    status: Health  # the fleet's, from its models in service (routelearn.domain.model_health)
    timestamp: datetime
    window: str
    window_start: datetime | None  # the first rollup hour counted; None for "all"
    models: list[ModelOverview]


def parse_window(text: str, now: datetime) -> Window:
    """``all``, ``<n>h`` or ``<n>d``: every rollup hour overlapping the last n hours (so at least
    n hours, the current partial one included), or all time."""
    match = _WINDOW.match(text)
    if match is None:
        raise ValueError(f"window must be all, <n>h or <n>d, got {text!r}")
    if text == "all":
        return Window.all_time()
    hours = int(match[1]) * (24 if match[2] == "d" else 1)
    if hours > MAX_WINDOW_HOURS:
        raise ValueError(f"window must be at most {MAX_WINDOW_HOURS}h, got {text!r}")
    return Window(now - timedelta(hours=hours))


def _latency(stats: LatencyStats | ModelLatency | None) -> Latency:
    if stats is None:
        return Latency(samples=0, mean_ms=None, p50_ms=None, p95_ms=None, p99_ms=None)
    return Latency(
        samples=stats.samples,
        mean_ms=stats.mean_ms,
        p50_ms=stats.p50_ms,
        p95_ms=stats.p95_ms,
        p99_ms=stats.p99_ms,
    )


def _anomalies(open_: tuple[OpenAnomaly, ...]) -> Anomalies:
    return Anomalies(
        count=len(open_),
        critical=sum(a.severity == Severity.CRITICAL for a in open_),
        kinds=sorted({a.kind.value for a in open_}),
    )


def _report(report: registry.HealthReport | None) -> HealthReportOut | None:
    if report is None:
        return None
    return HealthReportOut(
        status=report.status,
        response_time_ms=report.response_time_ms,
        error_rate=report.error_rate,
        availability=report.availability,
        reported_by=report.reported_by,
        reported_at=report.reported_at,
    )


@dataclass(frozen=True, slots=True)
class _Gathered:
    """What the health rule judges, for every model known to the registry or the evidence."""

    registered: dict[str, ModelRecord]
    rates: dict[str, list[SuccessRate]]
    anomalies: dict[str, tuple[OpenAnomaly, ...]]
    names: list[str]

    def evidence(self, name: str) -> tuple[ModelEvidence, list[SuccessRate]]:
        """The model's evidence, and its complexities' rates, busiest first."""
        record = self.registered.get(name)
        pairs = sorted(self.rates.get(name, []), key=lambda r: (-r.decisions, r.complexity))
        evidence = ModelEvidence(
            model=name,
            status=record.status.value if record is not None else UNREGISTERED,
            decisions=sum(r.decisions for r in pairs),
            successes=sum(r.successes for r in pairs),
            failures=sum(r.failures for r in pairs),
            anomalies=self.anomalies.get(name, ()),
        )
        return evidence, pairs


def _gather(engine: Engine, window: Window) -> _Gathered:
    registered = {m.record.id: m.record for m in registry.list_models(engine)}
    rates: dict[str, list[SuccessRate]] = {}
    for rate in success_rates(engine, window):
        rates.setdefault(rate.model, []).append(rate)
    with engine.connect() as conn:
        anomalies = anomalies_by_model(read_open(conn))
    names = sorted({*registered, *known_models(engine), *rates, *anomalies})
    return _Gathered(registered, rates, anomalies, names)


def model_healths(engine: Engine, window: Window) -> dict[str, Health]:
    """Each model's health by the overview's rule, without the figures only the overview shows
    (latency percentiles, health reports): what the metrics' health gauge reads at each
    scrape. Blocking."""
    gathered = _gather(engine, window)
    return {name: judge(gathered.evidence(name)[0]).health for name in gathered.names}


def overview(engine: Engine, window: Window, window_text: str, now: datetime) -> Overview:
    """The overview from the database (blocking: run it in a thread)."""
    gathered = _gather(engine, window)
    reports = registry.latest_health_reports(engine)
    latencies = {m.model: m for m in latency_by_model(engine, window)}

    models, judged = [], []
    for name in gathered.names:
        record = gathered.registered.get(name)
        evidence, pairs = gathered.evidence(name)
        health = judge(evidence)
        judged.append((evidence, health.health))
        latency = latencies.get(name)
        by_complexity = {s.complexity: s for s in latency.complexities} if latency else {}
        models.append(
            ModelOverview(
                model_id=name,
                provider=record.provider if record is not None else None,
                status=evidence.status,
                health=health.health,
                reasons=list(health.reasons),
                requests=evidence.decisions,
                successes=evidence.successes,
                failures=evidence.failures,
                success_rate=evidence.success_rate,
                latency=_latency(latency),
                complexities=[
                    ComplexityFigures(
                        complexity=r.complexity,
                        requests=r.decisions,
                        successes=r.successes,
                        failures=r.failures,
                        success_rate=r.success_rate,
                        latency=_latency(by_complexity.get(r.complexity)),
                    )
                    for r in pairs
                ],
                open_anomalies=_anomalies(evidence.anomalies),
                last_health_report=_report(reports.get(name)),
            )
        )
    return Overview(
        status=fleet_health(judged),
        timestamp=now,
        window=window_text,
        window_start=window.first_hour,
        models=models,
    )


@router.get(
    "/api/health/overview",
    response_model=Overview,
    responses={422: {"description": "the window is not all, <n>h or <n>d (at most 7d)"}},
)
async def health_overview(
    request: Request,
    window: str = Query(
        "1h",
        description="all, <n>h or <n>d (at most 7d): every rollup hour overlapping the last n "
        "hours, the current one included; all: every outcome ever counted",
    ),
) -> Overview:
    """Per model: registry status, health, requests and success rate over the window, response
    time percentiles, open anomalies and the newest health report; and the fleet's health."""
    now = datetime.now(UTC)
    try:
        parsed = parse_window(window, now)
    except ValueError as exc:
        raise ProblemError(
            422,
            "the request does not validate",
            [FieldProblem(field="query.window", value=window, message=str(exc))],
        ) from None
    engine = request.app.state.engine
    return await anyio.to_thread.run_sync(overview, engine, parsed, window, now)
