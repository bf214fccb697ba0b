"""``routelearn.stats`` and ``routelearn stats`` on the real PostgreSQL and Redis.

Data is ingested the way workers write it (``Ingestor.ingest``), so the rollups and metrics the
queries read are the production ones; every expected figure is computed here from the events.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import redis
from sqlalchemy import Engine, text

from routelearn import stats
from routelearn.constants import ANOMALY_QUEUE, INGEST_QUEUE
from routelearn.domain import latency
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.stats import Window
from routelearn.stats.health import HealthThresholds
from routelearn.stats.ranking import wilson_interval
from routelearn.store import instances
from routelearn.store.engine import libpq_dsn, make_engine
from tests.factories import make_event
from tests.services import BROKER_BASE, PG_BASE, run_cli, run_cli_process

pytestmark = pytest.mark.integration

A = ("gpt-4o", "complex")  # 300 on instance-1 (270 ok), 100 on instance-2 (all ok), 1 routed only
B = ("claude-sonnet", "medium")  # 60 on instance-2, half failed
C = ("gemini", "simple")  # 25 on instance-1, all ok: 100%, but on little evidence
D = ("tiny", "simple")  # 5 on instance-3: under the ranking's minimum of 20 outcomes
OLD = ("old-model", "simple")  # 3 on instance-3, two days ago
A_SPREAD = [100 * 10 ** (k / 300) for k in range(300)]  # log-uniform 100 ms .. 1 s
A_TIMES = A_SPREAD + [50.0] * 100
NOW = datetime.now(UTC)


def _decision(
    pair: tuple[str, str], instance: str, outcome: str | None, rt: float | None, when: datetime
) -> list[dict[str, Any]]:
    common: dict[str, Any] = {
        "model": pair[0],
        "complexity": pair[1],
        "decision_id": str(uuid.uuid4()),
        "instance_id": instance,
        "timestamp": when.isoformat(),
    }
    events = [make_event("routed", event_id=str(uuid.uuid4()), **common)]
    if outcome is not None:
        events.append(
            make_event(outcome, event_id=str(uuid.uuid4()), response_time_ms=rt, **common)
        )
    return events


def corpus() -> list[dict[str, Any]]:
    now, old = NOW, NOW - timedelta(hours=48)
    plan: list[tuple[tuple[str, str], str, str | None, float | None, datetime]] = [
        *(
            (A, "instance-1", "success" if k >= 30 else "failure", rt, now)
            for k, rt in enumerate(A_SPREAD)
        ),
        *((A, "instance-2", "success", 50.0, now) for _ in range(100)),
        (A, "instance-1", None, None, now),
        *((B, "instance-2", "success" if k % 2 else "failure", 2000.0, now) for k in range(60)),
        *((C, "instance-1", "success", 20.0, now) for _ in range(25)),
        *((D, "instance-3", "success", 10.0, now) for _ in range(5)),
        *((OLD, "instance-3", "success", 100.0, old) for _ in range(3)),
    ]
    return [event for args in plan for event in _decision(*args)]


@pytest.fixture
def data(engine: Engine, clean: None) -> Iterator[None]:
    with engine.begin() as conn:  # tables `clean` may not know yet
        conn.exec_driver_sql(
            "TRUNCATE routing_rollups_hourly, anomalies, anomaly_events, webhook_deliveries"
        )
    counts = Ingestor(engine).ingest([*corpus(), {"not": "an event"}], source="test")
    assert (counts.inserted, counts.rejected) == (2 * 493 + 1, 1)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_scores (model_name, complexity_level, score, version)"
                " VALUES ('gpt-4o', 'complex', 4.2, 3), ('gemini', 'simple', 1.5, 1)"
            )
        )
    yield


def nearest_rank(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def test_success_rates_in_window_exact(engine: Engine, data: None) -> None:
    rows = stats.success_rates(engine, Window.last_hours(24))
    got = {(r.model, r.complexity): (r.decisions, r.successes, r.failures) for r in rows}
    assert got == {A: (401, 370, 30), B: (60, 30, 30), C: (25, 25, 0), D: (5, 5, 0)}
    assert [(r.model, r.complexity) for r in rows] == [C, D, A, B]  # rate, then evidence
    assert rows[2].success_rate == pytest.approx(370 / 400)  # the routed-only one is no outcome
    assert [r.model for r in stats.success_rates(engine, Window.last_hours(24), limit=2)] == [
        C[0],
        D[0],
    ]
    filtered = stats.success_rates(
        engine, Window.last_hours(24), min_samples=26, complexity="medium"
    )
    assert [(r.model, r.complexity) for r in filtered] == [B]


def test_window_filter_and_all_time(engine: Engine, data: None) -> None:
    def pairs(window: Window) -> set[tuple[str, str]]:
        return {(r.model, r.complexity) for r in stats.success_rates(engine, window)}

    assert OLD not in pairs(Window.last_hours(24))
    assert OLD not in pairs(Window(NOW - timedelta(hours=47)))
    assert OLD in pairs(Window.last_hours(72))
    assert OLD in pairs(Window.all_time())
    # Rollups over every hour add up to model_routing_metrics (what all time reads) exactly.
    since_ever = Window(datetime(2000, 1, 1, tzinfo=UTC))
    assert stats.success_rates(engine, since_ever) == stats.success_rates(engine, Window.all_time())
    window_rows = stats.latency_stats(engine, since_ever, limit=0)
    all_time_rows = stats.latency_stats(engine, Window.all_time(), limit=0)
    assert [(r.model, r.complexity, r.samples) for r in window_rows] == [
        (r.model, r.complexity, r.samples) for r in all_time_rows
    ]
    for w, a in zip(window_rows, all_time_rows, strict=True):  # sums of floats: approx
        assert (w.mean_ms, w.p50_ms, w.p95_ms, w.p99_ms) == pytest.approx(
            (a.mean_ms, a.p50_ms, a.p95_ms, a.p99_ms)
        )


def test_models_by_instance(engine: Engine, data: None) -> None:
    rows = stats.models_by_instance(engine, Window.last_hours(24))
    assert [(r.instance_id, r.model, r.decisions, r.successes, r.failures) for r in rows] == [
        ("instance-1", A[0], 301, 270, 30),
        ("instance-2", A[0], 100, 100, 0),
        ("instance-2", B[0], 60, 30, 30),
        ("instance-1", C[0], 25, 25, 0),
        ("instance-3", D[0], 5, 5, 0),
    ]
    assert rows[0].success_rate == pytest.approx(0.9)
    only = stats.models_by_instance(engine, Window.all_time(), instance="instance-3")
    assert [(r.model, r.decisions) for r in only] == [(D[0], 5), (OLD[0], 3)]
    assert len(stats.models_by_instance(engine, Window.last_hours(24), limit=2)) == 2


def test_latency_percentiles(engine: Engine, data: None) -> None:
    rows = stats.latency_stats(engine, Window.last_hours(24), limit=0)
    assert [(r.model, r.complexity) for r in rows] == [B, A, C, D]  # slowest mean first
    a = rows[1]
    assert a.samples == 400
    assert a.mean_ms == pytest.approx(sum(A_TIMES) / 400)
    histogram = latency.empty()
    for rt in A_TIMES:
        histogram[latency.bucket_of(rt)] += 1
    for q, got in ((0.5, a.p50_ms), (0.95, a.p95_ms), (0.99, a.p99_ms)):
        assert got == pytest.approx(latency.percentile(histogram, q))  # the summed histogram
        assert got == pytest.approx(nearest_rank(A_TIMES, q), rel=0.06)  # the truth, within 6%
    assert rows[0].p50_ms == pytest.approx(2000, rel=0.06)
    by_samples = stats.latency_stats(engine, Window.last_hours(24), by="samples", limit=2)
    assert [(r.model, r.samples) for r in by_samples] == [(A[0], 400), (B[0], 60)]
    old = stats.latency_stats(engine, Window.all_time(), model=OLD[0])
    assert [(r.samples, r.mean_ms) for r in old] == [(3, 100.0)]


def test_top_and_bottom_rank_by_wilson_bounds(engine: Engine, data: None) -> None:
    window = Window.last_hours(24)
    top = stats.performers(engine, window)
    # C's 25/25 is a higher raw rate than A's 370/400, but on far less evidence.
    assert [(p.rank, p.model, p.complexity) for p in top] == [(1, *A), (2, *C), (3, *B)]
    assert top[0].bound == pytest.approx(wilson_interval(370, 400)[0])
    assert (top[0].outcomes, top[0].successes, top[0].score) == (400, 370, 4.2)
    assert top[2].score is None
    latency_a = stats.latency_stats(engine, window, model=A[0])[0]
    assert top[0].p95_ms == pytest.approx(latency_a.p95_ms)
    bottom = stats.performers(engine, window, bottom=True)
    assert [(p.model, p.complexity) for p in bottom] == [B, A, C]
    assert bottom[0].bound == pytest.approx(wilson_interval(30, 60)[1])
    assert [p.model for p in stats.performers(engine, window, n=1)] == [A[0]]
    assert [p.model for p in stats.performers(engine, window, complexity="simple")] == [C[0]]
    assert [p.model for p in stats.performers(engine, window, min_samples=5)][-1] == B[0]


def _history(engine: Engine) -> None:
    rows = [
        (A, 1, None, 3.0, "catalog", 0, "2025-01-01T00:00:00Z"),
        (A, 2, 3.0, 3.6, "calibrated", 250, "2025-01-02T00:00:00Z"),
        (A, 3, 3.6, 4.2, "calibrated", 400, "2025-01-03T00:00:00Z"),
        (("gpt-4o", "simple"), 1, 2.5, 2.0, "calibrated", 120, "2025-01-02T12:00:00Z"),
    ]
    with engine.begin() as conn:
        for (m, c), version, old, new, policy, samples, when in rows:
            conn.execute(
                text(
                    "INSERT INTO score_history (model_name, complexity_level, version, old_score,"
                    " new_score, reason, based_on_samples, policy, changed_at)"
                    " VALUES (:m, :c, :v, :old, :new, 'why', :n, :p, :t)"
                ),
                {
                    "m": m,
                    "c": c,
                    "v": version,
                    "old": old,
                    "new": new,
                    "n": samples,
                    "p": policy,
                    "t": when,
                },
            )


def test_score_history(engine: Engine, data: None) -> None:
    _history(engine)
    rows = stats.score_history(engine, "gpt-4o")
    assert [(r.complexity, r.version) for r in rows] == [
        ("complex", 3),
        ("simple", 1),
        ("complex", 2),
        ("complex", 1),
    ]
    assert (rows[0].old_score, rows[0].new_score, rows[0].policy) == (3.6, 4.2, "calibrated")
    only = stats.score_history(engine, "gpt-4o", complexity="complex", limit=2)
    assert [r.version for r in only] == [3, 2]
    assert stats.score_history(engine, "nobody") == []


def _healthy_extras(engine: Engine, learner_age_s: float = 5) -> None:
    at = datetime.now(UTC) - timedelta(seconds=learner_age_s)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO learner_runs (started_at, finished_at, policy, rows_considered,"
                " changed, duration_ms) VALUES (:t, :t, 'calibrated', 5, 2, 12.5)"
            ),
            {"t": at},
        )
        for kind, subject, severity, closed in (
            ("low_success_rate", '["claude-sonnet", "medium"]', "warning", None),
            ("instance_silent", '["instance-9"]', "critical", None),
            ("failure_spike", '["gpt-4o", "complex"]', "critical", at),
        ):
            conn.execute(
                text(
                    "INSERT INTO anomalies (anomaly_id, kind, subject_key, subject, severity,"
                    " value, threshold, message, opened_at, last_seen_at, updated_at, closed_at)"
                    " VALUES (:id, :k, :s, CAST(:j AS jsonb), :sev, 0.5, 0.8, 'msg', :t, :t, :t,"
                    " :closed)"
                ),
                {
                    "id": str(uuid.uuid4()),
                    "k": kind,
                    "s": subject,
                    "j": subject,
                    "sev": severity,
                    "t": at,
                    "closed": closed,
                },
            )
    instances.retire(engine, "instance-3")


def test_health_report(
    engine: Engine, settings: Settings, redis_client: redis.Redis, data: None
) -> None:
    _healthy_extras(engine)
    redis_client.lpush(INGEST_QUEUE, "m1", "m2", "m3")
    redis_client.lpush(ANOMALY_QUEUE, "n1")
    report = stats.health_report(engine, settings)
    assert report.problems == () and report.healthy
    assert {q.queue: q.messages for q in report.queues} == {
        "routelearn.ingest": 3,
        "routelearn.learn": 0,
        "routelearn.maintenance": 0,
        "model_anomalies": 1,
    }
    assert report.recent_workers == 1 and report.workers[0].batches == 1
    lag = report.lag
    assert lag.backlog_messages == 3 and lag.drain_rate is not None
    assert lag.drain_seconds == pytest.approx(3 / lag.drain_rate)
    assert lag.last_batch_age_s is not None and lag.last_batch_age_s < 60
    assert [(c.kind, c.severity, c.count) for c in report.anomaly_counts] == [
        ("instance_silent", "critical", 1),
        ("low_success_rate", "warning", 1),
    ]
    assert [a.subject for a in report.open_anomalies] == ["instance-9", "claude-sonnet/medium"]
    assert report.learner is not None and report.learner.changed == 2
    assert (report.dead_letters, report.dead_letters_24h) == (1, 1)
    assert (report.instances_active, report.instances_retired) == (2, 1)


def test_health_problems(
    engine: Engine, settings: Settings, redis_client: redis.Redis, data: None
) -> None:
    _healthy_extras(engine, learner_age_s=10 * 60)  # more than 3 intervals of 60 s
    redis_client.lpush(INGEST_QUEUE, "m1")
    with engine.begin() as conn:  # the only worker went quiet 10 minutes ago
        conn.exec_driver_sql("UPDATE consumer_stats SET updated_at = now() - interval '10 min'")
    report = stats.health_report(engine, settings)
    assert len(report.problems) == 2, report.problems
    assert "routelearn.ingest holds 1 messages but no ingest worker" in report.problems[0]
    assert report.problems[1].startswith("last learner run 6")
    relaxed = HealthThresholds(worker_silence_s=3600, learner_interval_s=3600)
    assert stats.health_report(engine, settings, relaxed).healthy

    down = settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"})
    report = stats.health_report(engine, down, relaxed)
    assert all(q.messages is None and q.error for q in report.queues)
    assert report.lag.backlog_messages is None
    assert [p.split(":")[0] for p in report.problems] == ["broker unreachable (routelearn.ingest)"]

    missing = make_engine(settings.database_url.rsplit("/", 1)[0] + "/routelearn_no_such_db")
    try:
        report = stats.health_report(missing, settings)
    finally:
        missing.dispose()
    assert report.database_error is not None and "routelearn_no_such_db" in report.database_error
    assert report.problems[0].startswith("database unreachable")


def _cli_json(settings: Settings, *args: str) -> Any:
    result = run_cli(settings, "stats", *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


@pytest.mark.parametrize(
    ("args", "header"),
    [
        (("instances",), "instance  model  decisions  successes  failures  success %"),
        (("success", "--hours", "2"), "model  complexity  decisions  successes  failures"),
        (("latency", "--all-time"), "model  complexity  samples  mean ms  p50 ms  p95 ms"),
        (("top", "-n", "2"), "rank  model  complexity  outcomes  success %  wilson low %"),
        (("top", "--bottom"), "rank  model  complexity  outcomes  success %  wilson high %"),
        (("history", "gpt-4o"), "changed at  complexity  version  old  new  policy"),
    ],
)
def test_cli_tables(settings: Settings, engine: Engine, data: None, args: Any, header: str) -> None:
    _history(engine)
    result = run_cli(settings, "stats", *args)
    assert result.returncode == 0, result.stderr
    first = result.stdout.splitlines()[0]
    assert " ".join(first.split()).startswith(" ".join(header.split()))


def test_cli_json_and_options(settings: Settings, engine: Engine, data: None) -> None:
    _history(engine)
    rows = _cli_json(settings, "instances", "--instance", "instance-2")
    assert [(r["model"], r["decisions"]) for r in rows] == [(A[0], 100), (B[0], 60)]
    rows = _cli_json(settings, "success", "--complexity", "complex")
    assert [(r["model"], r["successes"], r["failures"]) for r in rows] == [(A[0], 370, 30)]
    rows = _cli_json(settings, "latency", "--model", "claude-sonnet")
    assert rows[0]["samples"] == 60 and rows[0]["p50_ms"] == pytest.approx(2000, rel=0.06)
    rows = _cli_json(settings, "top", "-n", "1", "--bottom")
    assert (rows[0]["model"], rows[0]["rank"]) == (B[0], 1)
    rows = _cli_json(settings, "history", "gpt-4o", "--complexity", "complex", "--limit", "1")
    assert [(r["version"], r["new_score"]) for r in rows] == [(3, 4.2)]
    assert rows[0]["changed_at"].startswith("2025-01-03")
    assert _cli_json(settings, "success", "--all-time", "--model", OLD[0])[0]["decisions"] == 3

    bad = run_cli_process(settings, "stats", "success", "--complexity", "hard")
    assert bad.returncode == 2 and "hard" in bad.stderr


def test_cli_health_exit_codes(
    settings: Settings, engine: Engine, redis_client: redis.Redis, data: None
) -> None:
    _healthy_extras(engine)
    redis_client.lpush(INGEST_QUEUE, "m1", "m2")
    ok = run_cli(settings, "stats", "health")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert "status: healthy" in ok.stdout
    assert ["routelearn.ingest", "2"] in [line.split() for line in ok.stdout.splitlines()]
    report = _cli_json(settings, "health")
    assert report["healthy"] is True and report["lag"]["backlog_messages"] == 2

    with engine.begin() as conn:
        conn.exec_driver_sql("DELETE FROM learner_runs")
    sick = run_cli(settings, "stats", "health")
    assert sick.returncode == 1
    assert "status: UNHEALTHY" in sick.stdout and "the learner has never run" in sick.stdout
    down = run_cli(
        settings.model_copy(update={"broker_url": "redis://127.0.0.1:1/0"}),
        "stats",
        "health",
        "--json",
    )
    assert down.returncode == 1
    payload = json.loads(down.stdout)
    assert payload["healthy"] is False
    assert payload["queues"][0]["messages"] is None
    assert any(p.startswith("broker unreachable") for p in payload["problems"])


def test_learning_bench_runs_small(settings: Settings, tmp_path: Path) -> None:
    """``routelearn bench learning`` end to end on a tiny database, so it cannot rot (not timed:
    it must produce every figure, and drop its database)."""
    result = run_cli_process(
        settings,
        "bench", "learning", "--rows", "20000", "--models", "30", "--instances", "5",
        "--days", "3", "--runs", "1", "--pg", PG_BASE, "--broker", BROKER_BASE,
        "--out", str(tmp_path),
        timeout=240,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    (path,) = tmp_path.glob("learning-*.json")
    report = json.loads(path.read_text())
    rows = report["fill"]["rows"]
    assert rows["routing_records"] == 20000 and rows["model_routing_metrics"] == 90
    assert set(rows) == {
        "routing_records",
        "routing_rollups_hourly",
        "model_routing_metrics",
        "usage_rollups_hourly",
        "workspace_rollups_hourly",
    }
    assert rows["usage_rollups_hourly"] > 0 and rows["workspace_rollups_hourly"] > 0
    names = [f["name"] for f in report["figures"]]
    assert names[:3] == [
        "learner cycle, first tick (state created)",
        "learner cycle (steady)",
        "fan-out 100 updates x 1,000 queues",
    ]
    assert names[3:12] == [
        "stats instances",
        "stats success",
        "stats success --all-time",
        "stats latency",
        "stats latency --all-time",
        "stats top",
        "stats top --bottom",
        "stats top --all-time",
        "stats health",
    ]
    assert names[12].startswith("stats history model-")
    model = names[12].removeprefix("stats history ")
    assert names[13:] == [
        "GET /api/analytics/models?timeRange=24h (20 busiest)",
        "GET /api/analytics/models?timeRange=24h&limit=1000",
        f"GET /api/analytics/models?timeRange=24h&modelId={model}",
        "GET /api/analytics/workspaces/ws-7?timeRange=7d",
        "GET /api/analytics/workspaces/ws-7?timeRange=30d",
        "GET /api/metrics/requests?limit=100 (1h)",
        "GET /api/metrics/requests?limit=100&timeRange=24h",
    ]
    for figure in report["figures"]:
        assert figure["median_s"] > 0
        assert any(line.startswith(figure["name"] + " ") for line in result.stdout.splitlines())
    with psycopg.connect(libpq_dsn(settings.database_url, "postgres")) as conn:
        kept = conn.execute(
            "SELECT count(*) FROM pg_database WHERE datname = %s", (report["database"],)
        ).fetchone()
    assert kept == (0,)
