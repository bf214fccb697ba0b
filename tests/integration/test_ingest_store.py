"""What goes into ``routing_records`` comes back exactly as the event said."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, text

from routelearn.domain import latency
from routelearn.service.ingestion import Ingestor
from tests.conftest import count, metrics
from tests.factories import make_event

pytestmark = pytest.mark.integration


def test_audit_row_round_trips_every_field(engine: Engine, clean: None) -> None:
    event = make_event(
        "success",
        model='mödel "quoted" \\ back',
        event_id="ev-1",
        decision_id="dec-1",
        response_time_ms=123.456789,
        timestamp="2025-10-27T06:55:00.123456+02:00",
        score=4.123456789,
    )
    event["routing_decision"].update(
        capabilities_required=["vision", "function_calling", "z last", "a, b"],
        prefer="cost",
        user_model_request="claude-3",
    )
    Ingestor(engine).ingest([event], source="test")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM routing_records")).mappings().one()
    assert row["timestamp"] == datetime(2025, 10, 27, 4, 55, 0, 123456, tzinfo=UTC)
    assert row["model"] == 'mödel "quoted" \\ back'
    assert row["capabilities_required"] == ["vision", "function_calling", "z last", "a, b"]
    assert row["response_time_ms"] == 123.456789
    assert row["score"] == 4.123456789
    assert (row["preference"], row["user_model_request"]) == ("cost", "claude-3")
    assert (row["event_id"], row["decision_id"], row["decision_key"]) == (
        "ev-1",
        "dec-1",
        "d:dec-1",
    )
    assert (row["outcome"], row["provider"], row["instance_id"]) == (
        "success",
        "github_models",
        "instance-1",
    )


def test_histogram_and_average_accumulate(engine: Engine, clean: None) -> None:
    ingestor = Ingestor(engine)
    for i, ms in enumerate([100.0, 200.0, 5000.0]):
        ingestor.ingest([make_event("success", event_id=f"e{i}", response_time_ms=ms)], "test")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM model_routing_metrics")).mappings().one()
    assert row["response_time_count"] == 3
    assert row["response_time_sum"] == 5300.0
    assert abs(row["avg_response_time"] - 5300.0 / 3) < 1e-9
    assert sum(row["response_time_histogram"]) == 3
    # Merged bucket by bucket, in place: each time in its own bucket (200 ms twice).
    want = latency.empty()
    for ms in (100.0, 200.0, 5000.0, 200.0):
        want[latency.bucket_of(ms)] += 1
    ingestor.ingest([make_event("success", event_id="e3", response_time_ms=200.0)], "test")
    with engine.connect() as conn:
        histogram = conn.execute(
            text("SELECT response_time_histogram FROM model_routing_metrics")
        ).scalar_one()
        rollup = conn.execute(
            text("SELECT response_time_histogram FROM routing_rollups_hourly")
        ).scalar_one()
    assert list(histogram) == want
    assert list(rollup) == want
    assert row["usage_count"] == 3 and row["success_count"] == 3


def test_instances_are_registered_by_their_events(engine: Engine, clean: None) -> None:
    ingestor = Ingestor(engine, instance_refresh_seconds=3600)
    ingestor.ingest([make_event(event_id="a", instance_id="i-1")], "test")
    with engine.connect() as conn:
        first = conn.execute(text("SELECT * FROM instances")).mappings().one()
    assert first["instance_id"] == "i-1" and first["active"]
    assert first["first_seen_at"] == first["last_seen_at"]
    assert first["registered_by"] == "events"

    # Within the refresh interval this process does not touch the shared row again ...
    ingestor.ingest([make_event(event_id="b", instance_id="i-1")], "test")
    # ... but another process does, and a new instance is registered at once.
    Ingestor(engine).ingest(
        [make_event(event_id="c", instance_id="i-1"), make_event(event_id="d", instance_id="i-2")],
        "test",
    )
    with engine.connect() as conn:
        rows = {
            r["instance_id"]: r for r in conn.execute(text("SELECT * FROM instances")).mappings()
        }
    assert set(rows) == {"i-1", "i-2"}
    assert rows["i-1"]["last_seen_at"] > first["last_seen_at"]
    assert rows["i-1"]["first_seen_at"] == first["first_seen_at"]


def test_a_retired_instance_stays_retired(engine: Engine, clean: None) -> None:
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO instances (instance_id, active, retired_at) "
                "VALUES ('old', false, now())"
            )
        )
    Ingestor(engine).ingest([make_event(event_id="x", instance_id="old")], "test")
    with engine.connect() as conn:
        active = conn.execute(text("SELECT active FROM instances")).scalar_one()
    assert active is False


def test_seed_format_events_count_once_without_a_decision_row(engine: Engine, clean: None) -> None:
    # Sent with neither id: the derived id hashes the whole event, so the audit key alone
    # makes each count once, however often it comes (in a batch or in later ones).
    events = [
        make_event("success", response_time_ms=100.0, timestamp="2026-01-05T10:00:00Z"),
        make_event("failure", response_time_ms=200.0, timestamp="2026-01-05T10:00:01Z"),
        make_event("routed", timestamp="2026-01-05T10:00:02Z"),
    ]
    ingestor = Ingestor(engine)
    ingestor.ingest([*events, events[0]], source="test")
    ingestor.ingest([events[1], events[2]], source="test")
    assert metrics(engine) == {("gpt-4o", "complex"): (3, 1, 1)}
    assert count(engine, "routing_records") == 3
    assert count(engine, "routing_decisions") == 0


def test_an_event_with_its_own_id_counts_once_whatever_its_timestamp(
    engine: Engine, clean: None
) -> None:
    # The audit key is (event_id, timestamp): a producer that stamps a redelivery anew makes a
    # second audit row, and the decision row is what keeps it from counting twice.
    first = make_event("success", event_id="ev-9", response_time_ms=100.0)
    again = make_event(
        "success", event_id="ev-9", response_time_ms=100.0, timestamp="2026-01-05T10:00:00Z"
    )
    Ingestor(engine).ingest([first], source="test")
    Ingestor(engine).ingest([again], source="test")
    assert metrics(engine) == {("gpt-4o", "complex"): (1, 1, 0)}
    assert count(engine, "routing_records") == 2
    assert count(engine, "routing_decisions") == 1
