"""A real worker process with ``ROUTELEARN_LOG_FORMAT=json`` and an alert webhook (a real HTTP
server on 127.0.0.1): a sweep that opens an anomaly gets it to the webhook through
``routelearn.deliver_alerts``, and every line the worker writes is a JSON object, with the task's
id where a task logs, and no secret or payload in it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from routelearn import harness
from routelearn.constants import INGEST_EVENTS_TASK, SWEEP_ANOMALIES_TASK
from routelearn.domain.policy import make_policy
from routelearn.service.app import RouteLearnCelery
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store.learner import run_learner
from tests.factories import decision_pair, make_event
from tests.services import wait_for
from tests.webhook_server import WebhookServer, webhook_server

pytestmark = [pytest.mark.integration, pytest.mark.broker]

SECRET_PATH = "/services/T000/B000/s3cretWorkerPath"
TOKEN = "tok-s3cret-worker-42"


@pytest.fixture
def running(
    clean: None, settings: Settings, tmp_path: Path
) -> Iterator[tuple[WebhookServer, Path]]:
    """The webhook server and the JSON-logging worker (all queues), started after ``clean``
    (emptying the broker deletes a running worker's queues)."""
    log_path = tmp_path / "worker.log"
    with webhook_server() as server:
        configured = settings.model_copy(
            update={
                "log_format": "json",
                "alert_webhook_url": SecretStr(server.url(SECRET_PATH)),
                "alert_webhook_token": SecretStr(TOKEN),
                "alert_webhook_format": "slack",
                "alert_webhook_timeout": 2.0,
                "alert_retry_base": 0.1,
                "alert_retry_cap": 0.5,
            }
        )
        with harness.worker(configured, log_path, concurrency=1, name="json", stop_timeout=15):
            yield server, log_path


def log_lines(path: Path) -> list[dict[str, Any]]:
    """Every line of the worker's log, each parsed as JSON (a line that is not fails the test)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_a_sweep_on_a_real_worker_delivers_its_anomaly_to_the_webhook(
    running: tuple[WebhookServer, Path],
    celery_app: RouteLearnCelery,
    engine: Engine,
    settings: Settings,
) -> None:
    server, log_path = running
    ingestor = Ingestor(engine)
    healthy = [e for _ in range(50) for e in decision_pair("success", model="flaky")]
    ingestor.ingest(healthy, "test")
    run_learner(engine, make_policy("calibrated"), default_score=2.5, keep_snapshots_seconds=3600)
    time.sleep(settings.anomaly_window + 0.1)
    failing = [e for _ in range(30) for e in decision_pair("failure", model="flaky")]
    ingestor.ingest(failing, "test")

    sweep_id = celery_app.send_task(SWEEP_ANOMALIES_TASK).id
    wait_for(lambda: server.delivered(), timeout=30, message="the notice at the webhook")
    (received,) = server.delivered()
    assert received.path == SECRET_PATH
    assert received.headers["Authorization"] == f"Bearer {TOKEN}"
    assert received.body["text"].startswith("[CRITICAL] low_success_rate on flaky/complex opened")

    def state() -> tuple[str, int] | None:  # written once the webhook's answer is in
        with engine.connect() as conn:
            row = conn.execute(text("SELECT status, attempts FROM webhook_deliveries")).first()
        return (row[0], row[1]) if row else None

    wait_for(lambda: state() == ("delivered", 1), timeout=10, message="the delivery recorded")

    # The worker's lines for it: the sweep's, then the delivery task's, each with its task.
    def delivery_line() -> dict[str, Any] | None:
        return next(
            (line for line in log_lines(log_path) if "delivered to 127.0.0.1" in line["message"]),
            None,
        )

    wait_for(delivery_line, timeout=10, message="the delivery logged")
    opened = [line for line in log_lines(log_path) if line["message"].startswith("anomaly opened")]
    assert opened and opened[0]["task_id"] == sweep_id
    assert opened[0]["task_name"] == SWEEP_ANOMALIES_TASK
    delivered = delivery_line()
    assert delivered is not None
    assert delivered["task_name"] == "routelearn.deliver_alerts" and delivered["task_id"]
    assert delivered["anomaly_id"].startswith('low_success_rate:["flaky","complex"]')


def test_the_worker_writes_json_lines_with_the_task_id_and_no_secret(
    running: tuple[WebhookServer, Path], celery_app: RouteLearnCelery
) -> None:
    _, log_path = running
    marker = "instance-payload-marker-7f3a"
    task_id = celery_app.send_task(INGEST_EVENTS_TASK, args=[[make_event(instance_id=marker)]]).id

    def task_lines() -> list[dict[str, Any]]:
        return [line for line in log_lines(log_path) if line.get("task_id") == task_id]

    wait_for(task_lines, timeout=30, message="a line of the ingest task")
    (succeeded,) = task_lines()
    assert succeeded["task_name"] == INGEST_EVENTS_TASK
    assert succeeded["batch_id"] == task_id  # one ingest message is one batch
    assert succeeded["level"] == "INFO" and succeeded["logger"] == "celery.app.trace"
    assert f"[{task_id}] succeeded" in succeeded["message"]
    assert {"timestamp", "level", "logger", "message"} <= set(succeeded)

    everything = log_path.read_text()
    lines = log_lines(log_path)  # every line parses, the start-up banner included (it is off)
    assert any(f"[{task_id}] received" in line["message"] for line in lines)
    for secret in ("s3cretWorkerPath", TOKEN, marker):
        assert secret not in everything
