"""A batch's usage deltas count as the metrics count: a request is the event that opened a
decision the batch created, an outcome the one its decision counted first; tokens and cost add
up from those events only; events without attribution add nothing."""

from __future__ import annotations

from typing import Any

from routelearn.domain.decisions import fold_decisions
from routelearn.domain.usage import NONE, counted_events, spend_deltas, usage_deltas
from routelearn.domain.validation import ValidEvent, validate_event
from tests.factories import make_event

AT = "2026-12-03T10:05:00Z"


def valid(event: dict[str, Any]) -> ValidEvent:
    result = validate_event(event)
    assert isinstance(result, ValidEvent)
    return result


def counted(events: list[ValidEvent], counted_before: frozenset[str] = frozenset()) -> Any:
    """As if every decision in the batch were new and its first outcome counted."""
    rows = fold_decisions(events)
    keys = {r.key for r in rows} - counted_before
    return counted_events(events, keys, {r.key for r in rows if r.outcome} - counted_before)


def test_requests_outcomes_and_cost_per_workspace() -> None:
    routed = make_event("routed", decision_id="d1", event_id="d1:r", timestamp=AT)
    outcome = make_event("success", decision_id="d1", event_id="d1:s", timestamp=AT,
                         response_time_ms=250.0)  # fmt: skip
    alone = make_event("failure", event_id="x", timestamp=AT, response_time_ms=900.0)
    plain = make_event("success", event_id="plain", timestamp=AT)
    events = [
        valid({**routed, "workspace_id": "ws"}),
        valid({**outcome, "workspace_id": "ws", "usage": {"cost_usd": 0.5, "prompt_tokens": 7}}),
        valid({**alone, "agent_type": "coder"}),
        valid(plain),
    ]
    deltas = usage_deltas(counted(events))
    assert len(deltas) == 2  # the event without attribution adds nothing
    (first_key, first), (second_key, second) = deltas.items()
    assert first_key[2:4] == (NONE, "coder") and second_key[2:4] == ("ws", NONE)
    assert (first.requests, first.outcomes.failure, first.outcomes.rt_count) == (1, 1, 1)
    assert (second.events, second.requests, second.outcomes.success) == (2, 1, 1)
    assert (second.prompt_tokens, second.cost_usd) == (7, 0.5)
    spend = spend_deltas(counted(events))
    assert [(k[0], v.cost_usd) for k, v in spend.items()] == [("ws", 0.5)]


def test_a_second_outcome_and_a_decision_counted_before_add_nothing() -> None:
    usage = {"cost_usd": 1.0}
    first = make_event("success", decision_id="d2", event_id="d2:s", timestamp=AT)
    again = make_event("failure", decision_id="d2", event_id="d2:f", timestamp=AT)
    events = [valid({**e, "workspace_id": "ws", "usage": usage}) for e in (first, again)]
    assert [(c.event.event_id, c.opens, c.outcome) for c in counted(events)] == [
        ("d2:s", True, True)
    ]
    assert (
        spend_deltas(counted(events, frozenset({"d:d2"}))) == {}
    )  # its outcome was counted before
