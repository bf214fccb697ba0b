"""The routing policy's decision, in order: restrictions, compliance, capabilities, performance,
quality, budget, then the tiers of the rule that matched and of the agent's preferences."""

from __future__ import annotations

from typing import Any

import pytest

from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    RoutingRule,
    WorkspaceConfig,
)
from routelearn.domain.routing_policy.engine import (
    Arm,
    BudgetExhausted,
    ModelFacts,
    PolicyState,
    RequestFacts,
    Stage,
    TierKind,
    evaluate,
)

MODELS = (
    ModelFacts(
        "gpt-4",
        "openai",
        frozenset({"chat", "vision"}),
        frozenset({"gdpr"}),
        frozenset({"us", "eu"}),
        0.00006,
        0.99,
        1200.0,
    ),
    ModelFacts(
        "claude",
        "anthropic",
        frozenset({"chat"}),
        frozenset({"gdpr", "hipaa"}),
        frozenset({"us"}),
        0.000075,
        0.97,
        2000.0,
    ),
    ModelFacts(
        "mini", "openai", frozenset({"chat"}), frozenset(), frozenset({"eu"}), 0.000002, 0.90, 400.0
    ),
    ModelFacts("local", "self", frozenset({"chat"}), frozenset(), frozenset(), None, None, None),
)


def rule(rule_id: str, targets: list[tuple[str, float]], **fields: Any) -> RoutingRule:
    return RoutingRule.model_validate(
        {
            "id": rule_id,
            "name": rule_id,
            "targetModels": [
                {"modelId": m, "weight": w, "fallbackOrder": i + 1}
                for i, (m, w) in enumerate(targets)
            ],
            **fields,
        }
    )


def state(
    rules: list[RoutingRule] = (),  # type: ignore[assignment]
    agents: dict[str, dict[str, Any]] | None = None,
    workspaces: dict[str, dict[str, Any]] | None = None,
) -> PolicyState:
    return PolicyState.of(
        rules,
        {k: AgentPreferences.model_validate(v) for k, v in (agents or {}).items()},
        {k: WorkspaceConfig.model_validate(v) for k, v in (workspaces or {}).items()},
    )


def excluded(verdict: Any) -> dict[str, Stage]:
    return {e.model: e.stage for e in verdict.excluded}


def test_no_policy_allows_every_model_and_sets_no_tier() -> None:
    verdict = evaluate(PolicyState(), RequestFacts(), MODELS)
    assert verdict.allowed == {"gpt-4", "claude", "mini", "local"}
    assert verdict.tiers == () and verdict.rule is None and verdict.budget is None


def test_workspace_restrictions_blocked_wins_over_allowed() -> None:
    policy = state(
        workspaces={
            "ws": {
                "modelRestrictions": {
                    "allowedModels": ["gpt-4", "claude", "mini"],
                    "blockedModels": ["claude"],
                    "blockedProviders": ["self"],
                }
            }
        }
    )
    verdict = evaluate(policy, RequestFacts(workspace_id="ws"), MODELS)
    assert verdict.allowed == {"gpt-4", "mini"}
    assert excluded(verdict) == {"claude": Stage.RESTRICTION, "local": Stage.RESTRICTION}
    # Another workspace, or none, is untouched.
    assert len(evaluate(policy, RequestFacts(workspace_id="other"), MODELS).allowed) == 4


def test_compliance_reads_providers_regions_and_tags() -> None:
    regions = state(workspaces={"ws": {"complianceRequirements": {"allowedRegions": ["eu"]}}})
    verdict = evaluate(regions, RequestFacts(workspace_id="ws"), MODELS)
    assert verdict.allowed == {"gpt-4", "mini"}
    detail = {e.model: e.detail for e in verdict.excluded}
    assert detail["local"] == "regions (no region registered) outside the allowed ones"
    tags = state(workspaces={"ws": {"complianceRequirements": ["gdpr", "hipaa"]}})
    assert evaluate(tags, RequestFacts(workspace_id="ws"), MODELS).allowed == {"claude"}


def test_capabilities_of_the_request_and_of_the_agent() -> None:
    policy = state(agents={"vision-bot": {"requiredCapabilities": ["vision"]}})
    verdict = evaluate(policy, RequestFacts(agent_type="vision-bot"), MODELS)
    assert verdict.allowed == {"gpt-4"} and verdict.required == {"vision"}
    assert excluded(verdict)["mini"] is Stage.CAPABILITY


def test_performance_requirements_judge_learned_metrics_and_prices() -> None:
    policy = state(
        agents={
            "a": {
                "performanceRequirements": {
                    "minSuccessRate": 0.95,
                    "maxLatency": 1500,
                    "maxCostPerToken": 0.0001,
                }
            }
        }
    )
    verdict = evaluate(policy, RequestFacts(agent_type="a"), MODELS)
    # claude is too slow, mini fails too often, local has no prices to check the ceiling.
    assert verdict.allowed == {"gpt-4"}
    assert set(excluded(verdict).values()) == {Stage.PERFORMANCE}
    detail = {e.model: e.detail for e in verdict.excluded}
    assert detail["claude"] == "latency 2000 ms above 1500 ms"
    assert detail["mini"] == "success rate 0.900 below 0.95"
    assert "no prices" in detail["local"]


def test_quality_requirements_leave_a_model_without_evidence_in() -> None:
    policy = state(workspaces={"ws": {"qualityRequirements": {"minSuccessRate": 0.98}}})
    verdict = evaluate(policy, RequestFacts(workspace_id="ws"), MODELS)
    assert verdict.allowed == {"gpt-4", "local"}  # local: no evidence yet, not judged
    assert excluded(verdict) == {"claude": Stage.QUALITY, "mini": Stage.QUALITY}


def test_budget_the_tightest_period_and_a_refusal_at_the_limit() -> None:
    policy = state(workspaces={"ws": {"budgetLimits": {"daily": 10, "monthly": 100}}})
    facts = RequestFacts(workspace_id="ws")
    status = evaluate(policy, facts, MODELS, spend={"daily": 7.0, "monthly": 95.0}).budget
    assert status is not None
    # daily has the least left; monthly, at 95%, is past the warning ratio (0.8).
    assert (status.period, status.remaining, status.warning) == ("daily", 3.0, True)
    quiet = evaluate(policy, facts, MODELS, spend={"daily": 1.0, "monthly": 2.0}).budget
    assert quiet is not None and (quiet.period, quiet.warning) == ("daily", False)
    with pytest.raises(BudgetExhausted) as exc:
        evaluate(policy, facts, MODELS, spend={"daily": 10.0, "monthly": 50.0})
    assert str(exc.value) == "workspace 'ws' has spent 10 USD of its daily limit of 10 USD"


def test_the_highest_priority_matching_enabled_rule_applies() -> None:
    rules = [
        rule("low", [("mini", 1.0)], priority=1),
        rule("high", [("claude", 1.0)], priority=9, condition={"agentType": ["creative"]}),
        rule("off", [("local", 1.0)], priority=99, enabled=False),
        rule("long", [("gpt-4", 1.0)], priority=5, condition={"contentLength": {"min": 1000}}),
    ]
    policy = state(rules)
    assert evaluate(policy, RequestFacts(agent_type="creative"), MODELS).rule == "high"
    assert evaluate(policy, RequestFacts(agent_type="other"), MODELS).rule == "low"
    long = RequestFacts(agent_type="other", content_length=1000)
    assert evaluate(policy, long, MODELS).rule == "long"
    # A condition on agent types does not match a request that says none.
    assert evaluate(policy, RequestFacts(), MODELS).rule == "low"


def test_weights_pick_the_first_tier_and_the_rest_follow_in_fallback_order() -> None:
    policy = state([rule("r", [("claude", 0.7), ("gpt-4", 0.2), ("mini", 0.1)])])
    picks = {}
    for draw in (0.0, 0.69, 0.7, 0.89, 0.9, 0.999):
        verdict = evaluate(policy, RequestFacts(), MODELS, draw=draw)
        picks[draw] = [tier.models for tier in verdict.tiers]
        assert {t.kind for t in verdict.tiers} == {TierKind.RULE} and verdict.arm is None
    assert picks[0.0] == picks[0.69] == [("claude",), ("gpt-4",), ("mini",)]
    assert picks[0.7] == picks[0.89] == [("gpt-4",), ("claude",), ("mini",)]
    assert picks[0.9] == picks[0.999] == [("mini",), ("claude",), ("gpt-4",)]


def test_a_traffic_split_sends_its_canary_share_to_the_other_targets() -> None:
    split = {"trafficSplit": {"primary": 80, "canary": 20}}
    policy = state([rule("r", [("claude", 0.5), ("gpt-4", 0.25), ("mini", 0.25)], **split)])
    arms = []
    for draw in (0.0, 0.79, 0.8, 0.89, 0.9, 0.99):
        verdict = evaluate(policy, RequestFacts(), MODELS, draw=draw)
        arms.append((verdict.arm, verdict.tiers[0].models[0]))
    assert arms == [
        (Arm.PRIMARY, "claude"),
        (Arm.PRIMARY, "claude"),
        (Arm.CANARY, "gpt-4"),
        (Arm.CANARY, "gpt-4"),
        (Arm.CANARY, "mini"),
        (Arm.CANARY, "mini"),
    ]


def test_excluded_targets_drop_out_of_the_tiers_and_agent_tiers_follow() -> None:
    policy = state(
        [rule("r", [("claude", 1.0), ("local", 0.0)])],
        agents={"a": {"preferredModels": ["gpt-4", "claude"], "fallbackModels": ["mini"]}},
        workspaces={"ws": {"modelRestrictions": {"blockedModels": ["claude"]}}},
    )
    verdict = evaluate(policy, RequestFacts(agent_type="a", workspace_id="ws"), MODELS)
    assert [(t.kind, t.models) for t in verdict.tiers] == [
        (TierKind.RULE, ("local",)),
        (TierKind.PREFERRED, ("gpt-4",)),
        (TierKind.FALLBACK, ("mini",)),
    ]
