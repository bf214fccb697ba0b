"""``routelearn.send_snapshot``: a starting subscriber asks for every current score.

Instances have no database access; the snapshot reaches them on the broker, in their own queue,
behind any rounds already waiting there (versions make the order harmless).
"""

from __future__ import annotations

from celery import shared_task

from routelearn.constants import SEND_SNAPSHOT_TASK
from routelearn.messaging.fanout import send_snapshot as send
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store import estimates, policy
from routelearn.store.scores import score_snapshot


@shared_task(name=SEND_SNAPSHOT_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def send_snapshot(self: RouteLearnTask, instance_id: str) -> dict[str, object]:
    """Safe to run twice: the subscriber applies only scores newer than those it holds."""
    app = self.rl_app
    if not isinstance(instance_id, str) or not instance_id:
        raise ValueError(f"instance_id must be a non-empty string, got {instance_id!r}")
    snapshot = score_snapshot(app.engine, app.settings.default_score)
    with app.engine.connect() as conn:
        pieces = policy.current_changes(conn)
        report = estimates.read(conn)
    # The learner's latest estimates too: a starting router directs its exploration from its
    # first request, not from the next tick's round.
    inputs = None if report is None else {"estimates": report.to_message()}
    send(app.settings, instance_id, snapshot, pieces, inputs)
    return {"instance_id": instance_id, "models": len(snapshot["models"])}
