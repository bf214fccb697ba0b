"""Where a workspace's budget periods begin: the calendar day, the week (from Monday) and the
month that hold ``now`` in the workspace's time zone, as UTC moments."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

PERIODS = ("daily", "weekly", "monthly")


def period_starts(now: datetime, zone: str) -> dict[str, datetime]:
    """``now`` must be aware. Where a daylight saving change skips midnight, the day starts
    at the moment of the change (the first that exists)."""
    local = now.astimezone(ZoneInfo(zone))
    midnight = local.replace(hour=0, minute=0, second=0, microsecond=0)
    starts = {
        "daily": midnight,
        "weekly": midnight - timedelta(days=midnight.weekday()),
        "monthly": midnight.replace(day=1),
    }
    # Wall-clock arithmetic: zoneinfo gives each start the offset in force at it, so a week
    # that began before a DST change still begins at its own local midnight.
    return {name: start.astimezone(UTC) for name, start in starts.items()}
