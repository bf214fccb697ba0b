"""``POST /api/route`` over real HTTP: a ``routelearn serve`` process routing from this run's
registry and scores, its routed events ingested by a real worker."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from routelearn.domain.api_keys import Role
from routelearn.domain.registry import ModelRecord, ModelStatus
from routelearn.settings import Settings
from routelearn.store import api_keys, registry
from tests.factories import make_event
from tests.integration.test_api import bearer, is_problem, serving
from tests.services import ON_AMQP, wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]

SEED_REQUEST: dict[str, Any] = {
    "id": "req-12345",
    "agentType": "creative",
    "workspaceId": "ws-marketing-001",
    "userId": "user-123",
    "prompt": "Generate a creative marketing message for our new product",
    "parameters": {"temperature": 0.8, "maxTokens": 500},
    "metadata": {"requestType": "completion", "priority": "normal"},
}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    """A server that re-reads the registry and scores every 100 ms and never explores, so the
    best model is chosen every time."""
    update: dict[str, Any] = {"api_route_refresh_ms": 100.0, "api_route_explore_share": 0.0}
    if ON_AMQP:  # no Redis to count rate limits in
        update["api_rate_limit"] = 0
    with serving(settings.model_copy(update=update)) as base:
        yield base


def set_score(engine: Engine, model: str, complexity: str, score: float, version: int) -> None:
    """A learned score, as the learner leaves it."""
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO model_scores (model_name, complexity_level, score, version, source)"
                " VALUES (:m, :c, :s, :v, 'learner') ON CONFLICT (model_name, complexity_level)"
                " DO UPDATE SET score = :s, version = :v"
            ),
            {"m": model, "c": complexity, "s": score, "v": version},
        )


def record(name: str, capabilities: list[str], status: ModelStatus, price: float) -> ModelRecord:
    return ModelRecord.model_validate(
        {
            "name": name,
            "provider": f"{name}-cloud",
            "capabilities": [{"type": c} for c in capabilities],
            "status": status,
            "prices": {"inputPer1k": price, "outputPer1k": price * 3},
        }
    )


@pytest.fixture
def models(engine: Engine, clean: None) -> None:
    """atlas (vision, json) 4.0, boreal (json) 3.0, and cirrus (vision, json) the best at 4.9
    but inactive: for complexity ``complex``."""
    with engine.begin() as conn:
        conn.execute(text("TRUNCATE models, registry_changes CASCADE"))
    # Scores first: an API refresh between the two would otherwise route to atlas at the
    # default score, and the test would read that.
    for model, score in (("atlas", 4.0), ("boreal", 3.0), ("cirrus", 4.9)):
        set_score(engine, model, "complex", score, 1)
    # atlas last: the tests wait until requests go to atlas, and a refresh that sees it then
    # sees the other two as well (one registered after atlas could be missing from it).
    registry.register(engine, record("cirrus", ["vision", "json"], ModelStatus.INACTIVE, 0.0))
    registry.register(engine, record("boreal", ["json"], ModelStatus.ACTIVE, 0.001))
    registry.register(engine, record("atlas", ["vision", "json"], ModelStatus.ACTIVE, 0.01))


@pytest.fixture
def key(engine: Engine, clean: None) -> dict[str, str]:
    return bearer(api_keys.create(engine, "router", Role.INSTANCE)[1])


def route(api: str, key: dict[str, str], **fields: Any) -> httpx.Response:
    return httpx.post(f"{api}/api/route", json={**SEED_REQUEST, **fields}, headers=key)


def chosen(api: str, key: dict[str, str], **fields: Any) -> str:
    response = route(api, key, **fields)
    assert response.status_code == 200, response.text
    return str(response.json()["modelId"])


def routes_to(api: str, key: dict[str, str], model: str) -> bool:
    """Whether a ``complex`` request goes to ``model`` now (a 503 before the first refresh
    that sees a model is a no)."""
    response = route(api, key, complexity="complex")
    return response.status_code == 200 and response.json()["modelId"] == model


def test_the_best_scored_active_capable_model_and_never_an_inactive_one(
    api: str, key: dict[str, str], models: None, engine: Engine
) -> None:
    wait_for(lambda: routes_to(api, key, "atlas"), message="the registry")
    response = route(api, key, complexity="complex", capabilities=["json"])
    body = response.json()
    assert response.headers["content-type"] == "application/json"
    assert (body["requestId"], body["modelId"], body["provider"]) == ("req-12345", "atlas",
                                                                    "atlas-cloud")  # fmt: skip
    assert (body["complexity"], body["score"], body["reason"]) == ("complex", 4.0, "best")
    assert body["fallbacks"] == ["boreal"]  # cirrus, better but inactive, is no fallback either
    tokens = body["estimatedTokens"]
    assert tokens["completion"] == 500 and tokens["total"] == tokens["prompt"] + 500
    assert body["estimatedCost"] == pytest.approx((tokens["prompt"] * 0.01 + 500 * 0.03) / 1000)
    assert body["id"] != body["decisionId"] and body["timestamp"].endswith("Z")
    assert "best score 4.00 among 2 active models with json" in body["explanation"]
    # Whatever is asked, the inactive model is never the answer.
    asks: list[dict[str, Any]] = [
        {"complexity": c, "capabilities": caps, "prefer": prefer}
        for c in ("simple", "medium", "complex")
        for caps in ([], ["vision"])
        for prefer in (None, "speed", "cost")
    ]
    assert "cirrus" not in {chosen(api, key, **ask) for ask in asks}
    # Activated in the registry, it is chosen within a refresh; a learned score moves too.
    registry.set_status(engine, {"cirrus": ModelStatus.ACTIVE})
    wait_for(lambda: routes_to(api, key, "cirrus"), message="activation")
    registry.set_status(engine, {"cirrus": ModelStatus.INACTIVE})
    set_score(engine, "boreal", "complex", 4.5, 2)
    wait_for(lambda: routes_to(api, key, "boreal"), message="new score")
    # Seed 004's request as it is: no complexity, estimated from its size.
    estimated = route(api, key).json()
    assert estimated["complexity"] == "medium" and "estimated" in estimated["explanation"]


def test_the_routed_event_reaches_the_workers_and_the_outcome_joins_it(
    api: str, key: dict[str, str], models: None, worker: Any, engine: Engine
) -> None:
    wait_for(lambda: routes_to(api, key, "atlas"), message="the registry")
    decisions = [route(api, key, complexity="complex").json()["decisionId"] for _ in range(20)]

    def ingested() -> list[Any]:
        with engine.connect() as conn:
            return list(
                conn.execute(
                    text(
                        "SELECT decision_id, model, outcome, instance_id FROM routing_records"
                        " WHERE decision_id = ANY(:ids)"
                    ),
                    {"ids": decisions},
                ).all()
            )

    # Batched by the API's publisher (its linger), then ingested by the worker.
    wait_for(lambda: len(ingested()) == 20, message="the 20 routed events")
    assert {(r.model, r.outcome, r.instance_id) for r in ingested()} == {
        ("atlas", "routed", "routelearn-api")
    }
    # The caller reports the outcome with the decision's id: one decision, its outcome counted.
    outcome = make_event(
        "success",
        model="atlas",
        complexity="complex",
        decision_id=decisions[0],
        event_id=f"{decisions[0]}:success",
        response_time_ms=420.0,
        instance_id="caller-app",
        provider="atlas-cloud",
    )
    sent = httpx.post(f"{api}/api/events", json=[outcome], headers=key)
    assert sent.json()["accepted"] == 1, sent.text

    def joined() -> bool:
        with engine.connect() as conn:
            return (
                conn.execute(
                    text("SELECT outcome FROM routing_decisions WHERE decision_key = :k"),
                    {"k": f"d:{decisions[0]}"},
                ).scalar_one_or_none()
                == "success"
            )

    wait_for(joined, message="the outcome joined to its decision")


def test_bad_requests_are_problems_naming_the_field_and_value(
    api: str, key: dict[str, str], models: None, engine: Engine
) -> None:
    wait_for(lambda: routes_to(api, key, "atlas"), message="the registry")

    def field_problem(response: httpx.Response, field: str) -> dict[str, Any]:
        body = is_problem(response, 422)
        (error,) = [e for e in body["errors"] if e["field"] == field]
        assert isinstance(error, dict)
        return error

    assert field_problem(route(api, key, complexity="hard"), "body.complexity")["value"] == "hard"
    assert field_problem(route(api, key, budget=-1), "body.budget")["value"] == -1
    assert field_problem(route(api, key, prefer="quality"), "body.prefer")["value"] == "quality"
    misspelt = route(api, key, capabilites=["vision"])
    assert field_problem(misspelt, "body.capabilites")["value"] == ["vision"]
    missing = httpx.post(f"{api}/api/route", json={"id": "x"}, headers=key)
    assert field_problem(missing, "body.prompt")["message"] == "Field required"
    # Valid, but no active model can take it.
    teleport = route(api, key, capabilities=["teleport"])
    error = field_problem(teleport, "body.capabilities")
    assert error["value"] == ["teleport"] and "teleport" in teleport.json()["detail"]
    poor = route(api, key, complexity="complex", budget=1e-9)
    assert field_problem(poor, "body.budget")["value"] == 1e-9
    assert "budget exceeded" in poor.json()["detail"]
    # Keys: none, and a role that may not route.
    is_problem(httpx.post(f"{api}/api/route", json=SEED_REQUEST), 401)
    reader = bearer(api_keys.create(engine, "reader", Role.READER)[1])
    assert "may not route" in is_problem(route(api, reader), 403)["detail"]
