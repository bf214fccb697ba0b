"""The fast canonical encoding writes the very bytes of the standard library's, or steps aside."""

from __future__ import annotations

import hashlib
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from routelearn.domain.event import RoutingEvent
from routelearn.domain.identity import (
    DERIVED_PREFIX,
    canonical_bytes,
    canonical_json,
    spelled_alike,
)
from routelearn.domain.validation import ValidEvent, validate_event
from tests.factories import make_event

_ALIKE_FLOATS = st.floats(allow_nan=False, allow_infinity=False).filter(spelled_alike)
_ANY_FLOATS = st.floats(allow_nan=False, allow_infinity=False)
_SCALARS = st.none() | st.booleans() | st.integers() | st.text()


def _json(floats: st.SearchStrategy[float]) -> st.SearchStrategy[Any]:
    return st.recursive(
        _SCALARS | floats,
        lambda inner: st.lists(inner, max_size=5) | st.dictionaries(st.text(), inner, max_size=5),
        max_leaves=30,
    )


@settings(max_examples=2000)
@given(_json(_ALIKE_FLOATS))
def test_fast_path_writes_the_standard_librarys_bytes(value: Any) -> None:
    assert canonical_bytes(value, floats_spelled_alike=True) == canonical_json(value).encode(
        "utf-8", "surrogatepass"
    )


@settings(max_examples=500)
@given(_json(_ANY_FLOATS))
def test_without_the_callers_word_it_is_the_standard_library(value: Any) -> None:
    assert canonical_bytes(value) == canonical_json(value).encode("utf-8", "surrogatepass")


def test_the_floats_it_would_spell_differently_are_not_alike() -> None:
    for number in (1e-05, 5e-324, 1e16, -1e16, 1.5e300):
        assert not spelled_alike(number)
    for number in (0.0, -0.0, 1e-4, 0.5, 450.0, 86_400_000.0, 9.999999999999998e15):
        assert spelled_alike(number)


@settings(max_examples=500)
@given(
    latency=st.none() | st.floats(min_value=0, max_value=86_400_000),
    score=st.floats(min_value=0, max_value=5),
)
def test_a_derived_event_id_hashes_the_standard_librarys_spelling(
    latency: float | None, score: float
) -> None:
    # Ids derived before the fast path must not change: a redelivered event would count twice.
    event = make_event("success", response_time_ms=latency, score=score)
    result = validate_event(event)
    assert isinstance(result, ValidEvent)
    content = {k: v for k, v in _content(event).items() if k != "event_id"}
    digest = hashlib.sha256(canonical_json(content).encode()).hexdigest()
    assert result.event_id == DERIVED_PREFIX + digest


# The format's fields before any was added: an id is derived from these alone while the
# added ones (exploratory, attribution, usage, the rule) are unset.
_FIRST_FIELDS = {"timestamp", "instance_id", "routing_decision", "event_id", "decision_id"}
_FIRST_DECISION_FIELDS = {
    "complexity",
    "selected_model",
    "selected_provider",
    "complexity_score",
    "outcome",
    "response_time_ms",
    "capabilities_required",
    "prefer",
    "user_model_request",
}


def _content(event: dict[str, Any]) -> dict[str, Any]:
    """The event as validation normalizes it, the way ids were always derived."""
    content = RoutingEvent.model_validate(event).model_dump(mode="json")
    content = {k: v for k, v in content.items() if k in _FIRST_FIELDS}
    decision = content["routing_decision"]
    content["routing_decision"] = {k: v for k, v in decision.items() if k in _FIRST_DECISION_FIELDS}
    return content


def test_the_added_fields_when_set_are_part_of_the_identity() -> None:
    plain = make_event("success", response_time_ms=120.0)
    attributed = {**plain, "workspace_id": "ws-1", "usage": {"cost_usd": 0.002}}
    first, second = validate_event(plain), validate_event(attributed)
    assert isinstance(first, ValidEvent) and isinstance(second, ValidEvent)
    assert first.event_id != second.event_id
    assert first.attribution is None and second.attribution is not None
    assert (second.attribution.workspace_id, second.attribution.cost_usd) == ("ws-1", 0.002)
