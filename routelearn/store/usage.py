"""Reads of the usage tables that ingestion writes (routelearn.store.ingest): what each
workspace has spent in its budget periods (``workspace_spend``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import Connection

from routelearn.domain.anomaly.model import WorkspaceBudget
from routelearn.domain.routing_policy.engine import budget_zones
from routelearn.domain.routing_policy.periods import PERIODS, period_starts
from routelearn.store import policy

# One statement for many workspaces, each with its own period starts (its own time zone): the
# quarter hours from the earliest start on, summed per period. The primary key's index on
# (workspace_id, quarter) answers it; a month is at most 2,976 quarter hours a workspace.
_SPEND = """
SELECT v.workspace_id,
    coalesce(sum(s.cost_usd) FILTER (WHERE s.quarter >= v.daily), 0),
    coalesce(sum(s.cost_usd) FILTER (WHERE s.quarter >= v.weekly), 0),
    coalesce(sum(s.cost_usd) FILTER (WHERE s.quarter >= v.monthly), 0)
FROM unnest(%s::text[], %s::timestamptz[], %s::timestamptz[], %s::timestamptz[])
     AS v(workspace_id, daily, weekly, monthly)
LEFT JOIN workspace_spend s
    ON s.workspace_id = v.workspace_id AND s.quarter >= least(v.weekly, v.monthly)
GROUP BY v.workspace_id
"""


def spend(conn: Connection, zones: Mapping[str, str], now: datetime) -> dict[str, dict[str, float]]:
    """workspace -> period (daily, weekly, monthly) -> USD spent since the period began in the
    workspace's time zone (``zones``: workspace -> IANA zone)."""
    if not zones:
        return {}
    workspaces = sorted(zones)
    starts = [period_starts(now, zones[w]) for w in workspaces]
    params = (workspaces, *([s[p] for s in starts] for p in PERIODS))
    rows = conn.exec_driver_sql(_SPEND, params).fetchall()
    return {row[0]: dict(zip(PERIODS, map(float, row[1:]), strict=True)) for row in rows}


def budgets(conn: Connection, now: datetime) -> list[WorkspaceBudget]:
    """Every budgeted workspace's spend in each period that has a limit (the anomaly sweep's
    budget rule and the fleet gauge read it)."""
    state = policy.state_of(policy.current_changes(conn))
    zones = budget_zones(state)
    if not zones:
        return []
    spent = spend(conn, zones, now)
    found = []
    for workspace in sorted(zones):
        limits = state.workspaces[workspace].budget_limits
        for period, limit in limits.limits().items():
            used = spent.get(workspace, {}).get(period, 0.0)
            found.append(WorkspaceBudget(workspace, period, used, limit, limits.warning_ratio))
    return found
