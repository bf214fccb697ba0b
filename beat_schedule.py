"""The celery-beat schedule, as data. The learning loop's periodic tasks are added here."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from routelearn.settings import Settings


def schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Entries for ``beat_schedule``; each periodic task expires before its next tick."""
    return {}
