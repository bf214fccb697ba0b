"""The ``routelearn`` command. Each command group lives in its own module of this package."""

from __future__ import annotations

import functools
import importlib
import logging
import sys
from collections.abc import Sequence

import click

from routelearn.errors import ConfigError, RouteLearnError
from routelearn.logs import configure, secret_values
from routelearn.settings import get_settings


class _LazyGroup(click.Group):
    """Imports a command's module only when that command runs (or help lists them all): a
    ``routelearn publish`` then starts without loading Celery, SQLAlchemy and the web stack."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(name for names in COMMAND_MODULES.values() for name in names)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        for module_name, names in COMMAND_MODULES.items():
            if cmd_name in names:
                return _load(module_name).get(cmd_name)
        return None


@click.group(cls=_LazyGroup)
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """routelearn: learn, across a fleet, which LLM to route each kind of request to."""
    level = logging.DEBUG if verbose else logging.WARNING
    try:
        settings = get_settings()  # the commands take the same, cached
    except ConfigError:  # the command itself reports it, if it needs the settings
        configure(level, "text")
        return
    configure(level, settings.log_format, secret_values(settings))


# Command modules, and the commands each adds. ``publish`` and ``subscribe`` are the instance
# side's and work with the base install; the rest need ``routelearn[service]``.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "db": ("db", "doctor"),
    "publish": ("publish",),
    "dead_letters": ("dead-letters",),
    "queries": ("dashboard",),
    "workers": ("workers",),
    "instances": ("instances",),
    "catalog": ("catalog",),
    "config": ("config",),
    "subscribe": ("subscribe",),
    "anomalies": ("anomalies",),
    "stats": ("stats",),
    "simulate": ("simulate",),
    "bench": ("bench",),
    "api_keys": ("api-keys",),
    "serve": ("serve",),
    "flower": ("flower",),
    "metrics": ("metrics",),
    "pgmq": ("pgmq",),
}


def _needs_service(name: str, missing: str) -> click.Command:
    """Stands in for a command whose module needs a dependency this install lacks."""

    @click.command(
        name,
        context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
        add_help_option=False,
        help=f"(needs routelearn[service]: {missing} is not installed)",
    )
    def unavailable() -> None:
        raise click.ClickException(
            f"`routelearn {name}` needs the service extra ({missing} is not installed): "
            "pip install 'routelearn[service]'"
        )

    return unavailable


@functools.cache
def _load(module_name: str) -> dict[str, click.Command]:
    """The commands of one module, by name; stand-ins when it needs a missing extra."""
    names = COMMAND_MODULES[module_name]
    try:
        module = importlib.import_module(f"routelearn.cli.{module_name}")
    except ModuleNotFoundError as exc:
        if exc.name is None or exc.name.startswith("routelearn"):
            raise  # our own bug, not a missing extra
        return {name: _needs_service(name, exc.name.split(".")[0]) for name in names}
    commands: dict[str, click.Command] = {c.name or "": c for c in module.COMMANDS}
    return commands


def main(args: Sequence[str] | None = None) -> None:
    """The ``routelearn`` entry point; ``args`` instead of ``sys.argv[1:]`` (tests)."""
    try:
        cli.main(
            args=None if args is None else list(args), prog_name="routelearn", standalone_mode=False
        )
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except RouteLearnError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
