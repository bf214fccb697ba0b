"""API key format, hashing and role grants (pure)."""

from __future__ import annotations

import pytest

from routelearn.domain.api_keys import (
    Permission,
    Role,
    allows,
    hash_secret,
    new_key,
    parse_token,
    secret_matches,
)


def test_a_new_key_is_parseable_and_only_its_hash_is_kept() -> None:
    key = new_key()
    parsed = parse_token(key.token)
    assert parsed is not None
    key_id, secret = parsed
    assert key_id == key.key_id and len(secret) >= 40
    assert secret not in key.secret_hash and key.secret_hash == hash_secret(secret)
    assert secret_matches(secret, key.secret_hash)
    assert not secret_matches(secret + "x", key.secret_hash)
    assert new_key().token != key.token


@pytest.mark.parametrize(
    "token",
    ["", "rl_", "rl_zzzzzzzzzzzz_" + "a" * 43, "xx_0123456789ab_" + "a" * 43, "rl_0123_abc"],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert parse_token(token) is None


def test_roles_grant_what_issue_10_says() -> None:
    grants = {role: {p for p in Permission if allows(role, p)} for role in Role}
    assert grants[Role.READER] == {Permission.READ}
    assert grants[Role.INSTANCE] == {Permission.READ, Permission.SEND_EVENTS, Permission.ROUTE}
    assert grants[Role.OPERATOR] == grants[Role.INSTANCE] | {Permission.WRITE_REGISTRY}
    assert grants[Role.ADMIN] == set(Permission)


def test_rate_limit_windows_and_headers() -> None:
    from routelearn.domain.rate_limit import judge, limit_for, window_start

    assert window_start(125.0, 60) == 120
    passed = judge(3, 5, 125.0, 60)
    assert passed.allowed and passed.headers() == {
        "RateLimit-Limit": "5",
        "RateLimit-Remaining": "2",
        "RateLimit-Reset": "55",
    }
    refused = judge(6, 5, 179.5, 60)
    assert not refused.allowed and refused.headers()["Retry-After"] == "1"
    assert limit_for("reader", 100, {"reader": 5}) == 5 and limit_for("admin", 100, {}) == 100


def test_a_rate_limit_without_redis_is_refused_at_start() -> None:
    from routelearn.api.ratelimit import RateLimiter
    from routelearn.errors import ConfigError
    from routelearn.settings import Settings

    amqp = Settings(broker_url="amqp://guest:guest@127.0.0.1:5672//")
    with pytest.raises(ConfigError, match="ROUTELEARN_REDIS_URL"):
        RateLimiter(amqp)
    RateLimiter(amqp.model_copy(update={"api_rate_limit": 0}))  # off: no Redis needed
