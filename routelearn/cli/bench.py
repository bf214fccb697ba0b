"""``routelearn bench``: benchmarks that start their own workers and throwaway databases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from routelearn.cli.scratch_options import broker_option, pg_option


@click.group("bench")
def bench_group() -> None:
    """Measure routelearn on this machine (never run as a test)."""


def out_option(help: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """``--out``: the folder a benchmark writes its report to."""
    return click.option(
        "--out",
        "out_dir",
        default="bench-results",
        show_default=True,
        type=click.Path(path_type=Path),
        help=help,
    )


@bench_group.command("ingest")
@click.option("--events", default=200_000, show_default=True, help="Lines of the realistic corpus.")
@click.option(
    "--naive-events",
    default=10_000,
    show_default=True,
    help="Events for the seed-style baseline (one message per event); 0 skips it.",
)
@click.option(
    "--workers",
    "workers",
    default="1,2",
    show_default=True,
    help="Worker processes of each end-to-end run, comma-separated.",
)
@click.option("--concurrency", default=2, show_default=True, help="Pool size per worker.")
@click.option(
    "--batch-size",
    default=1000,
    show_default=True,
    type=click.IntRange(1, 10_000),
    help="Events per message (routelearn publish --batch-size).",
)
@pg_option
@broker_option
@out_option("Where the JSON report, the corpus and the logs go.")
@click.option(
    "--latency-rate",
    default=10_000.0,
    show_default=True,
    help="Lines/s of the paced latency phase (below capacity).",
)
@click.option(
    "--latency-events", default=50_000, show_default=True, help="Lines in the paced latency phase."
)
@click.option(
    "--runs",
    default=3,
    show_default=True,
    type=click.IntRange(1, 20),
    help="End-to-end runs of each worker count; the median is reported (raw COPY: best of 3).",
)
@click.option(
    "--source",
    type=click.Choice(["broker", "pgmq"]),
    default="broker",
    show_default=True,
    help="broker: routelearn publish into the workers; pgmq: the corpus sent with "
    "pgmq.send_batch, drained by the pgmq bridge (docs/pgmq.md).",
)
def ingest(
    source: str,
    events: int,
    naive_events: int,
    workers: str,
    concurrency: int,
    batch_size: int,
    pg_base: str,
    broker_base: str,
    out_dir: Path,
    latency_rate: float,
    latency_events: int,
    runs: int,
) -> None:
    """Raw COPY, the publisher alone, end to end with 1 and 2 workers, latency: on the
    realistic corpus, each as a ratio to the raw COPY rate."""
    from routelearn.benchmarks.ingest import main, summary

    try:
        counts = tuple(int(n) for n in workers.split(","))
    except ValueError:
        raise click.BadParameter(
            f"{workers!r} is not a list of numbers", param_hint="--workers"
        ) from None
    report = main(
        events=events,
        naive_events=naive_events,
        workers=counts,
        concurrency=concurrency,
        batch_size=batch_size,
        pg_base=pg_base,
        broker_base=broker_base,
        out_dir=out_dir,
        latency_rate=latency_rate,
        latency_events=latency_events,
        runs=runs,
        log=click.echo,
        source=source,
    )
    click.echo(summary(report))
    click.echo(f"report: {out_dir}/ingest-{report['when']}.json")


@bench_group.command("learning")
@click.option("--rows", default=10_000_000, show_default=True, help="Audit rows to fill.")
@click.option("--models", default=1000, show_default=True, help="Models (x 3 complexities).")
@click.option("--instances", default=50, show_default=True, help="Instances sending events.")
@click.option("--days", default=30, show_default=True, help="Days the audit rows span.")
@click.option(
    "--runs",
    default=5,
    show_default=True,
    type=click.IntRange(min=1),
    help="Timed runs of each figure (learner ticks, fan-out rounds, queries).",
)
@click.option("--keep-db", is_flag=True, help="Keep the filled database (its URL is printed).")
@pg_option
@broker_option
@out_option("Where the JSON report goes.")
def learning(
    rows: int,
    models: int,
    instances: int,
    days: int,
    runs: int,
    keep_db: bool,
    pg_base: str,
    broker_base: str,
    out_dir: Path,
) -> None:
    """Learner cycle, score fan-out and every `stats` query on 10 million audit rows."""
    from routelearn.benchmarks.learning import main, summary

    report = main(
        rows=rows,
        models=models,
        instances=instances,
        days=days,
        keep_db=keep_db,
        pg_base=pg_base,
        broker_base=broker_base,
        out_dir=out_dir,
        log=click.echo,
        runs=runs,
    )
    click.echo(summary(report))
    click.echo(f"report: {out_dir}/learning-{report.when}.json")


@bench_group.command("api")
@click.option("--seconds", default=10.0, show_default=True, help="Length of each route phase.")
@click.option(
    "--paced-rate",
    default=2000.0,
    show_default=True,
    help="Route requests/s of the paced phase (its p50/p99 are the goal's).",
)
@click.option(
    "--connections", default=32, show_default=True, help="Connections of the saturated phase."
)
@click.option("--events", default=100_000, show_default=True, help="Events of each ingest way.")
@click.option("--batch", default=500, show_default=True, help="Events per POST /api/events.")
@click.option("--api-workers", default=2, show_default=True, help="routelearn serve --workers.")
@click.option("--workers", default=1, show_default=True, help="Ingest worker processes.")
@click.option("--concurrency", default=2, show_default=True, help="Pool size per worker.")
@click.option("--models", default=50, show_default=True, help="Models in the registry.")
@click.option(
    "--rate-limit/--no-rate-limit",
    default=False,
    show_default=True,
    help="Keep the per-key rate limit (counted in Redis) with a limit the load fits in.",
)
@click.option(
    "--access-log/--no-access-log",
    default=False,
    show_default=True,
    help="Serve with uvicorn's access log (ROUTELEARN_API_ACCESS_LOG).",
)
@pg_option
@broker_option
@out_option("Where the JSON report and logs go.")
def api(
    seconds: float,
    paced_rate: float,
    connections: int,
    events: int,
    batch: int,
    api_workers: int,
    workers: int,
    concurrency: int,
    models: int,
    rate_limit: bool,
    access_log: bool,
    pg_base: str,
    broker_base: str,
    out_dir: Path,
) -> None:
    """The HTTP API under load: POST /api/route (requests/s, p50, p99) and POST /api/events
    against routelearn publish."""
    from routelearn.benchmarks.api import main, summary

    report = main(
        seconds=seconds,
        paced_rate=paced_rate,
        connections=connections,
        events=events,
        batch=batch,
        api_workers=api_workers,
        workers=workers,
        concurrency=concurrency,
        models=models,
        rate_limit=rate_limit,
        access_log=access_log,
        pg_base=pg_base,
        broker_base=broker_base,
        out_dir=out_dir,
        log=click.echo,
    )
    click.echo(summary(report))
    click.echo(f"report: {out_dir}/api-{report['when']}.json")


COMMANDS = [bench_group]
