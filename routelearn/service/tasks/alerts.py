"""``routelearn.deliver_alerts``: anomaly notices to the alert webhook, on queue
``routelearn.learn``; beat-driven (``ROUTELEARN_ALERT_INTERVAL``) and sent after each sweep that
wrote notices. A no-op while ``ROUTELEARN_ALERT_WEBHOOK_URL`` is unset. docs/alerts.md."""

from __future__ import annotations

import time
from dataclasses import replace

from celery import shared_task

from routelearn.constants import DELIVER_ALERTS_TASK
from routelearn.service.alerts import deliver_pending
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.service.webhook import Webhook, retry_policy

# Kept back from the soft time limit: no POST starts that could outlast it.
_MARGIN = 1.0


@shared_task(name=DELIVER_ALERTS_TASK, bind=True, base=RouteLearnTask)
def deliver_alerts(self: RouteLearnTask) -> dict[str, object]:
    settings = self.rl_app.settings
    webhook = Webhook.from_settings(settings)
    if webhook is None:
        return {"ran": False, "reason": "ROUTELEARN_ALERT_WEBHOOK_URL is not set"}
    # The task runs under the learner's limits: one POST may not outlast them.
    budget = max(settings.learner_soft_time_limit - _MARGIN, 0.5)
    webhook = replace(webhook, timeout=min(webhook.timeout, budget))
    deadline = time.monotonic() + budget
    report = deliver_pending(self.rl_app.engine, webhook, retry_policy(settings), deadline=deadline)
    return report.as_dict()
