"""The ``model_anomalies`` queue: where every anomaly opened, updated or closed is announced.

A durable queue with its own direct exchange (``broker.bounded_queue``), read by whatever alerts
on anomalies (``routelearn anomalies watch``, a bridge to a pager). Each message is one notice,
JSON. Bounded like the instance queues: past ``Settings.anomaly_queue_max`` the oldest notices
are dropped (the ``anomalies`` table keeps every one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kombu.messaging import Producer

from routelearn.constants import ANOMALY_QUEUE
from routelearn.errors import TransientError
from routelearn.messaging import broker
from routelearn.settings import Settings

# kombu ships no type hints: its objects are used through Any (strict mypy refuses untyped calls).
_Producer: Any = Producer

_POLL_SECONDS = 0.2


def anomaly_queue(settings: Settings) -> Any:
    return broker.bounded_queue(ANOMALY_QUEUE, settings, settings.anomaly_queue_max)


def publish_notices(settings: Settings, notices: Sequence[dict[str, Any]]) -> None:
    """Send ``notices`` in order (one pipeline on Redis); raise TransientError if the broker
    fails (the caller keeps them unpublished and tries again on its next run)."""
    if not notices:
        return
    connection = broker.connection(settings)
    queue = anomaly_queue(settings)
    try:
        with connection:
            connection.ensure_connection(**broker.RETRY_POLICY)
            channel = connection.default_channel
            queue(channel).declare()
            producer = _Producer(channel, serializer="json")
            for notice in notices:
                body = json.dumps(notice, separators=(",", ":"))
                broker.publish_bounded(producer, [queue], body, settings.anomaly_queue_max)
    except (OSError, *connection.connection_errors, *connection.channel_errors) as exc:
        raise TransientError(f"could not publish anomaly notices: {exc}") from exc


def read_notices(settings: Settings, wait: float = 0.0) -> Iterator[dict[str, Any]]:
    """Take notices off the queue in order, acking each once yielded; stop when none arrives
    for ``wait`` seconds."""
    with broker.connection(settings) as connection:
        queue = anomaly_queue(settings)(connection.default_channel)
        queue.declare()
        idle_since = time.monotonic()
        while True:
            message = queue.get(no_ack=False, accept=["application/json"])
            if message is None:
                if time.monotonic() - idle_since >= wait:
                    return
                time.sleep(_POLL_SECONDS)
                continue
            body = message.decode()
            yield body if isinstance(body, dict) else {"notice": body}
            message.ack()
            idle_since = time.monotonic()
