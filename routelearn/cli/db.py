"""``routelearn db upgrade|maintain|partitions`` and ``routelearn doctor``."""

from __future__ import annotations

from dataclasses import dataclass

import click
from kombu.connection import Connection
from sqlalchemy.engine import make_url

from routelearn.cli.database import database
from routelearn.domain.partitions import bounds, partition_name
from routelearn.messaging.broker import transport_options
from routelearn.settings import Settings, get_settings
from routelearn.stats.table import print_table
from routelearn.store import migrate
from routelearn.store.engine import create_database_if_missing
from routelearn.store.retention import existing_partitions, maintain


@click.group("db")
def db_group() -> None:
    """Database set-up."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def upgrade(revision: str) -> None:
    """Create the database if missing and migrate the schema to REVISION."""
    url = get_settings().database_url
    created = create_database_if_missing(url)
    name = make_url(url).database
    click.echo(f"database {name!r} {'created' if created else 'exists'}")
    migrate.upgrade(url, revision)
    click.echo(f"schema at revision {migrate.current_revision(url)}")


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


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _check_broker(settings: Settings) -> Check:
    try:
        with Connection(
            settings.broker_url, transport_options=transport_options(settings), connect_timeout=3
        ) as conn:
            conn.ensure_connection(max_retries=1, timeout=3)
        return Check("broker", True, f"{_safe(settings.broker_url)} answers")
    except Exception as exc:
        return Check(
            "broker",
            False,
            f"{_safe(settings.broker_url)} does not answer ({exc}). Start Redis, or set "
            "ROUTELEARN_BROKER_URL to a broker that runs.",
        )


def _check_database(settings: Settings) -> Check:
    url = settings.database_url
    try:
        current = migrate.current_revision(url)
    except Exception as exc:
        text = str(exc).splitlines()[0]
        if "does not exist" in text:
            return Check("database", False, f"{text}. Run: routelearn db upgrade")
        return Check(
            "database",
            False,
            f"{_safe(url)} does not answer ({text}). Start PostgreSQL, or set "
            "ROUTELEARN_DATABASE_URL to one that runs.",
        )
    head = migrate.head_revision()
    if current != head:
        return Check(
            "schema",
            False,
            f"schema at revision {current or 'none'}, code expects {head}. "
            "Run: routelearn db upgrade",
        )
    return Check("database", True, f"{_safe(url)} answers, schema at head ({head})")


def _safe(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


@click.command("doctor")
def doctor() -> None:
    """Check that the broker and database answer and the schema is current."""
    settings = get_settings()
    checks = [_check_broker(settings), _check_database(settings)]
    for check in checks:
        click.echo(f"[{'ok' if check.ok else 'FAIL'}] {check.name}: {check.detail}")
    if not all(c.ok for c in checks):
        raise SystemExit(1)


COMMANDS = [db_group, doctor]
