"""Hourly rollup deltas per (hour, model, complexity, instance) from what a batch counted.

Same counting as the per-(model, complexity) metrics, split finer: a decision counts in the hour
of its first event, an outcome in the hour of its own event, both for the decision's instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from routelearn.domain.aggregate import MetricDelta, delta_for
from routelearn.domain.decisions import DecisionRow

RollupKey = tuple[datetime, str, str, str]  # (hour, model_name, complexity_level, instance_id)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


def rollup_deltas(
    new_decisions: Iterable[DecisionRow], counted_outcomes: Iterable[DecisionRow]
) -> dict[RollupKey, MetricDelta]:
    """Deltas in key order (one sorted upsert, a stable lock order across workers).

    ``counted_outcomes`` are rows whose outcome the database accepted as the decision's first.
    """
    deltas: dict[RollupKey, MetricDelta] = {}
    for row in new_decisions:
        key = (hour_of(row.first_seen), row.model, row.complexity, row.instance_id)
        delta_for(deltas, key).usage += 1
    for row in counted_outcomes:
        if row.outcome is None:
            raise ValueError(f"decision {row.key!r} has no outcome to count")
        at = row.outcome_at or row.first_seen
        key = (hour_of(at), row.model, row.complexity, row.instance_id)
        delta_for(deltas, key).add_outcome(row.outcome, row.response_time_ms)
    return dict(sorted(deltas.items()))
