"""The time window of routelearn.stats: whole rollup hours, or all time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from routelearn.stats.window import Window

NOW = datetime(2025, 3, 4, 10, 37, 12, tzinfo=UTC)


def test_last_hours_counts_the_current_hour() -> None:
    assert Window.last_hours(24, NOW).first_hour == datetime(2025, 3, 3, 11, tzinfo=UTC)
    assert Window.last_hours(1, NOW).first_hour == datetime(2025, 3, 4, 10, tzinfo=UTC)
    assert Window.last_hours(now=NOW).describe() == "since 2025-03-03 11:00 UTC"


def test_since_counts_its_hour_whole() -> None:
    window = Window(NOW - timedelta(minutes=30))
    assert window.first_hour == datetime(2025, 3, 4, 10, tzinfo=UTC)
    local = Window(datetime(2025, 3, 4, 12, 5, tzinfo=timezone(timedelta(hours=2))))
    assert local.first_hour == datetime(2025, 3, 4, 10, tzinfo=UTC)


def test_all_time() -> None:
    window = Window.all_time()
    assert window.is_all_time and window.first_hour is None
    assert window.describe() == "all time"
    assert not Window.last_hours(2, NOW).is_all_time


def test_refuses_bad_windows() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        Window.last_hours(0, NOW)
    with pytest.raises(ValueError, match="timezone-aware"):
        Window(datetime(2025, 3, 4, 10))
