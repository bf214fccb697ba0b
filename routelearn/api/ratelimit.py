"""Per-key rate limits, counted in Redis so that every API process (and host) shares them."""

from __future__ import annotations

import logging
import time

import redis.asyncio as aioredis
from redis.exceptions import RedisError
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from routelearn.domain.rate_limit import Verdict, judge, limit_for, window_start
from routelearn.errors import ConfigError
from routelearn.settings import Settings
from routelearn.store.api_keys import ApiKey

log = logging.getLogger(__name__)

KEY_PREFIX = "routelearn:ratelimit:"


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._client: aioredis.Redis | None = None
        enabled = settings.api_rate_limit > 0 or any(settings.api_rate_limits.values())
        if enabled:
            url = settings.rate_limit_redis()
            if url is None:
                raise ConfigError(
                    "ROUTELEARN_API_RATE_LIMIT needs Redis: set ROUTELEARN_REDIS_URL (the broker "
                    "is not Redis), or ROUTELEARN_API_RATE_LIMIT=0 to serve without limits"
                )
            self._client = aioredis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)

    async def check(self, key: ApiKey) -> Verdict | None:
        """This request counted against ``key``'s window; None when its role has no limit.
        Redis not answering lets the request through (logged): the limit protects the
        service, and an outage of its counter must not take the API down with it."""
        settings = self._settings
        limit = limit_for(key.role, settings.api_rate_limit, settings.api_rate_limits)
        if self._client is None or limit <= 0:
            return None
        now, window = time.time(), settings.api_rate_window
        name = f"{KEY_PREFIX}{key.key_id}:{window_start(now, window)}"
        try:
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.incr(name)
                pipe.expire(name, window + 5)
                count, _ = await pipe.execute()
        except RedisError as exc:
            log.warning("rate limit not checked, Redis did not answer: %s", type(exc).__name__)
            return None
        return judge(int(count), limit, now, window)

    async def close(self) -> None:
        if self._client is not None:
            await self._client.aclose()


class RateLimitHeaders:
    """ASGI middleware: the ``RateLimit-*`` headers that ``auth.require`` left in the request's
    state, added to its answer (a problem document's too). Plain ASGI rather than
    ``@app.middleware``, whose task group and memory stream per request cost a fifth of a
    ``POST /api/route``."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get("rate_limit_headers")
                if extra:
                    MutableHeaders(scope=message).update(extra)
            await send(message)

        await self.app(scope, receive, send_with_headers)
