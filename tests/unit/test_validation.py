from __future__ import annotations

import copy
import hashlib
from datetime import UTC, datetime
from typing import Any

import pytest

from routelearn.benchmarks.corpus import realistic
from routelearn.domain.json_decode import loads
from routelearn.domain.validation import (
    Rejection,
    ValidEvent,
    check_event,
    validate_batch,
    validate_event,
)
from tests.factories import make_event

SEED_EVENT: dict[str, Any] = {
    "timestamp": "2025-10-27T06:55:00Z",
    "instance_id": "singularity-1",
    "routing_decision": {
        "complexity": "complex",
        "selected_model": "gpt-4o",
        "selected_provider": "github_models",
        "complexity_score": 4.8,
        "outcome": "routed",
        "response_time_ms": None,
        "capabilities_required": [],
        "prefer": None,
        "user_model_request": None,
    },
}


def with_decision(**changes: Any) -> dict[str, Any]:
    event = copy.deepcopy(SEED_EVENT)
    event["routing_decision"].update(changes)
    return event


def test_seed_example_is_valid() -> None:
    result = validate_event(SEED_EVENT)
    assert isinstance(result, ValidEvent)
    assert result.model == "gpt-4o" and result.complexity == "complex"
    assert result.timestamp == datetime(2025, 10, 27, 6, 55, tzinfo=UTC)
    assert result.event_id.startswith("sha256:")
    assert result.decision_key == "e:" + result.event_id


def test_optional_fields_may_be_left_out() -> None:
    event = copy.deepcopy(SEED_EVENT)
    for key in ("response_time_ms", "capabilities_required", "prefer", "user_model_request"):
        del event["routing_decision"][key]
    assert isinstance(validate_event(event), ValidEvent)


@pytest.mark.parametrize(
    ("event", "field", "value"),
    [
        (with_decision(complexity="trivial"), "routing_decision.complexity", "'trivial'"),
        (with_decision(complexity_score=5.01), "routing_decision.complexity_score", "5.01"),
        (with_decision(complexity_score="4.8"), "routing_decision.complexity_score", "'4.8'"),
        (with_decision(complexity_score=True), "routing_decision.complexity_score", "True"),
        (with_decision(complexity_score=float("nan")), "routing_decision.complexity_score", "nan"),
        (with_decision(outcome="maybe"), "routing_decision.outcome", "'maybe'"),
        (with_decision(response_time_ms=-1), "routing_decision.response_time_ms", "-1"),
        (with_decision(prefer="quality"), "routing_decision.prefer", "'quality'"),
        (with_decision(selected_model=""), "routing_decision.selected_model", "''"),
        (with_decision(selected_model="x" * 129), "routing_decision.selected_model", None),
        (with_decision(selected_model="bad\x00name"), "routing_decision.selected_model", None),
        (
            with_decision(capabilities_required=["v"] * 33),
            "routing_decision.capabilities_required",
            None,
        ),
        (with_decision(respone_time_ms=12), "routing_decision.respone_time_ms", "12"),
        ({**SEED_EVENT, "timestamp": 1761548100}, "timestamp", "1761548100"),
        ({**SEED_EVENT, "timestamp": "yesterday"}, "timestamp", "'yesterday'"),
        ({**SEED_EVENT, "timestamp": "2999-01-01T00:00:00Z"}, "timestamp", None),
        ({**SEED_EVENT, "instance_id": None}, "instance_id", "None"),
        ({**SEED_EVENT, "event_id": ""}, "event_id", "''"),
    ],
)
def test_rejection_names_field_and_value(event: Any, field: str, value: str | None) -> None:
    result = validate_event(event)
    assert isinstance(result, Rejection)
    fields = {e.field: e for e in result.errors}
    assert field in fields, result.reason
    if value is not None:
        assert fields[field].value == value
    assert field in result.reason


def test_missing_field_says_missing() -> None:
    event = copy.deepcopy(SEED_EVENT)
    del event["routing_decision"]["selected_model"]
    result = validate_event(event)
    assert isinstance(result, Rejection)
    assert "routing_decision.selected_model=(missing): Field required" in result.reason


@pytest.mark.parametrize("payload", ["text", 3, None, [SEED_EVENT]])
def test_non_object_payload_is_rejected_not_raised(payload: Any) -> None:
    result = validate_event(payload)
    assert isinstance(result, Rejection)
    assert result.errors[0].field == "(event)"
    assert result.payload is payload


def test_naive_timestamp_is_utc_and_offsets_normalize() -> None:
    a = validate_event({**SEED_EVENT, "timestamp": "2025-10-27T06:55:00"})
    b = validate_event({**SEED_EVENT, "timestamp": "2025-10-27T08:55:00+02:00"})
    assert isinstance(a, ValidEvent) and isinstance(b, ValidEvent)
    assert a.timestamp == b.timestamp
    assert a.event_id == b.event_id  # same content, same derived id


def test_derived_id_ignores_key_order_and_number_spelling() -> None:
    a = with_decision(response_time_ms=450)
    b = {
        "routing_decision": dict(
            reversed(list(with_decision(response_time_ms=450.0)["routing_decision"].items()))
        ),
        "instance_id": SEED_EVENT["instance_id"],
        "timestamp": SEED_EVENT["timestamp"],
    }
    ra, rb = validate_event(a), validate_event(b)
    assert isinstance(ra, ValidEvent) and isinstance(rb, ValidEvent)
    assert ra.event_id == rb.event_id
    rc = validate_event(with_decision(response_time_ms=451))
    assert isinstance(rc, ValidEvent) and rc.event_id != ra.event_id


def test_given_ids_are_used() -> None:
    result = validate_event(make_event("success", event_id="ev-1", decision_id="dec-1"))
    assert isinstance(result, ValidEvent)
    assert result.event_id == "ev-1"
    assert result.decision_key == "d:dec-1"


def test_batch_keeps_order_and_splits() -> None:
    good1, good2 = make_event(event_id="1"), make_event(event_id="2")
    valid, rejected = validate_batch([good1, {"x": 1}, good2])
    assert [v.event_id for v in valid] == ["1", "2"]
    assert len(rejected) == 1 and rejected[0].payload == {"x": 1}


def test_exploratory_flag_is_optional_and_keeps_old_derived_ids() -> None:
    plain = make_event("routed", timestamp="2026-01-01T00:00:00+00:00")
    explicit_false = copy.deepcopy(plain)
    explicit_false["routing_decision"]["exploratory"] = False
    flagged = copy.deepcopy(plain)
    flagged["routing_decision"]["exploratory"] = True
    a, b, c = (validate_event(e) for e in (plain, explicit_false, flagged))
    assert isinstance(a, ValidEvent) and isinstance(b, ValidEvent) and isinstance(c, ValidEvent)
    assert not a.exploratory and c.exploratory
    assert a.event_id == b.event_id != c.event_id
    # The id an event without the field had before the field existed: the hash of its content.
    assert a.event_id == (
        "sha256:"
        + hashlib.sha256(
            b'{"decision_id":null,"instance_id":"instance-1","routing_decision":'
            b'{"capabilities_required":[],"complexity":"complex","complexity_score":4.8,'
            b'"outcome":"routed","prefer":null,"response_time_ms":null,'
            b'"selected_model":"gpt-4o","selected_provider":"github_models",'
            b'"user_model_request":null},"timestamp":"2026-01-01T00:00:00Z"}'
        ).hexdigest()
    )
    flagged["routing_decision"]["exploratory"] = "yes"
    bad = validate_event(flagged)
    assert isinstance(bad, Rejection) and bad.errors[0].field == "routing_decision.exploratory"


def test_check_event_gives_validate_events_verdict() -> None:
    now = datetime.now(UTC)
    seen = {"valid": 0, "rejected": 0}
    for line in realistic(3000, seed=5).lines:
        try:
            payload = loads(line)
        except ValueError:
            continue
        verdict, full = check_event(payload, now), validate_event(payload, now)
        if isinstance(full, ValidEvent):
            assert verdict is None
            seen["valid"] += 1
        else:
            assert verdict == full
            seen["rejected"] += 1
    assert seen["valid"] > 2000 and seen["rejected"] >= 3, seen


def test_decode_payload_reads_json_and_refuses_what_is_not_or_nests_too_deep() -> None:
    from routelearn.domain.validation import MAX_NESTING, Rejection, decode_payload

    assert decode_payload('{"a": [1, {"b": "[[[["}]}') == {"a": [1, {"b": "[[[["}]}
    # Brackets inside strings do not nest: many of them are still a readable payload.
    # (an escaped backslash, then an escaped quote: the string goes on after both)
    quoted = '{"s": "' + "[" * 500 + "\\\\" + '\\"' + "{" * 100 + '"}'
    assert decode_payload(quoted) == {"s": "[" * 500 + '\\"' + "{" * 100}
    deep_ok = "[" * MAX_NESTING + "]" * MAX_NESTING
    assert not isinstance(decode_payload(deep_ok), Rejection)
    too_deep = "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1)
    refused = decode_payload(too_deep)
    assert isinstance(refused, Rejection) and refused.payload == too_deep
    assert refused.errors[0].field == "(event)"
    assert refused.errors[0].message == f"nests deeper than {MAX_NESTING} levels"
    broken = decode_payload('{"a": ', field="(payload)")
    assert isinstance(broken, Rejection)
    assert broken.errors[0].field == "(payload)"
    assert broken.errors[0].message.startswith("is not valid JSON: ")
