"""The health rules and the ingestion lag of routelearn.stats.health (pure: ``now`` is given)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from routelearn.stats.health import (
    HealthThresholds,
    IngestLag,
    LearnerRun,
    PgmqDepth,
    QueueDepth,
    WorkerHealth,
    ingest_lag,
    problems,
)

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)
T = HealthThresholds(worker_silence_s=300, learner_interval_s=60, learner_missed_intervals=3)
QUEUES = (QueueDepth("routelearn.ingest", 0), QueueDepth("routelearn.learn", 0))


def worker(
    name: str, seen_s_ago: float, batches: int = 100, life_s: float = 100, errors: int = 0
) -> WorkerHealth:
    updated = NOW - timedelta(seconds=seen_s_ago)
    return WorkerHealth(
        name,
        updated - timedelta(seconds=life_s),
        updated,
        batches,
        batches * 1000,
        errors,
        errors,
        "OperationalError: connection refused\ndetails" if errors else None,
    )


def learner(age_s: float) -> LearnerRun:
    at = NOW - timedelta(seconds=age_s)
    return LearnerRun(at, at, 12.0, "calibrated", 10, 1)


def judge(
    workers: list[WorkerHealth],
    backlog: int | None = 0,
    learner_age: float | None = 10,
    queues: tuple[QueueDepth, ...] = QUEUES,
    database_error: str | None = None,
    pgmq: tuple[PgmqDepth, ...] = (),
) -> tuple[str, ...]:
    lag = ingest_lag(backlog, workers, None, NOW, T)
    run = None if learner_age is None else learner(learner_age)
    return problems(
        now=NOW,
        database_error=database_error,
        workers=workers,
        queues=queues,
        lag=lag,
        learner=run,
        thresholds=T,
        pgmq=pgmq,
    )


def test_lag_from_backlog_and_recent_rates() -> None:
    # Two recent workers at 1 and 2 batches/s over their lives; one silent one is ignored.
    workers = [worker("a", 10), worker("b", 20, batches=200), worker("old", 900, batches=10**6)]
    lag = ingest_lag(30, workers, NOW - timedelta(seconds=7), NOW, T)
    assert lag == IngestLag(30, 3.0, 10.0, 7.0)
    assert ingest_lag(0, workers, None, NOW, T) == IngestLag(0, 3.0, 0.0, None)
    assert ingest_lag(5, [], None, NOW, T) == IngestLag(5, None, None, None)
    assert ingest_lag(None, workers, None, NOW, T).drain_seconds is None
    # A process one batch old does not read as infinitely fast.
    assert ingest_lag(1, [worker("new", 0, batches=1, life_s=0)], None, NOW, T).drain_rate == 1.0


def test_healthy() -> None:
    assert judge([worker("a", 10)]) == ()
    assert judge([]) == ()  # an idle fleet: nothing to ingest, no worker needs to report


def test_backlog_without_a_recent_worker() -> None:
    (found,) = judge([worker("a", 301)], backlog=4)
    assert found == (
        "routelearn.ingest holds 4 messages but no ingest worker reported in the last 300 s"
    )


def test_every_recent_worker_failing() -> None:
    (found,) = judge([worker("a", 5, errors=3), worker("b", 400)])
    assert found == (
        "every recent ingest worker is failing; last error: OperationalError: connection refused"
    )
    assert judge([worker("a", 5, errors=3), worker("b", 6)]) == ()


def test_slow_drain() -> None:
    (found,) = judge([worker("a", 1, batches=10, life_s=100)], backlog=61)  # 0.1 batch/s
    assert found == "ingestion lag: 61 messages waiting, about 610 s to drain (limit 600 s)"


@pytest.mark.parametrize(("age", "stale"), [(179, False), (181, True), (None, True)])
def test_learner_staleness(age: float | None, stale: bool) -> None:
    found = judge([], learner_age=age)
    assert bool(found) is stale
    if age is None:
        assert found == ("the learner has never run",)
    elif stale:
        assert found == ("last learner run 181 s ago, more than 3 intervals of 60 s",)


def test_broker_and_database_down() -> None:
    down = tuple(QueueDepth(q.queue, None, "Connection refused") for q in QUEUES)
    assert judge([worker("a", 1)], backlog=None, queues=down) == (
        "broker unreachable (routelearn.ingest): Connection refused",
    )
    assert judge([], learner_age=None, database_error="no such database") == (
        "database unreachable: no such database",
    )


def test_pgmq_decisions_waiting_too_long() -> None:
    waiting = (
        PgmqDepth("model_routing_decisions", 12, 12, 301.0),
        PgmqDepth("model_score_updates", 900, 900, 86_400.0),  # an instance reading slowly
    )
    (found,) = judge([], pgmq=waiting)
    assert found == (
        "pgmq model_routing_decisions: 12 decisions waiting, the oldest 301 s (is the pgmq "
        "bridge on, and a worker consuming routelearn.ingest?)"
    )
    fresh = (PgmqDepth("model_routing_decisions", 12, 12, 299.0),)
    empty = (PgmqDepth("model_routing_decisions", 0, 0, None),)
    for depths in (fresh, empty):
        assert not judge([], pgmq=depths)
