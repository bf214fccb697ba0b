"""The central model registry over real HTTP (seed 004's /api/models), and what it writes."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from routelearn.domain.api_keys import Role
from routelearn.instance.catalog import parse_catalog
from routelearn.store import registry
from routelearn.store.scores import import_catalog, score_snapshot
from tests.factories import SEED_MODEL
from tests.integration.test_api import api, bearer, is_problem, keys

pytestmark = [pytest.mark.integration]
__all__ = ["api", "keys"]  # fixtures, used by name


def model(model_id: str, provider: str = "openai", **extra: Any) -> dict[str, Any]:
    return {"modelId": model_id, "name": model_id.title(), "provider": provider, **extra}


def outbox(engine: Engine) -> list[tuple[str, int, str]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text("SELECT model_id, version, payload->>'status' FROM registry_changes ORDER BY id")
        )
        return [tuple(row) for row in rows]


def test_register_read_and_filter(api: str, keys: dict[Role, str], engine: Engine) -> None:
    operator, reader = bearer(keys[Role.OPERATOR]), bearer(keys[Role.READER])
    created = httpx.post(f"{api}/api/models", json=SEED_MODEL, headers=operator)
    assert created.status_code == 201, created.text
    body = created.json()
    assert created.headers["location"] == "/api/models/gpt-4-1106-preview"
    assert body["modelId"] == "gpt-4-1106-preview" and body["registryVersion"] >= 1
    assert {k: body[k] for k in SEED_MODEL} == SEED_MODEL
    for extra in (
        model("claude-3-sonnet", "anthropic", tags=["high-quality"]),
        model("text-embed", "openai", modelType="embedding", status="deprecated"),
    ):
        assert httpx.post(f"{api}/api/models", json=extra, headers=operator).status_code == 201

    def ids(query: str) -> list[str]:
        answer = httpx.get(f"{api}/api/models?{query}", headers=reader)
        assert answer.status_code == 200, answer.text
        return [m["modelId"] for m in answer.json()["models"]]

    assert ids("") == ["claude-3-sonnet", "gpt-4-1106-preview", "text-embed"]
    assert ids("provider=openai&status=active&modelType=chat") == ["gpt-4-1106-preview"]
    assert ids("tag=high-quality") == ["claude-3-sonnet", "gpt-4-1106-preview"]
    assert ids("modelType=embedding") == ["text-embed"]
    is_problem(httpx.get(f"{api}/api/models?status=retired", headers=reader), 422)
    one = httpx.get(f"{api}/api/models/claude-3-sonnet", headers=reader)
    assert one.status_code == 200 and one.json()["provider"] == "anthropic"
    missing = is_problem(httpx.get(f"{api}/api/models/nope", headers=reader), 404)
    assert missing["errors"][0] == {
        "field": "modelId",
        "value": "nope",
        "message": "not registered",
    }
    # Each registration is one versioned change waiting to be fanned out.
    assert [(m, s) for m, _, s in outbox(engine)] == [
        ("gpt-4-1106-preview", "active"),
        ("claude-3-sonnet", "active"),
        ("text-embed", "deprecated"),
    ]


def test_writes_need_an_operator_and_bad_input_changes_nothing(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    operator = bearer(keys[Role.OPERATOR])
    for role in (Role.READER, Role.INSTANCE):
        refused = httpx.post(f"{api}/api/models", json=SEED_MODEL, headers=bearer(keys[role]))
        assert "may not write registry" in is_problem(refused, 403)["detail"]
    is_problem(httpx.post(f"{api}/api/models", json=SEED_MODEL), 401)
    bad = is_problem(
        httpx.post(f"{api}/api/models", json={**SEED_MODEL, "status": "retired"}, headers=operator),
        422,
    )
    assert bad["errors"][0]["field"] == "body.status" and bad["errors"][0]["value"] == "retired"
    assert httpx.post(f"{api}/api/models", json=SEED_MODEL, headers=operator).status_code == 201
    again = is_problem(httpx.post(f"{api}/api/models", json=SEED_MODEL, headers=operator), 409)
    assert "already registered" in again["errors"][0]["message"]
    assert len(outbox(engine)) == 1  # neither the refused nor the bad nor the duplicate wrote


def test_status_batch_is_all_or_nothing(api: str, keys: dict[Role, str], engine: Engine) -> None:
    operator = bearer(keys[Role.OPERATOR])
    for name in ("m1", "m2"):
        httpx.post(f"{api}/api/models", json=model(name), headers=operator).raise_for_status()
    before = outbox(engine)
    half = {
        "updates": [
            {"modelId": "m1", "status": "inactive"},
            {"modelId": "ghost", "status": "inactive"},
        ]
    }
    refused = is_problem(
        httpx.patch(f"{api}/api/models/batch/status", json=half, headers=operator), 404
    )
    assert [e["value"] for e in refused["errors"]] == ["ghost"]
    assert outbox(engine) == before
    assert registry.get(engine, "m1").record.status == "active"  # type: ignore[union-attr]
    twice = {"updates": [{"modelId": "m1", "status": "inactive"}] * 2}
    assert "listed twice" in str(
        is_problem(
            httpx.patch(f"{api}/api/models/batch/status", json=twice, headers=operator), 422
        )["errors"]
    )
    both = {
        "updates": [
            {"modelId": "m1", "status": "inactive"},
            {"modelId": "m2", "status": "maintenance"},
        ]
    }
    done = httpx.patch(f"{api}/api/models/batch/status", json=both, headers=operator)
    assert done.status_code == 200, done.text
    assert done.json()["updated"] == 2
    assert {m["modelId"]: m["status"] for m in done.json()["models"]} == {
        "m1": "inactive",
        "m2": "maintenance",
    }
    # Setting a status a model already has is no change: no new version, nothing to send.
    same = httpx.patch(f"{api}/api/models/m1/status", json={"status": "inactive"}, headers=operator)
    assert same.status_code == 200 and len(outbox(engine)) == len(before) + 2
    one = httpx.patch(f"{api}/api/models/m1/status", json={"status": "active"}, headers=operator)
    assert one.json()["status"] == "active"
    versions = [v for _, v, _ in outbox(engine)]
    assert versions == sorted(versions) and len(set(versions)) == len(versions)


def test_replace_remove_endpoints_and_health(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    operator, reader = bearer(keys[Role.OPERATOR]), bearer(keys[Role.READER])
    instance = bearer(keys[Role.INSTANCE])
    put = httpx.put(
        f"{api}/api/models/m1",
        json={"name": "M1", "provider": "p", "prices": {"inputPer1k": 0.5, "outputPer1k": 1.5}},
        headers=operator,
    )
    assert put.status_code == 200 and put.json()["modelId"] == "m1", put.text
    other = httpx.put(f"{api}/api/models/m1", json=model("m2"), headers=operator)
    assert is_problem(other, 422)["errors"][0]["field"] == "body.modelId"
    endpoint = {
        "url": "https://api.openai.com/v1/chat/completions",
        "type": "primary",
        "weight": 1.0,
        "healthCheckUrl": "https://api.openai.com/v1/models",
    }
    added = httpx.post(f"{api}/api/models/m1/endpoints", json=endpoint, headers=operator)
    assert added.status_code == 201, added.text
    listed = httpx.get(f"{api}/api/models/m1/endpoints", headers=reader).json()
    assert [(e["url"], e["healthCheckUrl"]) for e in listed] == [
        (endpoint["url"], endpoint["healthCheckUrl"])
    ]
    is_problem(
        httpx.post(f"{api}/api/models/m1/endpoints", json={"url": "ftp://x"}, headers=operator),
        422,
    )
    is_problem(httpx.get(f"{api}/api/models/ghost/endpoints", headers=reader), 404)
    report = {"status": "healthy", "responseTime": 500, "errorRate": 0.01, "availability": 99.9}
    sent = httpx.post(f"{api}/api/models/m1/health", json=report, headers=instance)
    assert sent.status_code == 201, sent.text
    assert sent.json()["reportedBy"] == f"test-{Role.INSTANCE}"
    worse = {"status": "degraded", "errorRate": 0.2}
    httpx.post(f"{api}/api/models/m1/health", json=worse, headers=instance).raise_for_status()
    health = httpx.get(f"{api}/api/models/m1/health", headers=reader).json()
    assert health["latest"]["status"] == "degraded" and len(health["recent"]) == 2
    gone = httpx.delete(f"{api}/api/models/m1", headers=operator)
    assert gone.status_code == 204
    is_problem(httpx.get(f"{api}/api/models/m1", headers=reader), 404)
    is_problem(httpx.delete(f"{api}/api/models/m1", headers=operator), 404)
    assert [s for _, _, s in outbox(engine)] == ["active", "removed"]
    with engine.connect() as conn:  # endpoints and reports went with it
        left = conn.execute(
            text(
                "SELECT (SELECT count(*) FROM model_endpoints)"
                " + (SELECT count(*) FROM model_health_reports)"
            )
        ).scalar_one()
    assert left == 0


def test_catalog_import_writes_the_same_registry(
    api: str, keys: dict[Role, str], engine: Engine
) -> None:
    operator = bearer(keys[Role.OPERATOR])
    catalog = {
        "version": 1,
        "models": [
            {
                "name": "fast",
                "provider": "p",
                "capabilities": ["json_mode"],
                "prices": {"input_per_1k": 0.1, "output_per_1k": 0.2},
            },
            {"name": "slow", "provider": "q", "enabled": False},
        ],
    }
    # An operator registered "fast" with seed fields and took it out of service.
    registered = model(
        "fast", "p", tags=["cheap"], capabilities=[{"type": "json_mode", "maxTokens": 999}]
    )
    httpx.post(f"{api}/api/models", json=registered, headers=operator).raise_for_status()
    httpx.patch(
        f"{api}/api/models/fast/status", json={"status": "maintenance"}, headers=operator
    ).raise_for_status()
    report = import_catalog(engine, parse_catalog(catalog), "test")
    assert report.models_changed == 2
    fast, slow = registry.get(engine, "fast"), registry.get(engine, "slow")
    assert fast is not None and slow is not None
    assert fast.record.prices is not None and fast.record.prices.output_per_1k == 0.2
    assert fast.record.tags == ("cheap",) and fast.record.capabilities[0].max_tokens == 999
    assert fast.record.status == "maintenance"  # an enabled file does not undo the operator
    assert slow.record.status == "inactive"  # a disabled model is taken out of service
    assert import_catalog(engine, parse_catalog(catalog), "test").models_changed == 0
    snapshot = score_snapshot(engine)
    assert sorted(c["model"] for c in snapshot["registry"]) == ["fast", "slow"]
