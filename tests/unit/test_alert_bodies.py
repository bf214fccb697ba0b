"""The alert webhook's bodies: Slack's, Alertmanager's (webhook version 4), the plain notice."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from routelearn.domain.alert_bodies import (
    AlertNotice,
    WebhookFormat,
    alert_name,
    alertmanager_body,
    build_body,
    json_body,
    slack_body,
)
from routelearn.domain.anomaly import AnomalyKind, Finding, OpenAnomaly, Severity

OPENED = datetime(2026, 12, 2, 10, 0, tzinfo=UTC)
CLOSED = datetime(2026, 12, 2, 10, 30, tzinfo=UTC)


def opened_payload(message: str = "atlas/complex: success 12% < 85% over 40 outcomes") -> Any:
    """A notice as the sweep writes it (routelearn.store.anomalies), from the domain's objects."""
    anomaly = OpenAnomaly(
        AnomalyKind.LOW_SUCCESS_RATE, ("atlas", "complex"), OPENED, OPENED, Severity.CRITICAL, 0.12
    )
    finding = Finding(
        AnomalyKind.LOW_SUCCESS_RATE,
        ("atlas", "complex"),
        Severity.CRITICAL,
        0.12,
        0.85,
        message,
        {"outcomes": 40},
    )
    return {"event": "opened", "at": OPENED.isoformat(), "anomaly": anomaly.to_dict()} | (
        finding.to_dict()
    )


def closed_payload() -> Any:
    anomaly = OpenAnomaly(
        AnomalyKind.INSTANCE_SILENT, ("app-7",), OPENED, CLOSED, Severity.WARNING, 900.0
    )
    return {
        "event": "closed",
        "at": CLOSED.isoformat(),
        "anomaly": anomaly.to_dict(),
        "kind": "instance_silent",
        "subject": ["app-7"],
        "severity": "warning",
        "reason": "cleared",
        "message": "app-7 sends events again",
    }


def notice(payload: Any, notice_id: int = 7) -> AlertNotice:
    return AlertNotice.from_payload(notice_id, payload["anomaly"]["anomaly_id"], payload)


def test_slack_body_has_text_and_blocks_with_escaped_markup() -> None:
    body = slack_body(notice(opened_payload("p95 > 5000 ms & <rising>")))
    assert body["text"] == (
        "[CRITICAL] low_success_rate on atlas/complex opened: p95 > 5000 ms & <rising>"
    )
    section, context = body["blocks"]
    assert section["type"] == "section" and section["text"]["type"] == "mrkdwn"
    assert ":rotating_light:" in section["text"]["text"]
    assert "p95 &gt; 5000 ms &amp; &lt;rising&gt;" in section["text"]["text"]
    facts = context["elements"][0]["text"]
    assert "value 0.12" in facts and "threshold 0.85" in facts
    assert "opened 2026-12-02T10:00:00Z" in facts
    json.dumps(body)  # JSON as it stands


def test_slack_body_of_a_closed_anomaly_says_resolved() -> None:
    body = slack_body(notice(closed_payload()))
    assert body["text"] == "[RESOLVED] instance_silent on app-7 (cleared): app-7 sends events again"
    assert body["blocks"][0]["text"]["text"].startswith(":white_check_mark:")


def test_alertmanager_body_of_an_opened_anomaly_is_firing_with_no_end() -> None:
    body = alertmanager_body(notice(opened_payload()))
    assert body["version"] == "4"
    assert body["status"] == "firing"
    assert body["receiver"] == "routelearn"
    assert body["truncatedAlerts"] == 0
    (alert,) = body["alerts"]
    assert alert["status"] == "firing"
    assert alert["labels"] == {
        "alertname": "RouteLearnLowSuccessRate",
        "kind": "low_success_rate",
        "severity": "critical",
        "model": "atlas",
        "complexity": "complex",
        "anomaly_id": opened_payload()["anomaly"]["anomaly_id"],
        "service": "routelearn",
    }
    assert alert["annotations"]["description"].startswith("atlas/complex: success 12%")
    assert alert["annotations"]["value"] == "0.12"
    assert alert["annotations"]["threshold"] == "0.85"
    assert alert["startsAt"] == "2026-12-02T10:00:00Z"
    assert alert["endsAt"] == "0001-01-01T00:00:00Z"
    assert len(alert["fingerprint"]) == 16
    assert body["commonLabels"] == alert["labels"]
    assert body["groupLabels"] == {"alertname": "RouteLearnLowSuccessRate"}
    assert body["groupKey"] == '{}:{alertname="RouteLearnLowSuccessRate"}'


def test_alertmanager_body_of_a_closed_anomaly_is_resolved_at_its_close() -> None:
    body = alertmanager_body(notice(closed_payload()))
    (alert,) = body["alerts"]
    assert body["status"] == alert["status"] == "resolved"
    assert alert["labels"]["instance"] == "app-7"
    assert alert["startsAt"] == "2026-12-02T10:00:00Z"
    assert alert["endsAt"] == "2026-12-02T10:30:00Z"
    assert alert["annotations"]["close_reason"] == "cleared"


def test_opened_and_closed_of_one_anomaly_share_a_fingerprint() -> None:
    payload = opened_payload()
    closed = {**payload, "event": "closed", "at": CLOSED.isoformat(), "reason": "cleared"}
    first = alertmanager_body(notice(payload))["alerts"][0]["fingerprint"]
    assert alertmanager_body(notice(closed))["alerts"][0]["fingerprint"] == first


def test_json_body_is_the_notice_itself() -> None:
    payload = opened_payload()
    assert json_body(notice(payload)) == payload
    assert build_body(WebhookFormat.JSON, notice(payload)) == payload
    assert build_body(WebhookFormat.SLACK, notice(payload))["text"].startswith("[CRITICAL]")
    assert build_body(WebhookFormat.ALERTMANAGER, notice(payload))["version"] == "4"


def test_alert_names_follow_prometheus_naming() -> None:
    assert alert_name("instance_silent") == "RouteLearnInstanceSilent"
    assert alert_name("failure_spike") == "RouteLearnFailureSpike"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event": "reopened"}, "event='reopened'"),
        ({"at": "yesterday"}, "at='yesterday'"),
        ({"at": "2026-12-02T10:00:00"}, "has no UTC offset"),
        ({"kind": ""}, "kind=''"),
        ({"subject": "atlas"}, "subject='atlas'"),
        ({"anomaly": None}, "anomaly=None"),
        ({"message": None}, "message=None"),
    ],
)
def test_a_malformed_notice_is_refused_naming_the_field(change: Any, field: str) -> None:
    with pytest.raises(ValueError, match="notice 7: ") as info:
        AlertNotice.from_payload(7, "a", {**opened_payload(), **change})
    assert field in str(info.value)
