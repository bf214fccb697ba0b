"""``routelearn pgmq install|status|register|unregister``: the bridge for seed 000's pgmq
instances (docs/pgmq.md)."""

from __future__ import annotations

import click

from routelearn.cli.database import database
from routelearn.domain.pgmq_queues import instance_queue
from routelearn.settings import get_settings
from routelearn.stats.table import print_table
from routelearn.store import pgmq


@click.group("pgmq")
def pgmq_group() -> None:
    """The pgmq bridge: seed instances' queues in this database."""


def install_pgmq() -> None:
    """Install pgmq and its two queues (`routelearn db upgrade --with-pgmq` calls it too)."""
    with database() as engine, engine.begin() as conn:
        how, fresh = pgmq.install(conn)
    what = "the extension" if how == "extension" else f"the SQL of pgmq {pgmq.sql_version()}"
    click.echo(f"pgmq {'installed' if fresh else 'already installed'}: {what}")


@pgmq_group.command("install")
def install_cmd() -> None:
    """Install pgmq (the extension if the server has it, its SQL otherwise) and create
    model_routing_decisions and model_score_updates."""
    install_pgmq()


@pgmq_group.command("status")
def status_cmd() -> None:
    """Each pgmq queue: messages, readable now, the oldest one's age, sent ever."""
    with database() as engine, engine.connect() as conn:
        how = pgmq.installed(conn)
        if how is None:
            raise click.ClickException("pgmq is not installed: routelearn pgmq install")
        rows = pgmq.metrics(conn)
    click.echo(
        f"pgmq: {how}; consumer {'on' if get_settings().pgmq_enabled else 'OFF'}"
        " (ROUTELEARN_PGMQ_ENABLED)"
    )
    print_table(
        ["queue", "messages", "visible", "oldest (s)", "sent ever"],
        [
            [
                m.queue,
                m.length,
                m.visible,
                "" if m.oldest_age_seconds is None else f"{m.oldest_age_seconds:.0f}",
                m.total_sent,
            ]
            for m in rows
        ],
    )


def _instance(ctx: click.Context, param: click.Parameter, instance: str) -> str:
    """INSTANCE, refused (naming the value and why) when pgmq could not hold its queue."""
    try:
        instance_queue(instance)
    except ValueError as exc:
        raise click.BadParameter(str(exc), ctx, param) from None
    return instance


@pgmq_group.command("register")
@click.argument("instance", callback=_instance)
def register_cmd(instance: str) -> None:
    """Give INSTANCE its own score queue, model_score_updates_INSTANCE (every learned change
    goes to each such queue), with the current scores in it."""
    with database() as engine, engine.begin() as conn:
        queue, sent = pgmq.register(conn, instance)
    click.echo(f"{queue}: created, {sent} current scores sent")


@pgmq_group.command("unregister")
@click.argument("instance", callback=_instance)
def unregister_cmd(instance: str) -> None:
    """Drop INSTANCE's score queue and what it holds."""
    with database() as engine, engine.begin() as conn:
        queue, dropped = pgmq.unregister(conn, instance)
    click.echo(f"{queue}: {'dropped' if dropped else 'did not exist'}")


COMMANDS = [pgmq_group]
