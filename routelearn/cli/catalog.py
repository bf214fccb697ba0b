"""``routelearn catalog import FILE``: initial scores from the operators' catalog file."""

from __future__ import annotations

from pathlib import Path

import click

from routelearn.cli.database import database
from routelearn.instance.catalog import load_catalog
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
    """Load FILE's scores into the central score table."""
    catalog = load_catalog(file)
    with database() as engine:
        report = import_catalog(engine, catalog, str(file), overwrite_learned)
    click.echo(
        f"{len(catalog.models)} models: {report.inserted} scores added, {report.updated} changed,"
        f" {report.unchanged} unchanged, {report.kept_learned} learned scores kept"
    )


COMMANDS = [catalog_group]
