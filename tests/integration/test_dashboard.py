"""Every shipped dashboard query runs on the migrated PostgreSQL and answers what it should.

Data is written the way workers write it (``Ingestor.ingest``); no worker is needed.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from sqlalchemy import Engine

from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.stats import dashboard
from tests.conftest import metrics
from tests.factories import decision_pair, make_event
from tests.services import run_cli, run_cli_process

pytestmark = pytest.mark.integration

COLUMNS = {
    "models_per_instance": ["instance_id", "model", "usage_count"],
    "success_rates": ["model_name", "complexity_level", "success_rate", "usage_count"],
    "response_time_trends": ["model_name", "complexity_level", "avg_ms", "max_ms"],
    "all_models_success_rates": [
        "model_name",
        "complexity_level",
        "usage_count",
        "success_rate",
        "avg_ms",
    ],
    "models_per_instance_24h": ["instance_id", "model", "usage_count", "success_count"],
    "recent_learning_updates": [
        "model_name",
        "complexity_level",
        "usage_count",
        "success_rate",
        "updated_at",
    ],
    "models_under_100_uses": ["model_name", "complexity_level", "usage_count"],
    "success_rates_over_50_uses": [
        "model_name",
        "complexity_level",
        "success_count",
        "usage_count",
        "success_rate",
    ],
}

GPT = ("gpt-4o", "complex")  # instance-1: 3 decisions, 7 events
CLAUDE = ("claude-sonnet", "medium")  # instance-2: 51 decisions (over 50 uses)
OLD = ("old-model", "simple")  # instance-3: one decision two days ago


def seed_data(engine: Engine) -> None:
    gpt = [
        *decision_pair("success", model=GPT[0], complexity=GPT[1], response_time_ms=100.4),
        *decision_pair("success", model=GPT[0], complexity=GPT[1], response_time_ms=200.4),
        *decision_pair("failure", model=GPT[0], complexity=GPT[1], response_time_ms=300.4),
    ]
    # The first decision's success resent under a new event id: a 7th event, still 2 successes.
    resent = {**gpt[1], "event_id": str(uuid.uuid4())}
    claude = [
        event
        for outcome in ["success"] * 50 + ["failure"]
        for event in decision_pair(
            outcome, model=CLAUDE[0], complexity=CLAUDE[1], instance_id="instance-2"
        )
    ]
    two_days_ago = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    old = [
        make_event(
            outcome,
            model=OLD[0],
            complexity=OLD[1],
            instance_id="instance-3",
            decision_id="old-decision",
            event_id=f"old-{outcome}",
            timestamp=two_days_ago,
            response_time_ms=50.0 if outcome == "success" else None,
        )
        for outcome in ("routed", "success")
    ]
    counts = Ingestor(engine).ingest([*gpt, resent, *claude, *old], source="test")
    assert (counts.inserted, counts.rejected) == (7 + 102 + 2, 0)


def rate(success: int, usage: int) -> Decimal:
    """success / usage * 100 rounded to 2 places, half away from zero as PostgreSQL rounds."""
    return (Decimal(success) / Decimal(usage) * 100).quantize(Decimal("0.01"), ROUND_HALF_UP)


@pytest.fixture
def data(engine: Engine, clean: None) -> None:
    seed_data(engine)


def as_dicts(columns: list[str], rows: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    return [dict(zip(columns, row, strict=True)) for row in rows]


def test_every_query_has_expected_columns() -> None:
    assert sorted(COLUMNS) == dashboard.names()


@pytest.mark.parametrize("name", dashboard.names())
def test_query_runs_and_answers(engine: Engine, data: None, name: str) -> None:
    columns, rows = dashboard.run(engine, name)
    assert columns == COLUMNS[name]
    assert rows, f"{name} returned no rows"
    if "success_rate" in columns:
        stored = metrics(engine)
        for row in as_dicts(columns, rows):
            usage, success, _ = stored[(row["model_name"], row["complexity_level"])]
            assert row["success_rate"] == rate(success, usage), row


def test_per_instance_counts_decisions_not_events(engine: Engine, data: None) -> None:
    with engine.connect() as conn:
        events = conn.exec_driver_sql(
            "SELECT count(*) FROM routing_records WHERE instance_id = 'instance-1'"
        ).scalar_one()
    assert events == 7  # what the seed's COUNT(*) reported as usage

    _, rows = dashboard.run(engine, "models_per_instance")
    assert rows == [("instance-2", CLAUDE[0], 51), ("instance-1", GPT[0], 3)]  # not instance-3

    _, rows = dashboard.run(engine, "models_per_instance_24h")
    assert rows == [("instance-1", GPT[0], 3, 2), ("instance-2", CLAUDE[0], 51, 50)]


def test_success_rates_exact_and_ordered(engine: Engine, data: None) -> None:
    _, rows = dashboard.run(engine, "success_rates")
    assert rows == [
        (OLD[0], OLD[1], Decimal("100.00"), 1),
        (CLAUDE[0], CLAUDE[1], Decimal("98.04"), 51),
        (GPT[0], GPT[1], Decimal("66.67"), 3),
    ]
    _, rows = dashboard.run(engine, "success_rates_over_50_uses")
    assert rows == [(CLAUDE[0], CLAUDE[1], 50, 51, Decimal("98.04"))]
    _, rows = dashboard.run(engine, "models_under_100_uses")
    assert rows == [(*CLAUDE, 51), (*GPT, 3), (*OLD, 1)]


def test_response_times(engine: Engine, data: None) -> None:
    columns, rows = dashboard.run(engine, "response_time_trends")
    by_key = {(r["model_name"], r["complexity_level"]): r for r in as_dicts(columns, rows)}
    assert by_key[GPT]["avg_ms"] == Decimal("200")  # mean of 100.4, 200.4, 300.4
    assert by_key[GPT]["max_ms"] == pytest.approx(200.4)
    assert [r[2] for r in rows] == [Decimal("300"), Decimal("200"), Decimal("50")]


def test_run_passes_percent_and_colon_through(
    engine: Engine, clean: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The SQL is not parsed for placeholders: a comment may say 100% or :name, as in psql."""
    query = dashboard.Query("odd", "Odd", "-- 100% sure :name\nSELECT 1 AS one, '50%' AS pct;")
    monkeypatch.setattr(dashboard, "load", lambda name: query)
    assert dashboard.run(engine, "odd") == (["one", "pct"], [(1, "50%")])


def test_run_is_read_only(engine: Engine, clean: None, monkeypatch: pytest.MonkeyPatch) -> None:
    query = dashboard.Query("bad", "Bad", "DELETE FROM routing_records;")
    monkeypatch.setattr(dashboard, "load", lambda name: query)
    with pytest.raises(Exception, match="read-only transaction"):
        dashboard.run(engine, "bad")


def test_cli_list_run_and_sql(settings: Settings, data: None) -> None:
    listed = run_cli(settings, "dashboard", "--list")
    assert listed.returncode == 0, listed.stderr
    for name in dashboard.names():
        assert f"{name}  " in listed.stdout
        assert dashboard.load(name).title in listed.stdout

    ran = run_cli_process(settings, "dashboard", "success_rates")
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines[0].split() == COLUMNS["success_rates"]
    assert lines[2].split() == [OLD[0], OLD[1], "100.00", "1"]
    assert lines[4].split() == [GPT[0], GPT[1], "66.67", "3"]

    shown = run_cli(settings, "dashboard", "--sql", "success_rates")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout == dashboard.load("success_rates").sql


def test_cli_errors(settings: Settings) -> None:
    unknown = run_cli(settings, "dashboard", "nope")
    assert unknown.returncode == 2
    assert "no dashboard query named 'nope'" in unknown.stderr
    assert "success_rates" in unknown.stderr

    nothing = run_cli(settings, "dashboard")
    assert nothing.returncode == 2
    assert "--list" in nothing.stderr
