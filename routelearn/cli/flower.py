"""``routelearn flower``: Flower, refusing to listen beyond loopback without authentication.

Flower's own ``--basic-auth`` / ``FLOWER_BASIC_AUTH`` (``user:password[,user:password]``) guards
every page and API call (its ``/metrics`` and ``/healthcheck`` stay open, for Prometheus and
health checks). The address and port are always passed on Flower's command line, which wins over
a ``FLOWER_ADDRESS`` / ``FLOWER_PORT`` variable or a ``flowerconfig.py`` that would otherwise
open it unchecked. The credentials reach Flower through its environment only: never on a
command line (``ps`` shows those), never in a log line.
"""

from __future__ import annotations

import importlib.util
import os
import sys

import click

from routelearn.domain.exposure import basic_auth_users, is_loopback
from routelearn.settings import get_settings

# Flower options that would bypass the checks here: address, port and authentication are this
# command's to set.
_OWNED = ("--address", "--port", "--unix-socket", "--unix_socket", "--basic-auth", "--basic_auth")


@click.command(
    "flower",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
@click.option(
    "--address",
    default=None,
    help="Address to listen on [default: ROUTELEARN_FLOWER_ADDRESS, 127.0.0.1].",
)
@click.option(
    "--port", type=int, default=None, help="Port [default: ROUTELEARN_FLOWER_PORT, 5555]."
)
@click.option(
    "--app",
    "app_name",
    default="routelearn.service.worker",
    show_default=True,
    help="The Celery app (the repository's `workers.app` is the same app).",
)
@click.option(
    "--check",
    is_flag=True,
    help="Only check the address and credentials (exit 1 if Flower would refuse), then exit.",
)
@click.pass_context
def flower(
    ctx: click.Context, address: str | None, port: int | None, app_name: str, check: bool
) -> None:
    """Start Flower (further options go to Flower). Beyond loopback it needs
    FLOWER_BASIC_AUTH=user:password, else it refuses to start."""
    settings = get_settings()
    address = settings.flower_address if address is None else address
    port = settings.flower_port if port is None else port
    extra = list(ctx.args)
    owned = [a for a in extra if a.split("=", 1)[0] in _OWNED]
    if owned:
        raise click.UsageError(
            f"{', '.join(owned)}: set these with routelearn flower's own --address/--port, "
            "ROUTELEARN_FLOWER_ADDRESS/ROUTELEARN_FLOWER_PORT and FLOWER_BASIC_AUTH"
        )
    env = dict(os.environ)
    credentials = env.pop("FLOWER_BASIC_AUTH", "").strip()
    users: list[str] = []
    if credentials:
        try:
            users = basic_auth_users(credentials)
        except ValueError as exc:
            raise click.ClickException(str(exc)) from None
        env["FLOWER_BASIC_AUTH"] = credentials
    if not users and not is_loopback(address):
        raise click.ClickException(
            f"refusing to start Flower on {address or '(every interface)'}:{port} without "
            "authentication: anyone who reaches the port could read every task and revoke "
            "them. Set FLOWER_BASIC_AUTH=user:password (8 characters or more), or listen on "
            "127.0.0.1 (ROUTELEARN_FLOWER_ADDRESS)"
        )
    if importlib.util.find_spec("flower") is None:
        raise click.ClickException(
            "`routelearn flower` needs the service extra (flower is not installed): "
            "pip install 'routelearn[service]'"
        )
    guard = f"basic auth ({', '.join(users)})" if users else "no authentication: loopback only"
    click.echo(f"Flower on http://{address}:{port}/, {guard}", err=True)
    if check:
        return
    args = [sys.executable, "-m", "celery", "-A", app_name, "flower"]
    args += [f"--address={address}", f"--port={port}", *extra]
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, args, env)


COMMANDS = [flower]
