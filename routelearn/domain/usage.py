"""What a batch's new events add to the usage rollups: requests, outcomes, latency, tokens and
cost per hour, model, workspace, agent type and instance, and each workspace's spend per quarter
hour.

Only events that carry attribution or usage count here (the others have neither), and only as
the metrics count (``counted_events``): a request is the event that opened a decision the batch
created, an outcome (with its latency) the one its decision counted first; their tokens and cost
add up. A quarter
hour, not an hour, for spend: every IANA time zone's offset is a multiple of 15 minutes, so a
workspace's calendar day, week or month in its own zone is a whole number of quarter hours.
"""

from __future__ import annotations

from collections.abc import Iterable, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.aggregate import MetricDelta
from routelearn.domain.decisions import OUTCOMES
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


@dataclass(frozen=True, slots=True)
class Counted:
    """An attributed event that counts, and for what: it opened a decision the batch created
    (a request), and/or its outcome is the one its decision counted."""

    event: ValidEvent
    opens: bool
    outcome: bool


def counted_events(
    fresh: Iterable[ValidEvent], new_keys: Set[str], counted_keys: Set[str]
) -> list[Counted]:
    """The attributed events of a batch that count, decided as the metrics decide (a decision
    once, its first outcome once): so an event resent with another timestamp, which the audit
    table takes as new, or a second outcome of one decision, adds no usage or spend. ``fresh``
    in arrival order; ``new_keys`` the decisions the batch created, ``counted_keys`` those whose
    outcome it counted (routelearn.domain.decisions.fold_decisions picks the same events)."""
    opened: set[str] = set()
    outcome_taken: set[str] = set()
    found = []
    for event in fresh:
        key = event.decision_key
        opens = key in new_keys and key not in opened
        opened.add(key)
        outcome = event.outcome in OUTCOMES and key in counted_keys and key not in outcome_taken
        if outcome:
            outcome_taken.add(key)
        if event.attribution is not None and (opens or outcome):
            found.append(Counted(event, opens, outcome))
    return found


def usage_deltas(events: Iterable[Counted]) -> dict[UsageKey, UsageDelta]:
    """Deltas in key order (one sorted upsert, a stable lock order across workers)."""
    deltas: dict[UsageKey, UsageDelta] = {}
    for item in events:
        event, found = item.event, item.event.attribution
        assert found is not None
        hour = event.timestamp.replace(minute=0, second=0, microsecond=0)
        key = (
            hour,
            event.model,
            found.workspace_id or NONE,
            found.agent_type or NONE,
            event.instance_id,
        )
        _add(deltas, key, item)
    return dict(sorted(deltas.items()))


def workspace_deltas(events: Iterable[Counted]) -> dict[WorkspaceKey, UsageDelta]:
    """The same per workspace and hour (events that name a workspace), with latency
    histograms: what a workspace's analytics read."""
    deltas: dict[WorkspaceKey, UsageDelta] = {}
    for item in events:
        found = item.event.attribution
        if found is None or found.workspace_id is None:
            continue
        hour = item.event.timestamp.replace(minute=0, second=0, microsecond=0)
        _add(deltas, (found.workspace_id, hour), item)
    return dict(sorted(deltas.items()))


def _add(deltas: dict[Any, UsageDelta], key: Any, item: Counted) -> None:
    event, found = item.event, item.event.attribution
    assert found is not None
    delta = deltas.get(key)
    if delta is None:
        delta = deltas[key] = UsageDelta()
    delta.events += 1
    if item.opens:
        delta.requests += 1
    if item.outcome:
        delta.outcomes.add_outcome(event.outcome, event.response_time_ms)
    delta.prompt_tokens += found.prompt_tokens or 0
    delta.completion_tokens += found.completion_tokens or 0
    delta.cost_usd += found.cost_usd or 0.0


def spend_deltas(events: Iterable[Counted]) -> dict[SpendKey, UsageDelta]:
    """Each workspace's cost per quarter hour, from the counted events that report one."""
    deltas: dict[SpendKey, UsageDelta] = {}
    for item in events:
        found = item.event.attribution
        if found is None or found.workspace_id is None or found.cost_usd is None:
            continue
        key = (found.workspace_id, quarter_of(item.event.timestamp))
        delta = deltas.get(key)
        if delta is None:
            delta = deltas[key] = UsageDelta()
        delta.events += 1
        delta.cost_usd += found.cost_usd
    return dict(sorted(deltas.items()))
