"""A batch's usage deltas: requests are the events that open a decision, outcomes and latency
come from the outcome events, tokens and cost add up; events without attribution add nothing."""

from __future__ import annotations

from typing import Any

from routelearn.domain.usage import NONE, spend_deltas, usage_deltas
from routelearn.domain.validation import ValidEvent, validate_event
from tests.factories import make_event


def valid(event: dict[str, Any]) -> ValidEvent:
    result = validate_event(event)
    assert isinstance(result, ValidEvent)
    return result


def test_requests_outcomes_and_cost_per_workspace() -> None:
    at = "2026-12-03T10:05:00Z"
    routed = make_event("routed", decision_id="d1", event_id="d1:r", timestamp=at)
    outcome = make_event("success", decision_id="d1", event_id="d1:s", timestamp=at,
                         response_time_ms=250.0)  # fmt: skip
    alone = make_event("failure", event_id="x", timestamp=at, response_time_ms=900.0)
    plain = make_event("success", event_id="plain", timestamp=at)
    events = [
        valid({**routed, "workspace_id": "ws"}),
        valid({**outcome, "workspace_id": "ws", "usage": {"cost_usd": 0.5, "prompt_tokens": 7}}),
        valid({**alone, "agent_type": "coder"}),
        valid(plain),
    ]
    deltas = usage_deltas(events)
    assert len(deltas) == 2  # the event without attribution adds nothing
    (first_key, first), (second_key, second) = deltas.items()
    assert first_key[2:4] == (NONE, "coder") and second_key[2:4] == ("ws", NONE)
    assert (first.requests, first.outcomes.failure, first.outcomes.rt_count) == (1, 1, 1)
    assert (second.events, second.requests, second.outcomes.success) == (2, 1, 1)
    assert (second.prompt_tokens, second.cost_usd) == (7, 0.5)
    spend = spend_deltas(events)
    assert [(k[0], v.cost_usd) for k, v in spend.items()] == [("ws", 0.5)]
