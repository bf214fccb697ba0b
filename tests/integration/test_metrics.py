"""The metrics as Prometheus reads them, over HTTP, from real processes: celery workers in
prefork mode writing to a multiprocess directory, ``routelearn metrics serve`` adding them up
with the fleet gauges, and the API's own GET /metrics. Counts are exact: accepted = what was
sent, rejected = the malformed ones, duplicates = what was sent again."""

from __future__ import annotations

import dataclasses
import random
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import Engine

from routelearn.constants import INGEST_QUEUE
from routelearn.domain.api_keys import Role
from routelearn.harness import stop_groups
from routelearn.instance.publisher import EventPublisher
from routelearn.messaging.fanout import fan_out, queue_name, send_snapshot
from routelearn.settings import Settings
from routelearn.stats.probe import oldest_message_ages
from routelearn.store import api_keys
from tests.factories import make_event, score_update
from tests.integration.test_api import free_port, serving
from tests.services import LOGS, ON_AMQP, depth, settings_env, wait_for, worker_process

pytestmark = [pytest.mark.integration, pytest.mark.broker]

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def sample(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


@pytest.fixture
def multiproc_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PROMETHEUS_MULTIPROC_DIR, empty, for the processes this test starts from now on (this
    process chose its own mode when it first imported prometheus-client: one process)."""
    path = tmp_path / "prometheus"
    path.mkdir()
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
    return path


@dataclass(frozen=True)
class Scraper:
    url: str
    key: str | None

    def get(self, key: str | None) -> httpx.Response:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.get(self.url, headers=headers, timeout=10)

    def __call__(self) -> Samples:
        answer = self.get(self.key)
        assert answer.status_code == 200, answer.text
        return parse(answer.text)


@contextmanager
def metrics_server(settings: Settings, *args: str, key: str | None = None) -> Iterator[Scraper]:
    """A real ``routelearn metrics serve`` process, scraped with ``key`` if given."""
    port = free_port()
    LOGS.mkdir(exist_ok=True)
    with open(LOGS / "metrics-serve.log", "ab") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "routelearn.cli",
                "metrics",
                "serve",
                "--port",
                str(port),
                *args,
            ],
            env=settings_env(settings),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    scraper = Scraper(f"http://127.0.0.1:{port}/metrics", key)

    def up() -> bool:
        try:
            return scraper.get(key).status_code == 200
        except httpx.TransportError:
            return proc.poll() is not None

    try:
        wait_for(up, 30, message="routelearn metrics serve")
        assert proc.poll() is None, (LOGS / "metrics-serve.log").read_text()[-2000:]
        yield scraper
    finally:
        stop_groups([proc], timeout=10)


def processed_by(engine: Engine) -> dict[str, int]:
    """Batches per worker process (consumer_stats: one row per host:pid)."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("SELECT worker, batches FROM consumer_stats").fetchall()
    return {worker: batches for worker, batches in rows if batches}


@pytest.mark.timeout(150)
def test_prefork_processes_are_added_up_with_the_fleet_gauges(
    settings: Settings, engine: Engine, clean: None, multiproc_dir: Path
) -> None:
    rng = random.Random(12)
    valid = [
        make_event("success", event_id=f"ok-{n}", instance_id="metrics-app") for n in range(550)
    ]
    malformed = [make_event(event_id=f"bad-{n}", score=7.2) for n in range(50)]
    events = valid + malformed
    rng.shuffle(events)
    resent = events[:100]  # two batches sent again: each valid event a duplicate
    resent_malformed = sum(e["event_id"].startswith("bad-") for e in resent)

    # Two pool processes, each replaced after 4 tasks: 14 batches pass through at least four
    # processes, three of which are gone when the scrape adds their files up.
    extra = ("--max-tasks-per-child=4",)
    with (
        worker_process(settings, concurrency=2, name="metrics", queues=INGEST_QUEUE, extra=extra),
        metrics_server(settings) as scrape,
    ):
        with EventPublisher(settings, batch_size=50, linger_ms=60_000) as publisher:
            for event in events + resent:
                assert publisher.publish(event)
        assert publisher.stats.batches == 14

        def batches() -> float:
            return sample(scrape(), "routelearn_ingest_batch_size_events_count") or 0.0

        wait_for(lambda: batches() >= 14, 60, interval=0.5, message="14 batches ingested")
        fan_out(settings, ["metrics-app"], [score_update(1)])  # nobody reads it: it waits
        found = scrape()

    assert len(processed_by(engine)) >= 4
    assert sum(processed_by(engine).values()) == 14
    broker = {"source": "broker"}
    assert sample(found, "routelearn_events_accepted_total", **broker) == 550
    assert sample(found, "routelearn_events_duplicate_total", **broker) == 100 - resent_malformed
    assert sample(found, "routelearn_events_rejected_total", **broker) == 50 + resent_malformed
    assert sample(found, "routelearn_events_accepted_total", source="http") == 0
    assert sample(found, "routelearn_dead_letters_total", reason="invalid") == 50 + resent_malformed
    assert sample(found, "routelearn_dead_letters_total", reason="internal_error") == 0
    assert sample(found, "routelearn_ingest_batch_size_events_count") == 14
    assert sample(found, "routelearn_ingest_batch_size_events_sum") == 700
    assert sample(found, "routelearn_ingest_batch_duration_seconds_count") == 14
    # Every message carried its send time: one lag each, under the minute this test takes.
    assert sample(found, "routelearn_ingest_lag_seconds_count") == 14
    assert sample(found, "routelearn_ingest_lag_seconds_bucket", le="60.0") == 14

    # The fleet gauges, from the database and the broker.
    assert sample(found, "routelearn_fleet_dependency_up", dependency="database") == 1
    assert sample(found, "routelearn_fleet_dependency_up", dependency="broker") == 1
    assert sample(found, "routelearn_task_queue_depth", queue=INGEST_QUEUE) == 0
    assert sample(found, "routelearn_instance_queue_depth", instance="metrics-app") == 1
    age = sample(found, "routelearn_instance_queue_oldest_age_seconds", instance="metrics-app")
    assert age is not None and 0 <= age < 30
    anomalies = {k: v for k, v in found.items() if k[0] == "routelearn_open_anomalies"}
    assert len(anomalies) == 10 and not any(anomalies.values())  # 5 kinds, 2 severities
    assert sample(found, "routelearn_learner_last_tick_age_seconds") == float("inf")
    assert depth(settings, queue_name("metrics-app")) == 1  # reading the age took nothing


@pytest.mark.timeout(150)
def test_events_over_http_and_the_apis_own_metrics(
    settings: Settings, engine: Engine, clean: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, reader = api_keys.create(engine, "scraper", Role.READER)
    _, sender = api_keys.create(engine, "app", Role.INSTANCE)
    steady = [make_event("success", model="steady", event_id=f"s-{n}") for n in range(5)]
    flaky = [make_event("failure", model="flaky", event_id=f"f-{n}") for n in range(20)]
    malformed = [make_event(score=9.0), {"timestamp": "now"}, "not an object"]

    # The API first, without PROMETHEUS_MULTIPROC_DIR: `routelearn serve` empties the directory
    # it is given, which must be its own, never the workers'.
    api_settings = settings.model_copy(update={"api_rate_limit": 0}) if ON_AMQP else settings
    with serving(api_settings) as api:
        path = tmp_path / "prometheus"
        path.mkdir()
        monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(path))
        with (
            worker_process(settings, concurrency=1, name="metrics-http", queues=INGEST_QUEUE),
            # Beyond loopback: a key that may read is required.
            metrics_server(settings, "--host", "0.0.0.0", key=reader) as scrape,
        ):
            answer = httpx.post(
                f"{api}/api/events",
                json=[*steady, *malformed, *flaky],
                headers={"Authorization": f"Bearer {sender}"},
                timeout=10,
            )
            assert answer.status_code == 202, answer.text
            assert (answer.json()["accepted"], answer.json()["rejected"]) == (25, 3)

            def accepted() -> float:
                return sample(scrape(), "routelearn_events_accepted_total", source="http") or 0

            wait_for(lambda: accepted() >= 25, 60, interval=0.5, message="25 events ingested")
            found = scrape()
            for token in (None, "rl_000000000000_" + "x" * 43, "garbage"):
                assert scrape.get(token).status_code == 401

        assert sample(found, "routelearn_events_accepted_total", source="http") == 25
        assert sample(found, "routelearn_events_rejected_total", source="http") == 0  # the API's
        assert sample(found, "routelearn_events_accepted_total", source="broker") == 0
        assert sample(found, "routelearn_ingest_lag_seconds_count") == 1

        assert httpx.get(f"{api}/no/such/page").status_code == 404
        auth = {"Authorization": f"Bearer {reader}"}
        assert httpx.get(f"{api}/api/models/flaky", headers=auth).status_code == 404
        assert httpx.get(f"{api}/metrics").status_code == 401
        metrics = httpx.get(f"{api}/metrics", headers=auth)
        assert metrics.status_code == 200
        assert metrics.headers["content-type"].startswith("text/plain")
        mine = parse(metrics.text)

    assert sample(mine, "routelearn_events_rejected_total", source="http") == 3
    requests = "model_router_requests_total"
    assert sample(mine, requests, method="POST", route="/api/events", status="202") == 1
    assert sample(mine, requests, method="GET", route="unmatched", status="404") == 1
    assert sample(mine, requests, method="GET", route="/api/models/{model_id}", status="404") == 1
    assert sample(mine, requests, method="GET", route="/metrics", status="401") == 1
    assert not any(labels and "/no/such/page" in dict(labels).values() for _, labels in mine)
    duration = "model_router_request_duration_seconds_count"
    assert sample(mine, duration, method="POST", route="/api/events") == 1
    # The overview's rule: 20 failures of 20 outcomes is unhealthy, 5 of 5 successes healthy.
    assert sample(mine, "model_router_model_health_score", model="flaky") == 0.0
    assert sample(mine, "model_router_model_health_score", model="steady") == 1.0
    assert "# TYPE model_router_routing_rule_matches_total counter" in metrics.text
    # The API exports no worker metrics of its own (they would read as a stalled worker).
    assert not any(name.startswith("routelearn_ingest_") for name, _ in mine)


def test_the_oldest_waiting_update_is_aged_without_taking_it(
    settings: Settings, clean: None
) -> None:
    old = dataclasses.replace(score_update(1), timestamp=datetime.now(UTC) - timedelta(seconds=30))
    fan_out(settings, ["peek-1"], [old])
    fan_out(settings, ["peek-1"], [score_update(2)])
    fan_out(settings, ["peek-2"], [score_update(1)])
    send_snapshot(settings, "peek-3", {"models": {}, "registry": []})  # no timestamp in it
    queues = [queue_name(f"peek-{n}") for n in (1, 2, 3, 4)]  # peek-4 has no queue at all

    for _ in range(2):  # twice: the first look put everything back where it was
        ages = oldest_message_ages(settings.broker_url, queues)
        assert set(ages) == {queue_name("peek-1"), queue_name("peek-2")}
        assert 29 <= ages[queue_name("peek-1")] < 40
        assert 0 <= ages[queue_name("peek-2")] < 10
    assert [depth(settings, q) for q in queues] == [2, 1, 1, 0]
    if ON_AMQP:
        # Quorum queues are not peeked (a requeue counts toward their delivery limit).
        assert oldest_message_ages(settings.broker_url, queues, quorum_queues=True) == {}
