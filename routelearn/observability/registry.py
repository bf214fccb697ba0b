"""What a scrape answers: this host's processes and the collectors asked for.

With ``PROMETHEUS_MULTIPROC_DIR`` set, the processes' values come from that directory's files
(every pool process of every worker on the host, or every uvicorn worker of the API), added up
by prometheus-client's MultiProcessCollector; without it, from this process's own registry.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def multiprocess_dir() -> str | None:
    return os.environ.get(MULTIPROC_ENV) or None


class _ThisProcess(Collector):
    """This process's default registry, as one collector of another registry."""

    def collect(self) -> Iterable[Metric]:
        return REGISTRY.collect()


def scrape_registry(*collectors: Collector) -> CollectorRegistry:
    """A registry of this host's processes (see the module doc) and ``collectors``; made once,
    collected on every scrape."""
    registry = CollectorRegistry(auto_describe=False)
    path = multiprocess_dir()
    if path is not None:
        MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    else:
        registry.register(_ThisProcess())
    for collector in collectors:
        registry.register(collector)
    return registry


def empty_directory(path: str) -> None:
    """Create ``path`` empty: what a host does with its multiprocess directory before its
    processes start. A file left by a process of an earlier run would otherwise be added to
    every scrape for ever (its counts, and its live gauges, since no one marks it dead), and a
    new process given a reused pid would carry on from its predecessor's values."""
    directory = Path(path)
    if directory.is_dir():
        shutil.rmtree(directory)
    directory.mkdir(parents=True, exist_ok=True)
