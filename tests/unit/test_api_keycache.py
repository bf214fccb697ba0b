"""The API's memory of valid keys: kept for the TTL, keyed by the token, off at 0."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routelearn.api.keycache import MAX_KEYS, KeyCache
from routelearn.domain.api_keys import Role
from routelearn.store.api_keys import ApiKey
from tests.unit.router.fakes import FakeClock

KEY = ApiKey("0123456789ab", "app", Role.INSTANCE, datetime(2026, 1, 1, tzinfo=UTC), None, None)


def test_a_valid_key_is_remembered_for_the_ttl_only() -> None:
    clock = FakeClock()
    cache = KeyCache(5.0, clock)
    assert cache.get("rl_token") is None
    cache.put("rl_token", KEY)
    assert cache.get("rl_token") is KEY
    assert cache.get("rl_token2") is None  # another token, even sharing a prefix
    clock.advance(4.9)
    assert cache.get("rl_token") is KEY
    clock.advance(0.1)  # a revoked key is refused from here on
    assert cache.get("rl_token") is None


def test_the_token_itself_is_not_held() -> None:
    cache = KeyCache(5.0)
    cache.put("rl_secret_token", KEY)
    assert all(isinstance(k, bytes) and b"secret" not in k for k in cache._keys)


def test_zero_turns_it_off_and_the_memory_is_bounded() -> None:
    off = KeyCache(0.0)
    off.put("t", KEY)
    assert off.get("t") is None
    cache = KeyCache(5.0)
    for n in range(MAX_KEYS + 1):
        cache.put(f"t{n}", KEY)
    assert len(cache._keys) <= MAX_KEYS and cache.get(f"t{MAX_KEYS}") is KEY
    with pytest.raises(ValueError, match="ttl"):
        KeyCache(-1.0)
