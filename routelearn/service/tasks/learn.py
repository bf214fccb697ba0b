"""The score learner task, ``routelearn.learn_scores``, run by beat every
``ROUTELEARN_LEARNER_INTERVAL`` seconds on queue ``routelearn.learn``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from celery import shared_task

from routelearn.constants import FAN_OUT_SCORES_TASK, LEARN_SCORES_TASK
from routelearn.observability import metrics
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store import pgmq
from routelearn.store.learner import run_learner, snapshot_windows

log = logging.getLogger(__name__)


@shared_task(name=LEARN_SCORES_TASK, bind=True, base=RouteLearnTask)
def learn_scores(self: RouteLearnTask) -> dict[str, object]:
    settings = self.rl_app.settings
    result = run_learner(
        self.rl_app.engine,
        settings.policy(),
        default_score=settings.default_score,
        **snapshot_windows(settings.learner_interval, settings.anomaly_window),
        with_changes=pgmq.send_score_changes if settings.pgmq_enabled else None,
    )
    if not result.ran:
        log.info("learner tick skipped: another tick holds the lock")
        return {"ran": False}
    metrics.observe_learner_tick(result.seconds, len(result.changes))
    if result.changes or result.estimates is not None:  # estimates: every tick that ran
        # The round goes out as its own task: the scores are committed whatever the broker does,
        # and a fan-out that fails is retried without re-running the learner. The estimates go
        # every tick (the routers explore by them), changes or not.
        when = result.started_at or datetime.now(UTC)
        updates = [change.to_update(when).to_message() for change in result.changes]
        estimates = None if result.estimates is None else result.estimates.to_message()
        self.app.send_task(FAN_OUT_SCORES_TASK, args=[updates], kwargs={"estimates": estimates})
    if result.changes and settings.pgmq_enabled:
        # After the commit and the fan-out, each queue apart (a reader holding a message never
        # fails the tick), and best effort: the next tick's run does what this one could not.
        try:
            pgmq.drop_superseded_updates(self.rl_app.engine)
        except Exception as exc:
            log.warning("superseded pgmq score updates not dropped: %s", exc)
    for change in result.changes:
        d = change.decision
        log.info(
            "%s/%s: %.2f -> %.2f (v%d, %s)",
            change.model,
            change.complexity,
            d.old_score,
            d.new_score,
            change.version,
            d.reason,
        )
    return {
        "ran": True,
        "considered": result.considered,
        "changed": len(result.changes),
        "seconds": round(result.seconds, 3),
    }
