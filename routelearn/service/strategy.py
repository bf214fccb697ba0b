"""A task message sent by ``TaskSender.send_json`` is decoded once, in the pool process.

Celery's worker decodes every message's body in its main process (its request needs the
arguments, keyword arguments and callbacks there: ``celery/worker/request.py``; and
celery/celery#4358), then hands the raw body to a pool process, which decodes it again. For a
batch of events that first decode was half of the main process' time (docs/performance.md),
spent on a thousand dicts nobody there reads. A body ``send_json`` built ends with
``BODY_TAIL``: no keyword arguments, no callbacks. For such a body this strategy fills the
message's decoded-body cache with what Celery's main process needs from it, known without
decoding, and the body goes to the pool process untouched. Every other message takes Celery's
path unchanged.

What changes: in the main process an ingest task's arguments are an empty list, so ``celery
inspect active`` and ``reserved`` show ``args: []`` for it; Flower and the task events show
its ``argsrepr`` header (``([<1000 events>],)``) as before. The task runs with its arguments.
"""

from __future__ import annotations

from typing import Any

from celery.worker.strategy import default

from routelearn.messaging.task_message import BODY_TAIL, EMBED, JSON_CONTENT_TYPE


def decoded_without_decoding(
    body: object, content_type: str | None
) -> tuple[list[Any], dict[str, Any], dict[str, Any]] | None:
    """What Celery's main process takes from a body ``send_json`` built, else None."""
    if (
        content_type == JSON_CONTENT_TYPE
        and isinstance(body, bytes)
        and body.startswith(b"[")
        and body.endswith(BODY_TAIL)
    ):
        return [], {}, dict(EMBED)
    return None


def decode_once(task: Any, app: Any, consumer: Any, **kwargs: Any) -> Any:
    """Celery's default strategy, without the main process' decode of a ``send_json`` body."""
    handler = default(task, app, consumer, **kwargs)

    def task_message_handler(
        message: Any, body: Any, ack: Any, reject: Any, callbacks: Any, **options: Any
    ) -> Any:
        if body is None and message._decoded_cache is None:
            message._decoded_cache = decoded_without_decoding(message.body, message.content_type)
        return handler(message, body, ack, reject, callbacks, **options)

    return task_message_handler
