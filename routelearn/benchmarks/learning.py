"""``routelearn bench learning``: the learner cycle, one fan-out round and every ``stats`` query,
on a scratch database of 10 million audit rows filled with SQL alone (no workers).

Decisions are generated first and everything else derived from them, so the tables agree as
ingestion leaves them: two audit rows per decision (``routed``, then the outcome
``response_time_ms`` later), hourly rollups (a decision in the hour it was first seen, its
outcome in the hour of the outcome event), ``model_routing_metrics`` equal to the rollups summed.
Traffic: decisions evenly spread over ``days``; the model skewed (index floor(models * u^3):
model 0 takes ~10%, the tail a few hundred each), complexity and instance uniform; the first
models*3 decisions cover every (model, complexity). Success rate and log-normal response times
depend on the model.
"""

from __future__ import annotations

import json
import statistics
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import Engine, make_url

from routelearn import harness, stats
from routelearn.domain.partitions import bounds, partition_name
from routelearn.domain.policy import make_policy
from routelearn.domain.score_update import ScoreUpdate
from routelearn.messaging.broker import connection
from routelearn.messaging.fanout import FanOut, score_update_queue
from routelearn.settings import Settings
from routelearn.stats import analytics
from routelearn.stats.window import Window
from routelearn.store.engine import (
    libpq_dsn,
    make_engine,
)
from routelearn.store.learner import run_learner, snapshot_windows

Log = Callable[[str], None]
COMPLEXITIES = ["simple", "medium", "complex"]
_BUCKET = "least(1 + floor(log(response_time_ms) * 20 + 1e-9), 121)::int"  # latency.bucket_of
# A 122-bucket histogram from sparse (bucket, count) arrays; dropped after the fill.
_HIST_FUNCTION = """
CREATE FUNCTION bench_hist(buckets int[], counts bigint[]) RETURNS bigint[]
LANGUAGE plpgsql IMMUTABLE AS $$
DECLARE h bigint[] := array_fill(0::bigint, ARRAY[122]); i int;
BEGIN
    FOR i IN 1 .. coalesce(array_length(buckets, 1), 0) LOOP
        h[buckets[i] + 1] := h[buckets[i] + 1] + counts[i];
    END LOOP;
    RETURN h;
END $$
"""
_DECISIONS = """
INSERT INTO routing_decisions (decision_key, model_name, complexity_level, instance_id,
    first_seen_at, outcome, response_time_ms, created_at)
SELECT 'bench-' || g.i, 'model-' || lpad(g.m::text, 4, '0'), (%(complexities)s::text[])[g.c + 1],
    'instance-' || lpad(g.inst::text, 3, '0'), g.t,
    CASE WHEN random() < 0.70 + 0.29 * ((g.m * 37) %% 100) / 100.0 THEN 'success'
         ELSE 'failure' END,
    -- log-normal around a per-model median of 150..1,650 ms (Box-Muller for the normal)
    greatest(1.0, exp(ln(150 + (g.m * 53) %% 1500)
        + 0.45 * sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()))),
    g.t
FROM (SELECT i, %(start)s::timestamptz + (i - 1) * %(step)s::interval AS t,
          CASE WHEN i <= %(pairs)s THEN (i - 1) / 3
               ELSE floor(%(models)s * power(random(), 3))::int END AS m,
          CASE WHEN i <= %(pairs)s THEN (i - 1) %% 3 ELSE floor(random() * 3)::int END AS c,
          floor(random() * %(instances)s)::int AS inst
      FROM generate_series(1, %(decisions)s) AS i) AS g
"""
_RECORDS = """
INSERT INTO routing_records (timestamp, instance_id, complexity, model, provider, score, outcome,
    response_time_ms, capabilities_required, preference, created_at, event_id, decision_id,
    decision_key)
SELECT CASE WHEN e.routed THEN d.first_seen_at
            ELSE d.first_seen_at + d.response_time_ms * interval '1 millisecond' END,
    d.instance_id, d.complexity_level, d.model_name, 'provider-' || right(d.model_name, 1), 2.5,
    CASE WHEN e.routed THEN 'routed' ELSE d.outcome END,
    CASE WHEN e.routed THEN NULL ELSE d.response_time_ms END, '{function_calling}', 'speed',
    d.first_seen_at, d.decision_key || CASE WHEN e.routed THEN ':r' ELSE ':o' END,
    d.decision_key, d.decision_key
FROM routing_decisions AS d CROSS JOIN (VALUES (true), (false)) AS e(routed)
"""
_ROLLUPS = f"""
INSERT INTO routing_rollups_hourly (hour, model_name, complexity_level, instance_id, decisions,
    success_count, failure_count, response_time_count, response_time_sum,
    response_time_histogram)
SELECT hour, model_name, complexity_level, instance_id, sum(decisions), sum(successes),
    sum(failures), sum(samples), sum(total_ms),
    bench_hist(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
               array_agg(samples) FILTER (WHERE bucket IS NOT NULL))
FROM (
    SELECT date_trunc('hour', first_seen_at) AS hour, model_name, complexity_level, instance_id,
        count(*) AS decisions, 0 AS successes, 0 AS failures, 0 AS samples, 0.0 AS total_ms,
        NULL::int AS bucket
    FROM routing_decisions GROUP BY 1, 2, 3, 4
    UNION ALL
    SELECT date_trunc('hour', first_seen_at + response_time_ms * interval '1 millisecond'),
        model_name, complexity_level, instance_id, 0,
        count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure'),
        count(*), sum(response_time_ms), {_BUCKET}
    FROM routing_decisions GROUP BY 1, 2, 3, 4, 10
) AS parts
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
# Every decision attributed to one of 20 workspaces and 4 agent types, with 200 prompt and 50
# completion tokens at 0.0005 USD: the usage rollups as ingestion leaves them (a request in the
# hour it was first seen, its outcome, tokens and cost in the hour of the outcome).
_ATTRIBUTED = """
SELECT *, 'ws-' || (abs(hashtext(decision_key)) % 20) AS workspace_id,
    'agent-' || (abs(hashtext(decision_key)) / 20 % 4) AS agent_type
FROM routing_decisions
"""
_USAGE = f"""
INSERT INTO usage_rollups_hourly (hour, model_name, workspace_id, agent_type, instance_id,
    events, requests, success_count, failure_count, response_time_count, response_time_sum,
    prompt_tokens, completion_tokens, cost_usd)
SELECT hour, model_name, workspace_id, agent_type, instance_id, sum(events), sum(requests),
    sum(s), sum(f), sum(n), sum(ms), sum(n) * 200, sum(n) * 50, sum(n) * 0.0005
FROM (
    SELECT date_trunc('hour', first_seen_at) AS hour, model_name, workspace_id, agent_type,
        instance_id, count(*) AS events, count(*) AS requests, 0 AS s, 0 AS f, 0 AS n,
        0.0 AS ms
    FROM ({_ATTRIBUTED}) AS d GROUP BY 1, 2, 3, 4, 5
    UNION ALL
    SELECT date_trunc('hour', first_seen_at + response_time_ms * interval '1 millisecond'),
        model_name, workspace_id, agent_type, instance_id, count(*), 0,
        count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure'),
        count(*), sum(response_time_ms)
    FROM ({_ATTRIBUTED}) AS d GROUP BY 1, 2, 3, 4, 5
) AS parts
GROUP BY 1, 2, 3, 4, 5
"""
_WORKSPACES = f"""
INSERT INTO workspace_rollups_hourly (workspace_id, hour, requests, success_count,
    failure_count, response_time_count, response_time_sum, response_time_histogram,
    prompt_tokens, completion_tokens, cost_usd)
SELECT workspace_id, hour, sum(requests), sum(s), sum(f), sum(n), sum(ms),
    bench_hist(array_agg(bucket) FILTER (WHERE bucket IS NOT NULL),
               array_agg(n) FILTER (WHERE bucket IS NOT NULL)),
    sum(n) * 200, sum(n) * 50, sum(n) * 0.0005
FROM (
    SELECT workspace_id, date_trunc('hour', first_seen_at) AS hour, count(*) AS requests,
        0 AS s, 0 AS f, 0 AS n, 0.0 AS ms, NULL::int AS bucket
    FROM ({_ATTRIBUTED}) AS d GROUP BY 1, 2
    UNION ALL
    SELECT workspace_id,
        date_trunc('hour', first_seen_at + response_time_ms * interval '1 millisecond'), 0,
        count(*) FILTER (WHERE outcome = 'success'), count(*) FILTER (WHERE outcome = 'failure'),
        count(*), sum(response_time_ms), {_BUCKET}
    FROM ({_ATTRIBUTED}) AS d GROUP BY 1, 2, 8
) AS parts
GROUP BY 1, 2
"""
_METRICS = f"""
INSERT INTO model_routing_metrics (model_name, complexity_level, usage_count, success_count,
    failure_count, response_time_count, response_time_sum, avg_response_time,
    response_time_histogram)
SELECT model_name, complexity_level, sum(n), sum(s), sum(f), sum(n), sum(ms), sum(ms) / sum(n),
    bench_hist(array_agg(bucket), array_agg(n))
FROM (SELECT model_name, complexity_level, {_BUCKET} AS bucket, count(*) AS n,
          count(*) FILTER (WHERE outcome = 'success') AS s,
          count(*) FILTER (WHERE outcome = 'failure') AS f, sum(response_time_ms) AS ms
      FROM routing_decisions GROUP BY 1, 2, 3) AS per_bucket
GROUP BY 1, 2
"""
_REST = [
    "INSERT INTO model_scores (model_name, complexity_level, score, version, source, policy)"
    " SELECT model_name, complexity_level, 1.5 + (hashtext(model_name || complexity_level) & 15)"
    " / 8.0, 0, 'catalog', 'catalog' FROM model_routing_metrics",
    "INSERT INTO instances (instance_id, first_seen_at, last_seen_at)"
    " SELECT DISTINCT instance_id, now() - interval '30 days', now() FROM routing_decisions",
    # Two ingest workers that reported a moment ago, for `stats health`.
    "INSERT INTO consumer_stats (worker, started_at, updated_at, batches, processed)"
    " SELECT 'bench-worker-' || n, now() - interval '1 hour', now(), 3600, 3600000"
    " FROM generate_series(1, 2) AS n",
    "DROP FUNCTION bench_hist(int[], bigint[])",
    # Stats queries never read the audit table: analyse it, vacuum (hint bits, visibility) the rest.
    "ANALYZE routing_records",
    "VACUUM ANALYZE routing_decisions, routing_rollups_hourly, model_routing_metrics,"
    " model_scores, instances, consumer_stats, usage_rollups_hourly, workspace_rollups_hourly",
]
# New evidence between learner ticks, as if a minute of traffic had been ingested.
_BUMP = """
UPDATE model_routing_metrics SET success_count = success_count + (random() * 20)::int,
    failure_count = failure_count + (random() * 4)::int, updated_at = now(),
    response_time_histogram = (
        SELECT array_agg(c + (random() * 2)::int ORDER BY i)
        FROM unnest(response_time_histogram) WITH ORDINALITY AS h(c, i)
    )
"""


@dataclass(frozen=True)
class Figure:
    name: str
    median_s: float
    max_s: float
    target_s: float
    detail: str = ""

    @property
    def passed(self) -> bool:
        return self.median_s < self.target_s


@dataclass
class Report:
    when: str
    database: str
    config: dict[str, Any]
    fill: dict[str, Any] = field(default_factory=dict)
    figures: list[Figure] = field(default_factory=list)


def ensure_partitions(conn: psycopg.Connection[Any], first: datetime) -> None:
    """Day partitions from ``first``'s day to tomorrow, so no row lands in the default one."""
    day, last = first.astimezone(UTC).date(), (datetime.now(UTC) + timedelta(days=1)).date()
    while day <= last:
        low, high = bounds(day)
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {partition_name(day)} PARTITION OF routing_records"
            f" FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
        )
        day += timedelta(days=1)


def fill(dsn: str, rows: int, models: int, instances: int, days: int, log: Log) -> dict[str, Any]:
    decisions = max(rows // 2, models * len(COMPLEXITIES))
    start = datetime.now(UTC) - timedelta(days=days)
    params = {
        "complexities": COMPLEXITIES,
        "start": start,
        # The newest decision a minute ago, so no outcome lands in the future.
        "step": (timedelta(days=days) - timedelta(minutes=1)) / decisions,
        "pairs": models * len(COMPLEXITIES),
        "models": models,
        "instances": instances,
        "decisions": decisions,
    }
    seconds: dict[str, float] = {}
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = off")
        conn.execute("SET work_mem = '256MB'")
        conn.execute("SET maintenance_work_mem = '512MB'")
        conn.execute(_HIST_FUNCTION)
        ensure_partitions(conn, start)
        steps: list[tuple[str, list[str], dict[str, Any] | None]] = [
            ("routing_decisions", [_DECISIONS], params),
            ("routing_records", [_RECORDS], None),
            ("routing_rollups_hourly", [_ROLLUPS], None),
            ("model_routing_metrics", [_METRICS], None),
            ("usage_rollups_hourly", [_USAGE], None),
            ("workspace_rollups_hourly", [_WORKSPACES], None),
            ("scores, instances, workers, analyze", _REST, None),
        ]
        for name, statements, args in steps:
            began = time.perf_counter()
            for statement in statements:
                conn.execute(statement, args)
            seconds[name] = round(time.perf_counter() - began, 1)
            log(f"  {name}: {seconds[name]:.1f} s")
        counts = {
            table: conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]  # type: ignore[index]
            for table in (
                "routing_records",
                "routing_rollups_hourly",
                "model_routing_metrics",
                "usage_rollups_hourly",
                "workspace_rollups_hourly",
            )
        }
    return {"rows": counts, "seconds": seconds}


def _timed(fn: Callable[[], object], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return times


def _figure(name: str, times: list[float], target: float, detail: str = "") -> Figure:
    return Figure(name, statistics.median(times), max(times), target, detail)


def measure_learner(engine: Engine, dsn: str, settings: Settings, ticks: int) -> list[Figure]:
    """Ticks after new evidence for every row. Between ticks the learner's recency state and the
    counter snapshots are aged by one interval, as a real interval would age them (so snapshots
    expire as in production), and the tables each tick rewrites are vacuumed, as autovacuum
    would in a minute. Measured twice: the first tick, which creates the state of every row,
    and the ticks after it (steady state: a tick reads one state row per (model, complexity)
    however long the learner has run)."""
    policy = make_policy(settings.score_policy)
    age = [
        "UPDATE recent_outcomes SET as_of = as_of - make_interval(secs => %(s)s)",
        "UPDATE metric_snapshots SET taken_at = taken_at - make_interval(secs => %(s)s)",
    ]

    def tick(conn: psycopg.Connection[Any]) -> tuple[float, int, int]:
        conn.execute(_BUMP)
        began = time.perf_counter()
        result = run_learner(
            engine,
            policy,
            default_score=settings.default_score,
            **snapshot_windows(settings.learner_interval, settings.anomaly_window),
        )
        elapsed = time.perf_counter() - began
        for statement in age:
            conn.execute(statement, {"s": settings.learner_interval})
        # What autovacuum does in the minute between real ticks (each tick rewrites these).
        conn.execute(
            "VACUUM model_routing_metrics, model_scores, recent_outcomes, metric_snapshots"
        )
        return elapsed, len(result.changes), result.considered

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DELETE FROM recent_outcomes")
        first = [tick(conn)]
        steady = [tick(conn) for _ in range(ticks)]
    figures = []
    for name, runs in (
        ("learner cycle, first tick (state created)", first),
        ("learner cycle (steady)", steady),
    ):
        detail = f"{runs[0][2]} rows, {policy.name}; per tick ms / changed: " + ", ".join(
            f"{t * 1000:.0f}/{n}" for t, n, _ in runs
        )
        figures.append(_figure(name, [t for t, _, _ in runs], 1.0, detail))
    return figures


def measure_queries(engine: Engine, settings: Settings, runs: int) -> list[Figure]:
    day, ever = Window.last_hours(24), Window.all_time()
    hour, week, month = Window.last_hours(1), Window.last_hours(24 * 7), Window.last_hours(24 * 30)
    with engine.connect() as conn:
        model = (
            conn.exec_driver_sql(
                "SELECT model_name FROM score_history GROUP BY 1 ORDER BY count(*) DESC LIMIT 1"
            ).scalar()
            or "model-0000"
        )
    queries: list[tuple[str, Callable[[], object]]] = [
        ("stats instances", lambda: stats.models_by_instance(engine, day)),
        ("stats success", lambda: stats.success_rates(engine, day)),
        ("stats success --all-time", lambda: stats.success_rates(engine, ever)),
        ("stats latency", lambda: stats.latency_stats(engine, day)),
        ("stats latency --all-time", lambda: stats.latency_stats(engine, ever)),
        ("stats top", lambda: stats.performers(engine, day)),
        ("stats top --bottom", lambda: stats.performers(engine, day, bottom=True)),
        ("stats top --all-time", lambda: stats.performers(engine, ever)),
        ("stats health", lambda: stats.health_report(engine, settings)),
        (f"stats history {model}", lambda: stats.score_history(engine, model)),
        # Seed 004's analytics (issue 11), from the rollups.
        (
            "GET /api/analytics/models?timeRange=24h (20 busiest)",
            lambda: analytics.model_analytics(engine, day),
        ),
        (
            "GET /api/analytics/models?timeRange=24h&limit=1000",
            lambda: analytics.model_analytics(engine, day, limit=1000),
        ),
        (
            f"GET /api/analytics/models?timeRange=24h&modelId={model}",
            lambda: analytics.model_analytics(engine, day, model=model),
        ),
        (
            "GET /api/analytics/workspaces/ws-7?timeRange=7d",
            lambda: analytics.workspace_analytics(engine, "ws-7", week),
        ),
        (
            "GET /api/analytics/workspaces/ws-7?timeRange=30d",
            lambda: analytics.workspace_analytics(engine, "ws-7", month),
        ),
        (
            "GET /api/metrics/requests?limit=100 (1h)",
            lambda: analytics.request_metrics(engine, hour, limit=100),
        ),
        (
            "GET /api/metrics/requests?limit=100&timeRange=24h",
            lambda: analytics.request_metrics(engine, day, limit=100),
        ),
    ]
    return [_figure(name, _timed(fn, runs), 0.3) for name, fn in queries]


def bench_fanout(settings: Settings, instances: int = 1000, updates: int = 100) -> float:
    """Seconds for one steady-state round of ``updates`` updates to ``instances`` queues (queues
    declared by an untimed first round, as in production after the first minute). Uses queues
    of its own and deletes them afterwards."""
    tag = uuid.uuid4().hex[:8]
    ids = [f"bench-{tag}-{i}" for i in range(instances)]
    round_ = [
        ScoreUpdate(
            timestamp=datetime.now(UTC),
            model=f"model-{i}",
            complexity=("simple", "medium", "complex")[i % 3],
            old_score=2.5,
            new_score=2.7,
            reason="Learned from 250 real uses",
            confidence=0.9,
            based_on_samples=250,
            version=i + 1,
        )
        for i in range(updates)
    ]
    fanout = FanOut(settings)
    try:
        fanout.publish(ids, round_)
        report = fanout.publish(ids, round_)
        if report.messages != instances:
            raise RuntimeError(f"benchmark sent {report.messages} messages, not {instances}")
        return report.seconds
    finally:
        with connection(settings) as conn:
            channel: Any = conn.default_channel
            for instance_id in ids:
                score_update_queue(instance_id, settings)(channel).delete()
        fanout.close()


def main(
    rows: int = 10_000_000,
    models: int = 1000,
    instances: int = 50,
    days: int = 30,
    keep_db: bool = False,
    pg_base: str = "postgresql+psycopg://postgres@127.0.0.1:5432",
    broker_base: str = harness.DEFAULT_REDIS,
    out_dir: Path | None = Path("bench-results"),
    log: Log = print,
    runs: int = 5,
) -> Report:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    config = {
        "rows": rows,
        "models": models,
        "instances": instances,
        "days": days,
        "runs": runs,
    }
    with harness.scratch(pg_base, broker_base, keep_database=keep_db) as settings:
        if keep_db:
            log(f"keeping the database: {settings.database_url}")
        report = Report(stamp, make_url(settings.database_url).database or "", config)
        dsn = libpq_dsn(settings.database_url)
        log(f"filling {rows:,} audit rows ({models} models x 3, {instances} instances, {days} d)")
        report.fill = fill(dsn, rows, models, instances, days, log)
        engine = make_engine(settings.database_url, pool_size=2)
        try:
            log("measuring the learner, the fan-out and the queries")
            report.figures += measure_learner(engine, dsn, settings, runs)
            fanout = [bench_fanout(settings, 1000, 100) for _ in range(runs)]
            report.figures.append(
                _figure("fan-out 100 updates x 1,000 queues", fanout, 1.0, "own broker namespace")
            )
            report.figures += measure_queries(engine, settings, runs)
        finally:
            engine.dispose()
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"learning-{stamp}.json").write_text(json.dumps(asdict(report), indent=2))
    return report


def summary(report: Report) -> str:
    from routelearn.stats.table import format_table

    rows = report.fill["rows"]
    fill_s = sum(report.fill["seconds"].values())
    lines = [
        f"filled {rows['routing_records']:,} audit rows, {rows['routing_rollups_hourly']:,}"
        f" rollup rows, {rows['model_routing_metrics']:,} metric rows in {fill_s:.0f} s",
        format_table(
            ["figure", "median", "max", "target", "result"],
            [
                [
                    f.name,
                    f"{f.median_s * 1000:.0f} ms",
                    f"{f.max_s * 1000:.0f} ms",
                    f"< {f.target_s * 1000:.0f} ms",
                    "PASS" if f.passed else "FAIL",
                ]
                for f in report.figures
            ],
        ),
    ]
    lines += [f"{f.name}: {f.detail}" for f in report.figures if f.detail]
    return "\n".join(lines)
