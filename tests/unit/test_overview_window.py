"""``GET /api/health/overview``'s ``window`` parameter (pure: ``now`` is given)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routelearn.api.routes.overview import parse_window
from routelearn.stats.window import Window

NOW = datetime(2025, 3, 4, 12, 40, tzinfo=UTC)


def test_hours_and_days_cover_every_rollup_hour_overlapping_them() -> None:
    assert parse_window("1h", NOW).first_hour == datetime(2025, 3, 4, 11, 0, tzinfo=UTC)
    assert parse_window("24h", NOW).first_hour == datetime(2025, 3, 3, 12, 0, tzinfo=UTC)
    assert parse_window("7d", NOW).first_hour == datetime(2025, 2, 25, 12, 0, tzinfo=UTC)
    assert parse_window("all", NOW) == Window.all_time()


@pytest.mark.parametrize("text", ["", "0h", "1", "h", "1w", "-1h", "1.5h", "ALL", "10000h"])
def test_other_forms_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="all, <n>h or <n>d"):
        parse_window(text, NOW)


def test_at_most_a_week() -> None:
    assert parse_window("168h", NOW).first_hour is not None
    with pytest.raises(ValueError, match="at most 168h"):
        parse_window("8d", NOW)
