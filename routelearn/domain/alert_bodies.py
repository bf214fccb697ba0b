"""The bodies the alert webhook sends, one per anomaly notice (docs/alerts.md).

A notice is what the anomaly sweep writes to its outbox (``anomaly_events``) and publishes to
the ``model_anomalies`` queue: ``{"event": "opened" | "updated" | "closed", "at", "anomaly":
{...}, "kind", "subject", "severity", "message", ...}``. Three renderings:

- ``slack``: Slack's incoming-webhook body, ``{"text", "blocks"}`` (Mattermost and Rocket.Chat
  read ``text`` as well);
- ``alertmanager``: the body Prometheus Alertmanager posts to a webhook receiver (``version``
  "4"), so any tool that takes Alertmanager's webhooks takes routelearn's: an opened or updated
  anomaly is ``firing``, a closed one ``resolved``;
- ``json``: the notice itself, exactly as on the queue.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

EVENTS = ("opened", "updated", "closed")
# Alertmanager's "no end yet" (Go's zero time), which it sends for a firing alert.
_ZERO_TIME = "0001-01-01T00:00:00Z"
RECEIVER = "routelearn"


class WebhookFormat(StrEnum):
    SLACK = "slack"
    ALERTMANAGER = "alertmanager"
    JSON = "json"


@dataclass(frozen=True, slots=True)
class AlertNotice:
    """One notice, read from its payload; ``notice_id`` is its outbox row (a dedupe key)."""

    notice_id: int
    anomaly_id: str
    event: str
    at: datetime
    kind: str
    subject: tuple[str, ...]
    severity: str
    message: str
    opened_at: datetime
    value: float | None
    threshold: float | None
    reason: str | None
    payload: Mapping[str, Any]

    @classmethod
    def from_payload(
        cls, notice_id: int, anomaly_id: str, payload: Mapping[str, Any]
    ) -> AlertNotice:
        """Raises ValueError naming the first field that is missing or wrong."""
        anomaly = payload.get("anomaly")
        if not isinstance(anomaly, Mapping):
            raise ValueError(f"notice {notice_id}: anomaly={anomaly!r} is not an object")
        event = _text(payload, "event", notice_id)
        if event not in EVENTS:
            raise ValueError(f"notice {notice_id}: event={event!r} is not one of {EVENTS}")
        subject = payload.get("subject", anomaly.get("subject"))
        if not isinstance(subject, list) or not all(isinstance(s, str) for s in subject):
            raise ValueError(f"notice {notice_id}: subject={subject!r} is not a list of strings")
        value = payload.get("value", anomaly.get("value"))
        threshold = payload.get("threshold")
        reason = payload.get("reason")
        return cls(
            notice_id=notice_id,
            anomaly_id=anomaly_id,
            event=event,
            at=_time(payload, "at", notice_id),
            kind=_text(payload, "kind", notice_id),
            subject=tuple(subject),
            severity=_text(payload, "severity", notice_id),
            message=_text(payload, "message", notice_id),
            opened_at=_time(anomaly, "opened_at", notice_id),
            value=float(value) if isinstance(value, int | float) else None,
            threshold=float(threshold) if isinstance(threshold, int | float) else None,
            reason=reason if isinstance(reason, str) else None,
            payload=payload,
        )

    @property
    def firing(self) -> bool:
        return self.event != "closed"

    @property
    def subject_labels(self) -> dict[str, str]:
        """The subject as named labels: (model, complexity), (instance,), (workspace,
        period), else joined."""
        if self.kind == "instance_silent" and len(self.subject) == 1:
            return {"instance": self.subject[0]}
        if self.kind == "budget_warning" and len(self.subject) == 2:
            return {"workspace": self.subject[0], "period": self.subject[1]}
        if len(self.subject) == 2:
            return {"model": self.subject[0], "complexity": self.subject[1]}
        return {"subject": "/".join(self.subject)}


def _text(data: Mapping[str, Any], name: str, notice_id: int) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise ValueError(f"notice {notice_id}: {name}={value!r} is not a non-empty string")
    return value


def _time(data: Mapping[str, Any], name: str, notice_id: int) -> datetime:
    text = _text(data, name, notice_id)
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"notice {notice_id}: {name}={text!r} is not an ISO 8601 time") from None
    if at.tzinfo is None:
        raise ValueError(f"notice {notice_id}: {name}={text!r} has no UTC offset")
    return at


def _rfc3339(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def alert_name(kind: str) -> str:
    """``low_success_rate`` -> ``RouteLearnLowSuccessRate`` (Prometheus' alert naming)."""
    return "RouteLearn" + "".join(part.capitalize() for part in kind.split("_"))


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"


def _title(notice: AlertNotice) -> str:
    where = "/".join(notice.subject)
    if notice.event == "closed":
        why = f" ({notice.reason})" if notice.reason else ""
        return f"[RESOLVED] {notice.kind} on {where}{why}"
    return f"[{notice.severity.upper()}] {notice.kind} on {where} {notice.event}"


# -- Slack -----------------------------------------------------------------------------------

_ICONS = {"critical": ":rotating_light:", "warning": ":warning:"}


def _slack_escape(text: str) -> str:
    """Slack's mrkdwn treats &, < and > as markup: the three it asks to escape."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_body(notice: AlertNotice) -> dict[str, Any]:
    icon = ":white_check_mark:" if not notice.firing else _ICONS.get(notice.severity, ":bell:")
    title = _title(notice)
    facts = [
        f"anomaly `{_slack_escape(notice.anomaly_id)}`",
        f"opened {_rfc3339(notice.opened_at)}",
    ]
    if notice.value is not None:
        facts.insert(0, f"value {_number(notice.value)}")
    if notice.threshold is not None:
        facts.insert(1, f"threshold {_number(notice.threshold)}")
    return {
        # The fallback: notifications, and clients that do not render blocks.
        "text": f"{title}: {notice.message}",
        "blocks": [
            {
                "type": "section",
                "text": {
                    "type": "mrkdwn",
                    "text": f"{icon} *{_slack_escape(title)}*\n{_slack_escape(notice.message)}",
                },
            },
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": " · ".join(facts)}],
            },
        ],
    }


# -- Alertmanager ----------------------------------------------------------------------------


def _fingerprint(labels: Mapping[str, str]) -> str:
    """Stable per alert (its labels), 16 hex digits as Alertmanager's own."""
    text = json.dumps(sorted(labels.items()), separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alertmanager_body(notice: AlertNotice, external_url: str = "") -> dict[str, Any]:
    status = "firing" if notice.firing else "resolved"
    labels = {
        "alertname": alert_name(notice.kind),
        "kind": notice.kind,
        "severity": notice.severity,
        **notice.subject_labels,
        "anomaly_id": notice.anomaly_id,
        "service": RECEIVER,
    }
    annotations = {"summary": _title(notice), "description": notice.message}
    if notice.value is not None:
        annotations["value"] = _number(notice.value)
    if notice.threshold is not None:
        annotations["threshold"] = _number(notice.threshold)
    if notice.reason is not None:
        annotations["close_reason"] = notice.reason
    alert = {
        "status": status,
        "labels": labels,
        "annotations": annotations,
        "startsAt": _rfc3339(notice.opened_at),
        "endsAt": _rfc3339(notice.at) if not notice.firing else _ZERO_TIME,
        "generatorURL": external_url,
        "fingerprint": _fingerprint(labels),
    }
    group_labels = {"alertname": labels["alertname"]}
    return {
        "version": "4",
        "groupKey": f'{{}}:{{alertname="{labels["alertname"]}"}}',
        "truncatedAlerts": 0,
        "status": status,
        "receiver": RECEIVER,
        "groupLabels": group_labels,
        "commonLabels": labels,
        "commonAnnotations": annotations,
        "externalURL": external_url,
        "alerts": [alert],
    }


def json_body(notice: AlertNotice) -> dict[str, Any]:
    return dict(notice.payload)


def build_body(fmt: WebhookFormat, notice: AlertNotice) -> dict[str, Any]:
    if fmt is WebhookFormat.SLACK:
        return slack_body(notice)
    if fmt is WebhookFormat.ALERTMANAGER:
        return alertmanager_body(notice)
    return json_body(notice)
