"""Seed 004's analytics over real HTTP, from the rollups real ingestion leaves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from routelearn.domain.api_keys import Role
from routelearn.service.ingestion import Ingestor
from routelearn.settings import Settings
from routelearn.store import api_keys
from tests.factories import make_event
from tests.integration.test_api import bearer, is_problem, serving
from tests.services import ON_AMQP

pytestmark = [pytest.mark.integration]


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    update: dict[str, Any] = {"api_rate_limit": 0} if ON_AMQP else {}
    with serving(settings.model_copy(update=update)) as base:
        yield base


def event(n: int, model: str, outcome: str, ms: float, hours_ago: float, **extra: Any) -> Any:
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    made = make_event(outcome, model=model, event_id=f"a-{n}", timestamp=when, response_time_ms=ms)
    return {**made, **extra}


def test_models_workspaces_and_requests_from_the_rollups(
    api: str, engine: Engine, clean: None
) -> None:
    key = bearer(api_keys.create(engine, "reader", Role.READER)[1])
    usage = {"prompt_tokens": 100, "completion_tokens": 50, "cost_usd": 0.01}
    Ingestor(engine).ingest(
        [
            event(1, "atlas", "success", 100.0, 1, workspace_id="ws-1", usage=usage),
            event(2, "atlas", "success", 300.0, 2, workspace_id="ws-1", usage=usage),
            event(3, "atlas", "failure", 2000.0, 3, workspace_id="ws-1"),
            event(4, "boreal", "success", 50.0, 1, workspace_id="ws-1", usage=usage),
            event(5, "boreal", "success", 60.0, 1, workspace_id="ws-2"),
            event(6, "boreal", "success", 70.0, 30),  # 30 h ago: outside 24h, inside 7d
        ],
        source="test",
    )
    models = httpx.get(f"{api}/api/analytics/models?timeRange=24h", headers=key)
    assert models.status_code == 200, models.text
    by_model = {m["modelId"]: m for m in models.json()["models"]}
    atlas = by_model["atlas"]
    assert (atlas["requests"], atlas["successes"], atlas["failures"]) == (3, 2, 1)
    assert atlas["successRate"] == pytest.approx(2 / 3)
    assert atlas["usage"] == {"promptTokens": 200, "completionTokens": 100, "totalTokens": 300,
                              "costUsd": pytest.approx(0.02)}  # fmt: skip
    assert atlas["latency"]["samples"] == 3 and 90 < atlas["latency"]["p50Ms"] < 350
    assert by_model["boreal"]["requests"] == 2  # the one 30 h ago is outside
    one = httpx.get(f"{api}/api/analytics/models?timeRange=2d&modelId=boreal", headers=key)
    assert [(m["modelId"], m["requests"]) for m in one.json()["models"]] == [("boreal", 3)]

    workspace = httpx.get(f"{api}/api/analytics/workspaces/ws-1?timeRange=7d", headers=key)
    assert workspace.status_code == 200, workspace.text
    ws = workspace.json()
    assert (ws["requests"], ws["successes"], ws["failures"]) == (4, 3, 1)
    assert ws["usage"]["costUsd"] == pytest.approx(0.03)
    assert ws["latency"]["samples"] == 4 and ws["latency"]["p99Ms"] > 1000
    assert [(m["modelId"], m["requests"]) for m in ws["topModels"]] == [("atlas", 3), ("boreal", 1)]
    empty = httpx.get(f"{api}/api/analytics/workspaces/nobody", headers=key).json()
    assert empty["requests"] == 0 and empty["latency"]["p50Ms"] is None

    metrics = httpx.get(f"{api}/api/metrics/requests?limit=2&timeRange=24h", headers=key)
    assert metrics.status_code == 200, metrics.text
    m = metrics.json()
    assert (m["requests"], m["successes"], m["failures"]) == (5, 4, 1)
    assert m["errorRate"] == pytest.approx(0.2)
    # The newest events: 5 then 4 (made last, an hour ago).
    assert [(r["modelId"], r["workspaceId"]) for r in m["recent"]] == [
        ("boreal", "ws-2"),
        ("boreal", "ws-1"),
    ]

    bad = is_problem(httpx.get(f"{api}/api/analytics/models?timeRange=7w", headers=key), 422)
    assert bad["errors"][0] == {
        "field": "query.timeRange",
        "value": "7w",
        "message": "timeRange '7w' is not a number of hours or days, e.g. 24h or 7d",
    }
    is_problem(httpx.get(f"{api}/api/analytics/models"), 401)


def test_a_rule_split_is_evaluated_on_the_events_its_arms_sent(
    api: str, engine: Engine, settings: Settings, clean: None
) -> None:
    from routelearn.domain.routing_policy.change import PolicyKind
    from routelearn.domain.routing_policy.config import RoutingRule
    from routelearn.store import policy
    from tests.services import run_cli_process

    key = bearer(api_keys.create(engine, "reader", Role.READER)[1])
    rule = RoutingRule.model_validate(
        {
            "id": "rule-canary",
            "name": "canary",
            "targetModels": [
                {"modelId": "atlas", "weight": 0.5, "fallbackOrder": 1},
                {"modelId": "boreal", "weight": 0.5, "fallbackOrder": 2},
            ],
            "trafficSplit": {"primary": 50, "canary": 50},
        }
    )
    with engine.begin() as conn:  # the rule as stored (its models need not be registered here)
        conn.exec_driver_sql(
            "INSERT INTO routing_policy (kind, key, document, version)"
            " VALUES ('rule', 'rule-canary', %s, 1)",
            (json.dumps(rule.document()),),
        )
    assert policy.get(engine, PolicyKind.RULE, "rule-canary") is not None
    events = []
    for n in range(80):
        arm, model = ("primary", "atlas") if n % 2 == 0 else ("canary", "boreal")
        # The canary fails three times in four; the primary once in ten.
        failed = (n // 2) % 4 != 0 if arm == "canary" else (n // 2) % 10 == 0
        made = event(100 + n, model, "failure" if failed else "success", 100.0 + n, 1)
        made["routing_decision"].update(rule_id="rule-canary", split_arm=arm)
        events.append(made)
    Ingestor(engine).ingest(events, source="test")

    found = httpx.get(f"{api}/api/analytics/splits", headers=key)
    assert found.status_code == 200, found.text
    (split,) = found.json()["splits"]
    assert split["ruleId"] == "rule-canary" and split["verdict"] == "b_worse"
    assert (split["primary"]["outcomes"], split["canary"]["outcomes"]) == (40, 40)
    assert split["primary"]["successRate"] == 0.9 and split["canary"]["successRate"] == 0.25
    assert split["successPValue"] < 0.001
    shell = run_cli_process(settings, "stats", "split", "rule-canary")
    assert shell.returncode == 0, shell.stderr
    assert "verdict: b_worse" in shell.stdout
    none = httpx.get(f"{api}/api/analytics/splits?ruleId=rule-none", headers=key).json()
    assert none["splits"][0]["verdict"] == "insufficient_data"
