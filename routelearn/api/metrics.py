"""The API's Prometheus metrics (seed 004's names) and ``GET /metrics``.

- ``model_router_requests_total{method,route,status}`` and
  ``model_router_request_duration_seconds{method,route}``, recorded by the ``RequestMetrics``
  middleware for every request. ``route`` is the matched route's template
  (``/api/models/{model_id}``), never the raw path, and ``unmatched`` when no route matched;
  ``method`` is one of the HTTP methods the API knows, else ``other``: bounded label sets.
- ``model_router_model_health_score{model}``, computed at scrape time by the overview's own
  rule (``routes.overview.model_healths``, over its default window of 1 h): healthy 1, degraded
  0.5, unhealthy 0.
- ``model_router_routing_rule_matches_total{rule}``: declared; no routing rules exist yet.
- ``routelearn_events_rejected_total{source="http"}``: the events POST /api/events refuses
  (counted there; the accepted ones are counted by the worker that stores them).

``GET /metrics`` wants a key whose role may read, as every other route but ``/health``, unless
``ROUTELEARN_METRICS_PUBLIC`` is set (a scraper on a network of its own). With several uvicorn
workers, ``PROMETHEUS_MULTIPROC_DIR`` (the API's own: ``routelearn serve`` empties it at start)
makes every worker's counts part of each answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from typing import cast

import anyio
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram
from prometheus_client import generate_latest as _generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routelearn.api.auth import require
from routelearn.api.routes.overview import model_healths, parse_window
from routelearn.domain.api_keys import Permission
from routelearn.domain.model_health import Health
from routelearn.observability.registry import scrape_registry

log = logging.getLogger(__name__)

UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
HEALTH_SCORE = {Health.HEALTHY: 1.0, Health.DEGRADED: 0.5, Health.UNHEALTHY: 0.0}
HEALTH_WINDOW = "1h"  # the overview's default

REQUESTS = Counter(
    "model_router_requests",
    "HTTP requests answered, by method, route template and status code.",
    ["method", "route", "status"],
)
REQUEST_DURATION = Histogram(
    "model_router_request_duration_seconds",
    "Time to answer an HTTP request, by method and route template (long polls included).",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
)
RULE_MATCHES = Counter(
    "model_router_routing_rule_matches",
    "Requests a routing rule decided, by rule (no routing rules exist yet).",
    ["rule"],
)


class RequestMetrics:
    """ASGI middleware counting and timing every HTTP request (plain ASGI, as RateLimitHeaders,
    for its cost). The router records the matched route in the scope it shares with us."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts: an exception that escaped every handler

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            method = scope["method"] if scope["method"] in _METHODS else "other"
            count, timing = _series(method, route_template(scope), status)
            count.inc()
            timing.observe(time.perf_counter() - started)


# The labelled series by (method, route, status): a bounded set, looked up once each, which
# halves the metrics' cost per request (a few microseconds) against .labels() every time.
_SERIES: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}


def _series(method: str, route: str, status: int) -> tuple[Counter, Histogram]:
    key = (method, route, status)
    found = _SERIES.get(key)
    if found is None:
        found = _SERIES[key] = (
            REQUESTS.labels(method, route, str(status)),
            REQUEST_DURATION.labels(method, route),
        )
    return found


def route_template(scope: Scope) -> str:
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    return template if isinstance(template, str) and template else UNMATCHED


class ModelHealthCollector(Collector):
    """``model_router_model_health_score`` from the overview, read at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def collect(self) -> Iterator[Metric]:
        now = datetime.now(UTC)
        try:
            healths = model_healths(self._engine, parse_window(HEALTH_WINDOW, now))
        except SQLAlchemyError as exc:  # the other metrics are still worth answering
            log.warning("model health scores left out: %s", str(exc).splitlines()[0])
            return
        gauge = GaugeMetricFamily(
            "model_router_model_health_score",
            "Each model's health by the overview's rule (GET /api/health/overview, last hour): "
            "healthy 1, degraded 0.5, unhealthy 0.",
            labels=["model"],
        )
        for model, health in healths.items():
            gauge.add_metric([model], HEALTH_SCORE[health])
        yield gauge


_reader = cast("Callable[[Request], Awaitable[object]]", require(Permission.READ))


async def _reader_unless_public(request: Request) -> None:
    if not request.app.state.settings.metrics_public:
        await _reader(request)


router = APIRouter(tags=["metrics"])


@router.get(
    "/metrics",
    response_class=Response,
    dependencies=[Depends(_reader_unless_public)],
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}, "description": "Prometheus text"}},
)
async def metrics(request: Request) -> Response:
    """The API's metrics in Prometheus's text format (docs/metrics.md)."""
    state = request.app.state
    registry: CollectorRegistry | None = getattr(state, "metrics_registry", None)
    if registry is None:
        registry = state.metrics_registry = scrape_registry(ModelHealthCollector(state.engine))
    body = await anyio.to_thread.run_sync(_generate_latest, registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


def install(app: FastAPI) -> None:
    """Count every request (outermost middleware: added last) and serve GET /metrics."""
    app.add_middleware(RequestMetrics)
    app.include_router(router)
