"""Alert delivery against a real HTTP server on 127.0.0.1 and the real PostgreSQL: at least once,
retried with back-off, in order per anomaly, given up when too old, both bodies, no secret in a
log line or an error column."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, text

from routelearn.domain.anomaly import AnomalyKind, Finding, OpenAnomaly, Severity
from routelearn.service.alerts import DeliveryReport, deliver_pending
from routelearn.service.webhook import Webhook, retry_policy
from routelearn.settings import Settings
from tests.services import run_cli, wait_for
from tests.webhook_server import WebhookServer, webhook_server

pytestmark = pytest.mark.integration

SECRET_PATH = "/services/T000/B000/s3cretWebhookPath"
TOKEN = "tok-s3cret-0123456789"
HEADER = "hdr-s3cret-9876543210"
SECRETS = ("s3cretWebhookPath", TOKEN, HEADER)


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    with webhook_server() as running:
        yield running


def alert_settings(settings: Settings, server: WebhookServer, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "alert_webhook_url": SecretStr(server.url(SECRET_PATH)),
        "alert_webhook_format": "slack",
        "alert_webhook_token": SecretStr(TOKEN),
        "alert_webhook_headers": SecretStr(json.dumps({"X-Api-Key": HEADER})),
        "alert_webhook_timeout": 2.0,
        "alert_retry_base": 0.05,
        "alert_retry_cap": 0.2,
        "alert_max_age": 3600.0,
    }
    return settings.model_copy(update=values | overrides)


def deliver(engine: Engine, settings: Settings) -> DeliveryReport:
    webhook = Webhook.from_settings(settings)
    assert webhook is not None
    return deliver_pending(engine, webhook, retry_policy(settings), deadline=time.monotonic() + 10)


def add_notice(
    engine: Engine, model: str, event: str = "opened", opened: datetime | None = None
) -> int:
    """A notice in the sweep's outbox, shaped as the sweep writes it (from the domain's objects)."""
    opened = opened or datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
    anomaly = OpenAnomaly(
        AnomalyKind.LOW_SUCCESS_RATE, (model, "medium"), opened, opened, Severity.CRITICAL, 0.1
    )
    finding = Finding(
        AnomalyKind.LOW_SUCCESS_RATE,
        (model, "medium"),
        Severity.CRITICAL,
        0.1,
        0.85,
        f"{model}/medium: success 10% < 85%",
    )
    payload: dict[str, Any] = {
        "event": event,
        "at": datetime.now(UTC).isoformat(),
        "anomaly": anomaly.to_dict(),
    }
    payload |= finding.to_dict()
    if event == "closed":
        payload["reason"] = "cleared"
    with engine.begin() as conn:
        return int(
            conn.execute(
                text(
                    "INSERT INTO anomaly_events (anomaly_id, event, payload)"
                    " VALUES (:a, :e, CAST(:p AS jsonb)) RETURNING id"
                ),
                {"a": anomaly.anomaly_id, "e": event, "p": json.dumps(payload)},
            ).scalar_one()
        )


def states(engine: Engine) -> dict[int, dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT event_id, status, attempts, delivered_at, failed_at, last_error"
                " FROM webhook_deliveries ORDER BY event_id"
            )
        ).mappings()
        return {r["event_id"]: dict(r) for r in rows}


def delivered_models(server: WebhookServer) -> list[tuple[str, str]]:
    """(model, event) of each notice the server took, in arrival order (Slack text)."""
    found = []
    for r in server.delivered():
        words = r.body["text"].split()
        event = "closed" if "RESOLVED" in words[0] else words[4].rstrip(":")
        found.append((words[3].split("/")[0], event))
    return found


def test_a_notice_is_delivered_at_least_once_through_failures(
    clean: None, engine: Engine, settings: Settings, server: WebhookServer
) -> None:
    s = alert_settings(settings, server)
    notice = add_notice(engine, "atlas")
    server.fail_next(503, 502)

    first = deliver(engine, s)
    assert (first.enrolled, first.retrying, first.delivered, first.stopped) == (1, 1, 0, True)
    assert states(engine)[notice]["status"] == "pending"
    wait_for(
        lambda: deliver(engine, s) and states(engine)[notice]["status"] == "delivered",
        timeout=10,
        message="the notice delivered",
    )
    state = states(engine)[notice]
    assert state["attempts"] == 3 and state["delivered_at"] is not None
    assert [r.status for r in server.requests] == [503, 502, 200]
    # The same notice each time, with a key the receiver may deduplicate on.
    assert len({json.dumps(r.body, sort_keys=True) for r in server.requests}) == 1
    assert {r.headers["Idempotency-Key"] for r in server.requests} == {
        f"routelearn-notice-{notice}"
    }
    # Delivered: never sent again.
    assert deliver(engine, s).delivered == 0 and len(server.requests) == 3


def test_order_per_anomaly_is_kept_and_a_refusal_holds_nothing_back(
    clean: None, engine: Engine, settings: Settings, server: WebhookServer
) -> None:
    # Retries 2.5-5 s away (half the delay is jitter): the second run comes well before
    # atlas's retry even on a loaded machine.
    s = alert_settings(settings, server, alert_retry_base=5.0, alert_retry_cap=5.0)
    a_opened = add_notice(engine, "atlas")
    b_opened = add_notice(engine, "brisk")
    a_closed = add_notice(engine, "atlas", "closed")

    server.fail_next(503)  # atlas's opening is not taken: the run stops (one probe per run)
    assert deliver(engine, s).stopped
    second = deliver(engine, s)  # atlas's opening backs off; brisk's goes; atlas's close waits
    assert (second.delivered, second.retrying) == (1, 0)
    assert delivered_models(server) == [("brisk", "opened")]
    assert states(engine)[a_closed]["status"] == "pending"
    assert states(engine)[a_closed]["attempts"] == 0

    wait_for(
        lambda: deliver(engine, s) and states(engine)[a_closed]["status"] == "delivered",
        timeout=20,
        message="atlas's notices delivered",
    )
    assert delivered_models(server) == [
        ("brisk", "opened"),
        ("atlas", "opened"),
        ("atlas", "closed"),
    ]

    # A refusal no retry can change fails at once and does not hold the anomaly's later notice.
    c_opened = add_notice(engine, "coda")
    c_closed = add_notice(engine, "coda", "closed")
    server.fail_next(400)
    report = deliver(engine, s)
    assert (report.failed, report.delivered) == (1, 1)
    assert states(engine)[c_opened]["status"] == "failed"
    assert states(engine)[c_opened]["last_error"] == "refused, not retried: HTTP 400: try later"
    assert states(engine)[c_closed]["status"] == "delivered"
    assert {b_opened, a_opened} <= set(states(engine))

    shown = run_cli(s, "anomalies", "deliveries", "--status", "failed")
    assert shown.returncode == 0, shown.stderr
    assert "refused, not retried: HTTP 400" in shown.stdout and "coda" in shown.stdout
    as_json = run_cli(s, "anomalies", "deliveries", "--json")
    statuses = [json.loads(line)["status"] for line in as_json.stdout.splitlines()]
    assert statuses == ["delivered", "failed", "delivered", "delivered", "delivered"]


def test_a_notice_older_than_the_max_age_is_given_up_and_logged(
    clean: None,
    engine: Engine,
    settings: Settings,
    server: WebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = alert_settings(settings, server, alert_max_age=60.0)
    notice = add_notice(engine, "atlas")
    server.fail_next(503)
    deliver(engine, s)
    # Two hours pass with the webhook down.
    with engine.begin() as conn:
        conn.execute(
            text(
                "UPDATE anomaly_events SET created_at = created_at - interval '2 hours';"
                "UPDATE webhook_deliveries SET next_attempt_at = now()"
            )
        )
    with caplog.at_level(logging.ERROR, logger="routelearn"):
        report = deliver(engine, s)
    assert (report.failed, report.delivered) == (1, 0)
    assert len(server.requests) == 1  # given up without another attempt
    state = states(engine)[notice]
    assert state["status"] == "failed" and state["failed_at"] is not None
    assert state["last_error"] == (
        "gave up after 1 attempts: older than 60 s; last: HTTP 503: try later"
    )
    assert f"alert notice {notice} (opened " in caplog.text and "gave up after 1" in caplog.text


@pytest.mark.parametrize("fmt", ["slack", "alertmanager", "json"])
def test_each_format_arrives_as_its_receiver_reads_it(
    clean: None, engine: Engine, settings: Settings, server: WebhookServer, fmt: str
) -> None:
    s = alert_settings(settings, server, alert_webhook_format=fmt)
    add_notice(engine, "atlas")
    add_notice(engine, "atlas", "closed")
    deliver(engine, s)
    opened, closed = server.delivered()
    for r in (opened, closed):
        assert r.path == SECRET_PATH
        assert r.headers["Content-Type"] == "application/json"
        assert r.headers["Authorization"] == f"Bearer {TOKEN}"
        assert r.headers["X-Api-Key"] == HEADER
        assert r.headers["User-Agent"].startswith("routelearn/")
    if fmt == "slack":
        assert opened.body["text"].startswith("[CRITICAL] low_success_rate on atlas/medium opened")
        assert closed.body["text"].startswith("[RESOLVED] low_success_rate on atlas/medium")
        assert opened.body["blocks"][0]["type"] == "section"
    elif fmt == "alertmanager":
        assert (opened.body["version"], opened.body["status"]) == ("4", "firing")
        assert closed.body["status"] == closed.body["alerts"][0]["status"] == "resolved"
        alert = opened.body["alerts"][0]
        assert alert["labels"]["alertname"] == "RouteLearnLowSuccessRate"
        assert (alert["labels"]["model"], alert["labels"]["complexity"]) == ("atlas", "medium")
        assert alert["startsAt"] == "2026-12-02T10:00:00Z"
        assert alert["endsAt"] == "0001-01-01T00:00:00Z"
        assert closed.body["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    else:
        assert (opened.body["event"], closed.body["event"]) == ("opened", "closed")
        assert opened.body["subject"] == ["atlas", "medium"]


def test_no_secret_in_a_log_line_or_an_error(
    clean: None,
    engine: Engine,
    settings: Settings,
    server: WebhookServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = alert_settings(settings, server)
    add_notice(engine, "atlas")
    add_notice(engine, "brisk")
    server.fail_next(503, 400)
    with caplog.at_level(logging.DEBUG):
        deliver(engine, s)  # 503: retried
        wait_for(
            lambda: deliver(engine, s) and len(server.requests) == 3,
            timeout=10,
            message="all three answers",
        )
        # Nothing listens: the connection is refused (httpx's message names the URL).
        dead = alert_settings(settings, server).model_copy(
            update={"alert_webhook_url": SecretStr(f"http://127.0.0.1:1{SECRET_PATH}")}
        )
        add_notice(engine, "coda")
        assert deliver(engine, dead).retrying == 1
    assert "not delivered to 127.0.0.1" in caplog.text
    assert "delivered to 127.0.0.1 (attempt" in caplog.text
    errors = [str(state["last_error"]) for state in states(engine).values()]
    assert "HTTP 503" in caplog.text and any("ConnectError" in e for e in errors)
    shown = run_cli(s, "anomalies", "deliveries")
    for secret in SECRETS:
        assert secret not in caplog.text
        assert not any(secret in e for e in errors)
        assert secret not in shown.stdout + shown.stderr


def test_test_webhook_command_posts_a_sample(settings: Settings, server: WebhookServer) -> None:
    s = alert_settings(settings, server, alert_webhook_format="alertmanager")
    ok = run_cli(s, "anomalies", "test-webhook")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip() == "alertmanager body to 127.0.0.1: HTTP 200"
    (sample,) = server.requests
    assert sample.body["alerts"][0]["labels"]["alertname"] == "RouteLearnWebhookTest"
    server.fail_next(500)
    failing = run_cli(s, "anomalies", "test-webhook")
    assert failing.returncode == 1
    assert "HTTP 500: try later" in failing.stdout
    assert "s3cretWebhookPath" not in failing.stdout + failing.stderr
