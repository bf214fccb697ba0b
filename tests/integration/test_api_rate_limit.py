"""Rate limits per key, shared through Redis by two API server processes (Redis only: the
limits count in Redis whatever the broker)."""

from __future__ import annotations

import time

import httpx
import pytest
from sqlalchemy import Engine

from routelearn.domain.api_keys import Role
from routelearn.settings import Settings
from routelearn.store import api_keys
from tests.integration.test_api import bearer, is_problem, serving

pytestmark = pytest.mark.integration


def test_two_servers_enforce_one_limit_with_headers(
    settings: Settings, clean: None, engine: Engine
) -> None:
    limited = settings.model_copy(
        update={"api_rate_limit": 1000, "api_rate_limits": {"reader": 5}, "api_rate_window": 60}
    )
    _, reader = api_keys.create(engine, "limited", Role.READER)
    _, instance = api_keys.create(engine, "roomy", Role.INSTANCE)
    with serving(limited) as a, serving(limited) as b:
        # Windows are aligned to the clock: a burst across a minute's end would be counted in
        # two windows. Start it early in a minute.
        if time.time() % 60 > 45:
            time.sleep(60 - time.time() % 60 + 0.1)
        answers = [httpx.get(f"{base}/api/scores", headers=bearer(reader)) for base in (a, b) * 3]
        assert [r.status_code for r in answers] == [200] * 5 + [429]
        assert [r.headers["RateLimit-Remaining"] for r in answers[:5]] == ["4", "3", "2", "1", "0"]
        refused = answers[5]
        body = is_problem(refused, 429)
        assert "5 requests per 60 s" in body["detail"]
        assert refused.headers["RateLimit-Limit"] == "5"
        assert 1 <= int(refused.headers["Retry-After"]) <= 60
        # Another key (another role's limit) is not affected, and /health never is.
        ok = httpx.get(f"{b}/api/scores", headers=bearer(instance))
        assert ok.status_code == 200 and ok.headers["RateLimit-Limit"] == "1000"
        assert httpx.get(f"{a}/health").status_code == 200
