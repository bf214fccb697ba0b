"""``routelearn metrics serve``: this worker host's Prometheus scrape target (docs/metrics.md)."""

from __future__ import annotations

import click

from routelearn.observability.fleet import FleetCollector
from routelearn.observability.registry import MULTIPROC_ENV, multiprocess_dir, scrape_registry
from routelearn.observability.server import (
    make_metrics_server,
    metrics_app,
    needs_key,
    reader_key,
)
from routelearn.settings import get_settings
from routelearn.store.engine import make_engine


@click.group("metrics")
def metrics() -> None:
    """Prometheus metrics (docs/metrics.md)."""


@metrics.command("serve")
@click.option(
    "--host", default=None, help="Address to bind [default: ROUTELEARN_METRICS_HOST, 127.0.0.1]."
)
@click.option(
    "--port", type=int, default=None, help="Port [default: ROUTELEARN_METRICS_PORT, 9808]."
)
@click.option(
    "--fleet/--no-fleet",
    default=True,
    show_default=True,
    help="Also serve the fleet gauges (the same on every host: one host may leave them out).",
)
def serve(host: str | None, port: int | None, fleet: bool) -> None:
    """Serve GET /metrics: this host's worker processes added up from $PROMETHEUS_MULTIPROC_DIR
    (set it, the same, for the workers), and the fleet gauges. Beyond loopback a reader API key
    is required (Authorization: Bearer <key>) unless ROUTELEARN_METRICS_PUBLIC=true."""
    settings = get_settings()
    host = host or settings.metrics_host
    port = port or settings.metrics_port
    engine = make_engine(settings.database_url, pool_size=2)
    registry = scrape_registry(*([FleetCollector(settings, engine)] if fleet else []))
    keyed = needs_key(host, settings.metrics_public)
    server = make_metrics_server(
        host, port, metrics_app(registry, reader_key(engine) if keyed else None)
    )
    path = multiprocess_dir()
    click.echo(
        f"metrics on http://{host}:{server.server_port}/metrics: "
        + (f"the processes of {path}" if path else f"this process only ({MULTIPROC_ENV} unset)")
        + (", the fleet gauges" if fleet else "")
        + ("; a reader key is required" if keyed else ""),
        err=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        engine.dispose()


COMMANDS = [metrics]
