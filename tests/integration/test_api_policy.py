"""Routing policy over real HTTP: rules, agent preferences, workspace configs and the dry run, on
a ``routelearn serve`` process routing from this run's registry, scores and policy."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine, text

from routelearn.domain.api_keys import Role
from routelearn.domain.registry import ModelStatus
from routelearn.settings import Settings
from routelearn.store import api_keys, registry
from tests.factories import make_event
from tests.integration.test_api import bearer, is_problem, serving
from tests.integration.test_api_route import SEED_REQUEST, record, set_score
from tests.services import ON_AMQP, wait_for

pytestmark = [pytest.mark.integration]

RULE: dict[str, Any] = {
    "name": "creative to boreal",
    "condition": {"agentType": ["creative"], "requestType": ["completion", "chat"]},
    "targetModels": [
        {"modelId": "boreal", "weight": 1.0, "fallbackOrder": 1},
        {"modelId": "dune", "weight": 0.0, "fallbackOrder": 2},
    ],
    "priority": 100,
    "enabled": True,
}


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    update: dict[str, Any] = {"api_route_refresh_ms": 100.0, "api_route_explore_share": 0.0}
    if ON_AMQP:
        update["api_rate_limit"] = 0
    with serving(settings.model_copy(update=update)) as base:
        yield base


@pytest.fixture
def fleet(engine: Engine, clean: None) -> dict[str, dict[str, str]]:
    """atlas 4.0 (vision, json; eu), boreal 3.0 (json; us), dune 2.0 (json; eu), cirrus 4.9
    inactive, for complexity ``complex``; and a key of each role."""
    # Scores first and atlas last: a refresh that routes to atlas has read all of it
    # (`settled`), none routes on a default score.
    for model, score in (("atlas", 4.0), ("boreal", 3.0), ("dune", 2.0), ("cirrus", 4.9)):
        set_score(engine, model, "complex", score, 1)
    for name, caps, status, price in (
        ("cirrus", ["vision", "json"], ModelStatus.INACTIVE, 0.0),
        ("dune", ["json"], ModelStatus.ACTIVE, 0.0005),
        ("boreal", ["json"], ModelStatus.ACTIVE, 0.001),
        ("atlas", ["vision", "json"], ModelStatus.ACTIVE, 0.01),
    ):
        made = record(name, caps, status, price)
        regions = ("us",) if name == "boreal" else ("eu",)
        registry.register(engine, made.model_copy(update={"regions": regions}))
    return {role.value: bearer(api_keys.create(engine, f"k-{role}", role)[1]) for role in Role}


def route(api: str, key: dict[str, str], **fields: Any) -> httpx.Response:
    body = {**SEED_REQUEST, "complexity": "complex", **fields}
    return httpx.post(f"{api}/api/route", json=body, headers=key)


def settled(api: str, key: dict[str, str]) -> None:
    """Wait until the server routes from the whole fleet fixture."""

    def on_atlas() -> bool:
        response = route(api, key)
        return response.status_code == 200 and response.json()["modelId"] == "atlas"

    wait_for(on_atlas, message="the registry")


def chosen(api: str, key: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = route(api, key, **fields)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def stored_pieces(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT count(*) FROM routing_policy")).scalar_one())


def test_rules_are_created_listed_changed_and_deleted(
    api: str, fleet: dict[str, dict[str, str]], engine: Engine
) -> None:
    operator, reader = fleet["operator"], fleet["reader"]
    is_problem(httpx.post(f"{api}/api/routing/rules", json=RULE, headers=reader), 403)
    made = httpx.post(f"{api}/api/routing/rules", json=RULE, headers=operator)
    assert made.status_code == 201, made.text
    rule = made.json()
    assert rule["id"].startswith("rule-") and made.headers["location"].endswith(rule["id"])
    assert rule["targetModels"][0] == {"modelId": "boreal", "weight": 1.0, "fallbackOrder": 1}
    other = httpx.post(
        f"{api}/api/routing/rules", json={**RULE, "name": "second", "priority": 5}, headers=operator
    ).json()
    listed = httpx.get(f"{api}/api/routing/rules", headers=reader).json()
    assert [r["id"] for r in listed["rules"]] == [rule["id"], other["id"]]  # priority order
    assert listed["total"] == 2

    url = f"{api}/api/routing/rules/{rule['id']}"
    patched = httpx.patch(url, json={"enabled": False}, headers=operator)
    assert patched.status_code == 200, patched.text
    assert patched.json()["enabled"] is False and patched.json()["version"] > rule["version"]
    # A change that would leave the rule invalid is refused whole; the rule stays as it was.
    bad = is_problem(
        httpx.patch(url, json={"trafficSplit": {"primary": 50, "canary": 40}}, headers=operator),
        422,
    )
    assert bad["errors"][0]["field"] == "body.trafficSplit"
    assert httpx.get(url, headers=reader).json()["version"] == patched.json()["version"]
    is_problem(httpx.patch(url, json={"id": "rule-x"}, headers=operator), 422)

    assert httpx.delete(url, headers=operator).status_code == 204
    is_problem(httpx.get(url, headers=reader), 404)
    is_problem(httpx.delete(url, headers=operator), 404)
    assert stored_pieces(engine) == 1


@pytest.mark.parametrize(
    ("path", "document", "field", "value"),
    [
        (
            "/api/routing/rules",
            {**RULE, "targetModels": [{"modelId": "nope", "weight": 1.0, "fallbackOrder": 1}]},
            "body.targetModels.0.modelId",
            "nope",
        ),
        (
            "/api/routing/rules",
            {
                **RULE,
                "targetModels": [
                    {"modelId": "atlas", "weight": 0.6, "fallbackOrder": 1},
                    {"modelId": "boreal", "weight": 0.6, "fallbackOrder": 2},
                ],
            },
            "body.targetModels",
            None,
        ),
        (
            "/api/workspaces/ws-1/config",
            {"budgetLimits": {"daily": -5}},
            "body.budgetLimits.daily",
            -5,
        ),
        (
            "/api/agents/creative/preferences",
            {"preferredModels": ["atlas"], "fallbackModels": ["ghost"]},
            "body.fallbackModels.0",
            "ghost",
        ),
    ],
)
def test_bad_input_is_refused_naming_the_field_and_nothing_is_stored(
    api: str,
    fleet: dict[str, dict[str, str]],
    engine: Engine,
    path: str,
    document: dict[str, Any],
    field: str,
    value: Any,
) -> None:
    problem = is_problem(httpx.post(f"{api}{path}", json=document, headers=fleet["operator"]), 422)
    fields = {e["field"]: e.get("value") for e in problem["errors"]}
    assert field in fields, problem
    if value is not None:
        assert fields[field] == value
    assert stored_pieces(engine) == 0


def test_rules_preferences_and_workspaces_steer_post_api_route(
    api: str, fleet: dict[str, dict[str, str]], engine: Engine
) -> None:
    operator, instance = fleet["operator"], fleet["instance"]
    settled(api, instance)
    assert chosen(api, instance)["modelId"] == "atlas"  # the best score, no policy yet

    rule = httpx.post(f"{api}/api/routing/rules", json=RULE, headers=operator).json()
    body = chosen(api, instance)  # the seed request: agentType creative, requestType completion
    assert (body["modelId"], body["reason"], body["ruleId"]) == ("boreal", "rule", rule["id"])
    assert body["fallbacks"][0] == "dune"  # the rule's next target before the better atlas
    assert f"a target of routing rule {rule['id']}" in body["explanation"]
    assert chosen(api, instance, agentType="coder")["modelId"] == "atlas"  # no match
    assert chosen(api, instance, metadata={"requestType": "embedding"})["modelId"] == "atlas"

    # The workspace blocks boreal: the rule's next target takes it.
    workspace = {"modelRestrictions": {"blockedModels": ["boreal"]}}
    set_ws = httpx.post(
        f"{api}/api/workspaces/ws-marketing-001/config", json=workspace, headers=operator
    )
    assert set_ws.status_code == 200, set_ws.text
    assert chosen(api, instance)["modelId"] == "dune"
    assert chosen(api, instance, workspaceId="ws-other")["modelId"] == "boreal"

    # Compliance: only models served in the EU; the agent prefers dune.
    httpx.delete(f"{api}/api/routing/rules/{rule['id']}", headers=operator)
    eu = {"complianceRequirements": {"allowedRegions": ["eu"]}}
    httpx.post(f"{api}/api/workspaces/ws-eu/config", json=eu, headers=operator)
    prefs = {"preferredModels": ["dune"], "requiredCapabilities": []}
    made = httpx.post(f"{api}/api/agents/creative/preferences", json=prefs, headers=operator)
    assert made.status_code == 200 and made.json()["agentType"] == "creative"
    body = chosen(api, instance, workspaceId="ws-eu")
    assert (body["modelId"], body["reason"]) == ("dune", "preferred")

    assert chosen(api, instance, workspaceId="ws-eu", agentType="coder")["modelId"] == "atlas"

    # Served in the US only: boreal, which has no vision.
    us = {"complianceRequirements": {"allowedRegions": ["us"]}}
    httpx.post(f"{api}/api/workspaces/ws-us/config", json=us, headers=operator)
    refused = is_problem(
        route(api, instance, workspaceId="ws-us", capabilities=["vision"], agentType="coder"), 422
    )
    assert refused["errors"][0]["field"] == "body.capabilities"
    assert "1 left out by the routing policy" in refused["detail"]
    assert chosen(api, instance, workspaceId="ws-us", agentType="coder")["modelId"] == "boreal"


def test_the_dry_run_explains_and_publishes_nothing(
    api: str, fleet: dict[str, dict[str, str]], engine: Engine, worker: Any
) -> None:
    operator, reader = fleet["operator"], fleet["reader"]
    settled(api, fleet["instance"])
    rule = httpx.post(f"{api}/api/routing/rules", json=RULE, headers=operator).json()
    httpx.post(
        f"{api}/api/workspaces/ws-marketing-001/config",
        json={"modelRestrictions": {"blockedModels": ["boreal"]}},
        headers=operator,
    )
    # Seed 004's troubleshooting call, as written there (no prompt).
    dry = httpx.post(
        f"{api}/api/routing/test",
        json={
            "agentType": "creative",
            "requestType": "completion",
            "workspaceId": "ws-marketing-001",
            "complexity": "complex",
        },
        headers=reader,
    )
    assert dry.status_code == 200, dry.text
    result = dry.json()
    assert result["published"] is False
    assert result["rule"] == {"id": rule["id"], "arm": None}
    assert result["decision"]["modelId"] == "dune" and result["decision"]["reason"] == "rule"
    assert [t["models"] for t in result["tiers"]] == [["dune"]]  # boreal blocked
    left = {e["modelId"]: e["stage"] for e in result["excluded"]}
    assert left == {"boreal": "restriction", "cirrus": "status"}

    # Nothing published: a real route after the dry run is ingested, the dry run's is not.
    real = chosen(api, fleet["instance"])

    def ingested(decision_id: str) -> int:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    text("SELECT count(*) FROM routing_records WHERE decision_id = :d"),
                    {"d": decision_id},
                ).scalar_one()
            )

    wait_for(lambda: ingested(real["decisionId"]) == 1, timeout=30, message="the real route")
    assert ingested(result["decision"]["decisionId"]) == 0


def test_agent_models_say_which_qualify_and_why_the_others_do_not(
    api: str, fleet: dict[str, dict[str, str]]
) -> None:
    operator, reader = fleet["operator"], fleet["reader"]
    settled(api, fleet["instance"])
    prefs = {
        "preferredModels": ["atlas"],
        "fallbackModels": ["dune"],
        "requiredCapabilities": ["json"],
        "performanceRequirements": {"maxCostPerToken": 0.00001},
    }
    made = httpx.post(f"{api}/api/agents/coder/preferences", json=prefs, headers=operator)
    assert made.status_code == 200, made.text
    got = httpx.get(f"{api}/api/agents/coder/preferences", headers=reader).json()
    assert got["preferredModels"] == ["atlas"] and got["version"] == made.json()["version"]
    models = httpx.get(f"{api}/api/agents/coder/models", headers=reader).json()
    assert {m["modelId"]: m["tier"] for m in models["qualifying"]} == {
        "boreal": None,
        "dune": "fallback",
    }
    why = {e["modelId"]: (e["stage"], e["detail"]) for e in models["excluded"]}
    assert why["atlas"] == ("performance", "costs 3e-05 USD a token, above maxCostPerToken 1e-05")
    assert why["cirrus"][0] == "status"
    is_problem(httpx.get(f"{api}/api/agents/nobody/preferences", headers=reader), 404)


def spent_event(n: int, workspace: str, cost: float) -> dict[str, Any]:
    event = make_event("success", event_id=f"spend-{workspace}-{n}", response_time_ms=900.0)
    event["routing_decision"]["selected_model"] = "atlas"
    return {**event, "workspace_id": workspace, "usage": {"cost_usd": cost}}


def test_a_workspace_budget_moves_requests_to_cheaper_models_then_refuses(
    api: str, fleet: dict[str, dict[str, str]], engine: Engine, worker: Any
) -> None:
    """Spend reported by events, ingested by a real worker: as a workspace's daily budget runs
    out its requests go to cheaper models, then are refused naming the workspace, the period,
    the spend and the limit; another workspace with the same config is untouched."""
    operator, instance, reader = fleet["operator"], fleet["instance"], fleet["reader"]
    settled(api, instance)
    config = {"budgetLimits": {"daily": 0.02, "timeZone": "Europe/Paris", "warningRatio": 0.5}}
    for workspace in ("ws-tight", "ws-idle"):
        made = httpx.post(f"{api}/api/workspaces/{workspace}/config", json=config, headers=operator)
        assert made.status_code == 200, made.text
    # atlas's estimate for this request is about 0.0152 USD, boreal's 0.0015, dune's 0.0008.
    assert chosen(api, instance, workspaceId="ws-tight")["modelId"] == "atlas"

    def spend(n: int, cost: float, expect: float) -> None:
        sent = httpx.post(
            f"{api}/api/events", json=[spent_event(n, "ws-tight", cost)], headers=instance
        )
        assert sent.status_code == 202, sent.text

        def reached() -> bool:
            budget = httpx.get(f"{api}/api/workspaces/ws-tight/budget", headers=reader).json()
            return bool(budget["periods"][0]["spent"] == pytest.approx(expect))

        wait_for(reached, 30, message=f"a spend of {expect}")

    spend(1, 0.01, 0.01)
    budget = httpx.get(f"{api}/api/workspaces/ws-tight/budget", headers=reader).json()
    assert budget["timeZone"] == "Europe/Paris"
    assert budget["periods"] == [
        {"period": "daily", "spent": 0.01, "limit": 0.02, "remaining": 0.01, "warning": True}
    ]
    wait_for(
        lambda: chosen(api, instance, workspaceId="ws-tight")["modelId"] == "boreal",
        10,
        message="the spend seen by the router",
    )
    assert chosen(api, instance, workspaceId="ws-tight")["reason"] == "budget"
    assert chosen(api, instance, workspaceId="ws-idle")["modelId"] == "atlas"  # untouched

    spend(2, 0.0093, 0.0193)  # 0.0007 left: not even dune fits
    wait_for(lambda: route(api, instance, workspaceId="ws-tight").status_code == 402, 10,
             message="the refusal")  # fmt: skip
    problem = is_problem(route(api, instance, workspaceId="ws-tight"), 402)
    assert problem["errors"][0]["field"] == "body.workspaceId"
    assert (
        "workspace daily:ws-tight" in problem["detail"] and "limit $0.020000" in problem["detail"]
    )

    spend(3, 0.001, 0.0203)  # past the limit: refused before any model is looked at
    wait_for(
        lambda: "daily budget spent" in route(api, instance, workspaceId="ws-tight").text,
        10,
        message="the period spent",
    )
    problem = is_problem(route(api, instance, workspaceId="ws-tight"), 402)
    assert problem["detail"] == "workspace ws-tight: daily budget spent (0.0203 of 0.02 USD)"
    dry = httpx.post(
        f"{api}/api/routing/test", json={"workspaceId": "ws-tight"}, headers=reader
    ).json()
    assert dry["decision"] is None and "has spent 0.0203 USD of its daily limit" in dry["refused"]
    assert chosen(api, instance, workspaceId="ws-idle")["modelId"] == "atlas"


def test_workspace_configs_and_agent_preferences_are_read_replaced_and_removed(
    api: str, fleet: dict[str, dict[str, str]], engine: Engine
) -> None:
    operator, reader = fleet["operator"], fleet["reader"]
    url = f"{api}/api/workspaces/ws-x/config"
    is_problem(httpx.get(url, headers=reader), 404)
    first = httpx.post(url, json={"modelRestrictions": ["atlas"]}, headers=operator).json()
    got = httpx.get(url, headers=reader).json()
    assert got["modelRestrictions"]["allowedModels"] == ["atlas"]
    assert (got["workspaceId"], got["version"]) == ("ws-x", first["version"])
    replaced = httpx.post(url, json={"budgetLimits": {"daily": 3}}, headers=operator).json()
    assert replaced["version"] > first["version"]
    assert replaced["modelRestrictions"]["allowedModels"] == []  # replaced whole, not merged
    is_problem(httpx.delete(url, headers=reader), 403)
    assert httpx.delete(url, headers=operator).status_code == 204
    is_problem(httpx.get(url, headers=reader), 404)

    prefs = f"{api}/api/agents/coder/preferences"
    httpx.post(prefs, json={"preferredModels": ["dune"]}, headers=operator).raise_for_status()
    assert httpx.delete(prefs, headers=operator).status_code == 204
    is_problem(httpx.delete(prefs, headers=operator), 404)
    assert stored_pieces(engine) == 0
    with engine.connect() as conn:  # every write and removal is in the outbox, versioned
        versions = list(
            conn.execute(text("SELECT version FROM policy_changes ORDER BY id")).scalars()
        )
    assert len(versions) == 5 and versions == sorted(set(versions))
