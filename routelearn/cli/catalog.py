"""``routelearn catalog import FILE``: initial scores from the operators' catalog file."""

from __future__ import annotations

from pathlib import Path

import click

from routelearn.cli.database import database
from routelearn.constants import FAN_OUT_REGISTRY_TASK, FAN_OUT_SCORES_TASK
from routelearn.instance.catalog import load_catalog
from routelearn.messaging.broker import RETRY_POLICY
from routelearn.messaging.task_message import TaskSender
from routelearn.settings import get_settings
from routelearn.store import pgmq
from routelearn.store.scores import import_catalog


@click.group("catalog")
def catalog_group() -> None:
    """The model catalog (YAML; see docs/catalog.md)."""


@catalog_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--overwrite-learned",
    is_flag=True,
    help="Also replace scores the learner has changed since (they reflect the fleet's evidence).",
)
def import_command(file: Path, overwrite_learned: bool) -> None:
    """Load FILE's scores into the central score table; the scores it changed go to every
    instance at once (task routelearn.fan_out_scores), not at the next learner tick."""
    catalog = load_catalog(file)
    settings = get_settings()
    with database() as engine:
        report = import_catalog(
            engine,
            catalog,
            str(file),
            overwrite_learned,
            with_updates=pgmq.import_sender(settings.pgmq_enabled),
        )
    click.echo(
        f"{len(catalog.models)} models: {report.inserted} scores added, {report.updated} changed,"
        f" {report.unchanged} unchanged, {report.kept_learned} learned scores kept;"
        f" {report.models_changed} registry entries registered or changed"
    )
    if report.changes or report.models_changed:
        sender = TaskSender(settings, RETRY_POLICY)
        try:
            if report.models_changed:
                # The registry's changes wait in its outbox; this sends them now, not at the
                # next periodic run.
                sender.send(FAN_OUT_REGISTRY_TASK, [])
            if report.changes:
                sender.send(FAN_OUT_SCORES_TASK, [[c.to_message() for c in report.changes]])
        except Exception as exc:
            raise click.ClickException(
                f"the catalog is stored, but the broker did not take its fan-out ({exc}); "
                "instances get it from their next snapshot, or run the import again"
            ) from None
        finally:
            sender.close()
        if report.changes:
            click.echo(f"{len(report.changes)} changed scores sent to every instance")


COMMANDS = [catalog_group]
