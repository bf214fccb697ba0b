"""What a batch's new events add to the usage rollups: requests, outcomes, latency, tokens and
cost per hour, model, workspace, agent type and instance, and each workspace's spend per quarter
hour.

Only events that carry attribution or usage count here (the others have neither). A request is
an event that opens a decision: a ``routed`` one, or a self-contained outcome (no
``decision_id``); outcomes and their latency come from the success and failure events. A quarter
hour, not an hour, for spend: every IANA time zone's offset is a multiple of 15 minutes, so a
workspace's calendar day, week or month in its own zone is a whole number of quarter hours.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.aggregate import MetricDelta
from routelearn.domain.validation import ValidEvent

NONE = ""  # the key of events that name no workspace or agent type
QUARTER_SECONDS = 900

# (hour, model_name, workspace_id, agent_type, instance_id)
UsageKey = tuple[datetime, str, str, str, str]
# (workspace_id, the quarter hour's start)
SpendKey = tuple[str, datetime]
# (workspace_id, hour)
WorkspaceKey = tuple[str, datetime]


@dataclass(slots=True)
class UsageDelta:
    events: int = 0
    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    outcomes: MetricDelta = field(default_factory=MetricDelta)


def quarter_of(moment: datetime) -> datetime:
    seconds = moment.timestamp()
    return datetime.fromtimestamp(seconds - seconds % QUARTER_SECONDS, UTC)


def usage_deltas(events: Iterable[ValidEvent]) -> dict[UsageKey, UsageDelta]:
    """Deltas in key order (one sorted upsert, a stable lock order across workers)."""
    deltas: dict[UsageKey, UsageDelta] = {}
    for event in events:
        found = event.attribution
        if found is None:
            continue
        hour = event.timestamp.replace(minute=0, second=0, microsecond=0)
        key = (
            hour,
            event.model,
            found.workspace_id or NONE,
            found.agent_type or NONE,
            event.instance_id,
        )
        _add(deltas, key, event)
    return dict(sorted(deltas.items()))


def workspace_deltas(events: Iterable[ValidEvent]) -> dict[WorkspaceKey, UsageDelta]:
    """The same per workspace and hour (events that name a workspace), with latency
    histograms: what a workspace's analytics read."""
    deltas: dict[WorkspaceKey, UsageDelta] = {}
    for event in events:
        found = event.attribution
        if found is None or found.workspace_id is None:
            continue
        hour = event.timestamp.replace(minute=0, second=0, microsecond=0)
        _add(deltas, (found.workspace_id, hour), event)
    return dict(sorted(deltas.items()))


def _add(deltas: dict[Any, UsageDelta], key: Any, event: ValidEvent) -> None:
    found = event.attribution
    assert found is not None
    delta = deltas.get(key)
    if delta is None:
        delta = deltas[key] = UsageDelta()
    delta.events += 1
    if event.outcome == "routed":
        delta.requests += 1
    else:
        if event.decision_id is None:
            delta.requests += 1
        delta.outcomes.add_outcome(event.outcome, event.response_time_ms)
    delta.prompt_tokens += found.prompt_tokens or 0
    delta.completion_tokens += found.completion_tokens or 0
    delta.cost_usd += found.cost_usd or 0.0


def spend_deltas(events: Iterable[ValidEvent]) -> dict[SpendKey, UsageDelta]:
    """Each workspace's cost per quarter hour, from the events that report one."""
    deltas: dict[SpendKey, UsageDelta] = {}
    for event in events:
        found = event.attribution
        if found is None or found.workspace_id is None or found.cost_usd is None:
            continue
        key = (found.workspace_id, quarter_of(event.timestamp))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = UsageDelta()
        delta.events += 1
        delta.cost_usd += found.cost_usd
    return dict(sorted(deltas.items()))
