"""``routelearn stats``: the monitoring queries (docs/stats.md) printed as tables or JSON."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from routelearn import stats
from routelearn.cli.database import database
from routelearn.domain.event import Complexity
from routelearn.settings import get_settings
from routelearn.stats import render
from routelearn.stats.analytics import workspace_analytics
from routelearn.stats.ranking import DEFAULT_MIN_SAMPLES
from routelearn.stats.splits import evaluate_split
from routelearn.stats.table import print_table
from routelearn.stats.window import DEFAULT_HOURS, Window

F = TypeVar("F", bound=Callable[..., Any])

_COMPLEXITY = click.Choice([c.value for c in Complexity])


def _json_option(f: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead.")(f)


def _window_options(f: F) -> F:
    f = click.option(
        "--all-time",
        is_flag=True,
        help="All time: model_routing_metrics (rollups kept, for instances).",
    )(f)
    f = click.option(
        "--hours",
        default=DEFAULT_HOURS,
        show_default=True,
        type=click.IntRange(min=1),
        help="Window: the current hour and the HOURS-1 before it.",
    )(f)
    return _json_option(f)


def _window(hours: int, all_time: bool) -> Window:
    return Window.all_time() if all_time else Window.last_hours(hours)


@contextmanager
def _engine() -> Iterator[Engine]:
    """The database; an error is one line, not a traceback."""
    try:
        with database() as engine:
            yield engine
    except SQLAlchemyError as exc:
        line = (str(getattr(exc, "orig", None) or exc).splitlines() or [type(exc).__name__])[0]
        raise click.ClickException(f"stats query failed: {line}") from exc


def _emit(result: object, table: render.Table, as_json: bool, window: Window | None) -> None:
    if as_json:
        click.echo(render.to_json(result))
        return
    print_table(table.headers, table.rows)
    if window is not None:
        click.echo(f"({table.title}, {window.describe()})")


@click.group("stats")
def stats_group() -> None:
    """Fleet statistics from the hourly rollups and small tables (never the audit table)."""


@stats_group.command("instances")
@_window_options
@click.option("--instance", help="Only this instance.")
@click.option("--limit", default=100, show_default=True, help="Rows at most (0: all).")
def instances_command(
    hours: int, all_time: bool, as_json: bool, instance: str | None, limit: int
) -> None:
    """Models used per instance: decisions, successes, failures (most used first)."""
    window = _window(hours, all_time)
    with _engine() as engine:
        rows = stats.models_by_instance(engine, window, instance=instance, limit=limit)
    _emit(rows, render.instances_table(rows), as_json, window)


@stats_group.command("success")
@_window_options
@click.option("--model", help="Only this model.")
@click.option("--complexity", type=_COMPLEXITY, help="Only this complexity.")
@click.option("--min-samples", default=0, show_default=True, help="Outcomes at least.")
@click.option("--limit", default=0, show_default=True, help="Rows at most (0: all).")
def success_command(
    hours: int,
    all_time: bool,
    as_json: bool,
    model: str | None,
    complexity: str | None,
    min_samples: int,
    limit: int,
) -> None:
    """Success rate by model and complexity: successes / (successes + failures)."""
    window = _window(hours, all_time)
    with _engine() as engine:
        rows = stats.success_rates(
            engine,
            window,
            model=model,
            complexity=complexity,
            min_samples=min_samples,
            limit=limit,
        )
    _emit(rows, render.success_table(rows), as_json, window)


@stats_group.command("latency")
@_window_options
@click.option("--model", help="Only this model.")
@click.option("--complexity", type=_COMPLEXITY, help="Only this complexity.")
@click.option(
    "--by",
    type=click.Choice(["mean", "samples"]),
    default="mean",
    show_default=True,
    help="Order: slowest mean first, or most samples first.",
)
@click.option("--limit", default=20, show_default=True, help="Rows at most (0: all).")
def latency_command(
    hours: int,
    all_time: bool,
    as_json: bool,
    model: str | None,
    complexity: str | None,
    by: str,
    limit: int,
) -> None:
    """Response times by model and complexity: mean, p50, p95, p99 (from the histograms)."""
    window = _window(hours, all_time)
    with _engine() as engine:
        rows = stats.latency_stats(
            engine, window, model=model, complexity=complexity, limit=limit, by=by
        )
    _emit(rows, render.latency_table(rows), as_json, window)


@stats_group.command("top")
@_window_options
@click.option(
    "-n", "count", default=10, show_default=True, type=click.IntRange(min=1), help="How many."
)
@click.option("--bottom", is_flag=True, help="The worst instead of the best.")
@click.option(
    "--min-samples",
    default=DEFAULT_MIN_SAMPLES,
    show_default=True,
    type=click.IntRange(min=1),
    help="Outcomes a pair needs to be ranked.",
)
@click.option("--complexity", type=_COMPLEXITY, help="Rank within this complexity only.")
def top_command(
    hours: int,
    all_time: bool,
    as_json: bool,
    count: int,
    bottom: bool,
    min_samples: int,
    complexity: str | None,
) -> None:
    """Best (or worst) performing pairs, ranked by the Wilson bound of their success rate."""
    window = _window(hours, all_time)
    with _engine() as engine:
        rows = stats.performers(
            engine, window, n=count, bottom=bottom, min_samples=min_samples, complexity=complexity
        )
    _emit(rows, render.performers_table(rows, bottom), as_json, window)


@stats_group.command("history")
@click.argument("model")
@click.option("--complexity", type=_COMPLEXITY, help="Only this complexity.")
@click.option("--limit", default=20, show_default=True, help="Rows at most (0: all).")
@_json_option
def history_command(model: str, complexity: str | None, limit: int, as_json: bool) -> None:
    """Score changes of MODEL, newest first."""
    with _engine() as engine:
        rows = stats.score_history(engine, model, complexity=complexity, limit=limit)
    _emit(rows, render.history_table(rows), as_json, None)


@stats_group.command("health")
@_json_option
def health_command(as_json: bool) -> None:
    """Workers, queue depths, ingestion lag, open anomalies, the last learner run.

    Exits 1 when something is wrong (the problems are listed; docs/stats.md defines them)."""
    settings = get_settings()
    with database() as engine:
        report = stats.health_report(engine, settings)
    if as_json:
        click.echo(render.to_json(report))
    else:
        for table in render.health_tables(report):
            click.echo(f"{table.title}:")
            print_table(table.headers, table.rows)
            click.echo()
        click.echo("status: healthy" if report.healthy else "status: UNHEALTHY")
        for problem in report.problems:
            click.echo(f"  - {problem}")
    if not report.healthy:
        raise SystemExit(1)


@stats_group.command("split")
@click.argument("rule_id")
@click.option("--hours", default=DEFAULT_HOURS, show_default=True, type=click.IntRange(min=1),
              help="Window: the current hour and the HOURS-1 before it.")  # fmt: skip
@_json_option
def split_command(rule_id: str, hours: int, as_json: bool) -> None:
    """A routing rule's traffic split on the real data: its canary arm against its primary
    (success rate: two-proportion z-test; latency: Mann-Whitney U)."""
    window = Window.last_hours(hours)
    with _engine() as engine:
        found = evaluate_split(engine, rule_id, window)
    if as_json:
        click.echo(render.to_json(found))
        return
    c = found.comparison
    print_table(
        ["arm", "outcomes", "success rate", "median ms"],
        [
            ["primary (a)", found.primary_outcomes, _rate(c.a_success_rate), _ms(c.a_median_ms)],
            ["canary (b)", found.canary_outcomes, _rate(c.b_success_rate), _ms(c.b_median_ms)],
        ],
    )
    click.echo(f"verdict: {c.verdict.value}: {c.summary} ({window.describe()})")


@stats_group.command("workspace")
@click.argument("workspace_id")
@click.option("--hours", default=24 * 7, show_default=True, type=click.IntRange(min=1),
              help="Window: the current hour and the HOURS-1 before it.")  # fmt: skip
@_json_option
def workspace_command(workspace_id: str, hours: int, as_json: bool) -> None:
    """One workspace: requests, outcomes, latency, tokens, cost, top models (the events that
    name it; GET /api/analytics/workspaces/{id})."""
    window = Window.last_hours(hours)
    with _engine() as engine:
        found = workspace_analytics(engine, workspace_id, window)
    if as_json:
        click.echo(render.to_json(found))
        return
    lat = found.latency
    print_table(
        ["requests", "success", "failure", "p50 ms", "p95 ms", "p99 ms", "tokens", "cost USD"],
        [
            [
                found.requests,
                found.successes,
                found.failures,
                _ms(lat.p50_ms),
                _ms(lat.p95_ms),
                _ms(lat.p99_ms),
                found.usage.prompt_tokens + found.usage.completion_tokens,
                f"{found.usage.cost_usd:.4f}",
            ]
        ],
    )
    print_table(
        ["top model", "requests", "cost USD"],
        [[m.model, m.requests, f"{m.cost_usd:.4f}"] for m in found.top_models],
    )
    click.echo(f"(workspace {workspace_id}, {window.describe()})")


def _rate(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


COMMANDS = [stats_group]
