"""Shared fixtures. Unit tests need none of them; integration tests get a throwaway database
(created and migrated once per run, emptied before each test, dropped at the end) and a broker
namespace of their own (a Redis db index or a RabbitMQ virtual host, emptied before each test and
removed at the end), from ``routelearn.harness``.

Tests marked ``broker`` run against each broker: scripts/test runs them a second time with
``ROUTELEARN_TEST_BROKER=amqp://...``; that run selects ``-m broker``, so a test that needs Redis
itself (``redis_client``) must not carry the mark.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import psycopg
import pytest
import redis
import sqlalchemy
from celery.contrib.testing.worker import start_worker
from sqlalchemy import Engine

from routelearn import harness
from routelearn.harness import ServiceDown
from routelearn.messaging import fanout
from routelearn.service.app import RouteLearnCelery, create_app
from routelearn.settings import Settings
from routelearn.store.engine import make_engine
from tests.proxy import Proxy
from tests.services import BROKER_BASE, ON_AMQP, PG_BASE, test_settings, through_port

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
    "api_keys",
    "models",
    "model_endpoints",
    "model_health_reports",
    "registry_changes",
    "webhook_deliveries",
    "routing_policy",
    "policy_changes",
    "usage_rollups_hourly",
    "workspace_rollups_hourly",
    "workspace_spend",
    "model_quality",
    "learner_estimates",
)


@pytest.fixture(scope="session")
def broker_url() -> Iterator[str]:
    try:
        with harness.scratch_broker(BROKER_BASE) as url:
            yield url
    except ServiceDown as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture(scope="session")
def settings(broker_url: str) -> Iterator[Settings]:
    try:
        with harness.scratch_database(PG_BASE) as database_url:
            yield test_settings(database_url, broker_url)
    except ServiceDown as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def broker_proxy(settings: Settings) -> Iterator[tuple[Proxy, Settings]]:
    """The broker behind a TCP proxy the test can cut (``down()``) and restore (``up()``); the
    settings reach it through the proxy. Up at the start."""
    parts = urlsplit(settings.broker_url)
    proxy = Proxy(parts.hostname or "127.0.0.1", parts.port or (5672 if ON_AMQP else 6379))
    through = settings.model_copy(
        update={"broker_url": through_port(settings.broker_url, proxy.port)}
    )
    proxy.up()
    yield proxy, through
    proxy.down()


@pytest.fixture(scope="session")
def engine(settings: Settings) -> Iterator[Engine]:
    eng = make_engine(settings.database_url, pool_size=4)
    yield eng
    eng.dispose()


@pytest.fixture(scope="session")
def redis_client(settings: Settings) -> Iterator[redis.Redis]:
    """The broker's Redis itself, for tests that look inside it (not marked ``broker``)."""
    if ON_AMQP:
        pytest.fail("this test needs Redis as the broker; do not mark it 'broker'", pytrace=False)
    client = redis.Redis.from_url(settings.broker_url)
    yield client
    client.close()


@pytest.fixture
def clean(engine: Engine, settings: Settings) -> None:
    """An empty database and broker namespace for this test."""
    for attempt in range(3):
        try:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY")
            break
        except sqlalchemy.exc.OperationalError as exc:
            # A worker of the previous test still finishing a batch can hold one table while
            # the TRUNCATE holds another: PostgreSQL aborts one of the two; try again.
            if not isinstance(exc.orig, psycopg.errors.DeadlockDetected) or attempt == 2:
                raise
    fanout.close_all()  # its declared-queue memory would outlive the queues
    harness.empty_broker(settings.broker_url)


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
        if w.hub is not None:
            # Wake the event loop twice a second: it notices the stop request only between
            # polls, and on RabbitMQ an idle poll otherwise lasts 10 s.
            w.hub.call_repeatedly(0.5, lambda: None)
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


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Every test under tests/integration carries the ``integration`` mark (``-m 'not
    integration'`` then runs exactly the tests that need no service)."""
    unmarked = [
        item.nodeid
        for item in items
        if "integration" in item.path.parts and item.get_closest_marker("integration") is None
    ]
    if unmarked:
        raise pytest.UsageError(
            "integration tests without the integration mark: " + ", ".join(unmarked)
        )
