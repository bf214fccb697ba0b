"""Monitoring results as table rows and as JSON: formatting only, no database."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from routelearn.stats.health import HealthReport, age_s
from routelearn.stats.model import (
    InstanceUsage,
    LatencyStats,
    Performer,
    ScoreHistoryEntry,
    SuccessRate,
)

Cell = str | int | float | None


@dataclass(frozen=True, slots=True)
class Table:
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[Cell, ...], ...]


def pct(rate: float | None) -> str:
    return "" if rate is None else f"{rate * 100:.2f}"


def ms(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def when(moment: datetime | None) -> str:
    return "" if moment is None else moment.strftime("%Y-%m-%d %H:%M:%S")


def seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.0f} s"


def instances_table(rows: Sequence[InstanceUsage]) -> Table:
    return Table(
        "models by instance",
        ("instance", "model", "decisions", "successes", "failures", "success %"),
        tuple(
            (r.instance_id, r.model, r.decisions, r.successes, r.failures, pct(r.success_rate))
            for r in rows
        ),
    )


def success_table(rows: Sequence[SuccessRate]) -> Table:
    return Table(
        "success rates",
        ("model", "complexity", "decisions", "successes", "failures", "success %"),
        tuple(
            (r.model, r.complexity, r.decisions, r.successes, r.failures, pct(r.success_rate))
            for r in rows
        ),
    )


def latency_table(rows: Sequence[LatencyStats]) -> Table:
    return Table(
        "response times",
        ("model", "complexity", "samples", "mean ms", "p50 ms", "p95 ms", "p99 ms"),
        tuple(
            (
                r.model,
                r.complexity,
                r.samples,
                ms(r.mean_ms),
                ms(r.p50_ms),
                ms(r.p95_ms),
                ms(r.p99_ms),
            )
            for r in rows
        ),
    )


def performers_table(rows: Sequence[Performer], bottom: bool) -> Table:
    bound = "wilson high %" if bottom else "wilson low %"
    return Table(
        "bottom performers" if bottom else "top performers",
        ("rank", "model", "complexity", "outcomes", "success %", bound, "score", "p95 ms"),
        tuple(
            (
                r.rank,
                r.model,
                r.complexity,
                r.outcomes,
                pct(r.success_rate),
                pct(r.bound),
                "" if r.score is None else f"{r.score:.2f}",
                ms(r.p95_ms),
            )
            for r in rows
        ),
    )


def history_table(rows: Sequence[ScoreHistoryEntry]) -> Table:
    return Table(
        "score history",
        ("changed at", "complexity", "version", "old", "new", "policy", "samples", "reason"),
        tuple(
            (
                when(r.changed_at),
                r.complexity,
                r.version,
                "" if r.old_score is None else f"{r.old_score:.2f}",
                f"{r.new_score:.2f}",
                r.policy,
                r.based_on_samples,
                r.reason,
            )
            for r in rows
        ),
    )


def _learner_text(report: HealthReport) -> str:
    run = report.learner
    if run is None:
        return "never"
    return (
        f"{when(run.finished_at)} ({age_s(report.checked_at, run.finished_at):.0f} s ago, "
        f"{run.duration_ms:.0f} ms, {run.changed} of {run.rows_considered} changed, {run.policy})"
    )


def _summary(report: HealthReport) -> list[tuple[Cell, ...]]:
    lag = report.lag
    drain = seconds(lag.drain_seconds) or "-"
    if lag.drain_rate is not None:
        drain += f" at {lag.drain_rate:.2f} batches/s"
    last_batch = "never" if lag.last_batch_age_s is None else f"{lag.last_batch_age_s:.0f} s ago"
    opened = sum(c.count for c in report.anomaly_counts)
    critical = sum(c.count for c in report.anomaly_counts if c.severity == "critical")
    return [
        ("workers reporting (5 min)", report.recent_workers),
        ("ingest backlog", "?" if lag.backlog_messages is None else lag.backlog_messages),
        ("drain estimate", drain),
        ("last batch committed", last_batch),
        ("last learner run", _learner_text(report)),
        ("open anomalies", f"{opened} ({critical} critical)"),
        ("dead letters", f"{report.dead_letters} ({report.dead_letters_24h} in 24 h)"),
        ("instances", f"{report.instances_active} active, {report.instances_retired} retired"),
    ]


def health_tables(report: HealthReport) -> list[Table]:
    """The summary figures first, then workers, queues and the open anomalies shown. Without
    the database only the queues are known: nothing else is shown rather than zeros."""
    now = report.checked_at
    queues = Table(
        "queues",
        ("queue", "messages"),
        tuple((q.queue, f"error: {q.error}" if q.error else q.messages) for q in report.queues),
    )
    if report.database_error:
        return [
            Table(
                "health", ("figure", "value"), (("database", f"error: {report.database_error}"),)
            ),
            queues,
        ]
    tables = [Table("health", ("figure", "value"), tuple(_summary(report)))]
    tables.append(
        Table(
            "workers (seen in the last hour)",
            ("worker", "idle", "batches", "processed", "errors", "consecutive", "last error"),
            tuple(
                (
                    w.worker,
                    seconds(age_s(now, w.updated_at)),
                    w.batches,
                    w.processed,
                    w.errors,
                    w.consecutive_errors,
                    (w.last_error or "").split("\n")[0][:60],
                )
                for w in report.workers
            ),
        )
    )
    tables.append(queues)
    if report.pgmq:
        tables.append(
            Table(
                "pgmq queues",
                ("queue", "messages", "visible", "oldest"),
                tuple(
                    (
                        q.queue,
                        q.messages,
                        q.visible,
                        "" if q.oldest_age_s is None else seconds(q.oldest_age_s),
                    )
                    for q in report.pgmq
                ),
            )
        )
    if report.anomaly_counts:
        tables.append(
            Table(
                "open anomalies by kind",
                ("kind", "severity", "open"),
                tuple((c.kind, c.severity, c.count) for c in report.anomaly_counts),
            )
        )
        tables.append(
            Table(
                "open anomalies (most severe, oldest first)",
                ("kind", "subject", "severity", "value", "threshold", "opened at", "message"),
                tuple(
                    (
                        a.kind,
                        a.subject,
                        a.severity,
                        f"{a.value:.4g}",
                        f"{a.threshold:.4g}",
                        when(a.opened_at),
                        a.message[:80],
                    )
                    for a in report.open_anomalies
                ),
            )
        )
    return tables


def _default(value: object) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def to_json(value: object) -> str:
    """A result (a dataclass, or a list of them) as JSON; a health report adds ``healthy``."""
    if isinstance(value, list | tuple):
        data: Any = [dataclasses.asdict(item) for item in value]
    else:
        assert dataclasses.is_dataclass(value) and not isinstance(value, type)
        data = dataclasses.asdict(value)
        if isinstance(value, HealthReport):
            data["healthy"] = value.healthy
    return json.dumps(data, default=_default, indent=2)
