"""``routelearn.maintain_partitions``: hourly partition upkeep and retention, on queue
``routelearn.maintenance``."""

from __future__ import annotations

import logging

from celery import shared_task

from routelearn.constants import MAINTAIN_PARTITIONS_TASK
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store.retention import maintain

log = logging.getLogger(__name__)


@shared_task(name=MAINTAIN_PARTITIONS_TASK, bind=True, base=RouteLearnTask)
def maintain_partitions(self: RouteLearnTask) -> dict[str, object]:
    """Idempotent; a run that finds another one running does nothing."""
    settings = self.rl_app.settings
    result = maintain(
        self.rl_app.engine,
        days_ahead=settings.partition_days_ahead,
        retention_days=settings.retention_days,
        rollup_retention_days=settings.rollup_retention_days,
    )
    if not result.ran:
        log.info("partition maintenance skipped: another run holds the lock")
        return {"ran": False}
    if result.created or result.dropped:
        log.info("partitions created %s, dropped %s", result.created, result.dropped)
    if result.moved_from_default:
        log.warning(
            "%d audit rows had landed in the default partition (a day partition was missing)",
            result.moved_from_default,
        )
    return {
        "ran": True,
        "created": list(result.created),
        "dropped": list(result.dropped),
        "moved_from_default": result.moved_from_default,
        "pruned": result.pruned,
    }
