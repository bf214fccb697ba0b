"""Hourly rollup deltas per (hour, model, complexity, instance) from what a batch counted.

Same counting as the per-(model, complexity) metrics, split finer: a decision counts in the hour
of its first event, an outcome in the hour of its own event, both for the decision's instance.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from routelearn.domain.aggregate import MetricDelta, delta_for
from routelearn.domain.decisions import DecisionRow

RollupKey = tuple[datetime, str, str, str]  # (hour, model_name, complexity_level, instance_id)


def hour_of(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


class _Hours:
    """``hour_of`` for the many moments of one batch: a UTC moment's hour is looked up by its
    epoch hour (a quarter of ``replace``'s cost, which matters once or twice an event)."""

    def __init__(self) -> None:
        self._known: dict[float, datetime] = {}

    def __call__(self, moment: datetime) -> datetime:
        if moment.tzinfo is not UTC:  # elsewhere an hour need not start on a UTC hour
            return hour_of(moment)
        epoch_hour = moment.timestamp() // 3600
        hour = self._known.get(epoch_hour)
        if hour is None:
            hour = self._known[epoch_hour] = hour_of(moment)
        return hour


def rollup_deltas(
    new_decisions: Iterable[DecisionRow], counted_outcomes: Iterable[DecisionRow]
) -> dict[RollupKey, MetricDelta]:
    """Deltas in key order (one sorted upsert, a stable lock order across workers).

    ``counted_outcomes`` are rows whose outcome the database accepted as the decision's first.
    """
    deltas: dict[RollupKey, MetricDelta] = {}
    hour = _Hours()
    for row in new_decisions:
        key = (hour(row.first_seen), row.model, row.complexity, row.instance_id)
        delta_for(deltas, key).usage += 1
    for row in counted_outcomes:
        if row.outcome is None:
            raise ValueError(f"decision {row.key!r} has no outcome to count")
        at = row.outcome_at or row.first_seen
        key = (hour(at), row.model, row.complexity, row.instance_id)
        delta_for(deltas, key).add_outcome(row.outcome, row.response_time_ms)
    return dict(sorted(deltas.items()))
