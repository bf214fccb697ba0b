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
from routelearn.stats.percentiles import LatencySummary, summarize
from routelearn.stats.queries import reading
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
    latency: LatencySummary
    usage: Usage

    @property
    def success_rate(self) -> float | None:
        outcomes = self.successes + self.failures
        return self.successes / outcomes if outcomes else None


# Counts per model over the window: sums, no histogram read.
_MODEL_COUNTS = """
SELECT model_name, sum(decisions)::bigint, sum(success_count)::bigint,
    sum(failure_count)::bigint, sum(response_time_count)::bigint, sum(response_time_sum)
FROM routing_rollups_hourly WHERE hour >= %(since)s {model}
GROUP BY 1
"""
# The histograms of the models shown, summed bucket by bucket (only non-zero buckets kept):
# the costly part (a 122-bucket array per rollup row), so it reads only those models' rows.
_MODEL_HISTOGRAMS = """
SELECT r.model_name, u.i, sum(u.c)::bigint
FROM routing_rollups_hourly AS r
CROSS JOIN LATERAL unnest(r.response_time_histogram) WITH ORDINALITY AS u(c, i)
WHERE r.hour >= %(since)s AND r.model_name = ANY(%(models)s) AND r.response_time_count > 0
    AND u.c > 0
GROUP BY 1, 2
"""


def model_analytics(
    engine: Engine, window: Window, *, model: str | None = None, limit: int = 20
) -> tuple[list[ModelAnalytics], int]:
    """The ``limit`` busiest models with decisions in the window (or only ``model``), and how
    many models had decisions."""
    if window.is_all_time:
        raise ValueError("model analytics need a time range")
    params: dict[str, Any] = {"since": window.first_hour, "model": model}
    with reading(engine) as conn:
        filter_model = "AND model_name = %(model)s" if model is not None else ""
        counts = [
            (m, int(d), int(s), int(f), int(n), float(total or 0.0))
            for m, d, s, f, n, total in conn.exec_driver_sql(
                _MODEL_COUNTS.format(model=filter_model), params
            )
        ]
        counts.sort(key=lambda c: (-c[1], c[0]))
        shown = counts[:limit]
        histograms: dict[str, list[int]] = {}
        names = [c[0] for c in shown if c[4] > 0]
        if names:
            for name, position, count in conn.exec_driver_sql(
                _MODEL_HISTOGRAMS, {**params, "models": names}
            ):
                histograms.setdefault(name, latency.empty())[position - 1] = count
        usage = _usage_by_model(conn, window, [c[0] for c in shown])
    found = [
        ModelAnalytics(
            name,
            requests,
            successes,
            failures,
            summarize(histograms.get(name, []), samples, total_ms),
            usage.get(name, Usage()),
        )
        for name, requests, successes, failures, samples, total_ms in shown
    ]
    return found, len(counts)


def _usage_by_model(conn: Any, window: Window, models: list[str]) -> dict[str, Usage]:
    if not models:
        return {}
    rows = conn.exec_driver_sql(
        "SELECT model_name, sum(prompt_tokens)::bigint, sum(completion_tokens)::bigint,"
        " sum(cost_usd) FROM usage_rollups_hourly"
        " WHERE hour >= %(since)s AND model_name = ANY(%(models)s) GROUP BY 1",
        {"since": window.first_hour, "models": models},
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


_FLEET_TOTALS = """
SELECT coalesce(sum(decisions), 0)::bigint, coalesce(sum(success_count), 0)::bigint,
    coalesce(sum(failure_count), 0)::bigint, coalesce(sum(response_time_count), 0)::bigint,
    coalesce(sum(response_time_sum), 0)
FROM routing_rollups_hourly WHERE hour >= %(since)s
"""


def request_metrics(engine: Engine, window: Window, *, limit: int = 100) -> RequestMetrics:
    """The fleet's requests, outcomes and latency over the window (rollups), and the ``limit``
    newest events (the audit table, by its timestamp index)."""
    if window.is_all_time:
        raise ValueError("request metrics need a time range")
    params = {"since": window.first_hour, "limit": limit}
    with reading(engine) as conn:
        requests, successes, failures, samples, total_ms = conn.exec_driver_sql(
            _FLEET_TOTALS, params
        ).one()
        histogram = _fleet_histogram(conn, window) if samples else []
        recent = tuple(RecentRequest(*row) for row in conn.exec_driver_sql(_RECENT, params))
    return RequestMetrics(
        requests=int(requests),
        successes=int(successes),
        failures=int(failures),
        latency=summarize(histogram, int(samples), float(total_ms)),
        recent=recent,
    )


def _fleet_histogram(conn: Any, window: Window) -> list[int]:
    sql = (
        "SELECT u.i, sum(u.c)::bigint FROM routing_rollups_hourly AS r"
        " CROSS JOIN LATERAL unnest(r.response_time_histogram) WITH ORDINALITY AS u(c, i)"
        " WHERE r.hour >= %(since)s AND r.response_time_count > 0 AND u.c > 0 GROUP BY 1"
    )
    histogram = latency.empty()
    for position, count in conn.exec_driver_sql(sql, {"since": window.first_hour}):
        histogram[position - 1] = count
    return histogram
