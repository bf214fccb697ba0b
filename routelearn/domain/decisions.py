"""Fold a batch's new events into one row per decision, and decide what each counts for.

Counting rules (the seed's double count fixed):
- a decision is counted once, for the (model, complexity) of whichever of its events arrives
  first;
- at most one outcome per decision counts: the first success/failure to arrive, and only if it
  names the decision's model and complexity (a mismatch stays in the audit table, uncounted);
- a response time is sampled from the counted outcome event only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from routelearn.domain.validation import ValidEvent

OUTCOMES = frozenset({"success", "failure"})


@dataclass(slots=True)
class DecisionRow:
    """A decision as this batch first sees it, with the first matching outcome in the batch.
    Filled in by ``fold_decisions`` only (not frozen: one is made per event, see ValidEvent)."""

    key: str
    model: str
    complexity: str
    instance_id: str
    first_seen: datetime
    outcome: str | None = None
    response_time_ms: float | None = None
    outcome_at: datetime | None = None  # the outcome event's own timestamp


def fold_decisions(new_events: Iterable[ValidEvent]) -> list[DecisionRow]:
    """One row per decision key, in key order (a stable lock order for concurrent upserts)."""
    rows: dict[str, DecisionRow] = {}
    for event in new_events:
        row = rows.get(event.decision_key)
        if row is None:
            row = DecisionRow(
                key=event.decision_key,
                model=event.model,
                complexity=event.complexity,
                instance_id=event.instance_id,
                first_seen=event.timestamp,
            )
        if (
            row.outcome is None
            and event.outcome in OUTCOMES
            and (event.model, event.complexity) == (row.model, row.complexity)
        ):
            row.outcome = event.outcome
            row.response_time_ms = event.response_time_ms
            row.outcome_at = event.timestamp
        rows[event.decision_key] = row
    return [rows[key] for key in sorted(rows)]
