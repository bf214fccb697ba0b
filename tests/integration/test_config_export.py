"""The whole configuration out and in, over HTTP and from the shell: export, import into an empty
database, export again gives the same bytes; an import with one bad entry changes nothing and
names the entry; a dry run answers the diff and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy import Engine, text

from routelearn.domain.api_keys import Role
from routelearn.settings import Settings
from routelearn.store import api_keys
from tests.conftest import TABLES
from tests.integration.test_api import bearer, is_problem, serving
from tests.integration.test_api_route import set_score
from tests.services import ON_AMQP, run_cli_process

pytestmark = [pytest.mark.integration]

CONFIGURED = ("models", "model_endpoints", "routing_policy", "model_scores")


@pytest.fixture(scope="module")
def api(settings: Settings) -> Iterator[str]:
    update: dict[str, Any] = {"api_rate_limit": 0} if ON_AMQP else {}
    with serving(settings.model_copy(update=update)) as base:
        yield base


def admin(engine: Engine) -> dict[str, str]:
    return bearer(api_keys.create(engine, "admin", Role.ADMIN)[1])


def configure(api: str, key: dict[str, str], engine: Engine) -> None:
    """A bit of everything, through the API."""
    for name, provider, regions in (("atlas", "openai", ["eu"]), ("boreal", "anthropic", [])):
        httpx.post(
            f"{api}/api/models",
            json={
                "modelId": name,
                "name": name.title(),
                "provider": provider,
                "capabilities": [{"type": "chat", "maxTokens": 8192}],
                "prices": {"inputPer1k": 0.001, "outputPer1k": 0.002},
                "tags": ["gdpr"],
                "regions": regions,
                "parameters": {"temperature": 0.7},
            },
            headers=key,
        ).raise_for_status()
    httpx.post(
        f"{api}/api/models/atlas/endpoints",
        json={"url": "https://eu.example.com/v1", "weight": 2.0},
        headers=key,
    ).raise_for_status()
    httpx.post(
        f"{api}/api/routing/rules",
        json={
            "name": "creative",
            "condition": {"agentType": ["creative"], "contentLength": {"max": 2000}},
            "targetModels": [
                {"modelId": "atlas", "weight": 0.7, "fallbackOrder": 1},
                {"modelId": "boreal", "weight": 0.3, "fallbackOrder": 2},
            ],
            "trafficSplit": {"primary": 90, "canary": 10},
            "priority": 5,
        },
        headers=key,
    ).raise_for_status()
    httpx.post(
        f"{api}/api/agents/coder/preferences",
        json={"preferredModels": ["boreal"], "performanceRequirements": {"maxLatency": 900}},
        headers=key,
    ).raise_for_status()
    httpx.post(
        f"{api}/api/workspaces/ws-1/config",
        json={"modelRestrictions": ["atlas"], "budgetLimits": {"monthly": 250.5}},
        headers=key,
    ).raise_for_status()
    set_score(engine, "atlas", "complex", 4.25, 3)
    set_score(engine, "boreal", "simple", 3.5, 1)


def empty(engine: Engine) -> None:
    with engine.begin() as conn:
        conn.exec_driver_sql(
            f"TRUNCATE {', '.join(t for t in TABLES if t != 'api_keys')} RESTART IDENTITY"
        )


def test_export_import_into_an_empty_database_export_again_is_identical(
    api: str, engine: Engine, settings: Settings, clean: None
) -> None:
    key = admin(engine)
    configure(api, key, engine)
    exported = {}
    for fmt in ("json", "yaml"):
        response = httpx.get(f"{api}/api/config/export?format={fmt}", headers=key)
        assert response.status_code == 200, response.text
        exported[fmt] = response.text
    config = yaml.safe_load(exported["yaml"])["config"]
    assert [m["modelId"] for m in config["models"]] == ["atlas", "boreal"]
    assert config["modelEndpoints"]["atlas"][0]["url"] == "https://eu.example.com/v1"
    assert config["routingRules"][0]["trafficSplit"] == {"primary": 90.0, "canary": 10.0}
    assert config["scores"] == {"atlas": {"complex": 4.25}, "boreal": {"simple": 3.5}}
    assert "version" not in config["routingRules"][0]  # nothing of when or where

    empty(engine)
    assert httpx.get(f"{api}/api/config/export", headers=key).json()["config"]["models"] == []
    imported = httpx.post(
        f"{api}/api/config/import",
        content=exported["yaml"],
        headers={**key, "Content-Type": "application/yaml"},
    )
    assert imported.status_code == 200, imported.text
    result = imported.json()
    assert result["applied"] is True
    assert result["sections"]["models"] == {"added": ["atlas", "boreal"], "changed": [],
                                            "unchanged": 0}  # fmt: skip
    assert len(result["sections"]["routingRules"]["added"]) == 1
    for fmt in ("json", "yaml"):
        again = httpx.get(f"{api}/api/config/export?format={fmt}", headers=key).text
        assert again == exported[fmt]

    # The shell's export is the same document; its import of it changes nothing.
    shell = run_cli_process(settings, "config", "export", "--format", "json")
    assert shell.returncode == 0, shell.stderr
    assert shell.stdout == exported["json"]
    path = settings_dir(settings) / "config.json"
    path.write_text(exported["json"])
    same = run_cli_process(settings, "config", "import", str(path))
    assert same.returncode == 0, same.stderr
    assert "models: 0 added, 0 changed, 2 unchanged" in same.stdout
    assert same.stdout.strip().endswith("imported")


def settings_dir(settings: Settings) -> Any:
    from tests.services import ROOT

    folder = ROOT / ".pytest_cache" / "config-export"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def count(engine: Engine) -> dict[str, int]:
    with engine.connect() as conn:
        return {
            t: int(conn.execute(text(f"SELECT count(*) FROM {t}")).scalar_one()) for t in CONFIGURED
        }


def test_a_bad_entry_refuses_the_import_whole_and_a_dry_run_writes_nothing(
    api: str, engine: Engine, clean: None
) -> None:
    key = admin(engine)
    configure(api, key, engine)
    document = httpx.get(f"{api}/api/config/export", headers=key).json()
    before = count(engine)

    document["config"]["models"].append({"modelId": "cirrus", "name": "Cirrus", "provider": "x"})
    rule = dict(document["config"]["routingRules"][0], id="rule-new", name="new")
    del rule["trafficSplit"]  # one target: no canary to split to
    rule["targetModels"] = [{"modelId": "ghost", "weight": 1.0, "fallbackOrder": 1}]
    document["config"]["routingRules"].append(rule)
    refused = is_problem(httpx.post(f"{api}/api/config/import", json=document, headers=key), 422)
    assert refused["errors"] == [
        {
            "field": "body.config.routingRules.1.targetModels.0.modelId",
            "value": "ghost",
            "message": "not in the model registry",
        }
    ]
    bad_weight = dict(rule, targetModels=[{"modelId": "atlas", "weight": 0.5, "fallbackOrder": 1}])
    document["config"]["routingRules"][1] = bad_weight
    refused = is_problem(httpx.post(f"{api}/api/config/import", json=document, headers=key), 422)
    assert refused["errors"][0]["field"] == "body.config.routingRules.1.targetModels"
    assert count(engine) == before  # cirrus, valid on its own, was not registered either

    document["config"]["routingRules"][1] = dict(rule, targetModels=[
        {"modelId": "cirrus", "weight": 1.0, "fallbackOrder": 1}])  # fmt: skip
    document["config"]["scores"]["atlas"]["complex"] = 1.0
    dry = httpx.post(f"{api}/api/config/import?dryRun=true", json=document, headers=key)
    assert dry.status_code == 200, dry.text
    diff = dry.json()
    assert diff["applied"] is False
    assert diff["sections"]["models"]["added"] == ["cirrus"]
    assert diff["sections"]["routingRules"]["added"] == ["rule-new"]
    # atlas/complex was set by the learner (set_score): the import keeps it unless asked.
    assert diff["learnedScoresKept"] == ["atlas complex"]
    assert count(engine) == before

    reader = bearer(api_keys.create(engine, "reader", Role.READER)[1])
    is_problem(httpx.post(f"{api}/api/config/import", json=document, headers=reader), 403)
    forced = httpx.post(
        f"{api}/api/config/import?overwriteLearned=true", json=document, headers=key
    ).json()
    assert forced["applied"] and forced["sections"]["scores"]["changed"] == ["atlas complex"]
    exported = httpx.get(f"{api}/api/config/export", headers=key).json()["config"]
    assert exported["scores"]["atlas"]["complex"] == 1.0
    assert [r["id"] for r in exported["routingRules"]][-1] == "rule-new"
