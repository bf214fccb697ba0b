"""``routelearn.sweep_anomalies``: the beat-driven anomaly sweep on queue ``routelearn.learn``.

Stores what opened, changed or closed, logs it, then publishes the notices to the
``model_anomalies`` queue. Notices a broker outage kept back go out with the next sweep. When
an alert webhook is configured, a sweep that wrote notices then sends ``routelearn.deliver_alerts``
(the delivery runs as its own task: a slow webhook never holds a sweep up).
"""

from __future__ import annotations

import logging

from celery import shared_task

from routelearn.constants import DELIVER_ALERTS_TASK, SWEEP_ANOMALIES_TASK
from routelearn.domain.anomaly import LifecycleParams, RuleParams
from routelearn.errors import TransientError
from routelearn.messaging.notices import publish_notices
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store.anomalies import mark_published, pending_notices, run_sweep

log = logging.getLogger(__name__)


@shared_task(name=SWEEP_ANOMALIES_TASK, bind=True, base=RouteLearnTask)
def sweep_anomalies(self: RouteLearnTask) -> dict[str, object]:
    app = self.rl_app
    settings = app.settings
    result = run_sweep(
        app.engine,
        RuleParams(),
        LifecycleParams(),
        window_seconds=settings.anomaly_window,
        baseline_hours=settings.anomaly_baseline_hours,
    )
    if not result.ran or result.transitions is None:
        log.info("anomaly sweep skipped: another sweep holds the lock")
        return {"ran": False}
    t = result.transitions
    for change in t.opened:
        log.warning("anomaly opened: %s", change.finding.message)
    for change in t.updated:
        log.warning("anomaly updated: %s", change.finding.message)
    for closure in t.closed:
        log.info("anomaly closed: %s", closure.message)
    published = publish_pending(self)
    if t.opened or t.updated or t.closed:
        trigger_delivery(self)
    return {
        "ran": True,
        "windows": result.windows,
        "instances": result.instances,
        "opened": len(t.opened),
        "updated": len(t.updated),
        "closed": len(t.closed),
        "open": len(t.still_open),
        "published": published,
    }


def publish_pending(task: RouteLearnTask) -> int:
    """Send every unpublished notice; on a broker failure they stay for the next sweep."""
    app = task.rl_app
    with app.engine.begin() as conn:
        notices = pending_notices(conn)
        try:
            publish_notices(app.settings, [n.payload for n in notices])
        except TransientError as exc:
            log.warning("%d anomaly notices wait for the broker: %s", len(notices), exc)
            return 0
        mark_published(conn, [n.id for n in notices])
    return len(notices)


def trigger_delivery(task: RouteLearnTask) -> None:
    """Ask for an alert delivery run now; if the broker refuses, the beat's next one does it."""
    if task.rl_app.settings.alert_webhook_url is None:
        return
    try:
        task.app.send_task(DELIVER_ALERTS_TASK)
    except Exception as exc:  # the sweep has committed: nothing of it depends on this
        log.warning("alert delivery not requested, the next scheduled run sends: %s", exc)
