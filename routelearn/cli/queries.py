"""``routelearn dashboard``: list, show or run the shipped dashboard queries (seeds' SQL, fixed)."""

from __future__ import annotations

import click
from sqlalchemy.exc import DBAPIError

from routelearn.cli.database import database
from routelearn.stats import dashboard
from routelearn.stats.table import print_table


@click.command("dashboard")
@click.argument("name", required=False)
@click.option("--list", "list_queries", is_flag=True, help="List the queries with their titles.")
@click.option(
    "--sql", "show_sql", is_flag=True, help="Print the query's SQL instead of running it."
)
def dashboard_command(name: str | None, list_queries: bool, show_sql: bool) -> None:
    """Run dashboard query NAME and print its rows as a table (see --list for the names)."""
    if list_queries:
        if name is not None or show_sql:
            raise click.UsageError("--list takes no query name and no --sql")
        queries = [dashboard.load(n) for n in dashboard.names()]
        print_table(["name", "title"], [[q.name, q.title] for q in queries])
        return
    if name is None:
        raise click.UsageError("name a query to run, or use --list to see them")
    query = dashboard.load(name)
    if show_sql:
        click.echo(query.sql.rstrip("\n"))
        return
    with database() as engine:
        try:
            columns, rows = dashboard.run(engine, name)
        except DBAPIError as exc:
            # The database is down or not migrated, or the query does not fit the schema: one
            # line, not a traceback (is_transient would call a missing column "unavailable").
            line = (str(exc.orig or exc).splitlines() or [type(exc).__name__])[0]
            raise click.ClickException(f"dashboard query {name!r} failed: {line}") from exc
    print_table(columns, rows)


COMMANDS = [dashboard_command]
