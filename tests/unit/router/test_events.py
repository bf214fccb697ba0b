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
