"""Histogram summaries, tables and JSON of routelearn.stats (no database)."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime

import pytest

from routelearn.domain import latency
from routelearn.stats.health import (
    AnomalyCount,
    HealthReport,
    IngestLag,
    LearnerRun,
    OpenAnomaly,
    QueueDepth,
    WorkerHealth,
)
from routelearn.stats.model import Performer, SuccessRate, success_rate
from routelearn.stats.percentiles import add_histograms, summarize
from routelearn.stats.render import health_tables, performers_table, success_table, to_json

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def histogram(samples: list[float]) -> list[int]:
    counts = latency.empty()
    for ms in samples:
        counts[latency.bucket_of(ms)] += 1
    return counts


def test_summarize_reads_percentiles_from_the_histogram() -> None:
    samples = [10.0 * 1.01**k for k in range(500)]
    summary = summarize(histogram(samples), len(samples), sum(samples))
    assert summary.samples == 500
    assert summary.mean_ms == pytest.approx(sum(samples) / 500)
    ordered = sorted(samples)
    for got, q in ((summary.p50_ms, 0.5), (summary.p95_ms, 0.95), (summary.p99_ms, 0.99)):
        assert got == pytest.approx(ordered[int(q * 500) - 1], rel=0.06)


def test_summarize_without_samples() -> None:
    empty = summarize(latency.empty(), 0, 0.0)
    assert (empty.mean_ms, empty.p50_ms, empty.p95_ms, empty.p99_ms) == (None, None, None, None)
    assert summarize([], 0, 0.0).p99_ms is None
    with pytest.raises(ValueError, match="buckets"):
        summarize([1, 2], 3, 1.0)


def test_add_histograms() -> None:
    total = add_histograms([histogram([5.0, 50.0]), histogram([50.0]), latency.empty()])
    assert total == histogram([5.0, 50.0, 50.0])
    with pytest.raises(ValueError):
        add_histograms([[1]])


def test_success_rate_counts_outcomes_only() -> None:
    assert success_rate(3, 1) == 0.75
    assert success_rate(0, 0) is None


def test_tables() -> None:
    table = success_table([SuccessRate("m", "simple", 5, 2, 1, success_rate(2, 1))])
    assert table.headers[-1] == "success %"
    assert table.rows == (("m", "simple", 5, 2, 1, "66.67"),)
    row = Performer(1, "m", "complex", 40, 30, 0.75, 0.6, None, 812.34)
    assert performers_table([row], bottom=True).headers[5] == "wilson high %"
    assert performers_table([row], bottom=False).rows[0][5:] == ("60.00", "", "812.3")


def report(problems: tuple[str, ...] = ()) -> HealthReport:
    return HealthReport(
        checked_at=NOW,
        database_error=None,
        workers=(WorkerHealth("w1", NOW, NOW, 3, 3000, 1, 0, "boom\nmore"),),
        recent_workers=1,
        queues=(QueueDepth("routelearn.ingest", 2), QueueDepth("model_anomalies", None, "down")),
        lag=IngestLag(2, 1.0, 2.0, 4.0),
        anomaly_counts=(AnomalyCount("instance_silent", "critical", 2),),
        open_anomalies=(OpenAnomaly("instance_silent", "i-9", "critical", 0, 1, "silent", NOW),),
        learner=LearnerRun(NOW, NOW, 12.0, "calibrated", 90, 3),
        dead_letters=4,
        dead_letters_24h=1,
        instances_active=10,
        instances_retired=2,
        problems=problems,
    )


def test_health_tables() -> None:
    tables = {t.title: t for t in health_tables(report())}
    summary = {row[0]: row[1] for row in tables["health"].rows}
    assert summary["ingest backlog"] == 2
    assert summary["drain estimate"] == "2 s at 1.00 batches/s"
    assert str(summary["last learner run"]).endswith(
        "(0 s ago, 12 ms, 3 of 90 changed, calibrated)"
    )
    assert summary["open anomalies"] == "2 (2 critical)"
    assert tables["queues"].rows == (("routelearn.ingest", 2), ("model_anomalies", "error: down"))
    assert tables["workers (seen in the last hour)"].rows[0][-1] == "boom"
    assert tables["open anomalies by kind"].rows == (("instance_silent", "critical", 2),)


def test_json() -> None:
    healthy = json.loads(to_json(report()))
    assert healthy["healthy"] is True and healthy["checked_at"] == NOW.isoformat()
    assert healthy["queues"][1] == {"queue": "model_anomalies", "messages": None, "error": "down"}
    assert json.loads(to_json(report(("bad",))))["healthy"] is False
    rows = json.loads(to_json([SuccessRate("m", "simple", 1, 1, 0, 1.0)]))
    assert rows == [
        {
            "model": "m",
            "complexity": "simple",
            "decisions": 1,
            "successes": 1,
            "failures": 0,
            "success_rate": 1.0,
        }
    ]


def test_health_tables_without_the_database() -> None:
    down = dataclasses.replace(report(("database unreachable: x",)), database_error="x")
    tables = health_tables(down)
    assert [t.title for t in tables] == ["health", "queues"]
    assert tables[0].rows == (("database", "error: x"),)
