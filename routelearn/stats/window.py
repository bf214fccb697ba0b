"""The time window a statistic covers: whole rollup hours since a moment, or all time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

DEFAULT_HOURS = 24


def floor_hour(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


@dataclass(frozen=True, slots=True)
class Window:
    """``since`` None means all time. Otherwise the window is every rollup hour whose start is at
    or after ``since`` rounded down to the hour: rollups have an hour's resolution, so the hour
    holding ``since`` counts whole rather than not at all."""

    since: datetime | None

    def __post_init__(self) -> None:
        if self.since is not None and self.since.tzinfo is None:
            raise ValueError("since must be timezone-aware")

    @classmethod
    def last_hours(cls, hours: int = DEFAULT_HOURS, now: datetime | None = None) -> Window:
        """The current hour and the ``hours - 1`` before it: ``hours`` rollup hours in all."""
        if hours < 1:
            raise ValueError(f"hours must be at least 1, got {hours}")
        now = now or datetime.now(UTC)
        return cls(floor_hour(now.astimezone(UTC)) - timedelta(hours=hours - 1))

    @classmethod
    def all_time(cls) -> Window:
        return cls(None)

    @property
    def is_all_time(self) -> bool:
        return self.since is None

    @property
    def first_hour(self) -> datetime | None:
        """The first rollup hour inside the window (None: all time)."""
        return None if self.since is None else floor_hour(self.since.astimezone(UTC))

    def describe(self) -> str:
        first = self.first_hour
        return "all time" if first is None else f"since {first:%Y-%m-%d %H:00} UTC"
