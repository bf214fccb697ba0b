"""The ``model_anomalies`` queue: where every anomaly opened, updated or closed is announced.

A durable queue with its own direct exchange (see ``routelearn.broker`` for why not a shared
binding), read by whatever alerts on anomalies (``routelearn anomalies watch``, a bridge to a
pager). Each message is one notice, JSON. Bounded like the instance queues: past
``max_length`` the oldest notices are dropped (the ``anomalies`` table keeps every one).
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Sequence
from typing import Any

from kombu.messaging import Producer

from routelearn import broker
from routelearn.constants import ANOMALY_QUEUE
from routelearn.errors import TransientError
from routelearn.settings import Settings

# kombu ships no type hints: its objects are used through Any (strict mypy refuses untyped calls).
_Producer: Any = Producer

DEFAULT_MAX_LENGTH = 100_000
_POLL_SECONDS = 0.2
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 1}


def anomaly_queue() -> Any:
    return broker.durable_queue(ANOMALY_QUEUE)


def publish_notices(
    settings: Settings, notices: Sequence[dict[str, Any]], max_length: int = DEFAULT_MAX_LENGTH
) -> None:
    """Send ``notices`` in order, in one pipeline; raise TransientError if the broker fails (the
    caller keeps them unpublished and tries again on its next run)."""
    if not notices:
        return
    connection = broker.connection(settings)
    try:
        with connection:
            connection.ensure_connection(**_RETRY_POLICY)
            channel = connection.default_channel
            anomaly_queue()(channel).declare()
            producer = _Producer(channel, serializer="json")
            with producer.batch(max_size=len(notices)):
                for notice in notices:
                    producer.publish(
                        json.dumps(notice, separators=(",", ":")),
                        exchange="",
                        routing_key=ANOMALY_QUEUE,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,
                    )
            client = getattr(channel, "client", None)
            if client is not None:  # Redis: newest at the left; keep the newest max_length
                client.ltrim(ANOMALY_QUEUE, 0, max_length - 1)
    except (OSError, *connection.connection_errors) as exc:
        raise TransientError(f"could not publish anomaly notices: {exc}") from exc


def read_notices(settings: Settings, wait: float = 0.0) -> Iterator[dict[str, Any]]:
    """Take notices off the queue in order, acking each once yielded; stop when none arrives
    for ``wait`` seconds."""
    with broker.connection(settings) as connection:
        queue = anomaly_queue()(connection.default_channel)
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
