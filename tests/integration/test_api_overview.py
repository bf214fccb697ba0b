"""``GET /api/health/overview`` over real HTTP (a ``routelearn serve`` process), on data written
by the production code: models registered in the registry, events ingested as the workers
ingest them, a learner tick and an anomaly sweep. Every expected figure is computed here from
the events."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from routelearn.domain import latency
from routelearn.domain.anomaly import LifecycleParams, RuleParams
from routelearn.domain.api_keys import Role
from routelearn.domain.policy import make_policy
from routelearn.domain.registry import ModelRecord, ModelStatus
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import api_keys, registry
from routelearn.store.anomalies import run_sweep
from routelearn.store.learner import run_learner
from tests.factories import decision_pair
from tests.integration.test_api import bearer, is_problem, serving

pytestmark = [pytest.mark.integration]

URL = "/api/health/overview"


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    with serving(settings) as base:
        yield base


@pytest.fixture
def reader(engine: Engine, clean: None) -> str:
    return api_keys.create(engine, "overview-reader", Role.READER)[1]


def get(api: str, token: str, **params: str) -> dict[str, Any]:
    response = httpx.get(f"{api}{URL}", params=params, headers=bearer(token))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def ingest(engine: Engine, model: str, complexity: str, outcome: str, n: int, ms: float) -> None:
    events = []
    for _ in range(n):
        events += decision_pair(outcome, model=model, complexity=complexity, response_time_ms=ms)
    counts = Ingestor(engine).ingest(events, "test")
    assert counts.rejected == 0


def register(engine: Engine, model_id: str, provider: str, status: str = "active") -> None:
    record = {"modelId": model_id, "name": model_id.upper(), "provider": provider}
    registry.register(engine, ModelRecord.model_validate({**record, "status": status}))


def percentiles(samples: list[float]) -> dict[str, float | None]:
    histogram = latency.empty()
    for ms in samples:
        histogram[latency.bucket_of(ms)] += 1
    return {
        "p50Ms": latency.percentile(histogram, 0.50),
        "p95Ms": latency.percentile(histogram, 0.95),
        "p99Ms": latency.percentile(histogram, 0.99),
    }


def figures(latency_: dict[str, Any]) -> dict[str, Any]:
    return {k: latency_[k] for k in ("p50Ms", "p95Ms", "p99Ms")}


def test_needs_a_read_key_and_a_valid_window(api: str, reader: str) -> None:
    assert "API key" in is_problem(httpx.get(f"{api}{URL}"), 401)["detail"]
    for window in ("1w", "0h", "8d"):
        refused = httpx.get(f"{api}{URL}", params={"window": window}, headers=bearer(reader))
        (error,) = is_problem(refused, 422)["errors"]
        assert (error["field"], error["value"]) == ("query.window", window)
    empty = get(api, reader)
    assert (empty["status"], empty["window"], empty["models"]) == ("healthy", "1h", [])
    assert empty["timestamp"] and empty["windowStart"]
    assert get(api, reader, window="all")["windowStart"] is None


def test_every_model_with_its_status_figures_anomalies_and_report(
    api: str, reader: str, engine: Engine, settings: Settings
) -> None:
    register(engine, "gpt-4o", "openai")
    register(engine, "claude-sonnet", "anthropic")
    register(engine, "legacy", "openai", status="deprecated")  # no traffic at all
    registry.add_health(engine, "gpt-4o", "degraded", 900.0, 0.2, 95.0, "probe-1")
    registry.add_health(engine, "gpt-4o", "healthy", 250.0, 0.01, 99.9, "probe-2")

    # History before the learner's snapshot: the anomaly sweep's window starts after it.
    ingest(engine, "gpt-4o", "complex", "success", 40, 300.0)
    ingest(engine, "gpt-4o", "simple", "success", 10, 1000.0)
    ingest(engine, "gpt-4o", "simple", "failure", 10, 1000.0)  # 50/60: 83%, degraded
    ingest(engine, "claude-sonnet", "medium", "success", 60, 2000.0)
    ingest(engine, "local-llm", "simple", "success", 25, 100.0)  # not in the registry
    run_learner(engine, make_policy("calibrated"), default_score=2.5, keep_snapshots_seconds=3600)
    time.sleep(settings.anomaly_window + 0.1)
    # In the sweep's window: claude-sonnet fails every time (a critical low success rate), while
    # over the hour it holds 60/85 = 70.6%, which alone would only be degraded.
    ingest(engine, "claude-sonnet", "medium", "failure", 25, 2000.0)
    swept = run_sweep(
        engine,
        RuleParams(),
        LifecycleParams(),
        window_seconds=settings.anomaly_window,
        baseline_hours=settings.anomaly_baseline_hours,
    )
    assert swept.transitions is not None
    opened = [(c.anomaly.kind, c.anomaly.subject) for c in swept.transitions.opened]
    assert opened == [("low_success_rate", ("claude-sonnet", "medium"))]

    body = get(api, reader)
    assert body["status"] == "degraded"  # one model in service unhealthy, one healthy
    models = {m["modelId"]: m for m in body["models"]}
    assert list(models) == ["claude-sonnet", "gpt-4o", "legacy", "local-llm"]

    gpt = models["gpt-4o"]
    assert (gpt["provider"], gpt["status"], gpt["health"]) == ("openai", "active", "degraded")
    assert gpt["reasons"] == ["success rate 83.3% over 60 outcomes, below 85%"]
    assert (gpt["requests"], gpt["successes"], gpt["failures"]) == (60, 50, 10)
    assert gpt["successRate"] == pytest.approx(50 / 60)
    gpt_times = [300.0] * 40 + [1000.0] * 20
    assert gpt["latency"]["samples"] == 60
    assert gpt["latency"]["meanMs"] == pytest.approx(sum(gpt_times) / 60)
    assert figures(gpt["latency"]) == pytest.approx(percentiles(gpt_times))
    assert [
        (c["complexity"], c["requests"], c["successes"], c["failures"], c["latency"]["samples"])
        for c in gpt["complexities"]
    ] == [("complex", 40, 40, 0, 40), ("simple", 20, 10, 10, 20)]
    assert gpt["complexities"][1]["successRate"] == 0.5
    assert figures(gpt["complexities"][1]["latency"]) == pytest.approx(percentiles([1000.0] * 20))
    assert gpt["openAnomalies"] == {"count": 0, "critical": 0, "kinds": []}
    report = gpt["lastHealthReport"]
    assert (report["status"], report["reportedBy"], report["responseTimeMs"]) == (
        "healthy",
        "probe-2",
        250.0,
    )
    assert (report["errorRate"], report["availability"]) == (0.01, 99.9)

    claude = models["claude-sonnet"]
    assert (claude["status"], claude["health"]) == ("active", "unhealthy")
    assert claude["reasons"] == [
        "critical anomaly open: low_success_rate (medium)",
        "success rate 70.6% over 85 outcomes, below 85%",
    ]
    assert (claude["requests"], claude["successes"], claude["failures"]) == (85, 60, 25)
    assert claude["openAnomalies"] == {"count": 1, "critical": 1, "kinds": ["low_success_rate"]}
    assert figures(claude["latency"]) == pytest.approx(percentiles([2000.0] * 85))
    assert claude["lastHealthReport"] is None

    legacy = models["legacy"]
    assert (legacy["status"], legacy["health"], legacy["requests"]) == ("deprecated", "healthy", 0)
    assert legacy["successRate"] is None and legacy["complexities"] == []
    assert legacy["latency"] == {
        "samples": 0,
        "meanMs": None,
        "p50Ms": None,
        "p95Ms": None,
        "p99Ms": None,
    }

    local = models["local-llm"]
    assert (local["provider"], local["status"], local["health"]) == (
        None,
        "unregistered",
        "healthy",
    )
    assert (local["requests"], local["successRate"]) == (25, 1.0)

    # All time reads the counters: the same figures here, every event being recent.
    everything = {m["modelId"]: m for m in get(api, reader, window="all")["models"]}
    assert {k: (m["requests"], m["failures"]) for k, m in everything.items()} == {
        k: (m["requests"], m["failures"]) for k, m in models.items()
    }
    assert figures(everything["gpt-4o"]["latency"]) == pytest.approx(percentiles(gpt_times))

    # Taken out of rotation, the two no longer count: local-llm alone is in service, healthy.
    maintenance = ModelStatus.MAINTENANCE
    registry.set_status(engine, {"claude-sonnet": maintenance, "gpt-4o": maintenance})
    assert get(api, reader)["status"] == "healthy"
