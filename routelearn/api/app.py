"""The API's app factory: settings, one database engine and one broker sender per process."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from routelearn import __version__
from routelearn.api import central, metrics, problems
from routelearn.api.keycache import KeyCache
from routelearn.api.ratelimit import RateLimiter, RateLimitHeaders
from routelearn.api.routes import (
    analytics,
    config,
    events,
    health,
    models,
    overview,
    policy,
    route,
    scores,
)
from routelearn.messaging.broker import RETRY_POLICY
from routelearn.messaging.task_message import TaskSender
from routelearn.settings import Settings, get_settings
from routelearn.store.engine import make_engine


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.settings = settings
        app.state.engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
        app.state.task_sender = TaskSender(settings, RETRY_POLICY)
        try:
            async with central.running(settings, app.state.engine) as app.state.central:
                # What start-up made lives as long as the process: out of the collector's
                # sight, a full collection no longer walks it (the tail of bench api's latency).
                gc.collect()
                gc.freeze()
                yield
        finally:
            await app.state.rate_limiter.close()
            app.state.task_sender.close()
            app.state.engine.dispose()

    app = FastAPI(
        title="routelearn",
        version=__version__,
        description="Fleet-wide learning of LLM routing: events in, scores out (seed 004).",
        lifespan=lifespan,
    )
    # Made here, not in the lifespan: a rate limit without a Redis to count in is refused at
    # start, before the server takes a request.
    app.state.rate_limiter = RateLimiter(settings)
    app.state.key_cache = KeyCache(settings.api_key_cache_seconds)

    app.add_middleware(RateLimitHeaders)

    problems.install(app)
    # POST /api/route first: the routes are tried in order, and it is the busiest.
    app.router.routes.append(route.ROUTE)
    for module in (health, events, scores, models, overview, policy, config, analytics):
        app.include_router(module.router)
    metrics.install(app)  # GET /metrics, and the request metrics of every route above

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(
                title=app.title,
                version=app.version,
                description=app.description,
                routes=app.routes,
            )
            route.document(schema)  # a Starlette route: FastAPI does not describe it
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app
