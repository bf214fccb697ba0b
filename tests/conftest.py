"""Shared fixtures. Unit tests need none of them; integration tests get a throwaway database
(created and migrated once per run, emptied before each test, dropped at the end) and a Redis db
index of their own (flushed before and after)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from sqlalchemy import Engine

from routelearn.settings import Settings
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing, drop_database, make_engine
from tests.services import START_HINTS, ServiceDown, claim_redis_db, test_settings
from workers.app import RouteLearnCelery, create_app

TABLES = (
    "routing_records",
    "routing_decisions",
    "model_routing_metrics",
    "dead_letters",
    "consumer_stats",
    "instances",
    "model_scores",
    "score_history",
    "metric_snapshots",
    "recent_outcomes",
    "learner_runs",
    "routing_rollups_hourly",
    "anomalies",
    "anomaly_events",
)


@pytest.fixture(scope="session")
def redis_db() -> Iterator[int]:
    try:
        index = claim_redis_db()
    except ServiceDown as exc:
        pytest.fail(str(exc), pytrace=False)
    yield index
    from tests.services import REDIS_BASE

    redis.Redis.from_url(f"{REDIS_BASE}/{index}").flushdb()


@pytest.fixture(scope="session")
def settings(redis_db: int) -> Iterator[Settings]:
    database = f"routelearn_test_{uuid.uuid4().hex[:10]}"
    values = test_settings(database, redis_db)
    try:
        create_database_if_missing(values.database_url)
    except Exception as exc:
        pytest.fail(
            f"PostgreSQL does not answer ({exc}); start it with: {START_HINTS['postgres']}",
            pytrace=False,
        )
    migrate.upgrade(values.database_url)
    yield values
    drop_database(values.database_url)


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database_url, pool_size=4)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(settings.broker_url)
    yield client
    client.close()


@pytest.fixture
def clean(engine: Engine, redis_client: redis.Redis) -> None:
    """An empty database and broker db for this test."""
    with engine.begin() as conn:
        conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
    redis_client.flushdb()
    redis_client.set("routelearn:test-run", "1", ex=6 * 3600)


@pytest.fixture(scope="session")
def celery_app(settings: Settings) -> Iterator[RouteLearnCelery]:
    app = create_app(settings)
    yield app
    app.reset_process_state()
    app.close()


@pytest.fixture
def worker(celery_app: RouteLearnCelery, clean: None) -> Iterator[Any]:
    """A real Celery worker (solo pool, in a thread of this process) on the real broker."""
    with start_worker(
        celery_app,
        pool="solo",
        concurrency=1,
        perform_ping_check=False,
        loglevel="WARNING",
        shutdown_timeout=30,
    ) as w:
        yield w


def metrics(engine: Engine) -> dict[tuple[str, str], tuple[int, int, int]]:
    """(model, complexity) -> (usage, success, failure) as the database holds them."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT model_name, complexity_level, usage_count, success_count, failure_count "
            "FROM model_routing_metrics"
        ).fetchall()
    return {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows}


def count(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(f"SELECT count(*) FROM {table}").scalar_one())
