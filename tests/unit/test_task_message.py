"""The task message the instance side builds without Celery is the one Celery builds."""

from __future__ import annotations

import time

from celery import Celery

from routelearn.messaging.task_message import (
    SENT_AT_HEADER,
    SOURCE_BROKER,
    SOURCE_HEADER,
    SOURCE_HTTP,
    task_message,
)


def test_matches_celerys_own_protocol_2_message() -> None:
    app = Celery("check", set_as_current=False)
    args = [[{"event_id": "e1"}, {"event_id": "e2"}]]
    theirs = app.amqp.as_task_v2("tid-1", "routelearn.ingest_events", args=args, ignore_result=True)
    body, headers, properties = task_message("routelearn.ingest_events", args, task_id="tid-1")
    # Every header Celery sets, we set alike (origin and argsrepr differ only in form).
    for key, value in theirs.headers.items():
        if key in ("origin", "argsrepr", "kwargsrepr"):
            assert key in headers
            continue
        if key in ("stamped_headers", "stamps", "replaced_task_nesting"):
            continue  # canvas bookkeeping, read with defaults by the worker
        assert headers[key] == value, key
    their_args, their_kwargs, their_embed = theirs.body
    assert body == [list(their_args), their_kwargs, their_embed]
    assert properties["correlation_id"] == theirs.properties["correlation_id"] == "tid-1"


def test_argument_preview_is_bounded() -> None:
    _, headers, _ = task_message("routelearn.ingest_events", [["x" * 10_000]])
    assert len(headers["argsrepr"]) <= 200 and headers["argsrepr"].endswith("...")


def test_the_message_says_where_its_events_came_from_and_when_it_left() -> None:
    before = time.time()
    _, headers, _ = task_message("routelearn.ingest_events", [[]])
    _, from_api, _ = task_message("routelearn.ingest_events", [[]], source=SOURCE_HTTP)
    assert headers[SOURCE_HEADER] == SOURCE_BROKER and from_api[SOURCE_HEADER] == SOURCE_HTTP
    assert before <= headers[SENT_AT_HEADER] <= time.time()
