"""The ``routelearn`` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import logging
import sys

import click

from routelearn.errors import RouteLearnError


@click.group()
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """routelearn: learn, across a fleet, which LLM to route each kind of request to."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from routelearn.cli import (
        anomalies,
        bench,
        catalog,
        db,
        dead_letters,
        instances,
        publish,
        queries,
        simulate,
        stats,
        subscribe,
        workers,
    )

    for module in (
        db,
        publish,
        dead_letters,
        queries,
        workers,
        instances,
        catalog,
        subscribe,
        anomalies,
        stats,
        simulate,
        bench,
    ):
        for command in module.COMMANDS:
            cli.add_command(command)


def main() -> None:
    _register()
    try:
        cli(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RouteLearnError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
