"""A short-lived, in-process memory of the API keys recently found valid.

Looking a key up costs a database query and a thread hop per request, the largest part of a
``POST /api/route``. A key found valid is kept for ``ttl`` seconds (``ROUTELEARN_API_KEY_CACHE_
SECONDS``, 5 by default), keyed by the SHA-256 of the whole token, so the token itself is never
held. The price: a revoked key keeps working for at most ``ttl`` seconds in each API process
that used it just before. A key found invalid is not kept, so a key made a moment ago works at
once. ``ttl`` 0 turns the cache off.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable

from routelearn.store.api_keys import ApiKey

# Bound on the keys held; past it the memory starts afresh (rare: keys are few).
MAX_KEYS = 10_000


class KeyCache:
    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        if ttl < 0:
            raise ValueError(f"ttl must be >= 0, got {ttl!r}")
        self.ttl = ttl
        self._clock = clock
        self._keys: dict[bytes, tuple[float, ApiKey]] = {}
        self._lock = threading.Lock()

    def get(self, token: str) -> ApiKey | None:
        """The key ``token`` was found to be within the last ``ttl`` seconds, else None."""
        if not self.ttl:
            return None
        held = self._keys.get(_digest(token))
        if held is None or held[0] <= self._clock():
            return None
        return held[1]

    def put(self, token: str, key: ApiKey) -> None:
        if not self.ttl:
            return
        with self._lock:
            if len(self._keys) >= MAX_KEYS:
                self._keys.clear()
            self._keys[_digest(token)] = (self._clock() + self.ttl, key)


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
