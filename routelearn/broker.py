"""Broker settings shared by every process that talks to the broker, and a producer-only app."""

from __future__ import annotations

from typing import Any

from celery import Celery
from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from routelearn.constants import (
    ALL_QUEUES,
    FAN_OUT_SCORES_TASK,
    INGEST_EVENT_TASK,
    INGEST_EVENTS_TASK,
    INGEST_QUEUE,
    LEARN_QUEUE,
    LEARN_SCORES_TASK,
    MAINTAIN_PARTITIONS_TASK,
    MAINTENANCE_QUEUE,
    SEND_SNAPSHOT_TASK,
    SWEEP_ANOMALIES_TASK,
)
from routelearn.settings import Settings


def transport_options(settings: Settings) -> dict[str, Any]:
    """Workers, beat, Flower and publishers must see one visibility timeout."""
    return {
        # A message unacked this long is redelivered; longer than any task's hard time limit.
        "visibility_timeout": settings.visibility_timeout,
        # Sweep for a dead worker's unacked messages often, and on every sweep (throttle 1), so
        # they return within visibility_timeout + unacked_restore_interval (50 s by default).
        "unacked_restore_interval": settings.unacked_restore_interval,
        "unacked_restore_throttle": 1,
        # Fail a publish on a dead connection instead of hanging forever.
        "socket_timeout": 10,
        "socket_connect_timeout": 5,
    }


def task_queues() -> list[Queue]:
    """Every queue with its own direct exchange and routing key. With one shared binding,
    kombu's Redis transport would copy a restored (unacked) message into every queue bound to
    it."""
    return [Queue(name, Exchange(name, type="direct"), routing_key=name) for name in ALL_QUEUES]


def connection(settings: Settings) -> Any:
    """A kombu connection with the shared transport options (fan-out, subscribers, notices)."""
    return Connection(settings.broker_url, transport_options=transport_options(settings))


def durable_queue(name: str) -> Any:
    """A durable plain-message queue with a direct exchange and binding of its own (an instance's
    score updates, the anomaly notices): see ``task_queues`` for why not a shared one."""
    return Queue(name, Exchange(name, type="direct", durable=True), routing_key=name, durable=True)


TASK_ROUTES = {
    INGEST_EVENTS_TASK: {"queue": INGEST_QUEUE},
    INGEST_EVENT_TASK: {"queue": INGEST_QUEUE},
    LEARN_SCORES_TASK: {"queue": LEARN_QUEUE},
    FAN_OUT_SCORES_TASK: {"queue": LEARN_QUEUE},
    SWEEP_ANOMALIES_TASK: {"queue": LEARN_QUEUE},
    SEND_SNAPSHOT_TASK: {"queue": LEARN_QUEUE},
    MAINTAIN_PARTITIONS_TASK: {"queue": MAINTENANCE_QUEUE},
}


def producer_app(settings: Settings) -> Celery:
    """A Celery app that only sends (no tasks, no database): what instances embed."""
    app = Celery("routelearn-producer", set_as_current=False)
    app.conf.update(
        broker_url=settings.broker_url,
        broker_transport_options=transport_options(settings),
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_queues=task_queues(),
        task_routes=TASK_ROUTES,
    )
    return app
