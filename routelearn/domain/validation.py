"""Raw payload -> validated event or a rejection naming each bad field and its value."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from routelearn.domain import json_decode
from routelearn.domain.event import RoutingEvent
from routelearn.domain.identity import decision_key, derive_event_id, spelled_alike

_VALUE_REPR_LIMIT = 120


@dataclass(slots=True)
class ValidEvent:
    """A validated event, flattened to the columns ingestion writes. Not frozen, but never
    changed: a frozen one cost three times as much to make, once per event ingested."""

    event_id: str
    decision_key: str
    decision_id: str | None
    timestamp: datetime
    instance_id: str
    complexity: str
    model: str
    provider: str
    score: float
    outcome: str
    response_time_ms: float | None
    capabilities: tuple[str, ...]
    prefer: str | None
    user_model_request: str | None
    exploratory: bool = False
    # The fields added for cost and attribution, in one object that is null for most events:
    # the ingest statement then reads one null instead of eight per row.
    attribution: Attribution | None = None


@dataclass(slots=True)
class Attribution:
    workspace_id: str | None = None
    agent_type: str | None = None
    request_type: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cost_usd: float | None = None
    rule_id: str | None = None
    split_arm: str | None = None


@dataclass(frozen=True, slots=True)
class FieldError:
    field: str
    value: str  # repr of the offending value, shortened
    message: str

    def __str__(self) -> str:
        return f"{self.field}={self.value}: {self.message}"


@dataclass(frozen=True, slots=True)
class Rejection:
    """Why a payload was refused. ``payload`` is exactly what arrived."""

    payload: Any
    errors: tuple[FieldError, ...]

    @property
    def reason(self) -> str:
        return "; ".join(str(e) for e in self.errors)


def _short_repr(value: Any) -> str:
    text = repr(value)
    if len(text) > _VALUE_REPR_LIMIT:
        text = text[: _VALUE_REPR_LIMIT - 3] + "..."
    return text


def _field_errors(exc: ValidationError) -> tuple[FieldError, ...]:
    errors = []
    for err in exc.errors(include_url=False):
        field = ".".join(str(p) for p in err["loc"]) or "(event)"
        message = err["msg"].removeprefix("Value error, ")
        if err["type"] == "extra_forbidden":
            message = "unknown field"
        value = "(missing)" if err["type"] == "missing" else _short_repr(err.get("input"))
        errors.append(FieldError(field, value, message))
    return tuple(errors)


def _model(payload: Any, now: datetime | None) -> RoutingEvent | Rejection:
    if not isinstance(payload, Mapping):
        kind = type(payload).__name__
        return Rejection(
            payload,
            (FieldError("(event)", _short_repr(payload), f"expected a JSON object, got {kind}"),),
        )
    try:
        return RoutingEvent.model_validate(payload, context={"now": now})
    except ValidationError as exc:
        return Rejection(payload, _field_errors(exc))


# An event nests four levels; a payload nested deeper than this is refused before it is
# decoded: near Python's recursion limit, one that decodes could not be dumped again to be
# dead-lettered (PostgreSQL's jsonb holds values thousands of levels deep).
MAX_NESTING = 64


def _nesting(text: str) -> int:
    """How deep arrays and objects nest in JSON ``text``, counted without recursion (brackets
    inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def decode_payload(text: str, field: str = "(event)") -> Any:
    """The payload JSON ``text`` holds, or the `Rejection` of text that is not JSON or nests
    deeper than `MAX_NESTING`."""
    # Counting brackets runs in C: only a payload with that many at all is scanned.
    if text.count("[") + text.count("{") > MAX_NESTING and _nesting(text) > MAX_NESTING:
        message = f"nests deeper than {MAX_NESTING} levels"
    else:
        try:
            return json_decode.loads(text)
        except (ValueError, RecursionError) as exc:
            message = f"is not valid JSON: {exc}"
    return Rejection(text, (FieldError(field, _short_repr(text), message),))


def check_event(payload: Any, now: datetime | None = None) -> Rejection | None:
    """``validate_event``'s verdict without making the event (its id derived, its row built):
    for a caller that passes the payload on as it came, to workers that validate it again."""
    result = _model(payload, now)
    return result if isinstance(result, Rejection) else None


def validate_event(payload: Any, now: datetime | None = None) -> ValidEvent | Rejection:
    """Validate one payload; never raises for bad input."""
    event = _model(payload, now)
    if isinstance(event, Rejection):
        return event
    d = event.routing_decision
    event_id = event.event_id or derive_event_id(
        _identity_content(event),
        # The event's floats: the fast encoding applies when each is spelled alike.
        floats_spelled_alike=spelled_alike(d.complexity_score)
        and (d.response_time_ms is None or spelled_alike(d.response_time_ms))
        and (event.usage is None or _cost_spelled_alike(event.usage.cost_usd)),
    )
    valid = ValidEvent(
        event_id=event_id,
        decision_key=decision_key(event_id, event.decision_id),
        decision_id=event.decision_id,
        timestamp=event.timestamp,
        instance_id=event.instance_id,
        # ``_value_``, not the ``value`` property: a quarter of the cost, three times an event.
        complexity=d.complexity._value_,
        model=d.selected_model,
        provider=d.selected_provider,
        score=d.complexity_score,
        outcome=d.outcome._value_,
        response_time_ms=d.response_time_ms,
        capabilities=d.capabilities_required,
        prefer=d.prefer._value_ if d.prefer else None,
        user_model_request=d.user_model_request,
        exploratory=d.exploratory,
    )
    usage = event.usage
    if (
        event.workspace_id is not None
        or event.agent_type is not None
        or event.request_type is not None
        or usage is not None
        or d.rule_id is not None
        or d.split_arm is not None
    ):
        valid.attribution = Attribution(
            workspace_id=event.workspace_id,
            agent_type=event.agent_type,
            request_type=event.request_type,
            prompt_tokens=None if usage is None else usage.prompt_tokens,
            completion_tokens=None if usage is None else usage.completion_tokens,
            cost_usd=None if usage is None else usage.cost_usd,
            rule_id=d.rule_id,
            split_arm=None if d.split_arm is None else d.split_arm._value_,
        )
    return valid


_ADDED = ("workspace_id", "agent_type", "request_type", "usage")
_ADDED_TO_DECISION = ("rule_id", "split_arm")


def _cost_spelled_alike(cost: float | None) -> bool:
    return cost is None or spelled_alike(cost)


def _identity_content(event: RoutingEvent) -> dict[str, Any]:
    """What an event's derived id hashes. Fields added to the format later (``exploratory``,
    attribution, usage, the rule) are left out when unset, so an event without them keeps the
    id it always had."""
    content = event.model_dump(mode="json")
    decision = content["routing_decision"]
    if not event.routing_decision.exploratory:
        del decision["exploratory"]
    for name in _ADDED_TO_DECISION:
        if decision[name] is None:
            del decision[name]
    for name in _ADDED:
        if content[name] is None:
            del content[name]
    return content


def validate_batch(
    payloads: Iterable[Any], now: datetime | None = None
) -> tuple[list[ValidEvent], list[Rejection]]:
    """Split a batch into valid events (in arrival order) and rejections."""
    valid: list[ValidEvent] = []
    rejected: list[Rejection] = []
    for payload in payloads:
        result = validate_event(payload, now)
        if isinstance(result, ValidEvent):
            valid.append(result)
        else:
            rejected.append(result)
    return valid, rejected
