"""``routelearn bench ingest``: end-to-end ingestion throughput, latency and worker memory,
against a seed-style baseline measured in the same run.

End-to-end means from the first publish (through EventPublisher, one message per batch) to the
moment the last event is counted in ``model_routing_metrics``. Latency is publish-to-visible:
a poller reads the number of counted events every few ms, and event k (in publish order) is
taken as visible at the first poll that counts at least k events. With several worker processes
the order is only approximately FIFO, so this is an estimate. It is measured twice: while the
publisher saturates the workers (so it includes the queue backlog), and at a paced rate below
capacity (what a producer sees in normal operation, the publisher's linger included).
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg

from routelearn import harness
from routelearn.benchmarks.naive_app import NAIVE_QUEUE, NAIVE_TASK, SEED_DDL
from routelearn.constants import INGEST_QUEUE
from routelearn.instance.publisher import EventPublisher
from routelearn.service.app import producer_app
from routelearn.settings import Settings
from routelearn.store.engine import libpq_dsn

MODELS = [f"model-{i:02d}" for i in range(20)]
COMPLEXITIES = ["simple", "medium", "complex"]


@dataclass(frozen=True)
class RunResult:
    events: int
    seconds: float
    events_per_s: float
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    worker_peak_rss_mb: float | None = None  # largest single worker process
    worker_tree_rss_mb: float | None = None  # a worker's main process and its pool, summed
    paced_rate: float | None = None  # events/s of the latency phase
    paced_events: int | None = None
    paced_latency_p50_ms: float | None = None
    paced_latency_p99_ms: float | None = None


def synthetic_events(n: int, seed: int = 1, run: int = 1000) -> list[dict[str, Any]]:
    """n events: decisions as a ``routed`` event followed by its outcome, realistic fields.

    The events come from 50 instances, ``run`` consecutive events per instance: each instance's
    EventPublisher batches its own events, so a message holds one instance's events (``run`` =
    the batch size). ``run=2`` interleaves the instances event by event instead, as no fleet
    sends them; each batch then touches many more hourly rollup rows (one per instance, model
    and complexity), which README reports as well.
    """
    rng = random.Random(seed)
    events: list[dict[str, Any]] = []
    now = datetime.now(UTC).isoformat()
    while len(events) < n:
        decision_id = str(uuid.UUID(int=rng.getrandbits(128)))
        model, complexity = rng.choice(MODELS), rng.choice(COMPLEXITIES)
        base = {
            "timestamp": now,
            "instance_id": f"instance-{(len(events) // run) % 50}",
            "decision_id": decision_id,
        }
        decision = {
            "complexity": complexity,
            "selected_model": model,
            "selected_provider": "provider",
            "complexity_score": 3.5,
            "capabilities_required": ["function_calling"],
            "prefer": "speed",
            "user_model_request": None,
        }
        events.append(
            {
                **base,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "routing_decision": {**decision, "outcome": "routed", "response_time_ms": None},
            }
        )
        events.append(
            {
                **base,
                "event_id": str(uuid.UUID(int=rng.getrandbits(128))),
                "routing_decision": {
                    **decision,
                    "outcome": "success" if rng.random() < 0.9 else "failure",
                    "response_time_ms": rng.lognormvariate(6.5, 0.6),
                },
            }
        )
    return events[:n]


class CountPoller:
    """Polls a counting query every ``interval`` s on its own connection; keeps the timeline."""

    def __init__(self, dsn: str, query: str, interval: float = 0.005) -> None:
        self.timeline: list[tuple[float, int]] = []
        self._dsn, self._query, self._interval = dsn, query, interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> CountPoller:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        with psycopg.connect(self._dsn, autocommit=True) as conn:
            while not self._stop.is_set():
                row = conn.execute(self._query).fetchone()
                self.timeline.append((time.monotonic(), int(row[0]) if row else 0))
                time.sleep(self._interval)

    def latest(self) -> int:
        return self.timeline[-1][1] if self.timeline else 0

    def visible_at(self, total: int) -> list[float]:
        """For k in 1..total, the first poll time at which at least k events counted."""
        times: list[float] = []
        for t, counted in self.timeline:
            while len(times) < min(counted, total):
                times.append(t)
        return times


def _memory(procs: list[Any]) -> tuple[float, float]:
    peaks = [[harness.peak_rss_mb(pid) for pid in harness.process_tree(p.pid)] for p in procs]
    return max(max(tree) for tree in peaks), max(sum(tree) for tree in peaks)


def _publish(
    settings: Settings, events: list[dict[str, Any]], batch_size: int, rate: float | None
) -> list[float]:
    """Publish through one EventPublisher, as fast as it takes them or paced at ``rate``/s;
    returns each event's publish time."""
    times: list[float] = []
    with EventPublisher(settings, batch_size=batch_size) as publisher:
        start = time.monotonic()
        for i, event in enumerate(events):
            if rate is not None:
                ahead = start + i / rate - time.monotonic()
                if ahead > 0:
                    time.sleep(ahead)
            times.append(time.monotonic())
            publisher.publish(event, block=True)
    return times


def _percentiles(visible: list[float], published: list[float]) -> tuple[float, float]:
    latencies = sorted((v - p) * 1000 for v, p in zip(visible, published, strict=True))
    return latencies[len(latencies) // 2], latencies[max(0, int(len(latencies) * 0.99) - 1)]


def run_fast(
    settings: Settings,
    events: list[dict[str, Any]],
    paced: list[dict[str, Any]],
    paced_rate: float,
    workers: int,
    concurrency: int,
    batch_size: int,
    log_dir: Path,
) -> RunResult:
    """Saturating throughput first, then latency at ``paced_rate`` (below capacity), on the
    same workers."""
    query = (
        "SELECT coalesce(sum(usage_count + success_count + failure_count), 0) "
        "FROM model_routing_metrics"
    )
    total = len(events) + len(paced)
    with harness.workers(settings, INGEST_QUEUE, workers, concurrency, log_dir) as procs:
        harness.wait_for_workers(settings, workers)
        with CountPoller(libpq_dsn(settings.database_url), query) as poller:
            start = time.monotonic()
            published = _publish(settings, events, batch_size, None)
            harness.wait_until(lambda: poller.latest() >= len(events), 600, "every event counted")
            paced_published = _publish(settings, paced, batch_size, paced_rate)
            harness.wait_until(lambda: poller.latest() >= total, 600, "paced events counted")
        visible = poller.visible_at(total)
        peak, tree = _memory(procs)
    seconds = visible[len(events) - 1] - start
    p50, p99 = _percentiles(visible[: len(events)], published)
    paced_p50, paced_p99 = _percentiles(visible[len(events) :], paced_published)
    return RunResult(
        len(events),
        seconds,
        len(events) / seconds,
        p50,
        p99,
        peak,
        tree,
        paced_rate,
        len(paced),
        paced_p50,
        paced_p99,
    )


def run_naive(
    settings: Settings, events: list[dict[str, Any]], workers: int, concurrency: int, log_dir: Path
) -> RunResult:
    dsn = libpq_dsn(settings.database_url)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(SEED_DDL)
        for model in MODELS:
            for complexity in COMPLEXITIES:
                conn.execute(
                    "INSERT INTO naive_model_routing_metrics (model_name, "
                    "complexity_level) VALUES (%s, %s)",
                    (model, complexity),
                )
    with harness.workers(
        settings, NAIVE_QUEUE, workers, concurrency, log_dir, app="routelearn.benchmarks.naive_app"
    ) as procs:
        harness.wait_for_workers(settings, workers)
        app = producer_app(settings)
        with CountPoller(
            dsn, "SELECT sum(usage_count) FROM naive_model_routing_metrics", interval=0.02
        ) as poller:
            start = time.monotonic()
            with app.producer_or_acquire() as producer:
                for event in events:  # the seed's way: one message per event
                    app.send_task(NAIVE_TASK, args=[event], queue=NAIVE_QUEUE, producer=producer)
            harness.wait_until(
                lambda: poller.latest() >= len(events), 600, "every naive event counted"
            )
        app.close()
        seconds = poller.visible_at(len(events))[-1] - start
        peak, tree = _memory(procs)
    return RunResult(
        len(events),
        seconds,
        len(events) / seconds,
        worker_peak_rss_mb=peak,
        worker_tree_rss_mb=tree,
    )


def main(
    events: int = 200_000,
    naive_events: int = 10_000,
    workers: int = 1,
    concurrency: int = 2,
    batch_size: int = 1000,
    pg_base: str = "postgresql+psycopg://postgres@127.0.0.1:5432",
    broker_base: str = harness.DEFAULT_REDIS,
    out_dir: Path = Path("bench-results"),
    latency_rate: float = 10_000.0,
    latency_events: int = 50_000,
    instance_run: int | None = None,
) -> dict[str, Any]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    log_dir = out_dir / f"ingest-{stamp}"
    run = instance_run or batch_size
    corpus = synthetic_events(events, run=run)
    paced = synthetic_events(latency_events, seed=3, run=run)
    with harness.scratch(pg_base, broker_base) as settings:
        fast = run_fast(
            settings,
            corpus,
            paced,
            latency_rate,
            workers,
            concurrency,
            batch_size,
            log_dir / "fast",
        )
    print(f"fast path: {fast.events_per_s:,.0f} events/s; now the naive baseline", flush=True)
    with harness.scratch(pg_base, broker_base) as settings:
        naive = run_naive(
            settings,
            synthetic_events(naive_events, seed=2),
            workers,
            concurrency,
            log_dir / "naive",
        )
    report = {
        "when": stamp,
        "config": {
            "events": events,
            "instance_run": run,
            "naive_events": naive_events,
            "workers": workers,
            "concurrency": concurrency,
            "batch_size": batch_size,
            "latency_rate": latency_rate,
            "latency_events": latency_events,
        },
        "fast": asdict(fast),
        "naive": asdict(naive),
        "speedup": fast.events_per_s / naive.events_per_s,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"ingest-{stamp}.json").write_text(json.dumps(report, indent=2))
    return report


def summary(report: dict[str, Any]) -> str:
    fast, naive = report["fast"], report["naive"]
    lines = [
        f"fast path : {fast['events']:,} events in {fast['seconds']:.2f} s = "
        f"{fast['events_per_s']:,.0f} events/s end-to-end",
        f"            publish-to-visible latency while saturated (queue backlog included): "
        f"p50 {fast['latency_p50_ms']:.0f} ms, p99 {fast['latency_p99_ms']:.0f} ms",
        f"            publish-to-visible latency at {fast['paced_rate']:,.0f} events/s "
        f"({fast['paced_events']:,} events): p50 {fast['paced_latency_p50_ms']:.0f} ms, "
        f"p99 {fast['paced_latency_p99_ms']:.0f} ms",
        f"            worker peak RSS {fast['worker_peak_rss_mb']:.0f} MB per process, "
        f"{fast['worker_tree_rss_mb']:.0f} MB main + pool",
        f"naive     : {naive['events']:,} events in {naive['seconds']:.2f} s = "
        f"{naive['events_per_s']:,.0f} events/s (one message, one INSERT and one UPDATE "
        f"per event)",
        f"speed-up  : {report['speedup']:.1f}x",
    ]
    return "\n".join(lines)
