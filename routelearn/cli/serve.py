"""``routelearn serve``: the HTTP API under uvicorn."""

from __future__ import annotations

import click

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

    settings = get_settings()
    uvicorn.run(
        "routelearn.api.asgi:app",
        host=host or settings.api_host,
        port=port or settings.api_port,
        workers=workers,
        log_level="info",
        # The access log prints every request line; keys travel in a header, never in it.
        access_log=settings.api_access_log,
        proxy_headers=False,
    )


COMMANDS = [serve]
