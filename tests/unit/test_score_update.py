"""ScoreUpdate: the message format of a learned score change (no broker)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from routelearn.domain.score_update import EVENT_TYPE, InvalidScoreUpdate, ScoreUpdate
from routelearn.errors import RouteLearnError


def example(**changes: Any) -> ScoreUpdate:
    values: dict[str, Any] = {
        "timestamp": datetime(2025, 10, 27, 7, 0, tzinfo=UTC),
        "model": "gpt-4o",
        "complexity": "complex",
        "old_score": 4.8,
        "new_score": 4.9,
        "reason": "Learned from 250 real uses",
        "confidence": 0.98,
        "based_on_samples": 250,
        "version": 7,
    }
    values.update(changes)
    return ScoreUpdate(**values)


def test_message_is_the_seed_format_plus_version() -> None:
    message = example().to_message()
    assert message == {
        "event_type": "model_score_update",
        "timestamp": "2025-10-27T07:00:00Z",
        "model": "gpt-4o",
        "complexity": "complex",
        "old_score": 4.8,
        "new_score": 4.9,
        "reason": "Learned from 250 real uses",
        "confidence": 0.98,
        "based_on_samples": 250,
        "version": 7,
    }
    json.dumps(message)  # JSON-ready as it is


@pytest.mark.parametrize(
    "update",
    [
        example(),
        example(old_score=None, confidence=None),
        example(timestamp=datetime(2025, 1, 1, 12, 30, 1, 123456, tzinfo=UTC)),
        example(timestamp=datetime(2025, 1, 1, 9, tzinfo=timezone(timedelta(hours=2)))),
        example(new_score=0.0, old_score=5.0, based_on_samples=0, version=1, reason=""),
    ],
)
def test_round_trip(update: ScoreUpdate) -> None:
    message = json.loads(json.dumps(update.to_message()))
    assert ScoreUpdate.from_message(message) == update


def test_naive_timestamp_is_sent_as_utc() -> None:
    update = example(timestamp=datetime(2025, 10, 27, 7, 0))
    assert update.to_message()["timestamp"] == "2025-10-27T07:00:00Z"


def test_seed_000_message_without_event_type_or_optional_fields() -> None:
    message = example().to_message()
    del message["event_type"], message["old_score"], message["confidence"]
    message["extra_field_of_a_newer_producer"] = 1
    update = ScoreUpdate.from_message(message)
    assert update.old_score is None and update.confidence is None
    assert update.new_score == 4.9


def test_integers_are_accepted_as_scores() -> None:
    message = example().to_message() | {"new_score": 4, "old_score": 3}
    update = ScoreUpdate.from_message(message)
    assert update.new_score == 4.0 and isinstance(update.new_score, float)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("event_type", "anomaly"),
        ("timestamp", None),
        ("timestamp", "yesterday"),
        ("timestamp", "2025-10-27T07:00:00"),  # no time zone
        ("model", ""),
        ("model", 3),
        ("complexity", "hard"),
        ("complexity", None),
        ("old_score", "4.8"),
        ("old_score", 5.5),
        ("new_score", None),
        ("new_score", -0.1),
        ("new_score", float("nan")),
        ("new_score", True),
        ("reason", 1),
        ("confidence", 1.5),
        ("confidence", float("inf")),
        ("based_on_samples", 2.5),
        ("based_on_samples", -1),
        ("version", None),
        ("version", 0),
        ("version", "7"),
        ("version", False),
    ],
)
def test_errors_name_the_field(field: str, value: object) -> None:
    message = example().to_message() | {field: value}
    with pytest.raises(InvalidScoreUpdate, match=f"score update: {field} ") as caught:
        ScoreUpdate.from_message(message)
    assert isinstance(caught.value, RouteLearnError) and isinstance(caught.value, ValueError)


@pytest.mark.parametrize("field", ["timestamp", "model", "complexity", "new_score", "version"])
def test_missing_required_field(field: str) -> None:
    message = example().to_message()
    del message[field]
    with pytest.raises(InvalidScoreUpdate, match=field):
        ScoreUpdate.from_message(message)


def test_not_an_object() -> None:
    with pytest.raises(InvalidScoreUpdate, match="must be an object"):
        ScoreUpdate.from_message(["gpt-4o"])  # type: ignore[arg-type]


def test_frozen() -> None:
    update = example()
    with pytest.raises(AttributeError):
        update.version = 8  # type: ignore[misc]
    assert EVENT_TYPE == "model_score_update"
