"""A real worker on the real broker ingests a corpus; metrics match an independent count."""

from __future__ import annotations

import random
import uuid
from typing import Any

import pytest
from sqlalchemy import Engine

from routelearn import harness
from routelearn.constants import INGEST_EVENT_TASK, INGEST_EVENTS_TASK, INGEST_QUEUE
from routelearn.instance.publisher import EventPublisher
from routelearn.service.app import RouteLearnCelery
from routelearn.settings import Settings
from tests.conftest import count, metrics
from tests.factories import make_event
from tests.services import BROKER_BASE, ON_AMQP, queue_types, wait_for, worker_process

pytestmark = [pytest.mark.integration, pytest.mark.broker]

BAD: list[Any] = [
    {"not": "an event"},
    make_event("maybe"),
    make_event("routed", score=9.5),
    "a string",
    [1, 2, 3],
]


def corpus(rng: random.Random) -> list[Any]:
    """Decisions with routed and outcome events in random order (outcomes often first), late
    second outcomes, seed-format events without ids, redelivered duplicates, malformed events."""
    events: list[Any] = []
    for _ in range(400):
        model = rng.choice(["gpt-4o", "claude", "llama"])
        complexity = rng.choice(["simple", "medium", "complex"])
        common: dict[str, Any] = {
            "model": model,
            "complexity": complexity,
            "decision_id": str(uuid.uuid4()),
        }
        events.append(make_event("routed", event_id=str(uuid.uuid4()), **common))
        for _ in range(rng.choice([0, 1, 1, 1, 2])):
            events.append(
                make_event(
                    rng.choice(["success", "success", "failure"]),
                    event_id=str(uuid.uuid4()),
                    response_time_ms=rng.uniform(50, 4000),
                    **common,
                )
            )
    for _ in range(50):
        events.append(
            make_event(
                "success",
                model=rng.choice(["gpt-4o", "claude"]),
                complexity="simple",
                response_time_ms=100.0,
                instance_id=f"seed-{rng.randrange(10**9)}",
                timestamp=f"2025-10-27T06:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
            )
        )
    events += rng.sample(events, 120) + BAD
    rng.shuffle(events)
    return events


def expected(events: list[Any]) -> tuple[dict[tuple[str, str], tuple[int, int, int]], int]:
    """The oracle, walking arrival order: a decision counts once for its first event's model;
    its first outcome counts. Returns (metrics, distinct valid events)."""
    seen: set[str] = set()
    decisions: dict[str, tuple[str, str]] = {}
    decided: set[str] = set()
    out: dict[tuple[str, str], list[int]] = {}
    for e in events:
        if any(e is b for b in BAD):
            continue
        key = e.get("event_id") or repr(sorted(e.items()))
        if key in seen:
            continue
        seen.add(key)
        d = e["routing_decision"]
        decision = e.get("decision_id") or key
        mk = (d["selected_model"], d["complexity"])
        if decision not in decisions:
            decisions[decision] = mk
            out.setdefault(mk, [0, 0, 0])[0] += 1
        if d["outcome"] != "routed" and decision not in decided:
            decided.add(decision)
            out[mk][1 if d["outcome"] == "success" else 2] += 1
    return {k: (v[0], v[1], v[2]) for k, v in out.items()}, len(seen)


def test_worker_ingests_corpus_exactly(
    worker: Any, celery_app: RouteLearnCelery, engine: Engine
) -> None:
    events = corpus(random.Random(7))
    want, distinct = expected(events)
    # One solo worker consumes in publish order, so arrival order is list order.
    for start in range(0, len(events), 97):
        celery_app.send_task(INGEST_EVENTS_TASK, args=[events[start : start + 97]])
    celery_app.send_task(INGEST_EVENT_TASK, args=[events[0]])  # the single-event path, a duplicate
    wait_for(
        lambda: (
            count(engine, "dead_letters") == len(BAD)
            and count(engine, "routing_records") == distinct
        ),
        timeout=60,
        message="all events ingested",
    )
    assert metrics(engine) == want


@pytest.mark.timeout(120)
def test_a_worker_on_quorum_queues_ingests_what_an_instance_publishes(
    settings: Settings, clean: None, engine: Engine
) -> None:
    """``ROUTELEARN_QUORUM_QUEUES=true`` on a broker namespace of its own (RabbitMQ refuses to
    redeclare a classic queue as quorum): publisher, worker process and database, end to end."""
    events = [make_event("routed", event_id=f"q{n}", decision_id=f"d{n}") for n in range(50)]
    with harness.scratch_broker(BROKER_BASE) as url:
        quorum = settings.model_copy(update={"broker_url": url, "quorum_queues": True})
        with worker_process(quorum, name="quorum", concurrency=1):
            with EventPublisher(quorum, linger_ms=0) as publisher:
                for event in events:
                    publisher.publish(event)
            assert publisher.stats.sent == 50
            wait_for(lambda: count(engine, "routing_records") == 50, 60, message="50 audit rows")
        if ON_AMQP:
            assert queue_types(url)[INGEST_QUEUE] == "quorum"
