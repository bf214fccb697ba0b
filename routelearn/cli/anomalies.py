"""``routelearn anomalies list|watch|deliveries|test-webhook``: what the sweeps found, stored
and announced, and how the alert webhook received it."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from routelearn.cli.database import database
from routelearn.messaging.notices import read_notices
from routelearn.settings import get_settings
from routelearn.stats.render import when
from routelearn.stats.table import print_table
from routelearn.store.alert_deliveries import list_deliveries
from routelearn.store.anomalies import list_anomalies


@click.group("anomalies")
def anomalies_group() -> None:
    """Anomalies the beat-driven sweep opened, updated and closed."""


@anomalies_group.command("list")
@click.option("--all", "include_closed", is_flag=True, help="Closed anomalies too.")
@click.option("--limit", default=100, show_default=True)
def list_cmd(include_closed: bool, limit: int) -> None:
    """Open anomalies (newest first), or every anomaly with --all."""
    with database() as engine:
        found = list_anomalies(engine, include_closed, limit)
    print_table(
        ["opened at", "kind", "subject", "severity", "value", "status", "message"],
        [
            [
                when(a.opened_at),
                a.kind,
                "/".join(a.subject),
                a.severity,
                f"{a.value:.4g}",
                "open" if a.closed_at is None else f"closed ({a.close_reason})",
                a.message,
            ]
            for a in found
        ],
    )


@anomalies_group.command("watch")
@click.option(
    "--wait",
    default=0.0,
    show_default=True,
    help="Keep waiting this many seconds for the next notice (0: print what is queued).",
)
def watch_cmd(wait: float) -> None:
    """Take notices off the ``model_anomalies`` queue and print them, one JSON per line.

    This consumes them: run it where nothing else reads that queue."""
    for notice in read_notices(get_settings(), wait=wait):
        click.echo(json.dumps(notice, sort_keys=True))


@anomalies_group.command("deliveries")
@click.option(
    "--status",
    type=click.Choice(["pending", "delivered", "failed"]),
    default=None,
    help="Only these (default: all).",
)
@click.option("--limit", default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def deliveries_cmd(status: str | None, limit: int, as_json: bool) -> None:
    """Each notice's delivery to the alert webhook (newest first): attempts, next attempt,
    delivered or given up, last error."""
    with database() as engine:
        found = list_deliveries(engine, status, limit)
    if as_json:
        for d in found:
            click.echo(
                json.dumps(
                    {
                        "notice": d.event_id,
                        "anomaly_id": d.anomaly_id,
                        "event": d.event,
                        "status": d.status,
                        "attempts": d.attempts,
                        "created_at": d.created_at.isoformat(),
                        "next_attempt_at": d.next_attempt_at.isoformat(),
                        "delivered_at": d.delivered_at and d.delivered_at.isoformat(),
                        "failed_at": d.failed_at and d.failed_at.isoformat(),
                        "last_error": d.last_error,
                    }
                )
            )
        return
    print_table(
        ["notice", "event", "anomaly", "status", "tries", "written", "next / done", "last error"],
        [
            [
                str(d.event_id),
                d.event,
                d.anomaly_id,
                d.status,
                str(d.attempts),
                when(d.created_at),
                when(
                    d.delivered_at
                    or d.failed_at
                    or (d.next_attempt_at if d.status == "pending" else None)
                ),
                d.last_error or "",
            ]
            for d in found
        ],
    )


@anomalies_group.command("test-webhook")
def test_webhook_cmd() -> None:
    """POST a sample notice to the configured alert webhook, in its format, and say what it
    answered (nothing is stored). Exit 1 unless it answered 2xx."""
    from routelearn.domain.alert_bodies import AlertNotice, build_body
    from routelearn.service.webhook import Webhook, WebhookClient

    webhook = Webhook.from_settings(get_settings())
    if webhook is None:
        raise click.ClickException("ROUTELEARN_ALERT_WEBHOOK_URL is not set")
    now = datetime.now(UTC).isoformat()
    payload = {
        "event": "opened",
        "at": now,
        "anomaly": {"anomaly_id": "webhook_test", "opened_at": now, "value": 0.0},
        "kind": "webhook_test",
        "subject": ["routelearn"],
        "severity": "warning",
        "value": 0.0,
        "threshold": 0.0,
        "message": "routelearn alert webhook test: notices reach you here",
    }
    body = build_body(webhook.format, AlertNotice.from_payload(0, "webhook_test", payload))
    with WebhookClient(webhook) as client:
        attempt = client.post(body, "routelearn-webhook-test")
    click.echo(f"{webhook.format.value} body to {webhook.host}: {attempt.describe()}")
    if not attempt.delivered:
        raise SystemExit(1)


COMMANDS = [anomalies_group]
