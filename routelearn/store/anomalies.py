"""The anomaly sweep's database side: its evidence, its transitions, and the notice outbox.

Evidence never comes from the audit table: the window is the current counters
(``model_routing_metrics``) minus the learner's counter snapshot from ``window`` seconds ago, the
baseline is the hourly rollups of the hours before the window, and an instance's usual rate is
its rollups too. A sweep is one REPEATABLE READ transaction under an advisory lock, so two beats
by mistake never open one anomaly twice; the notices it writes to ``anomaly_events`` are published
after it commits (``pending_notices`` / ``mark_published``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine, text

from routelearn.domain.anomaly import (
    AnomalyKind,
    Baseline,
    Change,
    InstanceActivity,
    LifecycleParams,
    ModelWindow,
    OpenAnomaly,
    RuleParams,
    Severity,
    Transitions,
    subject_key,
    sweep,
)
from routelearn.store import usage

SWEEP_LOCK = 0x524C_414E  # "RLAN"

# Per (model, complexity): the newest snapshot at least ``window`` old, else the oldest one.
_WINDOWS = """
WITH ref AS (
    SELECT DISTINCT ON (model_name, complexity_level) model_name, complexity_level, taken_at,
           success_count, failure_count, response_time_histogram
    FROM metric_snapshots
    ORDER BY model_name, complexity_level,
             taken_at <= :now - make_interval(secs => :window) DESC,
             CASE WHEN taken_at <= :now - make_interval(secs => :window) THEN taken_at END DESC,
             taken_at
), base AS (
    SELECT r.model_name, r.complexity_level,
           sum(r.success_count)::bigint AS successes, sum(r.failure_count)::bigint AS failures
    FROM routing_rollups_hourly r
    JOIN ref USING (model_name, complexity_level)
    WHERE r.hour >= date_trunc('hour', ref.taken_at) - make_interval(hours => :hours)
      AND r.hour < date_trunc('hour', ref.taken_at)
    GROUP BY 1, 2
)
SELECT m.model_name, m.complexity_level, ref.taken_at,
       m.success_count - ref.success_count, m.failure_count - ref.failure_count,
       m.response_time_histogram, ref.response_time_histogram,
       COALESCE(base.successes, 0), COALESCE(base.failures, 0)
FROM model_routing_metrics m
JOIN ref USING (model_name, complexity_level)
LEFT JOIN base USING (model_name, complexity_level)
WHERE ref.taken_at < :now
ORDER BY 1, 2
"""

_INSTANCES = """
SELECT i.instance_id, i.last_seen_at, i.active, i.first_seen_at, COALESCE(r.decisions, 0)
FROM instances i
LEFT JOIN (SELECT instance_id, sum(decisions)::bigint AS decisions FROM routing_rollups_hourly
           WHERE hour >= :now - make_interval(hours => :hours) GROUP BY 1) r USING (instance_id)
WHERE i.active OR EXISTS (SELECT 1 FROM anomalies a WHERE a.closed_at IS NULL
                          AND a.kind = 'instance_silent' AND a.subject ->> 0 = i.instance_id)
ORDER BY 1
"""

_OPEN = """
SELECT kind, subject, opened_at, last_seen_at, severity, value, clear_sweeps
FROM anomalies WHERE closed_at IS NULL ORDER BY kind, subject_key
"""


@dataclass(frozen=True, slots=True)
class SweepResult:
    ran: bool  # False: another sweep held the lock
    at: datetime | None = None
    windows: int = 0
    instances: int = 0
    transitions: Transitions | None = None


def _diff(now: Sequence[int], then: Sequence[int]) -> tuple[int, ...]:
    # A counter reset (metrics rebuilt by hand) would give negative counts: no evidence then.
    diff = tuple(a - b for a, b in zip(now, then, strict=True))
    return diff if all(d >= 0 for d in diff) else ()


def read_windows(
    conn: Connection, now: datetime, window_seconds: float, baseline_hours: int
) -> list[ModelWindow]:
    rows = conn.execute(
        text(_WINDOWS), {"now": now, "window": window_seconds, "hours": baseline_hours}
    )
    windows = []
    for model, complexity, start, succ, fail, hist_now, hist_then, base_s, base_f in rows:
        if succ < 0 or fail < 0:
            continue
        hours = timedelta(hours=baseline_hours)
        start_hour = start.replace(minute=0, second=0, microsecond=0)
        baseline = Baseline(start_hour - hours, start_hour, int(base_s), int(base_f))
        windows.append(
            ModelWindow(
                model=model,
                complexity=complexity,
                window_start=start,
                window_end=now,
                successes=int(succ),
                failures=int(fail),
                histogram=_diff(hist_now, hist_then),
                baseline=baseline,
            )
        )
    return windows


def read_instances(conn: Connection, now: datetime, baseline_hours: int) -> list[InstanceActivity]:
    activity = []
    horizon = now - timedelta(hours=baseline_hours)
    for instance_id, last_seen, active, first_seen, decisions in conn.execute(
        text(_INSTANCES), {"now": now, "hours": baseline_hours}
    ):
        # An instance younger than the baseline period is measured over its own lifetime.
        minutes = max((now - max(first_seen, horizon)).total_seconds() / 60.0, 1.0)
        activity.append(InstanceActivity(instance_id, last_seen, decisions / minutes, active))
    return activity


def read_open(conn: Connection) -> list[OpenAnomaly]:
    return [
        OpenAnomaly(
            kind=AnomalyKind(kind),
            subject=tuple(subject),
            opened_at=opened,
            last_seen_at=seen,
            severity=Severity(severity),
            value=value,
            clear_sweeps=clear,
        )
        for kind, subject, opened, seen, severity, value, clear in conn.execute(text(_OPEN))
    ]


def _notice(event: str, at: datetime, body: dict[str, Any]) -> dict[str, Any]:
    return {"event": event, "at": at.isoformat(), **body}


def _finding_params(change: Change, now: datetime) -> dict[str, Any]:
    """The columns an opened or updated anomaly stores from its latest finding."""
    a, f = change.anomaly, change.finding
    return {
        "id": a.anomaly_id,
        "sev": a.severity.value,
        "value": a.value,
        "thr": f.threshold,
        "msg": f.message,
        "details": json.dumps(f.details),
        "now": now,
    }


def _write(conn: Connection, t: Transitions, now: datetime) -> None:
    notices: list[tuple[str, str, dict[str, Any]]] = []
    for change in t.opened:
        a, f = change.anomaly, change.finding
        conn.execute(
            text(
                "INSERT INTO anomalies (anomaly_id, kind, subject_key, subject, severity, value,"
                " threshold, message, details, opened_at, last_seen_at, updated_at)"
                " VALUES (:id, :kind, :skey, CAST(:subject AS jsonb), :sev, :value, :thr, :msg,"
                " CAST(:details AS jsonb), :now, :now, :now)"
            ),
            {
                **_finding_params(change, now),
                "kind": a.kind.value,
                "skey": subject_key(a.subject),
                "subject": json.dumps(list(a.subject)),
            },
        )
        notices.append((a.anomaly_id, "opened", {"anomaly": a.to_dict(), **f.to_dict()}))
    for change in t.updated:
        a, f = change.anomaly, change.finding
        conn.execute(
            text(
                "UPDATE anomalies SET severity = :sev, value = :value, threshold = :thr,"
                " message = :msg, details = CAST(:details AS jsonb), last_seen_at = :now,"
                " updated_at = :now, clear_sweeps = 0 WHERE anomaly_id = :id"
            ),
            _finding_params(change, now),
        )
        notices.append((a.anomaly_id, "updated", {"anomaly": a.to_dict(), **f.to_dict()}))
    for a in t.refreshed:
        conn.execute(
            text(
                "UPDATE anomalies SET last_seen_at = :seen, clear_sweeps = :clear"
                " WHERE anomaly_id = :id"
            ),
            {"id": a.anomaly_id, "seen": a.last_seen_at, "clear": a.clear_sweeps},
        )
    for closure in t.closed:
        a = closure.anomaly
        conn.execute(
            text(
                "UPDATE anomalies SET closed_at = :now, close_reason = :reason,"
                " clear_sweeps = :clear, updated_at = :now WHERE anomaly_id = :id"
            ),
            {
                "id": a.anomaly_id,
                "now": now,
                "reason": closure.reason.value,
                "clear": a.clear_sweeps,
            },
        )
        notices.append(
            (
                a.anomaly_id,
                "closed",
                {
                    "anomaly": a.to_dict(),
                    "kind": a.kind.value,
                    "subject": list(a.subject),
                    "severity": a.severity.value,
                    "reason": closure.reason.value,
                    "message": closure.message,
                },
            )
        )
    if notices:
        conn.execute(
            text(
                "INSERT INTO anomaly_events (anomaly_id, event, payload)"
                " SELECT r->>0, r->>1, r->2 FROM json_array_elements(CAST(:rows AS json)) AS r"
            ),
            {
                "rows": json.dumps(
                    [[aid, event, _notice(event, now, body)] for aid, event, body in notices]
                )
            },
        )


def run_sweep(
    engine: Engine,
    rules: RuleParams,
    lifecycle: LifecycleParams,
    *,
    window_seconds: float,
    baseline_hours: int,
) -> SweepResult:
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        conn.begin(),
    ):
        if not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": SWEEP_LOCK}
        ).scalar_one():
            return SweepResult(ran=False)
        now: datetime = conn.execute(text("SELECT now()")).scalar_one()
        windows = read_windows(conn, now, window_seconds, baseline_hours)
        activity = read_instances(conn, now, baseline_hours)
        budgets = usage.budgets(conn, now)
        transitions = sweep(windows, activity, read_open(conn), now, rules, lifecycle, budgets)
        _write(conn, transitions, now)
    return SweepResult(True, now, len(windows), len(activity), transitions)


@dataclass(frozen=True, slots=True)
class Notice:
    id: int
    anomaly_id: str
    event: str
    payload: dict[str, Any]


def pending_notices(conn: Connection, limit: int = 1000) -> list[Notice]:
    """Unpublished notices in order, locked so that two publishers never send one twice."""
    rows = conn.execute(
        text(
            "SELECT id, anomaly_id, event, payload FROM anomaly_events"
            " WHERE published_at IS NULL ORDER BY id LIMIT :n FOR UPDATE SKIP LOCKED"
        ),
        {"n": limit},
    )
    return [Notice(*row) for row in rows]


def mark_published(conn: Connection, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(
            text("UPDATE anomaly_events SET published_at = now() WHERE id = ANY(:ids)"),
            {"ids": list(ids)},
        )


@dataclass(frozen=True, slots=True)
class StoredAnomaly:
    anomaly_id: str
    kind: str
    subject: list[str]
    severity: str
    value: float
    threshold: float
    message: str
    opened_at: datetime
    last_seen_at: datetime
    closed_at: datetime | None
    close_reason: str | None


def list_anomalies(
    engine: Engine, include_closed: bool = False, limit: int = 100
) -> list[StoredAnomaly]:
    where = "" if include_closed else "WHERE closed_at IS NULL"
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT anomaly_id, kind, subject, severity, value, threshold, message, opened_at,"
                f" last_seen_at, closed_at, close_reason FROM anomalies {where}"
                " ORDER BY opened_at DESC, id DESC LIMIT :n"
            ),
            {"n": limit},
        )
        return [StoredAnomaly(*row) for row in rows]
