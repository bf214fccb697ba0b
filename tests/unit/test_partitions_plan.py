"""The day-partition plan: what to create ahead and what retention drops."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from routelearn.domain.partitions import bounds, day_of, partition_name, plan_partitions

NOW = datetime(2026, 11, 23, 15, 30, tzinfo=UTC)


def test_names_round_trip_and_other_tables_are_not_partitions() -> None:
    assert partition_name(date(2026, 1, 2)) == "routing_records_p20260102"
    assert day_of("routing_records_p20260102") == date(2026, 1, 2)
    assert day_of("routing_records_default") is None
    assert day_of("routing_records_p20261399") is None  # not a date
    assert day_of("routing_records_p2026010") is None


def test_bounds_are_one_utc_day() -> None:
    low, high = bounds(date(2026, 11, 23))
    assert low == datetime(2026, 11, 23, tzinfo=UTC) and high - low == timedelta(days=1)


def test_creates_today_and_the_days_ahead_that_are_missing() -> None:
    existing = [date(2026, 11, 23), date(2026, 11, 25)]
    plan = plan_partitions(existing, NOW, days_ahead=3, retention_days=90)
    assert plan.create == (date(2026, 11, 24), date(2026, 11, 26))
    assert plan.drop == ()


def test_drops_only_days_wholly_past_the_retention() -> None:
    cutoff_day = (NOW - timedelta(days=90)).date()  # 2026-08-25, partly inside the retention
    existing = [cutoff_day - timedelta(days=2), cutoff_day - timedelta(days=1), cutoff_day]
    plan = plan_partitions(existing, NOW, days_ahead=0, retention_days=90)
    assert plan.drop == (cutoff_day - timedelta(days=2), cutoff_day - timedelta(days=1))
    assert plan.cutoff == NOW - timedelta(days=90)
    assert plan.create == (NOW.date(),)


def test_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="retention_days"):
        plan_partitions([], NOW, days_ahead=1, retention_days=0)
    with pytest.raises(ValueError, match="timezone"):
        plan_partitions([], NOW.replace(tzinfo=None), days_ahead=1, retention_days=1)
