"""A response cache: SHA-256 keys over (model, parameters, prompt), a TTL, an LRU size bound.

Only successful outputs are stored. The key hashes the model name and the parameters as
canonical JSON (sorted keys, no spaces, so ``{"a": 1, "b": 2}`` and ``{"b": 2, "a": 1}`` are one
key), then a newline, then the prompt: JSON text never holds a raw newline, so no two different
(model, parameters, prompt) triples hash the same bytes.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

V = TypeVar("V")


def cache_key(model: str, params: Mapping[str, Any], prompt: str) -> str:
    """Hex SHA-256 of the model, the parameters and the prompt; the parameters must be JSON."""
    try:
        head = json.dumps([model, params], sort_keys=True, separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"params must be JSON-serialisable to be part of a cache key: {exc}"
        ) from None
    digest = hashlib.sha256(head.encode())
    digest.update(b"\n")
    digest.update(prompt.encode("utf-8", "surrogatepass"))
    return digest.hexdigest()


@dataclass(frozen=True, slots=True)
class CacheStats:
    hits: int
    misses: int
    expired: int  # misses because the entry had outlived its TTL
    evicted: int  # entries dropped to stay within max_entries
    size: int


class ResponseCache(Generic[V]):
    """Thread-safe TTL + LRU cache from ``cache_key`` strings to values."""

    def __init__(
        self,
        max_entries: int = 1024,
        ttl_s: float = 300.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if max_entries < 1:
            raise ValueError(f"max_entries must be >= 1, got {max_entries}")
        if ttl_s <= 0:
            raise ValueError(f"ttl_s must be > 0, got {ttl_s}")
        self.max_entries = max_entries
        self.ttl_s = ttl_s
        self._clock = clock
        self._lock = threading.Lock()
        self._items: OrderedDict[str, tuple[float, V]] = OrderedDict()  # oldest use first
        self._hits = self._misses = self._expired = self._evicted = 0

    def get(self, key: str) -> V | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                self._misses += 1
                return None
            expires_at, value = item
            if self._clock() >= expires_at:
                del self._items[key]
                self._misses += 1
                self._expired += 1
                return None
            self._items.move_to_end(key)
            self._hits += 1
            return value

    def put(self, key: str, value: V) -> None:
        with self._lock:
            self._items[key] = (self._clock() + self.ttl_s, value)
            self._items.move_to_end(key)
            while len(self._items) > self.max_entries:
                self._items.popitem(last=False)
                self._evicted += 1

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)

    def stats(self) -> CacheStats:
        with self._lock:
            return CacheStats(
                self._hits, self._misses, self._expired, self._evicted, len(self._items)
            )
