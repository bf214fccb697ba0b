"""The JSON Schemas in schema/ are current, and agree with the code that validates the formats."""

from __future__ import annotations

import json
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from routelearn.domain import json_schema
from routelearn.instance.catalog import ModelCatalog
from tests.factories import make_event, score_update
from tests.services import ROOT


def validator(name: str) -> Draft202012Validator:
    schema = json.loads((ROOT / "schema" / name).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


@pytest.mark.parametrize("name", sorted(json_schema.SCHEMAS))
def test_the_files_are_current(name: str) -> None:
    assert (ROOT / "schema" / name).read_text() == json_schema.render(name), (
        f"schema/{name} is stale: python -m routelearn.domain.json_schema schema/"
    )


def test_events_the_workers_accept_match_and_those_they_refuse_do_not() -> None:
    events = validator("routing-event.schema.json")
    good = make_event("success", response_time_ms=120.0)
    assert events.is_valid(json.loads(json.dumps(good)))
    for bad in (
        {**good, "surprise": 1},  # extra fields are refused
        {**good, "routing_decision": {**good["routing_decision"], "complexity_score": 7}},
        {**good, "routing_decision": {**good["routing_decision"], "outcome": "maybe"}},
        {k: v for k, v in good.items() if k != "instance_id"},
    ):
        assert not events.is_valid(bad), bad


def update(**changes: Any) -> dict[str, Any]:
    return {**score_update(2, 4.1, model="m").to_message(), **changes}


def test_score_messages_match_what_the_subscriber_reads() -> None:
    messages = validator("score-message.schema.json")
    assert messages.is_valid({"updates": [update(), update(old_score=4.1, version=3)]})
    for bad in (update(new_score=5.5), update(version=0), update(complexity="hard")):
        assert not messages.is_valid({"updates": [bad]}), bad
    catalog = ModelCatalog.from_config(
        {"version": 1, "models": [{"name": "m", "provider": "p", "scores": {"complex": 4.0}}]}
    )
    assert messages.is_valid({"snapshot": catalog.snapshot()})
    # Every field the producer writes is in the schema.
    properties = json_schema.score_message()["$defs"]["update"]["properties"]
    assert set(update()) == set(properties)


def test_registry_changes_in_rounds_and_snapshots_match_what_the_catalog_reads() -> None:
    from datetime import UTC, datetime

    from routelearn.domain.registry import ModelRecord, RegistryChange

    messages = validator("score-message.schema.json")
    record = ModelRecord.model_validate(
        {"name": "m", "provider": "p", "prices": {"inputPer1k": 0.1, "outputPer1k": 0.2}}
    )
    change = RegistryChange.of(record, 4, datetime.now(UTC))
    sent = change.to_message()
    assert messages.is_valid({"updates": [], "models": [sent]})
    assert messages.is_valid({"snapshot": {"models": {}, "registry": [sent]}})
    for bad in ({**sent, "status": "gone"}, {**sent, "version": 0}, {**sent, "provider": ""}):
        assert not messages.is_valid({"updates": [], "models": [bad]}), bad
    properties = json_schema.score_message()["$defs"]["registry_change"]["properties"]
    assert set(sent) == set(properties)
    assert RegistryChange.from_message(sent) == change  # what the schema admits, the catalog reads


def test_policy_changes_and_spend_reports_match_what_the_subscriber_reads() -> None:
    from datetime import UTC, datetime

    from routelearn.domain.routing_policy.change import PolicyChange, PolicyKind
    from routelearn.domain.routing_policy.config import RoutingRule, WorkspaceConfig
    from routelearn.domain.routing_policy.spend import SpendReport

    messages = validator("score-message.schema.json")
    now = datetime.now(UTC)
    rule = RoutingRule.model_validate(
        {
            "id": "rule-1",
            "name": "r",
            "targetModels": [{"modelId": "m", "weight": 1.0, "fallbackOrder": 1}],
        }
    )
    workspace = WorkspaceConfig.model_validate({"budgetLimits": {"daily": 5}})
    sent = [
        PolicyChange(PolicyKind.RULE, "rule-1", 3, rule, now).to_message(),
        PolicyChange(PolicyKind.WORKSPACE, "ws", 4, workspace, now).to_message(),
        PolicyChange(PolicyKind.AGENT, "coder", 5, None, now).to_message(),
    ]
    spend = SpendReport(now, {"ws": {"daily": 1.0, "weekly": 2.0, "monthly": 3.0}}).to_message()
    assert messages.is_valid({"updates": [], "policy": sent, "spend": spend})
    assert messages.is_valid({"snapshot": {"models": {}}, "policy": sent})
    broken_rule = {**sent[0], "document": {**sent[0]["document"], "priority": -1}}
    wrong_kind = {**sent[1], "kind": "rule"}  # a workspace's document is not a rule
    for bad in (broken_rule, wrong_kind, {**sent[2], "version": 0}):
        assert not messages.is_valid({"updates": [], "policy": [bad]}), bad
    assert not messages.is_valid(
        {"updates": [], "spend": {**spend, "workspaces": {"ws": {"daily": -1}}}}
    )
    for message in sent:  # what the schema admits, the subscriber reads
        assert PolicyChange.from_message(message).to_message() == message
    assert SpendReport.from_message(spend).to_message() == spend
    from routelearn.domain.routing_policy.quality import Quality, QualityReport

    quality = QualityReport(now, {("m", "complex"): Quality(0.9, 450.0, 40)}).to_message()
    assert messages.is_valid({"updates": [], "quality": quality})
    assert QualityReport.from_message(quality).to_message() == quality
    broken = {**quality, "models": {"m": {"complex": {**quality["models"]["m"]["complex"],
                                                      "success_rate": 1.5}}}}  # fmt: skip
    assert not messages.is_valid({"updates": [], "quality": broken})


def test_estimate_reports_match_what_the_subscriber_reads() -> None:
    from datetime import UTC, datetime

    from routelearn.domain.estimates import Estimate, EstimateReport

    messages = validator("score-message.schema.json")
    report = EstimateReport(
        datetime(2026, 12, 4, tzinfo=UTC),
        "calibrated",
        {("m", "complex"): Estimate(4.2, 0.31), ("m", "simple"): Estimate(0.0, 1.5)},
    ).to_message()
    assert messages.is_valid({"updates": [], "estimates": report})
    assert messages.is_valid({"snapshot": {"models": {}}, "estimates": report})
    assert EstimateReport.from_message(report).to_message() == report
    for bad in ([5.5, 0.1], [4.0, -0.1], [4.0], "4.0"):
        broken = {**report, "models": {"m": {"complex": bad}}}
        assert not messages.is_valid({"updates": [], "estimates": broken}), bad
        with pytest.raises(ValueError, match=r"estimate report: models\.m\.complex"):
            EstimateReport.from_message(broken)
