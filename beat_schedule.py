"""The celery-beat schedule, as data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routelearn.constants import LEARN_QUEUE, LEARN_SCORES_TASK

if TYPE_CHECKING:
    from routelearn.settings import Settings

# A periodic message expires before the next tick is sent, so a backlog (workers down for a
# while) never replays a string of stale runs when they return.
_EXPIRY_FRACTION = 0.9


def schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Entries for ``beat_schedule``."""
    return {
        "learn-scores": {
            "task": LEARN_SCORES_TASK,
            "schedule": settings.learner_interval,
            "options": {
                "queue": LEARN_QUEUE,
                "expires": settings.learner_interval * _EXPIRY_FRACTION,
            },
        },
    }
