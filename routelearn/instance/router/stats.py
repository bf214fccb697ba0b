"""Counters of what a router did since it was made; thread-safe."""

from __future__ import annotations

import threading
from dataclasses import dataclass, fields


@dataclass(frozen=True, slots=True)
class RouterStats:
    decisions: int = 0  # decisions published (routed events), attempts of execute included
    exploratory: int = 0  # of which explored an uncertain or stale model
    splits: int = 0  # of which went to a split's canary
    user_requests: int = 0  # of which honoured an explicit user request
    fallbacks: int = 0  # of which were a later attempt of execute
    successes: int = 0  # outcomes reported
    failures: int = 0
    cache_hits: int = 0  # execute calls answered from the cache (no decision published)
    events_dropped: int = 0  # events the publisher refused or failed to take


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts = dict.fromkeys((f.name for f in fields(RouterStats)), 0)

    def add(self, *names: str) -> None:
        with self._lock:
            counts = self._counts
            for name in names:
                counts[name] += 1

    def snapshot(self) -> RouterStats:
        with self._lock:
            return RouterStats(**self._counts)
