"""Sending a task to the workers without Celery: how the instance side reaches the service.

An application that embeds the publisher or the subscriber must not need Celery (the
``[service]`` extra). A Celery task message is a documented format (message protocol 2:
https://docs.celeryq.dev/en/stable/internals/protocol.html), and kombu, which Celery itself
sends with, builds and sends it as well; ``tests/unit/test_task_message.py`` checks it against
the message Celery builds, and the integration tests have real workers run what it sends.
"""

from __future__ import annotations

import json
import os
import reprlib
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from typing import Any

from kombu.messaging import Producer

from routelearn.constants import INGEST_EVENTS_TASK
from routelearn.messaging.broker import TASK_ROUTES, connection, publish_compression, task_queue
from routelearn.messaging.event_codec import encode_batch
from routelearn.settings import Settings

# kombu ships no type hints: its objects are used through Any (strict mypy refuses untyped calls).
_Producer: Any = Producer

# Two headers of our own beside Celery's (a worker reads them as ``task.request.<name>``): how
# the events came in, the ``source`` label of the ingestion metrics, and when the message was
# sent (Unix seconds), for the send-to-commit lag. A message without them (sent by an older
# producer, or by Celery's own send_task) counts as ``broker`` and has no lag.
SOURCE_HEADER = "routelearn_source"
SENT_AT_HEADER = "routelearn_sent_at"
SOURCE_BROKER = "broker"  # EventPublisher, `routelearn publish`
SOURCE_HTTP = "http"  # the API's POST /api/events
SOURCE_PGMQ = "pgmq"  # the pgmq bridge (seed instances' pgmq.send)
EVENT_SOURCES = (SOURCE_BROKER, SOURCE_HTTP, SOURCE_PGMQ)


def task_message(
    name: str,
    args: list[Any] | tuple[Any, ...],
    task_id: str | None = None,
    *,
    source: str = SOURCE_BROKER,
) -> tuple[list[Any], dict[str, Any], dict[str, Any]]:
    """(body, headers, properties) of a protocol-2 message asking for ``name(*args)``, its
    result ignored: what ``Celery.send_task(name, args, ignore_result=True)`` sends, plus the
    two headers above."""
    task_id = task_id or str(uuid.uuid4())
    body = [list(args), {}, dict(EMBED)]
    properties = {"correlation_id": task_id, "reply_to": ""}
    return body, _headers(name, task_id, _preview(args), source), properties


def _headers(name: str, task_id: str, argsrepr: str, source: str) -> dict[str, Any]:
    return {
        "lang": "py",
        "task": name,
        "id": task_id,
        "shadow": None,
        "eta": None,
        "expires": None,
        "group": None,
        "group_index": None,
        "retries": 0,
        "timelimit": [None, None],
        "root_id": task_id,
        "parent_id": None,
        # Short previews for logs and Flower; the body holds the arguments themselves.
        "argsrepr": argsrepr,
        "kwargsrepr": "{}",
        "origin": f"{os.getpid()}@{socket.gethostname()}",
        "ignore_result": True,
        SOURCE_HEADER: source,
        SENT_AT_HEADER: time.time(),
    }


# The content type send_json declares (the worker's strategy recognises its bodies by it).
JSON_CONTENT_TYPE = "application/json"
EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
# What follows the arguments in a body sent by send_json: no kwargs, then EMBED.
BODY_TAIL = b",{}," + json.dumps(EMBED, separators=(",", ":")).encode() + b"]"


def json_body(args_json: bytes) -> bytes:
    """The protocol-2 body of a call with the JSON array ``args_json`` as its arguments."""
    return b"[" + args_json + BODY_TAIL


# Bounded at every level, so a batch of 1,000 events costs a few items' repr, not the whole
# batch's (which took longer than encoding the message itself).
_REPR = reprlib.Repr()
_REPR.maxlevel, _REPR.maxtuple, _REPR.maxlist, _REPR.maxdict = 4, 4, 4, 6
_REPR.maxstring = _REPR.maxother = 250


def _preview(args: list[Any] | tuple[Any, ...], limit: int = 200) -> str:
    text = _REPR.repr(tuple(args))
    return text if len(text) <= limit else text[: limit - 3] + "..."


class TaskSender:
    """Sends task messages over one broker connection, reconnecting on failure; thread-safe.

    Each task goes to the queue ``TASK_ROUTES`` names for it, declared the way the workers
    declare it (on RabbitMQ a message sent to a queue that does not exist yet would be lost).
    """

    def __init__(self, settings: Settings, retry_policy: dict[str, Any]) -> None:
        self._settings = settings
        # ROUTELEARN_PUBLISH_COMPRESSION, for send_json's bodies (event batches).
        self._compression = publish_compression(settings)
        self._connection: Any = connection(settings)
        self._retry_policy = retry_policy
        self._producer: Any = None
        self._lock = threading.Lock()
        # Load the transport (and its client library) now, not at the first send, which may
        # come at interpreter exit, when imports that register exit hooks are refused.
        self._connection.get_transport_cls()

    def send(
        self, name: str, args: list[Any] | tuple[Any, ...], *, source: str = SOURCE_BROKER
    ) -> str:
        """Send ``name(*args)``; returns the task id. Raises what kombu raises once its retry
        policy is spent (a broker error), or kombu's EncodeError for an argument that is not
        JSON. ``source``: see SOURCE_HEADER."""
        body, headers, properties = task_message(name, args, source=source)
        self._publish(name, body, headers, properties, serializer="json")
        return str(headers["id"])

    def send_json(
        self, name: str, args_json: bytes, argsrepr: str, *, source: str = SOURCE_BROKER
    ) -> str:
        """Send ``name(*args)`` with its arguments given as the JSON array ``args_json``
        (trusted to be JSON: the caller built it); ``argsrepr`` is their preview in Flower."""
        task_id = str(uuid.uuid4())
        headers = _headers(name, task_id, argsrepr, source)
        properties = {"correlation_id": task_id, "reply_to": ""}
        body = json_body(args_json)
        self._publish(
            name,
            body,
            headers,
            dict(properties, content_type=JSON_CONTENT_TYPE, content_encoding="utf-8"),
            compression=self._compression,
        )
        return task_id

    def send_events(self, events: Sequence[Any], *, source: str = SOURCE_BROKER) -> str:
        """Send one ``routelearn.ingest_events`` batch: objects or raw JSON bytes, encoded by
        ``event_codec`` (EncodeError names an event no encoder takes)."""
        args = b"[" + encode_batch(events) + b"]"
        return self.send_json(
            INGEST_EVENTS_TASK, args, f"([<{len(events)} events>],)", source=source
        )

    def _publish(
        self,
        name: str,
        body: Any,
        headers: dict[str, Any],
        properties: dict[str, Any],
        **options: Any,
    ) -> None:
        queue = task_queue(TASK_ROUTES[name]["queue"], self._settings)
        with self._lock:
            if self._producer is None:
                self._producer = _Producer(self._connection, serializer="json")
            self._producer.publish(
                body,
                exchange=queue.exchange,
                routing_key=queue.routing_key,
                headers=headers,
                declare=[queue],
                delivery_mode=2,
                retry=True,
                retry_policy=self._retry_policy,
                **properties,
                **options,
            )

    def close(self) -> None:
        with self._lock:
            self._producer = None
            self._connection.release()
