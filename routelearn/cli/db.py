"""``routelearn db upgrade|maintain|partitions`` and ``routelearn doctor``."""

from __future__ import annotations

import click
from sqlalchemy.engine import make_url

from routelearn.cli.database import database
from routelearn.cli.pgmq import install_pgmq
from routelearn.domain.partitions import bounds, partition_name
from routelearn.settings import get_settings
from routelearn.stats.checks import check_broker, check_database, check_pgmq
from routelearn.stats.table import print_table
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing
from routelearn.store.retention import existing_partitions, maintain


@click.group("db")
def db_group() -> None:
    """Database set-up."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
@click.option(
    "--with-pgmq",
    is_flag=True,
    help="Also install pgmq and the seed instances' queues (docs/pgmq.md); implied by "
    "ROUTELEARN_PGMQ_ENABLED.",
)
def upgrade(revision: str, with_pgmq: bool) -> None:
    """Create the database if missing and migrate the schema to REVISION."""
    url = get_settings().database_url
    created = create_database_if_missing(url)
    name = make_url(url).database
    click.echo(f"database {name!r} {'created' if created else 'exists'}")
    migrate.upgrade(url, revision)
    click.echo(f"schema at revision {migrate.current_revision(url)}")
    if with_pgmq or get_settings().pgmq_enabled:
        install_pgmq()


@db_group.command("maintain")
def maintain_cmd() -> None:
    """Create the audit table's day partitions ahead, drop expired ones, prune old rows (what
    the hourly beat task ``routelearn.maintain_partitions`` does)."""
    settings = get_settings()
    with database() as engine:
        result = maintain(
            engine,
            days_ahead=settings.partition_days_ahead,
            retention_days=settings.retention_days,
            rollup_retention_days=settings.rollup_retention_days,
        )
    if not result.ran:
        click.echo("another maintenance run holds the lock; nothing done")
        return
    click.echo(f"created: {', '.join(result.created) or 'none'}")
    click.echo(f"dropped: {', '.join(result.dropped) or 'none'}")
    if result.moved_from_default:
        click.echo(f"moved {result.moved_from_default} rows out of the default partition")
    for table, rows in result.pruned.items():
        click.echo(f"pruned {table}: {rows} rows")


@db_group.command("partitions")
def partitions_cmd() -> None:
    """The audit table's day partitions, oldest first."""
    with database() as engine, engine.connect() as conn:
        days = existing_partitions(conn)
    print_table(
        ["partition", "from (UTC)", "to (UTC)"],
        [[partition_name(d), *(b.strftime("%Y-%m-%d %H:%M") for b in bounds(d))] for d in days],
    )


@click.command("doctor")
def doctor() -> None:
    """Check that the broker and database answer and the schema is current."""
    database, schema = check_database(get_settings())
    checks = [check_broker(get_settings()), database] + ([schema] if database.ok else [])
    if schema.ok:
        checks += check_pgmq(get_settings())
    for check in checks:
        click.echo(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


COMMANDS = [db_group, doctor]
