"""The celery-beat schedule, as data."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from routelearn.constants import (
    CONSUME_PGMQ_TASK,
    DELIVER_ALERTS_TASK,
    FAN_OUT_POLICY_INPUTS_TASK,
    FAN_OUT_REGISTRY_TASK,
    INGEST_QUEUE,
    LEARN_QUEUE,
    LEARN_SCORES_TASK,
    MAINTAIN_PARTITIONS_TASK,
    MAINTENANCE_QUEUE,
    SWEEP_ANOMALIES_TASK,
)

if TYPE_CHECKING:
    from routelearn.settings import Settings

# A periodic message expires before the next tick is sent, so a backlog (workers down for a
# while) never replays a string of stale runs when they return.
_EXPIRY_FRACTION = 0.9


def schedule(settings: Settings) -> dict[str, dict[str, Any]]:
    """Entries for ``beat_schedule``."""
    entries = {
        "learn-scores": _every(settings.learner_interval, LEARN_SCORES_TASK, LEARN_QUEUE),
        "sweep-anomalies": _every(settings.anomaly_interval, SWEEP_ANOMALIES_TASK, LEARN_QUEUE),
        # A no-op while no webhook is configured (ROUTELEARN_ALERT_WEBHOOK_URL).
        "deliver-alerts": _every(settings.alert_interval, DELIVER_ALERTS_TASK, LEARN_QUEUE),
        "fan-out-registry": _every(
            settings.registry_fanout_interval, FAN_OUT_REGISTRY_TASK, LEARN_QUEUE
        ),
        # A no-op while no workspace has a budget limit.
        "fan-out-policy-inputs": _every(
            settings.policy_inputs_interval, FAN_OUT_POLICY_INPUTS_TASK, LEARN_QUEUE
        ),
        "maintain-partitions": _every(
            settings.maintenance_interval, MAINTAIN_PARTITIONS_TASK, MAINTENANCE_QUEUE
        ),
    }
    if settings.pgmq_enabled:
        # Ingestion workers drain the queue; each run ends when it is empty, so runs are short
        # while the instances are quiet and back to back while they are not.
        entries["consume-pgmq"] = _every(
            settings.pgmq_poll_interval, CONSUME_PGMQ_TASK, INGEST_QUEUE
        )
    return entries


def _every(seconds: float, task: str, queue: str) -> dict[str, Any]:
    return {
        "task": task,
        "schedule": seconds,
        "options": {"queue": queue, "expires": seconds * _EXPIRY_FRACTION},
    }
