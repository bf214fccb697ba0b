"""Hourly rollup deltas: the hour a decision and an outcome count in, and for whom."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routelearn.domain.decisions import DecisionRow
from routelearn.domain.latency import bucket_of
from routelearn.domain.rollup import hour_of, rollup_deltas

T = datetime(2026, 11, 23, 10, 59, 59, 900_000, tzinfo=UTC)
LATER = datetime(2026, 11, 23, 11, 0, 1, tzinfo=UTC)


def row(key: str, **kw: object) -> DecisionRow:
    values: dict[str, object] = {
        "key": key,
        "model": "m",
        "complexity": "simple",
        "instance_id": "i1",
        "first_seen": T,
    }
    values.update(kw)
    return DecisionRow(**values)  # type: ignore[arg-type]


def test_hour_of_truncates() -> None:
    assert hour_of(T) == datetime(2026, 11, 23, 10, tzinfo=UTC)


def test_a_decision_counts_in_its_first_hour_and_its_outcome_in_the_outcome_hour() -> None:
    decided = row("a", outcome="success", response_time_ms=120.0, outcome_at=LATER)
    deltas = rollup_deltas([decided], [decided])
    ten = (datetime(2026, 11, 23, 10, tzinfo=UTC), "m", "simple", "i1")
    eleven = (datetime(2026, 11, 23, 11, tzinfo=UTC), "m", "simple", "i1")
    assert list(deltas) == [ten, eleven]
    assert (deltas[ten].usage, deltas[ten].success) == (1, 0)
    assert (deltas[eleven].usage, deltas[eleven].success, deltas[eleven].rt_count) == (0, 1, 1)
    assert deltas[eleven].histogram[bucket_of(120.0)] == 1


def test_instances_and_models_are_kept_apart_and_failures_counted() -> None:
    rows = [
        row("a", instance_id="i1"),
        row("b", instance_id="i2"),
        row("c", instance_id="i2", model="n", outcome="failure", outcome_at=T),
    ]
    deltas = rollup_deltas(rows, [rows[2]])
    assert sum(d.usage for d in deltas.values()) == 3
    key = (hour_of(T), "n", "simple", "i2")
    assert (deltas[key].usage, deltas[key].failure, deltas[key].rt_count) == (1, 1, 0)
    assert len(deltas) == 3


def test_an_outcome_without_its_time_counts_in_the_decision_hour() -> None:
    counted = row("a", outcome="success")
    deltas = rollup_deltas([], [counted])
    assert list(deltas) == [(hour_of(T), "m", "simple", "i1")]


def test_a_row_without_outcome_cannot_be_counted_as_one() -> None:
    with pytest.raises(ValueError, match="no outcome"):
        rollup_deltas([], [row("a")])
