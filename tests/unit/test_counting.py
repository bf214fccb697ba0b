"""Decision folding and metric deltas: the seed's double count, fixed."""

from __future__ import annotations

from typing import Any

import pytest

from routelearn.domain import latency
from routelearn.domain.aggregate import CountedOutcome, metric_deltas
from routelearn.domain.decisions import fold_decisions
from routelearn.domain.validation import ValidEvent, validate_event
from tests.factories import make_event


def valid(outcome: str, **kw: Any) -> ValidEvent:
    result = validate_event(make_event(outcome, **kw))
    assert isinstance(result, ValidEvent)
    return result


def test_routed_then_success_is_one_decision_with_its_outcome() -> None:
    rows = fold_decisions(
        [
            valid("routed", decision_id="d", event_id="1"),
            valid("success", decision_id="d", event_id="2", response_time_ms=450.0),
        ]
    )
    assert len(rows) == 1
    assert rows[0].outcome == "success" and rows[0].response_time_ms == 450.0


def test_outcome_before_routed_still_one_decision() -> None:
    rows = fold_decisions(
        [
            valid("failure", decision_id="d", event_id="2"),
            valid("routed", decision_id="d", event_id="1"),
        ]
    )
    assert len(rows) == 1 and rows[0].outcome == "failure"


def test_first_outcome_wins() -> None:
    rows = fold_decisions(
        [
            valid("success", decision_id="d", event_id="1"),
            valid("failure", decision_id="d", event_id="2"),
        ]
    )
    assert rows[0].outcome == "success"


def test_outcome_naming_another_model_is_not_counted() -> None:
    rows = fold_decisions(
        [
            valid("routed", decision_id="d", event_id="1", model="a"),
            valid("success", decision_id="d", event_id="2", model="b"),
        ]
    )
    assert rows[0].model == "a" and rows[0].outcome is None


def test_events_without_decision_id_are_decisions_of_their_own() -> None:
    rows = fold_decisions([valid("routed", event_id="1"), valid("success", event_id="2")])
    assert len(rows) == 2


def test_rows_come_in_key_order() -> None:
    rows = fold_decisions([valid("routed", decision_id=k, event_id=k) for k in "cab"])
    assert [r.key for r in rows] == ["d:a", "d:b", "d:c"]


def test_metric_deltas_count_decisions_and_outcomes() -> None:
    deltas = metric_deltas(
        [("m", "simple"), ("m", "simple"), ("n", "complex")],
        [
            CountedOutcome("m", "simple", "success", 100.0),
            CountedOutcome("m", "simple", "failure", None),
            CountedOutcome("n", "complex", "success", 2500.0),
        ],
    )
    assert list(deltas) == [("m", "simple"), ("n", "complex")]
    m = deltas[("m", "simple")]
    assert (m.usage, m.success, m.failure, m.rt_count, m.rt_sum) == (2, 1, 1, 1, 100.0)
    assert m.histogram[latency.bucket_of(100.0)] == 1 and sum(m.histogram) == 1


def test_routed_is_not_an_outcome() -> None:
    with pytest.raises(ValueError, match="routed"):
        metric_deltas([], [CountedOutcome("m", "simple", "routed", None)])


def test_success_rate_can_pass_fifty_percent() -> None:
    """The seed's flaw: routed + success counted usage twice, capping success at 50%."""
    events = []
    for i in range(10):
        events += [
            valid("routed", decision_id=str(i), event_id=f"r{i}"),
            valid("success", decision_id=str(i), event_id=f"s{i}"),
        ]
    rows = fold_decisions(events)
    deltas = metric_deltas(
        [(r.model, r.complexity) for r in rows],
        [CountedOutcome(r.model, r.complexity, r.outcome, None) for r in rows if r.outcome],
    )
    (delta,) = deltas.values()
    assert delta.success / delta.usage == 1.0
