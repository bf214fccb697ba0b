"""``routelearn api-keys``: the HTTP API's keys (create prints the token, once)."""

from __future__ import annotations

import click

from routelearn.cli.database import database
from routelearn.domain.api_keys import Role
from routelearn.stats.render import when
from routelearn.stats.table import print_table
from routelearn.store import api_keys as store


@click.group("api-keys")
def api_keys_group() -> None:
    """Keys for the HTTP API (`routelearn serve`); stored hashed, shown only when created."""


@api_keys_group.command("create")
@click.option("--name", required=True, help="Who or what uses it (unique).")
@click.option(
    "--role",
    required=True,
    type=click.Choice([r.value for r in Role]),
    help="reader: GET; instance: events, route, scores; operator: registry writes; admin: all.",
)
def create_command(name: str, role: str) -> None:
    """Make a key and print its token: it is not stored and cannot be shown again."""
    with database() as engine:
        key, token = store.create(engine, name, Role(role))
    click.echo(token)
    click.echo(
        f"key {key.name} ({key.role}, id {key.key_id}) created; keep the token above", err=True
    )


@api_keys_group.command("list")
@click.option("--all", "include_revoked", is_flag=True, help="Include revoked keys.")
def list_command(include_revoked: bool) -> None:
    """Every key (never a secret)."""
    with database() as engine:
        keys = store.list_keys(engine, include_revoked)
    print_table(
        ["name", "role", "id", "created", "last used", "revoked"],
        [
            [
                k.name,
                k.role,
                k.key_id,
                when(k.created_at),
                when(k.last_used_at),
                when(k.revoked_at),
            ]
            for k in keys
        ],
    )


@api_keys_group.command("revoke")
@click.argument("name")
def revoke_command(name: str) -> None:
    """Revoke key NAME: requests with it are refused (401) from now on."""
    with database() as engine:
        key = store.revoke(engine, name)
    click.echo(f"key {key.name} revoked")


COMMANDS = [api_keys_group]
