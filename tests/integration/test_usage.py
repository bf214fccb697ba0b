"""Cost and attribution in events: the audit row keeps them, the hourly usage rollups and each
workspace's spend add them up exactly once (a redelivered event adds nothing), and a
workspace's spend per calendar period in its own time zone is read from the quarter hours."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import Engine, text

from routelearn.service.ingestion import Ingestor
from routelearn.store import usage
from tests.factories import make_event

pytestmark = [pytest.mark.integration]


def attributed(
    n: int, when: str, workspace: str | None, cost: float | None, **extra: Any
) -> dict[str, Any]:
    event = make_event("success", event_id=f"ev-{n}", timestamp=when, response_time_ms=100.0)
    if workspace is not None:
        event["workspace_id"] = workspace
    event["agent_type"] = "creative"
    event["usage"] = {"prompt_tokens": 100 * n, "completion_tokens": 10 * n, "cost_usd": cost}
    event.update(extra)
    return event


def test_the_audit_row_and_the_rollups_add_usage_up_once(engine: Engine, clean: None) -> None:
    events = [
        attributed(1, "2026-12-03T10:05:00Z", "ws-a", 0.5, request_type="chat"),
        attributed(2, "2026-12-03T10:20:00Z", "ws-a", 0.25),
        attributed(3, "2026-12-03T11:01:00Z", "ws-a", 1.0),
        attributed(4, "2026-12-03T10:06:00Z", "ws-b", 2.0),
        attributed(5, "2026-12-03T10:07:00Z", None, 4.0),  # no workspace: no one's spend
        make_event("success", event_id="plain", timestamp="2026-12-03T10:08:00Z"),
    ]
    events[0]["routing_decision"].update(rule_id="rule-1", split_arm="canary")
    ingestor = Ingestor(engine)
    ingestor.ingest(events, source="test")
    ingestor.ingest(events[:3], source="test")  # redelivered: counts nothing again
    # Resent with another timestamp: the audit table takes it as new (its key is event_id and
    # timestamp), but its decision and outcome were counted: no usage, no spend again.
    ingestor.ingest([{**events[1], "timestamp": "2026-12-03T10:21:00Z"}], source="test")
    with engine.connect() as conn:
        row = (
            conn.execute(text("SELECT * FROM routing_records WHERE event_id = 'ev-1'"))
            .mappings()
            .one()
        )
        rollups = conn.execute(
            text(
                "SELECT hour, workspace_id, agent_type, events, prompt_tokens,"
                " completion_tokens, cost_usd, requests, success_count, response_time_count"
                " FROM usage_rollups_hourly"
                " ORDER BY hour, workspace_id"
            )
        ).all()
        spend = conn.execute(
            text("SELECT workspace_id, quarter, events, cost_usd FROM workspace_spend"
                 " ORDER BY workspace_id, quarter")
        ).all()  # fmt: skip
    assert (row["workspace_id"], row["agent_type"], row["request_type"]) == (
        "ws-a",
        "creative",
        "chat",
    )
    assert (row["prompt_tokens"], row["completion_tokens"], row["cost_usd"]) == (100, 10, 0.5)
    assert (row["rule_id"], row["split_arm"]) == ("rule-1", "canary")
    ten, eleven = datetime(2026, 12, 3, 10, tzinfo=UTC), datetime(2026, 12, 3, 11, tzinfo=UTC)
    assert [tuple(r) for r in rollups] == [
        # Self-contained outcome events (no decision_id): each a request and a success.
        (ten, "", "creative", 1, 500, 50, 4.0, 1, 1, 1),
        (ten, "ws-a", "creative", 2, 300, 30, 0.75, 2, 2, 2),
        (ten, "ws-b", "creative", 1, 400, 40, 2.0, 1, 1, 1),
        (eleven, "ws-a", "creative", 1, 300, 30, 1.0, 1, 1, 1),
    ]
    quarter = lambda h, m: datetime(2026, 12, 3, h, m, tzinfo=UTC)  # noqa: E731
    assert [tuple(r) for r in spend] == [
        ("ws-a", quarter(10, 0), 1, 0.5),
        ("ws-a", quarter(10, 15), 1, 0.25),
        ("ws-a", quarter(11, 0), 1, 1.0),
        ("ws-b", quarter(10, 0), 1, 2.0),
    ]


def test_spend_per_calendar_period_in_the_workspaces_time_zone(engine: Engine, clean: None) -> None:
    events = [  # Kathmandu is UTC+5:45: its 3 December starts at 2 December 18:15 UTC
        attributed(1, "2026-12-02T18:14:00Z", "ws-np", 1.0),  # 2 December there
        attributed(2, "2026-12-02T18:16:00Z", "ws-np", 2.0),  # 3 December there
        attributed(3, "2026-12-03T09:00:00Z", "ws-np", 4.0),
        attributed(4, "2026-11-29T18:20:00Z", "ws-np", 8.0),  # Monday 30 November there
        attributed(5, "2026-11-29T18:00:00Z", "ws-np", 16.0),  # Sunday 29 November there
        attributed(6, "2026-12-03T09:00:00Z", "ws-other", 32.0),
    ]
    Ingestor(engine).ingest(events, source="test")
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    with engine.connect() as conn:
        found = usage.spend(conn, {"ws-np": "Asia/Kathmandu", "ws-utc": "UTC"}, now)
    assert found["ws-np"] == {"daily": 6.0, "weekly": 15.0, "monthly": 7.0}
    assert found["ws-utc"] == {"daily": 0.0, "weekly": 0.0, "monthly": 0.0}
