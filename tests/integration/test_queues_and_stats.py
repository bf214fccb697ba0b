"""Broker topology (each queue bound alone to its exchange) and the consumer statistics CLI."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from sqlalchemy import Engine

from routelearn.constants import ALL_QUEUES, INGEST_EVENTS_TASK
from routelearn.service.app import RouteLearnCelery
from routelearn.settings import Settings
from tests.conftest import count
from tests.factories import decision_pair, make_event
from tests.services import run_cli_process, wait_for

pytestmark = pytest.mark.integration


def test_every_queue_has_its_own_binding(
    worker: Any, celery_app: RouteLearnCelery, redis_client: redis.Redis
) -> None:
    # A shared binding would make kombu copy a restored message into every bound queue.
    for queue in ALL_QUEUES:
        members: set[bytes] = redis_client.smembers(f"_kombu.binding.{queue}")  # type: ignore[assignment]
        assert members, f"no binding for {queue}"
        bound = {m.decode().split("\x06\x16")[-1] for m in members}
        assert bound == {queue}


def test_workers_command_shows_consumer_statistics(
    worker: Any, celery_app: RouteLearnCelery, engine: Engine, settings: Settings
) -> None:
    events = [e for _ in range(5) for e in decision_pair("success")]
    celery_app.send_task(INGEST_EVENTS_TASK, args=[[*events, events[0], {"bad": 1}]])
    wait_for(lambda: count(engine, "routing_records") == 10, message="batch ingested")
    celery_app.send_task(INGEST_EVENTS_TASK, args=[[make_event(event_id="late")]])
    wait_for(lambda: count(engine, "routing_records") == 11, message="second batch")
    result = run_cli_process(settings, "workers")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    header, _, row = out.splitlines()[:3]
    assert "processed" in header and "dead-lettered" in header
    cells = row.split()
    # worker, started (date, time), idle, batches, processed, duplicates, dead-lettered,
    # errors, consecutive errors
    assert cells[4:10] == ["2", "13", "1", "1", "0", "0"]
