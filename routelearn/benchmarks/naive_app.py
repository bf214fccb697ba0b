"""The baseline the ingestion benchmark compares against, written like seed 001's consumer:
one message per event, then one INSERT and one UPDATE per event on the seed's own tables
(``response_times`` array and all). Started as
``celery -A routelearn.benchmarks.naive_app worker``."""

from __future__ import annotations

from typing import Any

import psycopg

from routelearn.service.app import create_app
from routelearn.store.engine import libpq_dsn

NAIVE_TASK = "routelearn.bench.naive_ingest_event"
NAIVE_QUEUE = "routelearn.bench.naive"

SEED_DDL = """
CREATE TABLE IF NOT EXISTS naive_routing_records (
  id BIGSERIAL PRIMARY KEY, timestamp TIMESTAMPTZ NOT NULL, instance_id VARCHAR NOT NULL,
  complexity VARCHAR NOT NULL, model VARCHAR NOT NULL, provider VARCHAR NOT NULL,
  score FLOAT NOT NULL, outcome VARCHAR NOT NULL, response_time_ms INTEGER,
  capabilities_required TEXT[], preference VARCHAR, created_at TIMESTAMPTZ DEFAULT NOW());
CREATE TABLE IF NOT EXISTS naive_model_routing_metrics (
  id BIGSERIAL PRIMARY KEY, model_name VARCHAR NOT NULL, complexity_level VARCHAR NOT NULL,
  usage_count BIGINT DEFAULT 0, success_count BIGINT DEFAULT 0,
  response_times INTEGER[] DEFAULT '{}', avg_response_time FLOAT,
  response_time_count BIGINT DEFAULT 0, updated_at TIMESTAMPTZ DEFAULT NOW(),
  UNIQUE(model_name, complexity_level));
CREATE INDEX IF NOT EXISTS idx_naive_model_complexity ON naive_routing_records(model, complexity);
CREATE INDEX IF NOT EXISTS idx_naive_timestamp ON naive_routing_records(timestamp DESC);
"""

app = create_app()
app.conf.task_routes = {NAIVE_TASK: {"queue": NAIVE_QUEUE}}
_conn: psycopg.Connection[Any] | None = None


def _connection() -> psycopg.Connection[Any]:
    global _conn
    if _conn is None or _conn.closed:
        _conn = psycopg.connect(libpq_dsn(app.settings.database_url), autocommit=True)
    return _conn


@app.task(name=NAIVE_TASK, acks_late=True, ignore_result=True)
def naive_ingest_event(event: dict[str, Any]) -> None:
    d = event["routing_decision"]
    rt = d.get("response_time_ms")
    conn = _connection()
    conn.execute(
        "INSERT INTO naive_routing_records (timestamp, instance_id, complexity, model, provider,"
        " score, outcome, response_time_ms, capabilities_required, preference)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            event["timestamp"],
            event["instance_id"],
            d["complexity"],
            d["selected_model"],
            d["selected_provider"],
            d["complexity_score"],
            d["outcome"],
            None if rt is None else round(rt),
            d["capabilities_required"],
            d["prefer"],
        ),
    )
    conn.execute(
        "UPDATE naive_model_routing_metrics SET usage_count = usage_count + 1,"
        " success_count = success_count + (CASE WHEN %s = 'success' THEN 1 ELSE 0 END),"
        " response_times = CASE WHEN %s::int IS NULL THEN response_times"
        "   ELSE array_append(response_times, %s::int) END,"
        " avg_response_time = CASE WHEN %s::int IS NULL THEN avg_response_time"
        "   ELSE (COALESCE(avg_response_time, 0) * response_time_count + %s::int)"
        "        / (response_time_count + 1) END,"
        " response_time_count = response_time_count"
        "   + (CASE WHEN %s::int IS NULL THEN 0 ELSE 1 END),"
        " updated_at = NOW() WHERE model_name = %s AND complexity_level = %s",
        (
            d["outcome"],
            *([None if rt is None else round(rt)] * 5),
            d["selected_model"],
            d["complexity"],
        ),
    )
