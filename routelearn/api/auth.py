"""Bearer API keys: who is calling, and whether their role may do this."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import anyio
from fastapi import Request

from routelearn.api.keycache import KeyCache
from routelearn.api.problems import ProblemError
from routelearn.domain.api_keys import Permission, allows, bearer_token
from routelearn.store import api_keys
from routelearn.store.api_keys import ApiKey

_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def require(permission: Permission) -> Callable[[Request], Awaitable[ApiKey]]:
    """A dependency: the request's key, if it is active and its role grants ``permission``;
    401 without a valid key, 403 for a role that may not. The token is never echoed. A key
    found valid is remembered for ROUTELEARN_API_KEY_CACHE_SECONDS (keycache.py): a revoked key
    is refused within that long."""

    async def dependency(request: Request) -> ApiKey:
        token = bearer_token(request.headers.get("authorization"))
        if token is None:
            raise ProblemError(
                401, "an API key is required: Authorization: Bearer <key>", None, _CHALLENGE
            )
        cache: KeyCache = request.app.state.key_cache
        key = cache.get(token)  # a key found valid in the last few seconds (keycache.py)
        if key is None:
            engine = request.app.state.engine
            key = await anyio.to_thread.run_sync(api_keys.authenticate, engine, token)
            if key is not None:
                cache.put(token, key)
        if key is None:
            raise ProblemError(
                401, "the API key is not valid (unknown, malformed or revoked)", None, _CHALLENGE
            )
        verdict = await request.app.state.rate_limiter.check(key)
        if verdict is not None:
            if not verdict.allowed:
                window = request.app.state.settings.api_rate_window
                detail = f"rate limit: {verdict.limit} requests per {window} s for this key"
                raise ProblemError(429, detail, None, verdict.headers())
            request.state.rate_limit_headers = verdict.headers()
        if not allows(key.role, permission):
            raise ProblemError(403, f"role {key.role} may not {permission.value.replace('_', ' ')}")
        request.state.api_key = key
        return key

    return dependency
