"""Hourly rollups are written with each batch and add up exactly to the metrics."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import Engine, text

from routelearn.domain.latency import bucket_of
from routelearn.service.ingestion import Ingestor
from tests.conftest import metrics
from tests.factories import decision_pair, make_event

pytestmark = pytest.mark.integration


def rollups(engine: Engine) -> dict[tuple[datetime, str, str, str], tuple[int, int, int, int]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT hour, model_name, complexity_level, instance_id, decisions,"
                " success_count, failure_count, response_time_count FROM routing_rollups_hourly"
            )
        )
        return {(r[0], r[1], r[2], r[3]): (r[4], r[5], r[6], r[7]) for r in rows}


def test_rollups_sum_to_the_metrics_with_duplicates_and_several_batches(
    engine: Engine, clean: None
) -> None:
    events = []
    for instance in ("a", "b"):
        for outcome in ("success", "success", "failure"):
            events += decision_pair(outcome, model="m", complexity="simple", instance_id=instance)
    events += decision_pair("success", model="n", complexity="complex", instance_id="a")
    ingestor = Ingestor(engine)
    ingestor.ingest(events[:5], "test")
    ingestor.ingest(events[3:], "test")  # overlaps: two events delivered twice
    ingestor.ingest(events, "test")  # everything again
    totals: dict[tuple[str, str], list[int]] = {}
    for (_, model, complexity, _), (decisions, success, failure, _) in rollups(engine).items():
        t = totals.setdefault((model, complexity), [0, 0, 0])
        t[0] += decisions
        t[1] += success
        t[2] += failure
    assert {k: tuple(v) for k, v in totals.items()} == metrics(engine)
    assert metrics(engine)[("m", "simple")] == (6, 4, 2)
    per_instance = {k[3]: v for k, v in rollups(engine).items() if (k[1], k[2]) == ("m", "simple")}
    assert per_instance == {"a": (3, 2, 1, 3), "b": (3, 2, 1, 3)}


def test_an_outcome_counts_in_the_hour_of_its_own_event(engine: Engine, clean: None) -> None:
    decided = datetime.now(UTC).replace(minute=59, second=58) - timedelta(hours=2)
    answered = decided + timedelta(seconds=5)  # the next hour
    decision_id = str(uuid.uuid4())
    routed = make_event(
        "routed",
        timestamp=decided.isoformat(),
        decision_id=decision_id,
        model="m",
        complexity="medium",
    )
    outcome = make_event(
        "success",
        timestamp=answered.isoformat(),
        response_time_ms=250.0,
        decision_id=decision_id,
        model="m",
        complexity="medium",
    )
    Ingestor(engine).ingest([routed], "test")
    Ingestor(engine).ingest([outcome], "test")  # counted by the later batch's UPDATE
    hour = decided.replace(minute=0, second=0, microsecond=0)
    assert rollups(engine) == {
        (hour, "m", "medium", "instance-1"): (1, 0, 0, 0),
        (hour + timedelta(hours=1), "m", "medium", "instance-1"): (0, 1, 0, 1),
    }
    with engine.connect() as conn:
        histogram = conn.execute(
            text(
                "SELECT response_time_histogram FROM routing_rollups_hourly WHERE success_count = 1"
            )
        ).scalar_one()
    assert histogram[bucket_of(250.0)] == 1 and sum(histogram) == 1


def test_an_event_older_than_every_partition_lands_in_the_default_partition(
    engine: Engine, clean: None
) -> None:
    Ingestor(engine).ingest([make_event("routed", timestamp="2021-03-04T05:06:07+00:00")], "t")
    with engine.connect() as conn:
        where = conn.execute(text("SELECT tableoid::regclass::text FROM routing_records")).one()
    assert where[0] == "routing_records_default"
