"""``routelearn subscribe --instance-id ID``: a score subscriber, for a demonstration."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.settings import get_settings


@click.command("subscribe")
@click.option("--instance-id", required=True, help="The instance whose queue to consume.")
@click.option(
    "--catalog",
    "catalog_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The instance's catalog file (default: no local models, the fleet's scores only).",
)
@click.option(
    "--save",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the catalog here after every change.",
)
@click.option("--snapshot-timeout", default=30.0, show_default=True, help="Seconds.")
@click.option("--duration", type=float, help="Stop after this many seconds (default: Ctrl-C).")
def subscribe(
    instance_id: str,
    catalog_path: Path | None,
    save: Path | None,
    snapshot_timeout: float,
    duration: float | None,
) -> None:
    """Fetch a snapshot of every score, then apply each update as it arrives, printing both."""
    if catalog_path is not None:
        catalog = ModelCatalog.from_file(catalog_path, enable_unknown=True)
    else:
        catalog = ModelCatalog.from_config({"version": 1, "models": []}, enable_unknown=True)
    subscriber = ScoreUpdateSubscriber(
        get_settings(),
        instance_id,
        catalog,
        persist_path=save,
        request_snapshot=True,
        on_update=lambda u: click.echo(
            f"v{u.version} {u.model}/{u.complexity}: {u.old_score:.2f} -> {u.new_score:.2f}"
            f"  ({u.reason})"
        ),
    )
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    click.echo(f"consuming {subscriber.queue_name}; asking the workers for a snapshot")
    subscriber.start()
    try:
        if subscriber.wait_until_current(snapshot_timeout):
            _print_scores(catalog)
        else:
            click.echo(
                f"no snapshot within {snapshot_timeout:.0f} s (are the learn workers running?); "
                "applying updates meanwhile",
                err=True,
            )
        stop.wait(duration)
    finally:
        subscriber.stop()
    stats = subscriber.stats
    click.echo(
        f"stopped: {stats.updates_applied} updates applied, {stats.ignored_stale} stale, "
        f"{stats.malformed} malformed"
    )


def _print_scores(catalog: ModelCatalog) -> None:
    click.echo("current scores (simple / medium / complex, version):")
    for entry in catalog.models():
        scores = " / ".join(f"{entry.scores[c]:.2f}" for c in entry.scores)
        versions = ",".join(str(v) for v in entry.versions.values())
        click.echo(f"  {entry.name}: {scores}  (v{versions})")


COMMANDS = [subscribe]
