"""The pure parts of routelearn.observability: what a committed batch adds to the counters, the
fleet gauges from a health report, and the metrics server's door (no service needed)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from prometheus_client import REGISTRY, CollectorRegistry, Counter
from prometheus_client.metrics_core import Metric

from routelearn.domain.exposure import is_loopback
from routelearn.observability import fleet, metrics
from routelearn.observability.events import source_label
from routelearn.observability.server import metrics_app, needs_key
from routelearn.stats.health import (
    AnomalyCount,
    HealthReport,
    IngestLag,
    LearnerRun,
    QueueDepth,
)


def value(name: str, **labels: str) -> float:
    """From the default registry (the events counters, shared with the API) or the workers'."""
    for registry in (REGISTRY, metrics.WORKER_REGISTRY):
        found = registry.get_sample_value(name, labels)
        if found is not None:
            return found
    return 0.0


def test_the_workers_metrics_stay_out_of_the_default_registry() -> None:
    # Flower imports the tasks and serves the default registry: no worker figures there.
    names = {family.name for family in REGISTRY.collect()}
    assert not any(name.startswith(("routelearn_ingest", "routelearn_learner")) for name in names)
    assert {f.name for f in metrics.WORKER_REGISTRY.collect()} >= {
        "routelearn_ingest_batch_size_events",
        "routelearn_learner_last_success_timestamp_seconds",
        "routelearn_fanout_duration_seconds",
    }


def test_a_batch_counts_each_event_once_under_its_source() -> None:
    names = [
        ("routelearn_events_accepted_total", {"source": "http"}),
        ("routelearn_events_duplicate_total", {"source": "http"}),
        ("routelearn_events_rejected_total", {"source": "http"}),
        ("routelearn_dead_letters_total", {"reason": "invalid"}),
        ("routelearn_dead_letters_total", {"reason": "internal_error"}),
        ("routelearn_ingest_batch_size_events_sum", {}),
        ("routelearn_ingest_lag_seconds_count", {}),
    ]
    before = [value(n, **labels) for n, labels in names]
    metrics.observe_batch(
        source="http",
        received=10,
        accepted=5,
        duplicates=2,
        invalid=2,
        internal_errors=1,
        seconds=0.01,
        sent_at=datetime.now(UTC).timestamp() - 1.5,
    )
    after = [value(n, **labels) for n, labels in names]
    assert [a - b for a, b in zip(after, before, strict=True)] == [5, 2, 3, 2, 1, 10, 1]


def test_a_header_from_elsewhere_makes_no_new_label_and_no_lag() -> None:
    lag = value("routelearn_ingest_lag_seconds_count")
    other = value("routelearn_events_accepted_total", source="other")
    for sent_at in (None, "yesterday", math.nan, True):
        metrics.observe_batch(
            source="x" * 300,
            received=1,
            accepted=1,
            duplicates=0,
            invalid=0,
            internal_errors=0,
            seconds=0.001,
            sent_at=sent_at,
        )
    assert value("routelearn_ingest_lag_seconds_count") == lag
    assert value("routelearn_events_accepted_total", source="other") == other + 4
    assert [source_label(s) for s in ("broker", "http", "pgmq", None, "")] == [
        "broker",
        "http",
        "pgmq",
        "other",
        "other",
    ]


def test_a_learner_tick_sets_its_time_and_counts_its_changes() -> None:
    changes = value("routelearn_score_changes_total")
    metrics.observe_learner_tick(0.2, 3)
    assert value("routelearn_score_changes_total") == changes + 3
    last = value("routelearn_learner_last_success_timestamp_seconds")
    assert abs(last - datetime.now(UTC).timestamp()) < 5


# -- the fleet gauges from a report ------------------------------------------------------------

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def report(**changes: Any) -> HealthReport:
    base: dict[str, Any] = {
        "checked_at": NOW,
        "database_error": None,
        "workers": (),
        "recent_workers": 0,
        "queues": (
            QueueDepth("routelearn.ingest", 7),
            QueueDepth("routelearn.learn", 0),
            QueueDepth("routelearn.maintenance", 1),
            QueueDepth("model_anomalies", 3),
        ),
        "lag": IngestLag(7, None, None, None),
        "anomaly_counts": (AnomalyCount("slow_responses", "critical", 2),),
        "open_anomalies": (),
        "learner": LearnerRun(
            NOW - timedelta(seconds=95), NOW - timedelta(seconds=90), 5, "c", 1, 0
        ),
        "dead_letters": 0,
        "dead_letters_24h": 0,
        "instances_active": 0,
        "instances_retired": 0,
        "problems": (),
    }
    return HealthReport(**(base | changes))


def samples(families: Iterable[Metric]) -> dict[tuple[str, tuple[str, ...]], float]:
    return {
        (s.name, tuple(s.labels.values())): s.value for family in families for s in family.samples
    }


def test_task_queues_are_the_celery_ones_and_a_broker_error_leaves_them_out() -> None:
    assert samples([fleet.task_queues(report())]) == {
        ("routelearn_task_queue_depth", ("routelearn.ingest",)): 7,
        ("routelearn_task_queue_depth", ("routelearn.learn",)): 0,
        ("routelearn_task_queue_depth", ("routelearn.maintenance",)): 1,
    }
    down = report(queues=(QueueDepth("routelearn.ingest", None, "refused"),))
    assert samples([fleet.task_queues(down)]) == {}
    assert samples(fleet.dependencies(down)) == {
        ("routelearn_fleet_dependency_up", ("database",)): 1.0,
        ("routelearn_fleet_dependency_up", ("broker",)): 0.0,
    }


def test_every_anomaly_kind_and_severity_is_there_at_zero_when_none_is_open() -> None:
    found = samples([fleet.open_anomalies(report())])
    assert len(found) == 5 * 2  # every kind, budget_warning too, at each severity
    assert found[("routelearn_open_anomalies", ("budget_warning", "critical"))] == 0
    assert found[("routelearn_open_anomalies", ("slow_responses", "critical"))] == 2
    assert found[("routelearn_open_anomalies", ("instance_silent", "warning"))] == 0
    newer = report(anomaly_counts=(AnomalyCount("cost_spike", "warning", 1),))
    assert (
        samples([fleet.open_anomalies(newer)])[
            ("routelearn_open_anomalies", ("cost_spike", "warning"))
        ]
        == 1
    )


def test_learner_age_by_the_database_clock_and_infinite_before_the_first_tick() -> None:
    assert samples([fleet.learner_age(report())]) == {
        ("routelearn_learner_last_tick_age_seconds", ()): 90.0
    }
    assert samples([fleet.learner_age(report(learner=None))]) == {
        ("routelearn_learner_last_tick_age_seconds", ()): math.inf
    }


# -- the metrics server's door -------------------------------------------------------------------


def call(app: Any, path: str, authorization: str | None = None) -> tuple[str, dict[str, str], str]:
    answer: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer["status"], answer["headers"] = status, dict(headers)

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": path, "QUERY_STRING": ""}
    if authorization is not None:
        environ["HTTP_AUTHORIZATION"] = authorization
    body = b"".join(app(environ, start_response)).decode()
    return answer["status"], answer["headers"], body


def test_the_server_asks_for_a_key_when_told_and_answers_only_metrics() -> None:
    registry = CollectorRegistry()
    Counter("probe_things", "things", registry=registry).inc(3)
    app = metrics_app(registry, lambda header: header == "Bearer good")
    assert call(app, "/metrics", "Bearer good")[0] == "200 OK"
    assert "probe_things_total 3.0" in call(app, "/metrics", "Bearer good")[2]
    status, headers, body = call(app, "/metrics", "Bearer bad")
    assert status == "401 Unauthorized" and headers["WWW-Authenticate"] == "Bearer"
    assert "probe_things" not in body
    assert call(app, "/metrics")[0] == "401 Unauthorized"
    assert call(app, "/elsewhere", "Bearer good")[0] == "404 Not Found"
    assert call(metrics_app(registry, None), "/metrics")[0] == "200 OK"


@pytest.mark.parametrize(
    ("host", "public", "keyed"),
    [
        ("127.0.0.1", False, False),
        ("localhost", False, False),
        ("::1", False, False),
        ("0.0.0.0", False, True),
        ("10.1.2.3", False, True),
        ("worker-1.internal", False, True),
        ("0.0.0.0", True, False),
    ],
)
def test_a_key_is_needed_beyond_loopback_unless_public(
    host: str, public: bool, keyed: bool
) -> None:
    assert needs_key(host, public) is keyed
    assert is_loopback(host) is (host in ("127.0.0.1", "localhost", "::1"))
