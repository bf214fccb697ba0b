"""The workers' metrics, declared once, and the calls the service layer records them with.

Prefork: with ``PROMETHEUS_MULTIPROC_DIR`` set before the worker starts, prometheus-client
keeps every process's values in files of that directory, named after the process id, and
``routelearn metrics serve`` adds them up (docs/metrics.md: the directory is emptied when the
host's processes start). Without it every value lives in its process (a solo worker, tests).

The metrics below are registered in ``WORKER_REGISTRY``, not the default registry: Flower and
beat import the task modules too, and Flower serves the default registry on its own /metrics,
where a worker's figures at zero (a learner that never ticked) would read as a fault. A worker's
one exposition is the multiprocess directory. For the same reason the events counters (shared
with the API, in the default registry) get their label values only in a worker
(``initialize``, at Celery's ``worker_init``).

Buckets are chosen for what each measures on this service: batches of 1 to 10,000 events
(``ROUTELEARN_PUBLISH_BATCH_SIZE`` and ``ROUTELEARN_API_MAX_EVENTS`` at most), ingest tasks
within their 25 s hard limit, a lag from milliseconds to an hour of backlog, learner ticks and
fan-out rounds within their 40 s limit.
"""

from __future__ import annotations

import math
import time
from enum import StrEnum

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, multiprocess

from routelearn.messaging.task_message import SOURCE_BROKER, SOURCE_HTTP
from routelearn.observability.events import (
    EVENTS_ACCEPTED,
    EVENTS_DUPLICATE,
    EVENTS_REJECTED,
    source_label,
)
from routelearn.observability.registry import multiprocess_dir

__all__ = [
    "BATCH_DURATION",
    "BATCH_SIZE",
    "DEAD_LETTERS",
    "EVENTS_ACCEPTED",
    "EVENTS_DUPLICATE",
    "EVENTS_REJECTED",
    "FANOUT_DURATION",
    "INGEST_LAG",
    "LEARNER_LAST_SUCCESS",
    "LEARNER_TICK",
    "SCORE_CHANGES",
    "WORKER_REGISTRY",
    "DeadLetterReason",
    "FanOutKind",
    "initialize",
    "observe_batch",
    "observe_fanout",
    "observe_learner_tick",
    "process_exited",
]


class DeadLetterReason(StrEnum):
    INVALID = "invalid"  # the event failed validation (the dead letter names each field)
    INTERNAL_ERROR = "internal_error"  # valid, but the database refused it (batch halving)


class FanOutKind(StrEnum):
    SCORES = "scores"  # routelearn.fan_out_scores: one round of score updates
    REGISTRY = "registry"  # routelearn.fan_out_registry: the registry's outbox


WORKER_REGISTRY = CollectorRegistry()

BATCH_SIZE = Histogram(
    "routelearn_ingest_batch_size_events",
    "Events per ingested batch (one task message), valid or not.",
    buckets=(1, 10, 50, 100, 250, 500, 1000, 2500, 5000, 10000),
    registry=WORKER_REGISTRY,
)
BATCH_DURATION = Histogram(
    "routelearn_ingest_batch_duration_seconds",
    "Time to ingest one batch: validation, the transaction, database back-off included.",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25),
    registry=WORKER_REGISTRY,
)
INGEST_LAG = Histogram(
    "routelearn_ingest_lag_seconds",
    "From the message's send (its routelearn_sent_at header, the sender's clock) to the commit "
    "of its batch; messages without the header are not observed.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600),
    registry=WORKER_REGISTRY,
)
DEAD_LETTERS = Counter(
    "routelearn_dead_letters",
    "Events written to dead_letters by the ingest workers, by reason (invalid | "
    "internal_error); a redelivered one counts again.",
    ["reason"],
    registry=WORKER_REGISTRY,
)
LEARNER_TICK = Histogram(
    "routelearn_learner_tick_duration_seconds",
    "Duration of a learner tick that ran (a tick skipped for another's lock is not observed).",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40),
    registry=WORKER_REGISTRY,
)
LEARNER_LAST_SUCCESS = Gauge(
    "routelearn_learner_last_success_timestamp_seconds",
    "Unix time the last learner tick of this host finished (0: none since the host started).",
    # The newest of every process's, dead ones included: a replaced pool process still ticked.
    multiprocess_mode="max",
    registry=WORKER_REGISTRY,
)
SCORE_CHANGES = Counter(
    "routelearn_score_changes",
    "Scores the learner changed (each goes out to every instance in a fan-out round).",
    registry=WORKER_REGISTRY,
)
FANOUT_DURATION = Histogram(
    "routelearn_fanout_duration_seconds",
    "Time to send one fan-out to every active instance's queue, by kind (scores | registry); "
    "a run with nothing to send is not observed.",
    ["kind"],
    buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=WORKER_REGISTRY,
)


def initialize() -> None:
    """Every label value a worker can record, at 0 from its start: a rate() over a series that
    appears only with its first event misses that event. Called in a worker (see module doc)."""
    for source in (SOURCE_BROKER, SOURCE_HTTP):
        for counter in (EVENTS_ACCEPTED, EVENTS_REJECTED, EVENTS_DUPLICATE):
            counter.labels(source)
    for reason in DeadLetterReason:
        DEAD_LETTERS.labels(reason.value)
    for kind in FanOutKind:
        FANOUT_DURATION.labels(kind.value)


def _sent_at(value: object) -> float | None:
    """The send time from a message header: a finite number, else None (absent or garbage)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return None
    return float(value)


def observe_batch(
    *,
    source: object,
    received: int,
    accepted: int,
    duplicates: int,
    invalid: int,
    internal_errors: int,
    seconds: float,
    sent_at: object = None,
) -> None:
    """One committed batch: ``received`` events, of which ``accepted`` new, ``duplicates``
    stored before, ``invalid`` refused by validation and ``internal_errors`` refused by the
    database (both dead-lettered). ``source`` and ``sent_at`` come from the message's headers,
    as sent (checked here)."""
    label = source_label(source)
    EVENTS_ACCEPTED.labels(label).inc(accepted)
    EVENTS_DUPLICATE.labels(label).inc(duplicates)
    EVENTS_REJECTED.labels(label).inc(invalid + internal_errors)
    if invalid:
        DEAD_LETTERS.labels(DeadLetterReason.INVALID.value).inc(invalid)
    if internal_errors:
        DEAD_LETTERS.labels(DeadLetterReason.INTERNAL_ERROR.value).inc(internal_errors)
    BATCH_SIZE.observe(received)
    BATCH_DURATION.observe(seconds)
    sent = _sent_at(sent_at)
    if sent is not None:
        # Clocks of two hosts: a sender slightly ahead must not make a negative lag.
        INGEST_LAG.observe(max(0.0, time.time() - sent))


def observe_learner_tick(seconds: float, changes: int) -> None:
    """A learner tick that ran and committed."""
    LEARNER_TICK.observe(seconds)
    SCORE_CHANGES.inc(changes)
    LEARNER_LAST_SUCCESS.set(time.time())


def observe_fanout(kind: FanOutKind, seconds: float) -> None:
    FANOUT_DURATION.labels(kind.value).observe(seconds)


def process_exited(pid: int) -> None:
    """A pool process ended (Celery's ``worker_process_shutdown``): drop its files of live
    gauges, whose value must not outlive it. Its counters and histograms stay: what a dead
    process counted still happened."""
    path = multiprocess_dir()
    if path:
        multiprocess.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
