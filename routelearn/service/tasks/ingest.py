"""Ingestion tasks: ``routelearn.ingest_events`` (a batch, the fast path) and
``routelearn.ingest_event`` (one event, for simple producers)."""

from __future__ import annotations

import logging
import time
from typing import Any

from celery import shared_task

from routelearn.constants import INGEST_EVENT_TASK, INGEST_EVENTS_TASK
from routelearn.messaging.task_message import SENT_AT_HEADER, SOURCE_BROKER, SOURCE_HEADER
from routelearn.service.tasks.base import RouteLearnTask

log = logging.getLogger(__name__)

# Time kept back from the soft limit to hand a batch back to the broker cleanly.
_DEADLINE_MARGIN = 2.0


def _ingest(task: RouteLearnTask, payloads: list[Any]) -> dict[str, int]:
    app = task.rl_app
    deadline = time.monotonic() + max(1.0, app.settings.ingest_soft_time_limit - _DEADLINE_MARGIN)
    # A database still down raises TransientError: the base task hands the message back to the
    # broker; the ingestor's back-off keeps this process from spinning.
    # Celery hands a message's own headers to the task as attributes of its request.
    counts = app.ingestor.ingest(
        payloads,
        source=task.name,
        deadline=deadline,
        via=getattr(task.request, SOURCE_HEADER, None) or SOURCE_BROKER,
        sent_at=getattr(task.request, SENT_AT_HEADER, None),
    )
    return {
        "received": counts.received,
        "inserted": counts.inserted,
        "duplicates": counts.duplicates,
        "rejected": counts.rejected,
    }


@shared_task(name=INGEST_EVENTS_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def ingest_events(self: RouteLearnTask, *args: Any, **kwargs: Any) -> dict[str, int]:
    """Ingest a list of events. Anything else in the message is validated as events too, so a
    malformed call ends in ``dead_letters`` instead of being dropped."""
    payloads: list[Any] = []
    for value in (*args, *kwargs.values()):
        payloads.extend(value if isinstance(value, list) else [value])
    return _ingest(self, payloads)


@shared_task(name=INGEST_EVENT_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def ingest_event(self: RouteLearnTask, *args: Any, **kwargs: Any) -> dict[str, int]:
    """Ingest one event (every argument is taken as one event)."""
    return _ingest(self, [*args, *kwargs.values()])
