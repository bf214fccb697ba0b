"""``routelearn instances``: the registry of application instances."""

from __future__ import annotations

import click
from pydantic import TypeAdapter, ValidationError

from routelearn.cli.database import database
from routelearn.domain.event import Identifier
from routelearn.stats.render import when
from routelearn.stats.table import print_table
from routelearn.store import instances as store

_IDENTIFIER: TypeAdapter[str] = TypeAdapter(Identifier)


@click.group("instances")
def instances_group() -> None:
    """Application instances: registered by their events, or by hand; retired by hand."""


@instances_group.command("list")
@click.option("--all", "include_retired", is_flag=True, help="Include retired instances.")
def list_command(include_retired: bool) -> None:
    """Every active instance (with --all, retired ones too)."""
    with database() as engine:
        rows = store.list_instances(engine, include_retired)
    print_table(
        ["instance", "active", "registered by", "first seen", "last seen", "retired"],
        [
            [
                i.instance_id,
                "yes" if i.active else "no",
                i.registered_by,
                when(i.first_seen_at),
                when(i.last_seen_at),
                when(i.retired_at),
            ]
            for i in rows
        ],
    )


@instances_group.command("register")
@click.argument("instance_id")
def register_command(instance_id: str) -> None:
    """Register INSTANCE_ID before its first event (or re-activate a retired one)."""
    # The same bounds as an event's instance_id, so a registered id can also send events.
    try:
        _IDENTIFIER.validate_python(instance_id)
    except ValidationError as exc:
        message = exc.errors()[0]["msg"]
        raise click.BadParameter(f"{instance_id!r}: {message}", param_hint="INSTANCE_ID") from None
    with database() as engine:
        created = store.register(engine, instance_id)
    click.echo(f"instance {instance_id!r} {'registered' if created else 'active'}")


@instances_group.command("retire")
@click.argument("instance_id")
def retire_command(instance_id: str) -> None:
    """Retire INSTANCE_ID: no more score updates are delivered to it."""
    with database() as engine:
        found = store.retire(engine, instance_id)
    if not found:
        raise click.ClickException(f"instance {instance_id!r} is not registered")
    click.echo(f"instance {instance_id!r} retired")


COMMANDS = [instances_group]
