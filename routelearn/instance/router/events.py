"""The routing events the router publishes, in the format of
``routelearn.domain.event.RoutingEvent``.

The router does not depend on Celery: it is given anything with ``publish(event) -> bool`` (the
``EventPublisher`` an instance embeds, or a list-collecting fake in tests). Events are plain
dicts built directly, without pydantic, because one is built on every route; the central service
validates them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Protocol

from routelearn.domain.event import MAX_RESPONSE_TIME_MS, Outcome
from routelearn.instance.router.decision import Decision


def new_id() -> str:
    """A random (version 4) UUID as text, from ``os.urandom`` like ``uuid.uuid4`` (so safe
    across forked processes) at less than half its cost, which matters once per route."""
    raw = bytearray(os.urandom(16))
    raw[6] = raw[6] & 0x0F | 0x40  # version 4
    raw[8] = raw[8] & 0x3F | 0x80  # RFC 4122 variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


class EventSink(Protocol):
    """Where events go; ``publish`` must not block and returns False when it drops one."""

    def publish(self, event: dict[str, Any]) -> bool: ...


def decision_event(
    instance_id: str,
    decision: Decision,
    outcome: Outcome,
    response_time_ms: float | None = None,
    *,
    exploratory_flag: bool = False,
    usage: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The event of a decision (``routed``) or of its outcome (``success``/``failure``).

    ``event_id`` is ``<decision_id>:<outcome>``: unique per event, and the same on a resend,
    so the central service's dedupe by ``event_id`` also drops a repeated ``report``.

    ``exploratory_flag`` adds ``"exploratory": true`` to an exploratory decision's events; the
    central schema must have that optional field first (docs/router.md).
    """
    if response_time_ms is not None:
        # The schema bounds it; a clock oddity must not get the whole event refused.
        response_time_ms = min(max(float(response_time_ms), 0.0), MAX_RESPONSE_TIME_MS)
    body: dict[str, Any] = {
        "complexity": decision.complexity.value,
        "selected_model": decision.model,
        "selected_provider": decision.provider,
        "complexity_score": decision.score,
        "outcome": outcome.value,
        "response_time_ms": response_time_ms,
        "capabilities_required": list(decision.capabilities),
        "prefer": None if decision.prefer is None else decision.prefer.value,
        "user_model_request": decision.user_model_request,
    }
    if exploratory_flag and decision.exploratory:
        body["exploratory"] = True
    if decision.rule is not None:
        body["rule_id"] = decision.rule
        if decision.arm is not None:
            body["split_arm"] = decision.arm.value
    event: dict[str, Any] = {
        "timestamp": datetime.now(UTC).isoformat(),
        "instance_id": instance_id,
        "event_id": f"{decision.decision_id}:{outcome.value}",
        "decision_id": decision.decision_id,
        "routing_decision": body,
    }
    # Optional fields, only when known: an event without them is the seed's format.
    for name in ("workspace_id", "agent_type", "request_type"):
        value = getattr(decision, name)
        if value is not None:
            event[name] = value
    if usage:
        event["usage"] = dict(usage)
    return event


def usage_of(prompt_tokens: int, completion_tokens: int, cost: float | None) -> dict[str, Any]:
    """An outcome event's ``usage``: the tokens, and the cost from the catalog's prices (left
    out when the model has none)."""
    usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens}
    if cost is not None:
        usage["cost_usd"] = cost
    return usage
