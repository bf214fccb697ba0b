"""The fleet's recent quality per (model, complexity), from the hourly rollups, kept in
``model_quality`` (routelearn.domain.routing_policy.quality)."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import Connection, delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from routelearn.domain.routing_policy.quality import (
    WINDOW_HOURS,
    Quality,
    QualityCounts,
    QualityReport,
    judge,
)
from routelearn.store.tables import model_quality

_COUNTS = """
SELECT model_name, complexity_level, sum(success_count)::bigint, sum(failure_count)::bigint,
    sum(response_time_count)::bigint, sum(response_time_sum)
FROM routing_rollups_hourly WHERE hour >= %(since)s GROUP BY 1, 2
"""


def refresh(conn: Connection, now: datetime) -> QualityReport:
    """Recompute from the last ``WINDOW_HOURS`` hours of rollups and replace the table's rows,
    in the caller's transaction."""
    since = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=WINDOW_HOURS - 1)
    counts = [
        QualityCounts(m, c, int(s), int(f), int(n), float(total or 0.0))
        for m, c, s, f, n, total in conn.exec_driver_sql(_COUNTS, {"since": since})
    ]
    judged = judge(counts)
    # One refresh at a time (two beat runs may overlap): the second waits, then replaces.
    conn.exec_driver_sql("SELECT pg_advisory_xact_lock(hashtextextended('model_quality', 0))")
    conn.execute(delete(model_quality))
    if judged:
        conn.execute(
            pg_insert(model_quality),
            [
                {
                    "model_name": model,
                    "complexity_level": complexity,
                    "success_rate": q.success_rate,
                    "latency_ms": q.latency_ms,
                    "samples": q.samples,
                    "as_of": now,
                }
                for (model, complexity), q in sorted(judged.items())
            ],
        )
    return QualityReport(now, judged)


def read(conn: Connection) -> QualityReport | None:
    """What the last refresh left (None: never refreshed)."""
    rows = conn.execute(select(model_quality)).all()
    if not rows:
        return None
    as_of = max(r.as_of for r in rows)
    return QualityReport(
        as_of,
        {
            (r.model_name, r.complexity_level): Quality(r.success_rate, r.latency_ms, r.samples)
            for r in rows
        },
    )
