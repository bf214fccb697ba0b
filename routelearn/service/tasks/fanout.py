"""``routelearn.fan_out_scores``: one round of score updates to every active instance's queue."""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task

from routelearn.constants import FAN_OUT_SCORES_TASK
from routelearn.domain.score_update import InvalidScoreUpdate, ScoreUpdate
from routelearn.messaging.fanout import fan_out
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store import instances

log = logging.getLogger(__name__)


@shared_task(name=FAN_OUT_SCORES_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def fan_out_scores(self: RouteLearnTask, updates: list[Any]) -> dict[str, int]:
    """Safe to run twice: instances ignore a version they already hold."""
    app = self.rl_app
    parsed = []
    for message in updates:
        try:
            parsed.append(ScoreUpdate.from_message(message))
        except InvalidScoreUpdate as exc:  # a bad message is dropped, the rest still goes out
            log.error("score update not sent: %s", exc)
    if not parsed:
        return {"instances": 0, "updates": 0}
    targets = instances.active_ids(app.engine)
    report = fan_out(app.settings, targets, parsed)
    if report.trimmed_queues:
        log.warning(
            "%d instance queues were full: their oldest rounds were dropped", report.trimmed_queues
        )
    return {"instances": report.instances, "updates": len(parsed), "trimmed": report.trimmed_queues}
