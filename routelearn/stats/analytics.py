"""Seed 004's analytics, served from the rollups (never by scanning the audit table):
per model (``GET /api/analytics/models``), per workspace (``GET /api/analytics/workspaces/{id}``)
and the fleet's request metrics (``GET /api/metrics/requests``).

Per model: the decisions, outcomes and latency of ``routing_rollups_hourly`` (every decision),
with the tokens and cost of ``usage_rollups_hourly`` (the events that report usage). Per
workspace: ``workspace_rollups_hourly`` (one row an hour, with its latency histogram) and, for
its top models, ``usage_rollups_hourly``; its requests are the events that opened a decision
with the workspace named (docs/routing-policy.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from routelearn.domain import latency
from routelearn.stats.model import ModelLatency
from routelearn.stats.percentiles import LatencySummary, summarize
from routelearn.stats.queries import latency_by_model, pair_counts, reading
from routelearn.stats.window import Window

_RANGE = re.compile(r"^([1-9][0-9]{0,4})([hd])$")
MAX_RANGE_HOURS = 24 * 400  # the rollups' default retention (ROUTELEARN_ROLLUP_RETENTION_DAYS)


def time_range(text: str) -> int:
    """``24h`` or ``7d`` as hours; ValueError naming the value otherwise."""
    found = _RANGE.match(text)
    if found is None:
        raise ValueError(f"timeRange {text!r} is not a number of hours or days, e.g. 24h or 7d")
    hours = int(found.group(1)) * (24 if found.group(2) == "d" else 1)
    if hours > MAX_RANGE_HOURS:
        raise ValueError(f"timeRange {text!r} is over {MAX_RANGE_HOURS // 24} days")
    return hours


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0


@dataclass(frozen=True, slots=True)
class ModelAnalytics:
    model: str
    requests: int
    successes: int
    failures: int
    latency: ModelLatency | None  # None: no response time in the window
    usage: Usage

    @property
    def success_rate(self) -> float | None:
        outcomes = self.successes + self.failures
        return self.successes / outcomes if outcomes else None


def model_analytics(
    engine: Engine, window: Window, *, model: str | None = None
) -> list[ModelAnalytics]:
    """Per model with decisions in the window, busiest first."""
    latencies = {m.model: m for m in latency_by_model(engine, window, model=model)}
    with reading(engine) as conn:
        counts: dict[str, list[int]] = {}
        for pair in pair_counts(conn, window, model):
            summed = counts.setdefault(pair.model, [0, 0, 0])
            summed[0] += pair.decisions
            summed[1] += pair.successes
            summed[2] += pair.failures
        usage = _usage_by_model(conn, window, model)
    found = [
        ModelAnalytics(name, r, s, f, latencies.get(name), usage.get(name, Usage()))
        for name, (r, s, f) in counts.items()
    ]
    found.sort(key=lambda a: (-a.requests, a.model))
    return found


def _usage_by_model(conn: Any, window: Window, model: str | None) -> dict[str, Usage]:
    conditions = [] if window.is_all_time else ["hour >= %(since)s"]
    conditions += ["model_name = %(model)s"] if model is not None else []
    where = f"WHERE {' AND '.join(conditions)}" if conditions else ""
    rows = conn.exec_driver_sql(
        "SELECT model_name, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint,"
        f" sum(cost_usd) FROM usage_rollups_hourly {where} GROUP BY 1",
        {"since": window.first_hour, "model": model},
    )
    return {m: Usage(int(p), int(c), float(cost)) for m, p, c, cost in rows}


@dataclass(frozen=True, slots=True)
class WorkspaceModel:
    model: str
    requests: int
    cost_usd: float


@dataclass(frozen=True, slots=True)
class WorkspaceAnalytics:
    workspace: str
    requests: int
    successes: int
    failures: int
    latency: LatencySummary
    usage: Usage
    top_models: tuple[WorkspaceModel, ...]  # most requests first

    @property
    def success_rate(self) -> float | None:
        outcomes = self.successes + self.failures
        return self.successes / outcomes if outcomes else None


# The workspace's hourly rows (one an hour, by its key: workspace_id, hour): totals and the
# histograms summed bucket by bucket; its top models from the finer usage rollups.
_WORKSPACE_TOTALS = """
SELECT coalesce(sum(requests), 0)::bigint, coalesce(sum(success_count), 0)::bigint,
    coalesce(sum(failure_count), 0)::bigint, coalesce(sum(response_time_count), 0)::bigint,
    coalesce(sum(response_time_sum), 0), coalesce(sum(prompt_tokens), 0)::bigint,
    coalesce(sum(completion_tokens), 0)::bigint, coalesce(sum(cost_usd), 0)
FROM workspace_rollups_hourly WHERE workspace_id = %(workspace)s AND hour >= %(since)s
"""
_WORKSPACE_HISTOGRAM = """
SELECT u.i, sum(u.c)::bigint
FROM workspace_rollups_hourly AS r
CROSS JOIN LATERAL unnest(r.response_time_histogram) WITH ORDINALITY AS u(c, i)
WHERE r.workspace_id = %(workspace)s AND r.hour >= %(since)s AND r.response_time_count > 0
    AND u.c > 0
GROUP BY 1
"""
_WORKSPACE_MODELS = """
SELECT model_name, sum(requests)::bigint, sum(cost_usd)
FROM usage_rollups_hourly WHERE workspace_id = %(workspace)s AND hour >= %(since)s
GROUP BY 1 ORDER BY 2 DESC, 3 DESC, 1 LIMIT %(limit)s
"""


def workspace_analytics(
    engine: Engine, workspace: str, window: Window, *, top: int = 5
) -> WorkspaceAnalytics:
    if window.is_all_time:
        raise ValueError("a workspace's analytics need a time range")
    params = {"workspace": workspace, "since": window.first_hour, "limit": top}
    with reading(engine) as conn:
        totals = conn.exec_driver_sql(_WORKSPACE_TOTALS, params).one()
        histogram = latency.empty()
        for position, count in conn.exec_driver_sql(_WORKSPACE_HISTOGRAM, params):
            histogram[position - 1] = count
        models = [
            WorkspaceModel(m, int(n), float(cost))
            for m, n, cost in conn.exec_driver_sql(_WORKSPACE_MODELS, params)
        ]
    requests, successes, failures, samples, total_ms, prompt, completion, cost = totals
    return WorkspaceAnalytics(
        workspace=workspace,
        requests=int(requests),
        successes=int(successes),
        failures=int(failures),
        latency=summarize(histogram if samples else [], int(samples), float(total_ms)),
        usage=Usage(int(prompt), int(completion), float(cost)),
        top_models=tuple(models),
    )


@dataclass(frozen=True, slots=True)
class RecentRequest:
    timestamp: Any
    instance_id: str
    model: str
    complexity: str
    outcome: str
    response_time_ms: float | None
    workspace_id: str | None
    cost_usd: float | None


@dataclass(frozen=True, slots=True)
class RequestMetrics:
    requests: int
    successes: int
    failures: int
    latency: LatencySummary
    recent: tuple[RecentRequest, ...]  # the newest audit rows, newest first

    @property
    def error_rate(self) -> float | None:
        outcomes = self.successes + self.failures
        return self.failures / outcomes if outcomes else None


# The newest audit rows: the timestamp index, newest first, read LIMIT rows and stops.
_RECENT = """
SELECT timestamp, instance_id, model, complexity, outcome, response_time_ms, workspace_id,
    cost_usd
FROM routing_records ORDER BY timestamp DESC LIMIT %(limit)s
"""


def request_metrics(engine: Engine, window: Window, *, limit: int = 100) -> RequestMetrics:
    """The fleet's requests, outcomes and latency over the window (rollups), and the ``limit``
    newest events (the audit table, by its timestamp index)."""
    with reading(engine) as conn:
        pairs = pair_counts(conn, window)
        samples = sum(p.samples for p in pairs)
        histogram = _fleet_histogram(conn, window) if samples else []
        recent = tuple(
            RecentRequest(*row) for row in conn.exec_driver_sql(_RECENT, {"limit": limit})
        )
    return RequestMetrics(
        requests=sum(p.decisions for p in pairs),
        successes=sum(p.successes for p in pairs),
        failures=sum(p.failures for p in pairs),
        latency=summarize(histogram, samples, sum(p.total_ms for p in pairs)),
        recent=recent,
    )


def _fleet_histogram(conn: Any, window: Window) -> list[int]:
    if window.is_all_time:
        sql = (
            "SELECT u.i, sum(u.c)::bigint FROM model_routing_metrics AS m"
            " CROSS JOIN LATERAL unnest(m.response_time_histogram) WITH ORDINALITY AS u(c, i)"
            " WHERE u.c > 0 GROUP BY 1"
        )
    else:
        sql = (
            "SELECT u.i, sum(u.c)::bigint FROM routing_rollups_hourly AS r"
            " CROSS JOIN LATERAL unnest(r.response_time_histogram) WITH ORDINALITY AS u(c, i)"
            " WHERE r.hour >= %(since)s AND r.response_time_count > 0 AND u.c > 0 GROUP BY 1"
        )
    histogram = latency.empty()
    for position, count in conn.exec_driver_sql(sql, {"since": window.first_hour}):
        histogram[position - 1] = count
    return histogram
