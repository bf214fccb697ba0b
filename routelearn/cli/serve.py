"""``routelearn serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import click

from routelearn.logs import secret_values, uvicorn_log_config
from routelearn.settings import get_settings


@click.command("serve")
@click.option(
    "--host", default=None, help="Address to bind [default: ROUTELEARN_API_HOST, 127.0.0.1]."
)
@click.option("--port", type=int, default=None, help="Port [default: ROUTELEARN_API_PORT, 3003].")
@click.option(
    "--workers", type=click.IntRange(min=1), default=1, show_default=True, help="Worker processes."
)
def serve(host: str | None, port: int | None, workers: int) -> None:
    """Serve the HTTP API (OpenAPI at /docs). Every route but /health needs an API key
    (`routelearn api-keys create`)."""
    import uvicorn

    from routelearn.observability.registry import empty_directory, multiprocess_dir

    settings = get_settings()
    metrics_dir = multiprocess_dir()
    if metrics_dir is not None:
        # The API's own directory (never the workers'): its uvicorn workers all start below.
        empty_directory(metrics_dir)
    uvicorn.run(
        "routelearn.api.asgi:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="info",
        # The access log prints every request line; keys travel in a header, never in it.
        access_log=settings.api_access_log,
        proxy_headers=False,
        # ROUTELEARN_LOG_FORMAT (text | json), every line redacted (routelearn.logs).
        log_config=uvicorn_log_config(settings.log_format, secret_values(settings)),
    )


COMMANDS = [serve]
