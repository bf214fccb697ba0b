"""The whole loop with a real celery-beat process: events in, beat ticks the learner on a short
interval, the fan-out reaches two instances' queues; one consumes live, one was offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from celery.worker import state as worker_state
from sqlalchemy import Engine, text

from routelearn.constants import LEARN_QUEUE
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.messaging.fanout import queue_name
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from tests.factories import decision_pair, one_model_catalog
from tests.services import beat_process, depth, unacked, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def test_beat_drives_learner_and_fan_out_to_two_instances(
    worker: Any,
    engine: Engine,
    settings: Settings,
    tmp_path: Path,
) -> None:
    events = []
    for instance in ("live", "offline"):
        for _ in range(150):
            events += decision_pair(
                "success", model="steady", instance_id=instance, response_time_ms=250.0
            )
    Ingestor(engine).ingest(events, "test")

    live_catalog, offline_catalog = one_model_catalog("steady"), one_model_catalog("steady")
    live = ScoreUpdateSubscriber(settings, "live", live_catalog)
    live.start()
    fast = settings.model_copy(update={"learner_interval": 1.0, "anomaly_interval": 1.0})
    try:
        with beat_process(fast, tmp_path):
            wait_for(
                lambda: live_catalog.version("steady", "complex") == 1,
                timeout=60,
                message="beat -> learner -> fan-out -> the live subscriber",
            )
            # The sweep is on beat's schedule too: it ran against the same evidence.
            wait_for(lambda: _learner_runs(engine) >= 2, timeout=30, message="a second tick")
    finally:
        live.stop()
    # Beat is gone; let the worker finish what it was sent (learner ticks, their fan-outs).
    wait_for(
        lambda: (
            depth(settings, LEARN_QUEUE) == 0
            and unacked(settings) == 0
            and not worker_state.active_requests
        ),
        message="the learn queue to settle",
    )
    live.drain(timeout=10)
    score, version = _central(engine)
    assert score > 2.5 and version >= 1
    assert (live_catalog.score("steady", "complex"), live_catalog.version("steady", "complex")) == (
        score,
        version,
    )

    # The offline instance starts after the fan-outs: its durable queue kept every round, one
    # per tick (each carries the tick's estimates, and its score changes if any).
    # A tick the worker had taken but not started when the learn queue looked settled (on
    # RabbitMQ a prefetched message is in neither count) may still run: count the ticks now,
    # and wait until the offline queue holds a round for each.
    runs = _learner_runs(engine)
    wait_for(
        lambda: depth(settings, queue_name("offline")) >= runs,
        message="a round queued for every tick",
    )
    offline = ScoreUpdateSubscriber(settings, "offline", offline_catalog)
    # (At least: a fan-out requeued after a broker error may send its round twice.)
    assert offline.drain(timeout=10) >= runs
    assert offline_catalog.score("steady", "complex") == score
    assert offline_catalog.version("steady", "complex") == version


def _central(engine: Engine) -> tuple[float, int]:
    with engine.connect() as conn:
        row = conn.execute(
            text(
                "SELECT score, version FROM model_scores"
                " WHERE model_name = 'steady' AND complexity_level = 'complex'"
            )
        ).one()
    return float(row[0]), int(row[1])


def _learner_runs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM learner_runs")).scalar_one())
