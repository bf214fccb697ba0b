"""Which day partitions of the audit table to create and drop: a plan, computed without a database.

A partition holds one UTC day, ``[day 00:00, day+1 00:00)``, and is named after it. Partitions
are created ``days_ahead`` days in advance, so events never wait for one; a partition is dropped
once all of its day is older than the retention.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

PREFIX = "routing_records_p"
_NAME = re.compile(rf"^{PREFIX}(\d{{8}})$")


def partition_name(day: date) -> str:
    return f"{PREFIX}{day:%Y%m%d}"


def day_of(name: str) -> date | None:
    """The day a partition name stands for; None for a table that is not a day partition."""
    match = _NAME.match(name)
    if match is None:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%d").date()
    except ValueError:
        return None


def bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time(), tzinfo=UTC)
    return start, start + timedelta(days=1)


@dataclass(frozen=True, slots=True)
class PartitionPlan:
    create: tuple[date, ...]  # ascending
    drop: tuple[date, ...]  # ascending
    cutoff: datetime  # rows older than this are past the retention


def plan_partitions(
    existing: Iterable[date], now: datetime, days_ahead: int, retention_days: int
) -> PartitionPlan:
    """Create today's and the next ``days_ahead`` days' partitions that are missing; drop every
    partition whose whole day ended at or before ``now - retention_days``."""
    if days_ahead < 0 or retention_days < 1:
        raise ValueError(
            f"days_ahead must be >= 0 and retention_days >= 1, got {days_ahead}, {retention_days}"
        )
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    have = set(existing)
    today = now.astimezone(UTC).date()
    wanted = [today + timedelta(days=n) for n in range(days_ahead + 1)]
    cutoff = now - timedelta(days=retention_days)
    return PartitionPlan(
        create=tuple(day for day in wanted if day not in have),
        drop=tuple(sorted(day for day in have if bounds(day)[1] <= cutoff)),
        cutoff=cutoff,
    )
