"""Learner -> fan-out -> subscribers, on a real worker and the real broker."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine

from routelearn.constants import LEARN_SCORES_TASK
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.messaging.fanout import queue_name
from routelearn.service.app import RouteLearnCelery
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import instances
from tests.factories import decision_pair, one_model_catalog
from tests.services import depth, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def test_a_learned_score_reaches_every_active_instance(
    worker: Any,
    celery_app: RouteLearnCelery,
    engine: Engine,
    settings: Settings,
) -> None:
    events = []
    for instance in ("app-a", "app-b"):
        for _ in range(150):
            events += decision_pair(
                "success", model="good", instance_id=instance, response_time_ms=300.0
            )
    Ingestor(engine).ingest(events, "test")
    instances.register(engine, "app-retired")
    instances.retire(engine, "app-retired")

    a, b = one_model_catalog("good"), one_model_catalog("good")
    online = ScoreUpdateSubscriber(settings, "app-a", a)
    celery_app.send_task(LEARN_SCORES_TASK)
    wait_for(lambda: depth(settings, queue_name("app-b")) == 1, message="the fan-out")
    assert depth(settings, queue_name("app-a")) == 1
    assert depth(settings, queue_name("app-retired")) == 0

    online.drain(timeout=10)
    assert a.score("good", "complex") > 2.5 and a.version("good", "complex") == 1

    # app-b was offline during the fan-out: its durable queue kept the round.
    ScoreUpdateSubscriber(settings, "app-b", b).drain(timeout=10)
    assert b.score("good", "complex") == a.score("good", "complex")
    assert depth(settings, queue_name("app-b")) == 0
