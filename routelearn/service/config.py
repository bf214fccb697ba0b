"""Every Celery setting routelearn uses, in one place, each with the reason for its value."""

from __future__ import annotations

from typing import Any

from routelearn.constants import (
    DELIVER_ALERTS_TASK,
    FAN_OUT_POLICY_INPUTS_TASK,
    FAN_OUT_REGISTRY_TASK,
    FAN_OUT_SCORES_TASK,
    INGEST_QUEUE,
    LEARN_SCORES_TASK,
    MAINTAIN_PARTITIONS_TASK,
    SEND_SNAPSHOT_TASK,
    SWEEP_ANOMALIES_TASK,
)
from routelearn.messaging.broker import TASK_ROUTES, task_queues, transport_options
from routelearn.service.schedule import schedule
from routelearn.settings import Settings


def celery_config(settings: Settings) -> dict[str, Any]:
    return {
        "broker_url": settings.broker_url,
        "broker_transport_options": transport_options(settings),
        "broker_connection_retry_on_startup": True,
        # Keep retrying a lost broker forever: a worker waits for Redis to return.
        "broker_connection_max_retries": None,
        # JSON only: a message carries data, never a pickled object, and pickle is refused.
        "task_serializer": "json",
        "result_serializer": "json",
        "accept_content": ["json"],
        "event_serializer": "json",
        # No result backend: ingestion results are the database rows themselves.
        "task_ignore_result": True,
        "result_backend": None,
        # At-least-once delivery: ack after the transaction committed, requeue the message of a
        # child killed mid-task; duplicates are harmless because every write is deduplicated.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        # A task past its hard time limit is requeued, not acked. (An unexpected failure is
        # rejected either way; the ingest tasks dead-letter instead of failing.)
        "task_acks_on_timeout": False,
        "task_acks_on_failure": False,
        # One message at a time per process: a killed process strands at most one batch, and a
        # slow batch does not hold others hostage in a prefetch buffer.
        "worker_prefetch_multiplier": settings.worker_prefetch_multiplier,
        # Running tasks of a worker that lost the broker are cancelled; their messages will be
        # redelivered anyway, and finishing them would only produce duplicates to discard.
        "worker_cancel_long_running_tasks_on_connection_loss": True,
        # A default limit for every task; ingestion declares its own (service/tasks/ingest.py).
        "task_soft_time_limit": settings.ingest_soft_time_limit,
        "task_time_limit": settings.ingest_time_limit,
        # Queues by kind (routelearn.messaging.broker); a worker without -Q consumes them all.
        "task_queues": task_queues(settings),
        "task_default_queue": INGEST_QUEUE,
        "task_routes": TASK_ROUTES,
        # Periodic tasks have their own limits, below the visibility timeout as well.
        "task_annotations": {
            name: {
                "soft_time_limit": settings.learner_soft_time_limit,
                "time_limit": settings.learner_time_limit,
            }
            for name in (
                LEARN_SCORES_TASK,
                FAN_OUT_SCORES_TASK,
                FAN_OUT_REGISTRY_TASK,
                FAN_OUT_POLICY_INPUTS_TASK,
                SWEEP_ANOMALIES_TASK,
                DELIVER_ALERTS_TASK,
                SEND_SNAPSHOT_TASK,
                MAINTAIN_PARTITIONS_TASK,
            )
        },
        "task_create_missing_queues": True,
        # Flower and `celery events` need task events; they are small and go to their own queue.
        "worker_send_task_events": True,
        "task_send_sent_event": False,
        "beat_schedule": schedule(settings),
        "timezone": "UTC",
        "enable_utc": True,
        "worker_hijack_root_logger": False,
    }
