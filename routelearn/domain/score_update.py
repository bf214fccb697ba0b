"""ScoreUpdate: one learned score change, as the central service sends it to every instance.

The format is seed 000's ModelScoreUpdater event (timestamp, model, complexity, old_score,
new_score, reason, confidence, based_on_samples) plus ``version``, and seed 001's
``"event_type": "model_score_update"``. ``version`` is what makes delivery safe to repeat and to
reorder: an instance applies an update only if its version is newer than the score it holds.

Pure: no broker, no database. ``from_message`` validates data that came off the network and
names the offending field in its error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.event import Complexity
from routelearn.domain.policy.base import MAX_SCORE, MIN_SCORE
from routelearn.errors import RouteLearnError

EVENT_TYPE = "model_score_update"


class InvalidScoreUpdate(RouteLearnError, ValueError):
    """A score update message is malformed; the message names the field."""


def _fail(field: str, problem: str, value: object) -> InvalidScoreUpdate:
    return InvalidScoreUpdate(f"score update: {field} {problem}, got {value!r}")


def _number(data: Mapping[str, Any], field: str, *, optional: bool) -> float | None:
    value = data.get(field)
    if value is None:
        if optional:
            return None
        raise _fail(field, "is required", value)
    # bool is an int in Python, but True is not a score.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _fail(field, "must be a number", value)
    if not math.isfinite(value):
        raise _fail(field, "must be finite", value)
    return float(value)


def _score(data: Mapping[str, Any], field: str, *, optional: bool) -> float | None:
    value = _number(data, field, optional=optional)
    if value is not None and not MIN_SCORE <= value <= MAX_SCORE:
        raise _fail(field, f"must be within {MIN_SCORE}-{MAX_SCORE}", value)
    return value


def _integer(data: Mapping[str, Any], field: str, minimum: int) -> int:
    value = data.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(field, "must be an integer", value)
    if value < minimum:
        raise _fail(field, f"must be >= {minimum}", value)
    return value


def _text(data: Mapping[str, Any], field: str) -> str:
    value = data.get(field)
    if not isinstance(value, str) or not value:
        raise _fail(field, "must be a non-empty string", value)
    return value


def _timestamp(data: Mapping[str, Any]) -> datetime:
    value = data.get("timestamp")
    if not isinstance(value, str):
        raise _fail("timestamp", "must be an ISO 8601 string", value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _fail("timestamp", "must be an ISO 8601 string", value) from None
    if parsed.tzinfo is None:
        # A naive time is ambiguous across a fleet in several time zones.
        raise _fail("timestamp", "must carry a time zone (e.g. Z)", value)
    return parsed


@dataclass(frozen=True, slots=True)
class ScoreUpdate:
    """One (model, complexity) score change; see the module doc."""

    timestamp: datetime
    model: str
    complexity: str
    old_score: float | None
    new_score: float
    reason: str
    confidence: float | None
    based_on_samples: int
    version: int

    def to_message(self) -> dict[str, Any]:
        """JSON-ready data; ``from_message`` reads it back."""
        timestamp = self.timestamp
        if timestamp.tzinfo is None:
            # Producers use aware UTC times; a naive one is taken as UTC rather than
            # sent as a time the receiver would refuse.
            timestamp = timestamp.replace(tzinfo=UTC)
        return {
            "event_type": EVENT_TYPE,
            "timestamp": timestamp.isoformat().replace("+00:00", "Z"),
            "model": self.model,
            "complexity": str(self.complexity),
            "old_score": self.old_score,
            "new_score": self.new_score,
            "reason": self.reason,
            "confidence": self.confidence,
            "based_on_samples": self.based_on_samples,
            "version": self.version,
        }

    @classmethod
    def from_message(cls, data: Mapping[str, Any]) -> ScoreUpdate:
        """Validate one update off the network. Unknown keys are ignored, so a newer producer
        may add fields without breaking older instances; ``event_type`` may be absent (seed
        000's format has none) but, when present, must be ``model_score_update``."""
        if not isinstance(data, Mapping):
            raise InvalidScoreUpdate(f"score update must be an object, got {data!r}")
        event_type = data.get("event_type", EVENT_TYPE)
        if event_type != EVENT_TYPE:
            raise _fail("event_type", f"must be {EVENT_TYPE!r}", event_type)
        complexity = data.get("complexity")
        if complexity not in tuple(Complexity):
            choices = ", ".join(Complexity)
            raise _fail("complexity", f"must be one of {choices}", complexity)
        reason = data.get("reason", "")
        if not isinstance(reason, str):
            raise _fail("reason", "must be a string", reason)
        confidence = _number(data, "confidence", optional=True)
        if confidence is not None and not 0.0 <= confidence <= 1.0:
            raise _fail("confidence", "must be within 0-1", confidence)
        new_score = _score(data, "new_score", optional=False)
        assert new_score is not None  # optional=False never returns None
        return cls(
            timestamp=_timestamp(data),
            model=_text(data, "model"),
            complexity=str(complexity),
            old_score=_score(data, "old_score", optional=True),
            new_score=new_score,
            reason=reason,
            confidence=confidence,
            based_on_samples=_integer(data, "based_on_samples", 0),
            # Version 0 is the catalog file's own score: a published update is always newer.
            version=_integer(data, "version", 1),
        )
