"""``routelearn anomalies list|watch``: what the sweeps found, stored and announced."""

from __future__ import annotations

import json

import click

from routelearn.cli.database import database
from routelearn.messaging.notices import read_notices
from routelearn.settings import get_settings
from routelearn.stats.render import when
from routelearn.stats.table import print_table
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


COMMANDS = [anomalies_group]
