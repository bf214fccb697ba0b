"""The broker, as every process sees it: connection options, queue definitions, one retry
policy, and the one way a bounded queue is published to.

Two brokers are supported: Redis (``redis://``) and RabbitMQ (``amqp://``). What differs is kept
here: Redis needs a visibility timeout and bounds a queue by trimming its list after a publish;
RabbitMQ redelivers on a closed channel and bounds a queue itself (``x-max-length`` with
``drop-head``, declared with the queue).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from kombu.connection import Connection
from kombu.entity import Exchange, Queue

from routelearn.constants import (
    ALL_QUEUES,
    CONSUME_PGMQ_TASK,
    DELIVER_ALERTS_TASK,
    FAN_OUT_POLICY_INPUTS_TASK,
    FAN_OUT_REGISTRY_TASK,
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
from routelearn.settings import Settings, is_redis

# How kombu retries an operation on a lost connection before giving up to the caller (fan-out,
# notices, the publisher's sends): short, so the caller's own policy (requeue the task, back off
# and resend the batch) decides how long the whole thing is tried.
RETRY_POLICY: dict[str, Any] = {
    "max_retries": 2,
    "interval_start": 0.0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}

TASK_ROUTES = {
    INGEST_EVENTS_TASK: {"queue": INGEST_QUEUE},
    INGEST_EVENT_TASK: {"queue": INGEST_QUEUE},
    LEARN_SCORES_TASK: {"queue": LEARN_QUEUE},
    FAN_OUT_SCORES_TASK: {"queue": LEARN_QUEUE},
    FAN_OUT_REGISTRY_TASK: {"queue": LEARN_QUEUE},
    FAN_OUT_POLICY_INPUTS_TASK: {"queue": LEARN_QUEUE},
    SWEEP_ANOMALIES_TASK: {"queue": LEARN_QUEUE},
    DELIVER_ALERTS_TASK: {"queue": LEARN_QUEUE},
    SEND_SNAPSHOT_TASK: {"queue": LEARN_QUEUE},
    MAINTAIN_PARTITIONS_TASK: {"queue": MAINTENANCE_QUEUE},
    CONSUME_PGMQ_TASK: {"queue": INGEST_QUEUE},
}


def publish_compression(settings: Settings) -> str | None:
    """The codec event batches are compressed with, None for none. Checked here, where the
    instance starts, rather than at the first send: kombu knows zstd only with its module."""
    name = settings.publish_compression
    if name == "none":
        return None
    from kombu import compression

    try:
        compression.get_encoder(name)
    except KeyError:
        raise ValueError(
            f"ROUTELEARN_PUBLISH_COMPRESSION={name!r}: kombu has no such codec here "
            "(zstd needs the backports.zstd package before Python 3.14)"
        ) from None
    return name


def transport_options(settings: Settings) -> dict[str, Any]:
    """Workers, beat, Flower and publishers must see one set (one visibility timeout)."""
    if not is_redis(settings.broker_url):
        # RabbitMQ redelivers a message when its consumer's channel closes: no timeout to set.
        # A publish returns once the broker confirmed it (has it, on disk for a persistent
        # message), so a send that "succeeded" is not lost if the connection drops right after.
        return {"confirm_publish": True, "connect_timeout": 5}
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


def connection(settings: Settings, *, confirm: bool = True) -> Any:
    """A kombu connection with the shared transport options; connects on first use.
    ``confirm=False``: no per-message publisher confirm on RabbitMQ, for a caller that commits
    a batch as one AMQP transaction instead (the fan-out)."""
    options = transport_options(settings)
    if not confirm:
        options.pop("confirm_publish", None)
    return Connection(settings.broker_url, transport_options=options)


def _queue_arguments(settings: Settings, max_length: int | None = None) -> dict[str, Any]:
    arguments: dict[str, Any] = {}
    if settings.quorum_queues:
        arguments["x-queue-type"] = "quorum"
    if max_length is not None:
        # RabbitMQ drops the oldest message past the bound; kombu's Redis transport ignores
        # queue arguments, so publish_bounded trims the list there instead.
        arguments |= {"x-max-length": max_length, "x-overflow": "drop-head"}
    return arguments


def task_queue(name: str, settings: Settings) -> Any:
    """A task queue with its own direct exchange and routing key. With one shared binding,
    kombu's Redis transport would copy a restored (unacked) message into every queue bound to
    it. Every process declares it with the same arguments (see ``bounded_queue``)."""
    return Queue(
        name,
        Exchange(name, type="direct"),
        routing_key=name,
        queue_arguments=_queue_arguments(settings) or None,
    )


def task_queues(settings: Settings) -> list[Queue]:
    return [task_queue(name, settings) for name in ALL_QUEUES]


def bounded_queue(name: str, settings: Settings, max_length: int) -> Any:
    """A durable plain-message queue (an instance's score updates, the anomaly notices) with a
    direct exchange and binding of its own (see ``task_queue``) that keeps its newest
    ``max_length`` messages. Every process declares it with the same arguments (RabbitMQ refuses
    a second declaration that differs), so ``max_length`` comes from the shared settings."""
    return Queue(
        name,
        Exchange(name, type="direct", durable=True),
        routing_key=name,
        durable=True,
        queue_arguments=_queue_arguments(settings, max_length),
    )


def publish_bounded(
    producer: Any, queues: Sequence[Any], body: str, max_length: int, pipeline_size: int = 100
) -> list[str]:
    """Send ``body`` (JSON text) to every queue in ``queues``, then bound each to its newest
    ``max_length`` messages; returns the names of queues that were over the bound (Redis only:
    RabbitMQ drops the oldest itself and does not say). Queues must be declared already.

    Sent to the anonymous exchange with the queue's name as routing key: with a named exchange,
    kombu's Redis transport reads the exchange's bindings (one SMEMBERS round trip) per message.
    On Redis, ``producer.batch()`` sends ``pipeline_size`` messages per round trip."""
    names = [queue.name for queue in queues]
    for start in range(0, len(names), pipeline_size):
        chunk = names[start : start + pipeline_size]
        with producer.batch(max_size=len(chunk)):
            for name in chunk:
                producer.publish(
                    body,
                    exchange="",
                    routing_key=name,
                    content_type="application/json",
                    content_encoding="utf-8",
                    delivery_mode=2,  # persistent: what the durable queue is for
                )
    if producer.connection.transport.driver_type != "redis":
        return []  # RabbitMQ: the queue's x-max-length bounds it
    client = producer.channel.client
    with client.pipeline(transaction=False) as pipe:
        for name in names:
            # kombu's Redis transport: a priority-0 queue is the Redis list named after it,
            # newest at the left (LPUSH), oldest at the right (consumers RPOP).
            pipe.llen(name)
            pipe.ltrim(name, 0, max_length - 1)
        results = pipe.execute()
    return [n for n, length in zip(names, results[0::2], strict=True) if length > max_length]
