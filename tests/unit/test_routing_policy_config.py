"""The routing policy's shapes validate themselves whole and name the field that is wrong."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from routelearn.domain.routing_policy.change import InvalidPolicyChange, PolicyChange, PolicyKind
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    RoutingRule,
    RuleSpec,
    WorkspaceConfig,
    model_references,
)

SEED_RULE: dict[str, Any] = {  # seed 004's example, as written there
    "name": "Creative Agent Claude Preference",
    "condition": {
        "agentType": ["creative"],
        "requestType": ["completion", "chat"],
        "contentLength": {"min": 100, "max": 2000},
    },
    "targetModels": [
        {"modelId": "claude-3-sonnet", "weight": 0.7, "fallbackOrder": 1},
        {"modelId": "gpt-4", "weight": 0.3, "fallbackOrder": 2},
    ],
    "trafficSplit": {"primary": 80, "canary": 20},
    "priority": 100,
    "enabled": True,
}
SEED_AGENT: dict[str, Any] = {
    "preferredModels": ["gpt-4", "claude-3-sonnet"],
    "fallbackModels": ["gpt-3.5-turbo"],
    "requiredCapabilities": ["text-generation"],
    "performanceRequirements": {
        "maxLatency": 5000,
        "minSuccessRate": 0.95,
        "maxCostPerToken": 0.01,
    },
}
SEED_WORKSPACE: dict[str, Any] = {
    "modelRestrictions": ["gpt-4", "claude-3-sonnet"],
    "budgetLimits": {"daily": 100, "weekly": 500, "monthly": 2000},
    "qualityRequirements": {"minSuccessRate": 0.95, "maxLatency": 5000},
    "complianceRequirements": ["gdpr", "ccpa", "hipaa"],
}


def error_at(exc: pytest.ExceptionInfo[ValidationError]) -> list[tuple[str, str]]:
    return [(".".join(str(p) for p in e["loc"]), e["msg"]) for e in exc.value.errors()]


def test_seed_004s_examples_are_valid_as_written() -> None:
    rule = RuleSpec.model_validate(SEED_RULE)
    assert rule.models() == ("claude-3-sonnet", "gpt-4")
    agent = AgentPreferences.model_validate(SEED_AGENT)
    assert agent.performance_requirements.max_cost_per_token == 0.01
    workspace = WorkspaceConfig.model_validate(SEED_WORKSPACE)
    # The seed's list forms: the models allowed, and tags a model must carry.
    assert workspace.model_restrictions.allowed_models == ("gpt-4", "claude-3-sonnet")
    assert workspace.compliance_requirements.required_tags == ("gdpr", "ccpa", "hipaa")
    assert workspace.budget_limits.limits() == {"daily": 100, "weekly": 500, "monthly": 2000}


@pytest.mark.parametrize(
    ("change", "where", "says"),
    [
        (
            {
                "targetModels": [
                    {"modelId": "a", "weight": 0.5, "fallbackOrder": 1},
                    {"modelId": "b", "weight": 0.4, "fallbackOrder": 2},
                ]
            },
            "targetModels",
            "weights must add up to 1, got 0.9 (a=0.5, b=0.4)",
        ),
        (
            {
                "targetModels": [
                    {"modelId": "a", "weight": 0.5, "fallbackOrder": 1},
                    {"modelId": "a", "weight": 0.5, "fallbackOrder": 2},
                ]
            },
            "targetModels",
            "'a' is listed twice",
        ),
        (
            {
                "targetModels": [
                    {"modelId": "a", "weight": 0.5, "fallbackOrder": 1},
                    {"modelId": "b", "weight": 0.5, "fallbackOrder": 1},
                ]
            },
            "targetModels",
            "fallbackOrder values must differ",
        ),
        ({"trafficSplit": {"primary": 80, "canary": 30}}, "trafficSplit", "add up to 110, not 100"),
        (
            {"condition": {"contentLength": {"min": 10, "max": 5}}},
            "condition.contentLength",
            "min 10 is above max 5",
        ),
        ({"condition": {"agentTypes": ["x"]}}, "condition.agentTypes", "Extra inputs"),
        ({"targetModels": []}, "targetModels", "at least 1"),
        ({"priority": -1}, "priority", "greater than or equal to 0"),
    ],
)
def test_a_bad_rule_is_refused_naming_the_field(
    change: dict[str, Any], where: str, says: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        RuleSpec.model_validate({**SEED_RULE, **change})
    found = error_at(exc)
    assert any(loc == where and says in msg for loc, msg in found), found


def test_a_split_with_a_canary_needs_a_second_target() -> None:
    one = {"targetModels": [{"modelId": "a", "weight": 1.0, "fallbackOrder": 1}]}
    with pytest.raises(ValidationError, match="needs a second target"):
        RuleSpec.model_validate({**SEED_RULE, **one})
    RuleSpec.model_validate({**SEED_RULE, **one, "trafficSplit": {"primary": 100, "canary": 0}})


@pytest.mark.parametrize(
    ("document", "where", "says"),
    [
        ({"budgetLimits": {"daily": -1}}, "budgetLimits.daily", "greater than or equal to 0"),
        ({"budgetLimits": {"daily": float("inf")}}, "budgetLimits.daily", "finite"),
        ({"budgetLimits": {"timeZone": "Mars/Olympus"}}, "budgetLimits.timeZone", "IANA"),
        ({"budgetLimits": {"warningRatio": 0}}, "budgetLimits.warningRatio", "greater than 0"),
        (
            {"qualityRequirements": {"minSuccessRate": 1.5}},
            "qualityRequirements.minSuccessRate",
            "less than or equal to 1",
        ),
        (
            {"modelRestrictions": {"blockedModel": ["a"]}},
            "modelRestrictions.blockedModel",
            "Extra inputs",
        ),
        (
            {"modelRestrictions": {"allowedModels": ["a", "a"]}},
            "modelRestrictions.allowedModels",
            "listed twice",
        ),
    ],
)
def test_a_bad_workspace_config_is_refused_naming_the_field(
    document: dict[str, Any], where: str, says: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        WorkspaceConfig.model_validate(document)
    found = error_at(exc)
    assert any(loc == where and says in msg for loc, msg in found), found


def test_an_agent_cannot_prefer_and_fall_back_to_the_same_model() -> None:
    with pytest.raises(ValidationError, match="preferred and fallback at once: gpt-4"):
        AgentPreferences.model_validate({**SEED_AGENT, "fallbackModels": ["gpt-4"]})


def test_model_references_name_each_field_path() -> None:
    assert model_references(RuleSpec.model_validate(SEED_RULE)) == [
        ("targetModels.0.modelId", "claude-3-sonnet"),
        ("targetModels.1.modelId", "gpt-4"),
    ]
    assert model_references(AgentPreferences.model_validate(SEED_AGENT))[-1] == (
        "fallbackModels.0",
        "gpt-3.5-turbo",
    )
    blocked = WorkspaceConfig.model_validate({"modelRestrictions": {"blockedModels": ["x"]}})
    assert model_references(blocked) == [("modelRestrictions.blockedModels.0", "x")]


def test_a_document_reads_back_to_itself() -> None:
    for model, document in (
        (RuleSpec, SEED_RULE),
        (AgentPreferences, SEED_AGENT),
        (WorkspaceConfig, SEED_WORKSPACE),
    ):
        parsed = model.model_validate(document)
        assert model.model_validate(parsed.document()) == parsed


def test_a_policy_change_survives_the_network_and_a_bad_one_is_named() -> None:
    from datetime import UTC, datetime

    rule = RoutingRule.model_validate({**SEED_RULE, "id": "rule-1"})
    change = PolicyChange(PolicyKind.RULE, "rule-1", 7, rule, datetime(2026, 12, 3, tzinfo=UTC))
    assert PolicyChange.from_message(change.to_message()) == change
    removed = PolicyChange(PolicyKind.AGENT, "creative", 8, None, change.timestamp)
    assert PolicyChange.from_message(removed.to_message()) == removed
    bad = {**change.to_message(), "document": {**rule.document(), "priority": "high"}}
    with pytest.raises(InvalidPolicyChange, match="priority"):
        PolicyChange.from_message(bad)
    with pytest.raises(InvalidPolicyChange, match="version"):
        PolicyChange.from_message({**change.to_message(), "version": 0})
