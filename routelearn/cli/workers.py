"""``routelearn workers``: consumer statistics of every ingesting worker process."""

from __future__ import annotations

from datetime import UTC, datetime

import click

from routelearn.cli.database import database
from routelearn.stats.render import when
from routelearn.stats.table import print_table
from routelearn.store.consumer_stats import list_stats


@click.command("workers")
@click.option("--all", "show_all", is_flag=True, help="Include processes silent for over an hour.")
def workers(show_all: bool) -> None:
    """Per worker process: batches and events processed, duplicates, errors, last error."""
    with database() as engine:
        stats = list_stats(engine)
    now = datetime.now(UTC)
    rows = []
    for s in stats:
        idle = (now - s.updated_at).total_seconds()
        if idle > 3600 and not show_all:
            continue
        rows.append(
            [
                s.worker,
                when(s.started_at),
                f"{idle:.0f}s",
                s.batches,
                s.processed,
                s.duplicates,
                s.dead_lettered,
                s.errors,
                s.consecutive_errors,
                (s.last_error or "").splitlines()[0][:60] if s.last_error else "",
            ]
        )
    print_table(
        [
            "worker",
            "started at",
            "idle",
            "batches",
            "processed",
            "duplicates",
            "dead-lettered",
            "errors",
            "consecutive",
            "last error",
        ],
        rows,
    )


COMMANDS = [workers]
