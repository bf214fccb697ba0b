"""The events the router publishes, its errors, and what it imports."""

from __future__ import annotations

import subprocess
import sys

import pytest

from routelearn.domain.event import Complexity, Outcome, Prefer
from routelearn.instance.router import (
    BudgetExceededError,
    Decision,
    NoModelAvailableError,
    Reason,
    decision_event,
)
from tests.unit.router.fakes import validate


def decision(**changes: object) -> Decision:
    values: dict[str, object] = {
        "decision_id": "d-1",
        "model": "m",
        "provider": "p",
        "complexity": Complexity.COMPLEX,
        "score": 4.25,
        "reason": Reason.BEST,
        "exploratory": False,
        "estimated_cost": None,
        "capabilities": ("vision",),
        "prefer": Prefer.COST,
        "user_model_request": None,
    }
    return Decision(**{**values, **changes})  # type: ignore[arg-type]


def test_outcome_events_carry_the_response_time_within_the_schema_bounds() -> None:
    event = decision_event("i-1", decision(), Outcome.FAILURE, 1234)
    parsed = validate(event)
    assert parsed.routing_decision.response_time_ms == 1234.0
    assert isinstance(event["routing_decision"]["response_time_ms"], float)
    assert (parsed.event_id, parsed.decision_id) == ("d-1:failure", "d-1")
    assert validate(decision_event("i", decision(), Outcome.SUCCESS, -5.0)).routing_decision
    too_long = decision_event("i", decision(), Outcome.SUCCESS, 1e12)
    assert too_long["routing_decision"]["response_time_ms"] == 86_400_000.0


def test_the_exploratory_key_appears_only_for_exploratory_decisions_with_the_flag() -> None:
    explored = decision(exploratory=True, reason=Reason.EXPLORATION)
    assert decision_event("i", explored, Outcome.ROUTED, exploratory_flag=True)["routing_decision"][
        "exploratory"
    ]
    assert "exploratory" not in decision_event("i", explored, Outcome.ROUTED)["routing_decision"]
    plain = decision_event("i", decision(), Outcome.ROUTED, exploratory_flag=True)
    assert "exploratory" not in plain["routing_decision"]


def test_errors_name_what_was_missing() -> None:
    error = NoModelAvailableError("complex", ["vision"], capable=3, circuit_open=2, tried=1)
    assert str(error) == (
        "no model available for complexity 'complex' with capabilities ['vision'] "
        "(3 capable: 2 with an open circuit, 1 already tried)"
    )
    assert "no enabled model has them" in str(NoModelAvailableError("simple", ["x"]))
    budget = BudgetExceededError(("instance", "web-1"), 5.0, 4.99, 0.02, "gpt-4o")
    assert str(budget) == (
        "budget exceeded for scope instance:web-1: limit $5.000000, spent $4.990000, "
        "remaining $0.010000; the cheapest capable model (gpt-4o) needs an estimated $0.020000"
    )


@pytest.mark.timeout(60)
def test_the_router_imports_neither_celery_nor_a_database_driver() -> None:
    code = (
        "import sys, routelearn.instance.router\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'celery', 'kombu', 'redis', 'psycopg', 'sqlalchemy', 'alembic'})\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_the_router_fills_attribution_usage_and_the_rule_and_workers_take_them() -> None:
    from datetime import UTC, datetime

    from routelearn.domain.routing_policy.change import PolicyChange, PolicyKind
    from routelearn.domain.routing_policy.config import RoutingRule
    from routelearn.domain.validation import ValidEvent, validate_event
    from tests.unit.router.fakes import catalog, make_router, model

    cat = catalog(
        model("big", {"complex": 4.5}, prices=(0.01, 0.03)),
        model("small", {"complex": 3.0}, prices=(0.001, 0.002)),
    )
    rule = RoutingRule.model_validate(
        {
            "id": "rule-7",
            "name": "coders to small",
            "condition": {"agentType": ["coder"]},
            "targetModels": [
                {"modelId": "small", "weight": 1.0, "fallbackOrder": 1},
                {"modelId": "big", "weight": 0.0, "fallbackOrder": 2},
            ],
            "trafficSplit": {"primary": 100, "canary": 0},
        }
    )
    cat.policy.apply([PolicyChange(PolicyKind.RULE, "rule-7", 1, rule, datetime.now(UTC))])
    router, published, _ = make_router(cat)
    chosen = router.route("complex", agent_type="coder", workspace_id="ws-1", request_type="chat")
    router.report(chosen, True, 900.0, tokens=(1000, 500))
    routed, outcome = published.events
    assert (routed["workspace_id"], routed["agent_type"], routed["request_type"]) == (
        "ws-1",
        "coder",
        "chat",
    )
    assert routed["routing_decision"]["rule_id"] == "rule-7"
    assert routed["routing_decision"]["split_arm"] == "primary"
    assert "usage" not in routed
    assert outcome["usage"] == {
        "prompt_tokens": 1000,
        "completion_tokens": 500,
        "cost_usd": pytest.approx((1000 * 0.001 + 500 * 0.002) / 1000),
    }
    for event in (routed, outcome):  # the workers accept them as the router writes them
        valid = validate_event(event)
        assert isinstance(valid, ValidEvent) and valid.attribution is not None
    # Without the policy's inputs the events are the seed's format.
    plain = router.route("complex")
    assert "workspace_id" not in published.events[-1] and plain.rule is None
