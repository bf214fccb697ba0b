"""Metric deltas per (model, complexity) from what a batch newly counted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NamedTuple, TypeVar

from routelearn.domain import latency

MetricKey = tuple[str, str]  # (model_name, complexity_level)
K = TypeVar("K")


@dataclass(slots=True)
class MetricDelta:
    usage: int = 0
    success: int = 0
    failure: int = 0
    rt_count: int = 0
    rt_sum: float = 0.0
    histogram: list[int] = field(default_factory=latency.empty)

    def add_outcome(self, outcome: str, response_time_ms: float | None) -> None:
        if outcome == "success":
            self.success += 1
        elif outcome == "failure":
            self.failure += 1
        else:
            raise ValueError(f"not an outcome that counts: {outcome!r}")
        if response_time_ms is not None:
            self.rt_count += 1
            self.rt_sum += response_time_ms
            self.histogram[latency.bucket_of(response_time_ms)] += 1


class CountedOutcome(NamedTuple):
    """An outcome the database accepted as its decision's first. (A named tuple: made once per
    event counted, at a third of a frozen dataclass' cost.)"""

    model: str
    complexity: str
    outcome: str
    response_time_ms: float | None


def delta_for(deltas: dict[K, MetricDelta], key: K) -> MetricDelta:
    """The delta of ``key``, made on first use (not ``setdefault``: that would build a
    histogram per event only to throw it away)."""
    delta = deltas.get(key)
    if delta is None:
        delta = deltas[key] = MetricDelta()
    return delta


def metric_deltas(
    new_decisions: Iterable[MetricKey], counted_outcomes: Iterable[CountedOutcome]
) -> dict[MetricKey, MetricDelta]:
    """Deltas keyed and ordered by (model, complexity), ready for one sorted upsert."""
    deltas: dict[MetricKey, MetricDelta] = {}
    for key in new_decisions:
        delta_for(deltas, key).usage += 1
    for counted in counted_outcomes:
        delta = delta_for(deltas, (counted.model, counted.complexity))
        delta.add_outcome(counted.outcome, counted.response_time_ms)
    return dict(sorted(deltas.items()))
