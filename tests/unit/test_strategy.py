"""The worker's main process skips decoding only bodies whose decoded form it already knows."""

from __future__ import annotations

import json

from celery import Celery

from routelearn.messaging.task_message import EMBED, json_body
from routelearn.messaging.task_message import JSON_CONTENT_TYPE as JSON
from routelearn.service.strategy import decoded_without_decoding


def test_a_send_json_body_is_known_without_decoding() -> None:
    events = [{"event_id": "e1"}, {"instance_id": "i", "nested": {"callbacks": None}}]
    body = json_body(json.dumps([events, "broker"]).encode())
    args, kwargs, embed = json.loads(body)
    assert args == [events, "broker"]
    # What the main process gets instead: everything but the arguments, exactly.
    assert decoded_without_decoding(body, JSON) == ([], kwargs, embed)
    assert embed == EMBED


def test_any_other_body_is_decoded_as_celery_does() -> None:
    app = Celery("check", set_as_current=False)
    args = [[{"event_id": "e1"}]]
    plain = app.amqp.as_task_v2("t1", "routelearn.ingest_events", args=args).body
    linked = app.amqp.as_task_v2(
        "t2", "routelearn.ingest_events", args=args, callbacks=[{"task": "x"}]
    ).body
    with_kwargs = b'[[],{"a":1},' + json.dumps(EMBED, separators=(",", ":")).encode() + b"]"
    for body in (
        json.dumps(plain).encode(),  # Celery's own spelling: decoded, whatever its content
        json.dumps(linked).encode(),  # callbacks: the main process runs them
        b'{"args": [], "kwargs": {}}',  # protocol 1
        with_kwargs,
    ):
        assert decoded_without_decoding(body, JSON) is None, body
    body = json_body(b"[[]]")
    assert decoded_without_decoding(body, "application/x-python-serialize") is None
    assert decoded_without_decoding(body.decode(), JSON) is None  # not bytes: left alone
    assert decoded_without_decoding(b" " + body, JSON) is None  # not as send_json spells it
