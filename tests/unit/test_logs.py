"""Log lines: the JSON format, its context, and what redaction takes out of every line."""

from __future__ import annotations

import io
import json
import logging
import logging.config
from collections.abc import Iterator
from typing import Any

import pytest

from routelearn.domain.api_keys import new_key
from routelearn.domain.redaction import redact
from routelearn.logs import (
    MAX_MESSAGE,
    JsonFormatter,
    RedactingFilter,
    add_context_provider,
    log_context,
    secret_values,
    uvicorn_log_config,
)
from routelearn.settings import Settings


@pytest.fixture
def logger() -> Iterator[tuple[logging.Logger, io.StringIO]]:
    """A logger of its own writing JSON lines, through the redacting filter, to a buffer."""
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter(["s3cr3t-webhook-path"]))
    log = logging.getLogger("routelearn.test.logs")
    log.addHandler(handler)
    log.setLevel(logging.DEBUG)
    log.propagate = False
    yield log, out
    log.removeHandler(handler)


def lines(out: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_a_json_line_has_time_level_logger_and_message(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    log.warning("batch of %d events, %s", 3, "ok")
    (line,) = lines(out)
    assert set(line) == {"timestamp", "level", "logger", "message"}
    assert line["level"] == "WARNING" and line["logger"] == "routelearn.test.logs"
    assert line["message"] == "batch of 3 events, ok"
    assert line["timestamp"].endswith("Z") and len(line["timestamp"]) == 24  # ms, UTC


def test_context_comes_from_log_context_extra_and_providers(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    add_context_provider(_fake_task)
    _task["now"] = {"task_id": "t-1", "task_name": "routelearn.ingest_events", "batch_id": "t-1"}
    try:
        with log_context(anomaly_id="a-9"):
            log.info("one", extra={"instance_id": "app-3", "unrelated": "dropped"})
        log.info("two")
    finally:
        _task["now"] = {}
    first, second = lines(out)
    assert first["task_id"] == first["batch_id"] == "t-1"
    assert first["task_name"] == "routelearn.ingest_events"
    assert (first["instance_id"], first["anomaly_id"]) == ("app-3", "a-9")
    assert "unrelated" not in first
    assert "anomaly_id" not in second and second["task_id"] == "t-1"


_task: dict[str, dict[str, str]] = {"now": {}}


def _fake_task() -> dict[str, str]:
    return _task["now"]


def test_an_exception_is_one_field_and_a_long_message_is_cut(
    logger: tuple[logging.Logger, io.StringIO],
) -> None:
    log, out = logger
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        log.exception("failed")
    log.error("x" * (MAX_MESSAGE + 10))
    failed, long = lines(out)
    assert failed["message"] == "failed"
    assert "RuntimeError: boom" in failed["exception"] and "Traceback" in failed["exception"]
    assert long["message"] == "x" * MAX_MESSAGE + "... (10 more characters)"


def test_secrets_leave_every_line(logger: tuple[logging.Logger, io.StringIO]) -> None:
    log, out = logger
    key = new_key()
    token = key.token
    log.warning("key %s refused", token)
    log.warning("headers %s", {"Authorization": "Bearer abc.def-ghi", "Accept": "*/*"})
    log.warning("broker redis://:hunter2@10.0.0.5:6379/0 and amqp://rl:pa55word@mq:5672//")
    log.warning("posting to https://hooks.example/s3cr3t-webhook-path")
    try:
        raise ConnectionError(f"could not reach amqp://rl:pa55word@mq:5672// with {token}")
    except ConnectionError:
        log.exception("lost")
    text = out.getvalue()
    secret_part = token.removeprefix(f"rl_{key.key_id}_")
    for secret in (secret_part, "abc.def-ghi", "hunter2", "pa55word", "s3cr3t-webhook"):
        assert secret not in text
    key_line, auth, urls, webhook, lost = lines(out)
    assert key_line["message"] == f"key rl_{key.key_id}_*** refused"
    assert auth["message"] == "headers {'Authorization': 'Bearer ***', 'Accept': '*/*'}"
    assert urls["message"] == "broker redis://:***@10.0.0.5:6379/0 and amqp://rl:***@mq:5672//"
    assert webhook["message"] == "posting to https://hooks.example/***"
    assert "amqp://rl:***@mq:5672//" in lost["exception"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Authorization: Basic dXNlcjpwYXNz", "Authorization: Basic ***"),
        ("authorization=tok123", "authorization=***"),
        ('{"authorization": "Token abc"}', '{"authorization": "Token ***"}'),
        ("Authorization header missing", "Authorization header missing"),
        ("http://127.0.0.1:8080/path@x", "http://127.0.0.1:8080/path@x"),
        (
            "postgresql+psycopg://postgres@127.0.0.1/db",
            "postgresql+psycopg://postgres@127.0.0.1/db",
        ),
        ("rl_0123456789ab_short", "rl_0123456789ab_short"),
    ],
)
def test_redaction_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_short_literals_are_not_replaced() -> None:
    # A 3-character "secret" would mangle ordinary words; settings validation keeps real ones long.
    assert redact("the abc of it", ["abc"]) == "the abc of it"
    assert redact("a longer-secret here", ["longer-secret"]) == "a *** here"


def test_text_lines_are_redacted_too() -> None:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    handler.addFilter(RedactingFilter())
    log = logging.getLogger("routelearn.test.text")
    log.addHandler(handler)
    log.propagate = False
    try:
        log.error("connect %s failed", "redis://:hunter2@h:6379/0")
    finally:
        log.removeHandler(handler)
    assert out.getvalue() == "ERROR connect redis://:***@h:6379/0 failed\n"


def test_secret_values_are_the_webhook_settings() -> None:
    settings = Settings(
        alert_webhook_url="https://hooks.slack.com/services/T1/B2/XYZSECRET",  # type: ignore[arg-type]
        alert_webhook_token="tok-0123456789",  # type: ignore[arg-type]
        alert_webhook_headers='{"X-Api-Key": "key-9876543210"}',  # type: ignore[arg-type]
    )
    values = secret_values(settings)
    assert "https://hooks.slack.com/services/T1/B2/XYZSECRET" in values
    assert "/services/T1/B2/XYZSECRET" in values
    assert {"tok-0123456789", "key-9876543210"} <= set(values)
    assert "XYZSECRET" not in repr(settings) and "tok-0123456789" not in repr(settings)


def test_uvicorn_json_config_writes_json_access_and_error_lines(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = uvicorn_log_config("json", ["s3cr3t-value"])
    # Without "root": the test leaves the root logger (pytest's capture) alone.
    logging.config.dictConfig({k: v for k, v in config.items() if k != "root"})
    try:
        logging.getLogger("uvicorn.error").info("Started server s3cr3t-value")
        logging.getLogger("uvicorn.access").info(
            '%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "GET", "/api/scores", "1.1", 200
        )
    finally:
        for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
            configured = logging.getLogger(name)
            configured.handlers.clear()
            configured.propagate = True
            configured.setLevel(logging.NOTSET)
    captured = capsys.readouterr()
    error = json.loads(captured.err.strip())
    access = json.loads(captured.out.strip())
    assert (error["logger"], error["message"]) == ("uvicorn.error", "Started server ***")
    assert access["message"] == '127.0.0.1:5000 - "GET /api/scores HTTP/1.1" 200'


def test_uvicorn_text_config_keeps_access_arguments() -> None:
    # uvicorn's access formatter reads record.args as a tuple: redaction keeps it one.
    record = logging.LogRecord(
        "uvicorn.access",
        logging.INFO,
        __file__,
        1,
        '%s - "%s %s HTTP/%s" %d',
        ("127.0.0.1:5000", "GET", "/x?k=rl_0123456789ab_" + "A" * 43, "1.1", 200),
        None,
    )
    RedactingFilter().filter(record)
    assert isinstance(record.args, tuple) and record.args[2] == "/x?k=rl_0123456789ab_***"
    assert uvicorn_log_config("text")["formatters"]["access"]["()"] == (
        "uvicorn.logging.AccessFormatter"
    )
