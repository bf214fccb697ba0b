"""The health summary and the rules that call it unhealthy: pure, ``now`` is a parameter.

docs/stats.md defines each figure. In short:

- a worker is *recent* when its consumer_stats row changed within ``worker_silence_s``; rows
  change only when a batch commits or fails, so an idle fleet's workers are not recent, and that
  alone is not a problem;
- ingestion lag is two figures: the age of the last committed batch, and the time the current
  backlog of ``routelearn.ingest`` would take to drain at the recent workers' average rate
  (batches per second over each process's life: a worker idle most of its life shows a low rate,
  so the estimate errs long).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from routelearn.constants import INGEST_QUEUE
from routelearn.domain.pgmq_queues import DECISIONS_QUEUE


@dataclass(frozen=True, slots=True)
class HealthThresholds:
    worker_silence_s: float = 300.0
    learner_interval_s: float = 60.0
    learner_missed_intervals: int = 3
    max_drain_s: float = 600.0
    # A seed instance's decision waiting longer in pgmq's model_routing_decisions is stuck:
    # the bridge drains it every second while it runs (the PgmqDecisionsWaiting alert's too).
    pgmq_stuck_s: float = 300.0

    @property
    def learner_stale_s(self) -> float:
        return self.learner_interval_s * self.learner_missed_intervals


@dataclass(frozen=True, slots=True)
class WorkerHealth:
    worker: str
    started_at: datetime
    updated_at: datetime
    batches: int
    processed: int
    errors: int
    consecutive_errors: int
    last_error: str | None


@dataclass(frozen=True, slots=True)
class QueueDepth:
    queue: str
    messages: int | None  # None: the broker did not answer
    error: str | None = None


@dataclass(frozen=True, slots=True)
class PgmqDepth:
    """A pgmq queue of the bridge (docs/pgmq.md): messages held, readable now, the oldest's
    age (None: empty)."""

    queue: str
    messages: int
    visible: int
    oldest_age_s: float | None


@dataclass(frozen=True, slots=True)
class AnomalyCount:
    kind: str
    severity: str
    count: int


@dataclass(frozen=True, slots=True)
class OpenAnomaly:
    kind: str
    subject: str
    severity: str
    value: float
    threshold: float
    message: str
    opened_at: datetime


@dataclass(frozen=True, slots=True)
class LearnerRun:
    started_at: datetime
    finished_at: datetime
    duration_ms: float
    policy: str
    rows_considered: int
    changed: int


@dataclass(frozen=True, slots=True)
class IngestLag:
    backlog_messages: int | None  # messages waiting in routelearn.ingest; None: broker down
    drain_rate: float | None  # batches/s of the recent workers (None: no recent worker)
    drain_seconds: float | None  # backlog / drain_rate (0 with no backlog)
    last_batch_age_s: float | None  # since the newest committed batch of any worker


@dataclass(frozen=True, slots=True)
class HealthReport:
    checked_at: datetime
    database_error: str | None
    workers: tuple[WorkerHealth, ...]  # seen within the last hour, newest first
    recent_workers: int
    queues: tuple[QueueDepth, ...]
    lag: IngestLag
    anomaly_counts: tuple[AnomalyCount, ...]
    open_anomalies: tuple[OpenAnomaly, ...]  # the most severe, oldest first, a few
    learner: LearnerRun | None
    dead_letters: int
    dead_letters_24h: int
    instances_active: int
    instances_retired: int
    problems: tuple[str, ...]
    pgmq: tuple[PgmqDepth, ...] = ()  # empty: pgmq not installed

    @property
    def healthy(self) -> bool:
        return not self.problems


def age_s(now: datetime, then: datetime) -> float:
    return max(0.0, (now - then).total_seconds())


def recent(
    workers: Sequence[WorkerHealth], now: datetime, thresholds: HealthThresholds
) -> list[WorkerHealth]:
    return [w for w in workers if age_s(now, w.updated_at) <= thresholds.worker_silence_s]


def ingest_lag(
    backlog: int | None,
    workers: Sequence[WorkerHealth],
    last_batch_at: datetime | None,
    now: datetime,
    thresholds: HealthThresholds,
) -> IngestLag:
    """See the module doc; ``last_batch_at`` is the newest committed batch of any worker."""
    live = recent(workers, now, thresholds)
    # Each process's life average; max(1 s) so a worker one batch old does not read as infinite.
    rate = sum(w.batches / max(1.0, age_s(w.updated_at, w.started_at)) for w in live) or None
    if backlog is None:
        drain = None
    elif backlog == 0:
        drain = 0.0
    else:
        drain = backlog / rate if rate else None
    last = age_s(now, last_batch_at) if last_batch_at is not None else None
    return IngestLag(backlog, rate, drain, last)


def problems(
    *,
    now: datetime,
    database_error: str | None,
    workers: Sequence[WorkerHealth],
    queues: Sequence[QueueDepth],
    lag: IngestLag,
    learner: LearnerRun | None,
    thresholds: HealthThresholds,
    pgmq: Sequence[PgmqDepth] = (),
) -> tuple[str, ...]:
    """Why the service is unhealthy; empty when it is healthy."""
    found: list[str] = []
    if database_error is not None:
        found.append(f"database unreachable: {database_error}")
    found += [f"broker unreachable ({q.queue}): {q.error}" for q in queues if q.error][:1]
    if database_error is not None:
        return tuple(found)  # nothing below can be judged without the database
    live = recent(workers, now, thresholds)
    backlog = lag.backlog_messages or 0
    if backlog and not live:
        found.append(
            f"{INGEST_QUEUE} holds {backlog} messages but no ingest worker reported in the last "
            f"{thresholds.worker_silence_s:.0f} s"
        )
    if live and all(w.consecutive_errors > 0 for w in live):
        last = (live[0].last_error or "").splitlines()[0][:120] if live[0].last_error else "?"
        found.append(f"every recent ingest worker is failing; last error: {last}")
    if lag.drain_seconds is not None and lag.drain_seconds > thresholds.max_drain_s:
        found.append(
            f"ingestion lag: {backlog} messages waiting, about {lag.drain_seconds:.0f} s to "
            f"drain (limit {thresholds.max_drain_s:.0f} s)"
        )
    found += [
        f"pgmq {q.queue}: {q.messages} decisions waiting, the oldest {q.oldest_age_s:.0f} s "
        "(is the pgmq bridge on, and a worker consuming routelearn.ingest?)"
        for q in pgmq
        if q.queue == DECISIONS_QUEUE
        and q.oldest_age_s is not None
        and q.oldest_age_s > thresholds.pgmq_stuck_s
    ]
    if learner is None:
        found.append("the learner has never run")
    elif age_s(now, learner.finished_at) > thresholds.learner_stale_s:
        found.append(
            f"last learner run {age_s(now, learner.finished_at):.0f} s ago, more than "
            f"{thresholds.learner_missed_intervals} intervals of "
            f"{thresholds.learner_interval_s:.0f} s"
        )
    return tuple(found)
