"""The anomaly sweep on a real worker: one anomaly opened, kept, then closed across ticks, with
one notice at the opening and one at the close on the ``model_anomalies`` queue."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, text

from routelearn.constants import SWEEP_ANOMALIES_TASK
from routelearn.domain.anomaly import LifecycleParams, RuleParams
from routelearn.domain.policy import make_policy
from routelearn.service.app import RouteLearnCelery
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store.anomalies import run_sweep
from routelearn.store.learner import run_learner
from tests.factories import decision_pair
from tests.services import run_cli, run_cli_process, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]


def snapshot(engine: Engine, settings: Settings) -> None:
    """A learner tick (it takes the counter snapshot the sweep's window starts from), then a
    pause longer than the test's anomaly window."""
    run_learner(engine, make_policy("calibrated"), default_score=2.5, keep_snapshots_seconds=3600)
    time.sleep(settings.anomaly_window + 0.1)


def outcomes(engine: Engine, outcome: str, n: int = 30) -> None:
    events = []
    for _ in range(n):
        events += decision_pair(outcome, model="flaky", complexity="medium")
    Ingestor(engine).ingest(events, "test")


def state(engine: Engine) -> dict[str, Any] | None:
    with engine.connect() as conn:
        row = (
            conn.execute(
                text(
                    "SELECT kind, severity, value, last_seen_at, clear_sweeps, closed_at,"
                    " close_reason FROM anomalies WHERE subject = CAST(:s AS jsonb)"
                ),
                {"s": json.dumps(["flaky", "medium"])},
            )
            .mappings()
            .all()
        )
    kinds = [r for r in row if r["kind"] == "low_success_rate"]
    return dict(kinds[0]) if kinds else None


def tick(celery_app: RouteLearnCelery, engine: Engine, ready: Any, what: str) -> dict[str, Any]:
    celery_app.send_task(SWEEP_ANOMALIES_TASK)
    wait_for(lambda: (s := state(engine)) is not None and ready(s), timeout=30, message=what)
    found = state(engine)
    assert found is not None
    return found


def test_sweep_opens_keeps_and_closes_one_anomaly(
    worker: Any, celery_app: RouteLearnCelery, engine: Engine, settings: Settings
) -> None:
    outcomes(engine, "success", 50)  # a healthy history before the first snapshot
    snapshot(engine, settings)
    outcomes(engine, "failure")
    opened = tick(celery_app, engine, lambda s: True, "the anomaly to open")
    assert (opened["severity"], opened["value"], opened["closed_at"]) == ("critical", 0.0, None)

    snapshot(engine, settings)
    outcomes(engine, "failure")
    kept = tick(
        celery_app, engine, lambda s: s["last_seen_at"] > opened["last_seen_at"], "a second tick"
    )
    assert kept["closed_at"] is None and kept["clear_sweeps"] == 0

    snapshot(engine, settings)
    outcomes(engine, "success")
    clearing = tick(celery_app, engine, lambda s: s["clear_sweeps"] == 1, "a first clear tick")
    assert clearing["closed_at"] is None  # one clear sweep is not enough (hysteresis)

    snapshot(engine, settings)
    outcomes(engine, "success")
    closed = tick(celery_app, engine, lambda s: s["closed_at"] is not None, "the close")
    assert closed["close_reason"] == "cleared"
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM anomalies")).scalar_one() == 1

    wait_for(lambda: _unpublished(engine) == 0, message="notices published")
    watched = run_cli_process(settings, "anomalies", "watch")
    assert watched.returncode == 0, watched.stderr
    notices = [json.loads(line) for line in watched.stdout.splitlines()]
    assert [(n["event"], n["kind"]) for n in notices] == [
        ("opened", "low_success_rate"),
        ("closed", "low_success_rate"),
    ]
    assert notices[0]["subject"] == ["flaky", "medium"]
    listed = run_cli(settings, "anomalies", "list", "--all")
    assert "low_success_rate" in listed.stdout and "closed (cleared)" in listed.stdout


def _unpublished(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT count(*) FROM anomaly_events WHERE published_at IS NULL")
            ).scalar_one()
        )


def test_an_instance_that_falls_silent_is_flagged(engine: Engine, clean: None) -> None:
    now = datetime.now(UTC)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO instances (instance_id, first_seen_at, last_seen_at) VALUES"
                " ('busy', :first, :last), ('quiet', :first, :first)"
            ),
            {"first": now - timedelta(hours=30), "last": now - timedelta(hours=1)},
        )
        # 'busy' made 600 decisions an hour over the last day (10/min), then stopped an hour ago.
        conn.execute(
            text(
                "INSERT INTO routing_rollups_hourly (hour, model_name, complexity_level,"
                " instance_id, decisions) SELECT date_trunc('hour', :now) - make_interval(hours"
                " => h), 'm', 'simple', 'busy', 600 FROM generate_series(1, 23) AS h"
            ),
            {"now": now},
        )
    result = run_sweep(
        engine, RuleParams(), LifecycleParams(), window_seconds=300, baseline_hours=24
    )
    assert result.transitions is not None
    opened = [c.finding for c in result.transitions.opened]
    assert [(f.kind.value, f.subject) for f in opened] == [("instance_silent", ("busy",))]
    # A second sweep keeps it open without a new notice.
    again = run_sweep(
        engine, RuleParams(), LifecycleParams(), window_seconds=300, baseline_hours=24
    )
    assert again.transitions is not None and again.transitions.opened == []
    assert len(again.transitions.still_open) == 1
