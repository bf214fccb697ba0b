"""Gather the health summary: the broker's queue depths and a few small tables, judged by
routelearn.stats.health. A dependency that does not answer becomes an error in the report, never
an exception, so ``routelearn stats health`` always says what it could see."""

from __future__ import annotations

import base64
import binascii
import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kombu.connection import Connection
from kombu.exceptions import ChannelError, OperationalError
from sqlalchemy import Connection as SAConnection
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from routelearn.constants import ALL_QUEUES, ANOMALY_QUEUE, INGEST_QUEUE
from routelearn.settings import Settings, is_redis
from routelearn.stats.health import (
    AnomalyCount,
    HealthReport,
    HealthThresholds,
    LearnerRun,
    OpenAnomaly,
    PgmqDepth,
    QueueDepth,
    WorkerHealth,
    ingest_lag,
    problems,
    recent,
)
from routelearn.stats.queries import reading
from routelearn.store import pgmq

log = logging.getLogger(__name__)

MONITORED_QUEUES = (*ALL_QUEUES, ANOMALY_QUEUE)
OPEN_ANOMALIES_SHOWN = 5

# kombu ships no type hints for its constructors.
_Connection: Any = Connection

_WORKERS = """
SELECT worker, started_at, updated_at, batches, processed, errors, consecutive_errors, last_error
FROM consumer_stats WHERE updated_at > now() - interval '1 hour' ORDER BY updated_at DESC
"""
# A row whose last write was an error (consecutive_errors > 0) does not date a committed batch.
_LAST_BATCH = """
SELECT max(updated_at) FROM consumer_stats WHERE consecutive_errors = 0 AND batches > 0
"""
_ANOMALY_COUNTS = """
SELECT kind, severity, count(*) FROM anomalies WHERE closed_at IS NULL
GROUP BY 1, 2 ORDER BY severity = 'critical' DESC, 3 DESC, 1
"""
_OPEN_ANOMALIES = """
SELECT kind, subject, severity, value, threshold, message, opened_at FROM anomalies
WHERE closed_at IS NULL ORDER BY severity = 'critical' DESC, opened_at, id LIMIT %(n)s
"""
_LEARNER = """
SELECT started_at, finished_at, duration_ms, policy, rows_considered, changed
FROM learner_runs ORDER BY id DESC LIMIT 1
"""
_COUNTS = """
SELECT (SELECT count(*) FROM dead_letters),
       (SELECT count(*) FROM dead_letters WHERE received_at > now() - interval '24 hours'),
       (SELECT count(*) FROM instances WHERE active),
       (SELECT count(*) FROM instances WHERE NOT active)
"""


def _first_line(error: BaseException) -> str:
    text = str(getattr(error, "orig", None) or error).strip()
    return (text.splitlines() or [type(error).__name__])[0][:200]


def queue_depths(
    broker_url: str, queues: Sequence[str] = MONITORED_QUEUES, timeout: float = 2.0
) -> tuple[QueueDepth, ...]:
    """Messages waiting in each queue (unacknowledged deliveries not included), by a passive
    declare, which every kombu transport answers. A queue the broker does not know counts 0 (on
    Redis an empty queue is an absent key). A broker that does not answer gives every queue an
    error instead of a depth."""
    conn = _Connection(
        broker_url,
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    )
    depths = []
    try:
        channel = conn.channel()
        for queue in queues:
            try:
                depths.append(QueueDepth(queue, int(channel.queue_declare(queue, passive=True)[1])))
            except ChannelError:  # NOT_FOUND; AMQP closes the channel after it
                depths.append(QueueDepth(queue, 0))
                channel = conn.channel()
    except (OperationalError, OSError, *conn.connection_errors, *conn.channel_errors) as exc:
        error = _first_line(exc)
        done = {d.queue for d in depths}
        depths += [QueueDepth(q, None, error) for q in queues if q not in done]
    finally:
        conn.release()
    return tuple(depths)


def oldest_message_ages(
    broker_url: str,
    queues: Sequence[str],
    *,
    quorum_queues: bool = False,
    timeout: float = 2.0,
) -> dict[str, float]:
    """For each of ``queues`` (an instance's score updates, say) whose oldest waiting message
    carries timestamps: seconds since the newest ``timestamp`` in it (every update and registry
    change has one, made when the change was). A message waits at least that long, so this is a
    lower bound of its delivery lag; the sender's clock against this host's.

    Left out: an empty queue, a head message without a timestamp (a snapshot), a broker that
    does not answer (``queue_depths`` reports that), and every queue of a RabbitMQ declared
    with quorum queues (below). Read without consuming anything:

    - Redis: a kombu queue is a list, oldest message at the right end: ``LINDEX q -1`` for all
      queues in one pipelined round trip, nothing moved.
    - RabbitMQ: AMQP has no peek, so ``basic.get`` without ack, then ``basic.reject`` with
      requeue, which puts a classic queue's message back at its place (redelivered flag set;
      the subscriber ignores versions it holds). On a quorum queue a return counts toward its
      delivery limit (20 by default since RabbitMQ 4.0), so peeking on every scrape would
      end by dropping the message: those queues are not peeked.
    """
    if not queues or (quorum_queues and not is_redis(broker_url)):
        return {}
    conn = _Connection(
        broker_url,
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    )
    bodies: dict[str, bytes | str] = {}
    try:
        channel = conn.channel()
        if is_redis(broker_url):
            with channel.client.pipeline(transaction=False) as pipe:
                for queue in queues:
                    pipe.lindex(queue, -1)
                heads = pipe.execute()
            for queue, raw in zip(queues, heads, strict=True):
                body = _kombu_redis_body(raw) if raw is not None else None
                if body is not None:
                    bodies[queue] = body
        else:
            for queue in queues:
                try:
                    message = channel.basic_get(queue, no_ack=False)
                except ChannelError:  # NOT_FOUND; AMQP closes the channel after it
                    channel = conn.channel()
                    continue
                if message is not None:
                    bodies[queue] = message.body
                    channel.basic_reject(message.delivery_tag, requeue=True)
    except (OperationalError, OSError, *conn.connection_errors, *conn.channel_errors):
        pass  # what was read stands; queue_depths names the broker's error
    finally:
        conn.release()
    now = time.time()
    ages = {}
    for queue, head in bodies.items():
        newest = _newest_timestamp(head)
        if newest is not None:
            ages[queue] = max(0.0, now - newest)
    return ages


def _kombu_redis_body(raw: bytes) -> bytes | None:
    """The message body inside kombu's Redis envelope (JSON; the body base64-encoded)."""
    try:
        envelope = json.loads(raw)
        body = envelope["body"]
        if envelope.get("properties", {}).get("body_encoding") == "base64":
            return base64.b64decode(body)
        return body.encode() if isinstance(body, str) else None
    except (ValueError, TypeError, KeyError, AttributeError, binascii.Error):
        return None


def _newest_timestamp(body: bytes | str) -> float | None:
    """The newest ``timestamp`` (ISO 8601) among a fan-out round's ``updates`` and ``models``
    (routelearn.messaging.fanout.round_body), as Unix seconds; None without any."""
    try:
        data = json.loads(body)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict):
        return None
    newest = None
    items = [
        x for key in ("updates", "models") if isinstance(data.get(key), list) for x in data[key]
    ]
    for item in items:
        stamp = item.get("timestamp") if isinstance(item, dict) else None
        try:
            parsed = datetime.fromisoformat(stamp) if isinstance(stamp, str) else None
        except ValueError:
            continue
        if parsed is not None:
            parsed = parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
            newest = max(newest or 0.0, parsed.timestamp())
    return newest


@dataclass(frozen=True, slots=True)
class _Tables:
    now: datetime
    workers: tuple[WorkerHealth, ...] = ()
    last_batch_at: datetime | None = None
    anomaly_counts: tuple[AnomalyCount, ...] = ()
    open_anomalies: tuple[OpenAnomaly, ...] = ()
    learner: LearnerRun | None = None
    dead_letters: int = 0
    dead_letters_24h: int = 0
    instances_active: int = 0
    instances_retired: int = 0
    pgmq: tuple[PgmqDepth, ...] = ()


def _pgmq_depths(conn: SAConnection) -> tuple[PgmqDepth, ...]:
    """The bridge's queues; none where pgmq is not installed. In a savepoint: a pgmq too old
    for its metrics' columns costs these figures (logged), not the rest of the report."""
    try:
        with conn.begin_nested():
            if pgmq.installed(conn) is None:
                return ()
            return tuple(
                PgmqDepth(m.queue, m.length, m.visible, m.oldest_age_seconds)
                for m in pgmq.metrics(conn)
            )
    except SQLAlchemyError as exc:
        log.warning("pgmq queues not read: %s", _first_line(exc))
        return ()


def _read_tables(conn: SAConnection) -> _Tables:
    open_rows = conn.exec_driver_sql(_OPEN_ANOMALIES, {"n": OPEN_ANOMALIES_SHOWN}).fetchall()
    learner = conn.exec_driver_sql(_LEARNER).fetchone()
    dead, dead_24h, active, retired = conn.exec_driver_sql(_COUNTS).one()
    return _Tables(
        now=conn.exec_driver_sql("SELECT now()").scalar_one(),
        workers=tuple(WorkerHealth(*row) for row in conn.exec_driver_sql(_WORKERS)),
        last_batch_at=conn.exec_driver_sql(_LAST_BATCH).scalar_one(),
        anomaly_counts=tuple(AnomalyCount(*row) for row in conn.exec_driver_sql(_ANOMALY_COUNTS)),
        open_anomalies=tuple(
            OpenAnomaly(k, _subject_label(s), sev, v, t, msg, at)
            for k, s, sev, v, t, msg, at in open_rows
        ),
        learner=LearnerRun(*learner) if learner else None,
        dead_letters=int(dead),
        dead_letters_24h=int(dead_24h),
        instances_active=int(active),
        instances_retired=int(retired),
        pgmq=_pgmq_depths(conn),
    )


def _subject_label(subject: object) -> str:
    """An anomaly's subject (JSONB, an array: [model, complexity] or [instance]) as text."""
    if isinstance(subject, list):
        return "/".join(str(part) for part in subject)
    return str(subject)


def health_report(
    engine: Engine, settings: Settings, thresholds: HealthThresholds | None = None
) -> HealthReport:
    """The summary; ``thresholds`` default to HealthThresholds with the configured learner
    interval."""
    thresholds = thresholds or HealthThresholds(learner_interval_s=settings.learner_interval)
    queues = queue_depths(settings.broker_url)
    backlog = next((q.messages for q in queues if q.queue == INGEST_QUEUE), None)
    database_error = None
    try:
        with reading(engine) as conn:
            tables = _read_tables(conn)
    except SQLAlchemyError as exc:
        database_error = _first_line(exc)
        tables = _Tables(now=datetime.now(UTC))
    now = tables.now
    lag = ingest_lag(backlog, tables.workers, tables.last_batch_at, now, thresholds)
    return HealthReport(
        checked_at=now,
        database_error=database_error,
        workers=tables.workers,
        recent_workers=len(recent(tables.workers, now, thresholds)),
        queues=queues,
        lag=lag,
        anomaly_counts=tables.anomaly_counts,
        open_anomalies=tables.open_anomalies,
        learner=tables.learner,
        dead_letters=tables.dead_letters,
        dead_letters_24h=tables.dead_letters_24h,
        instances_active=tables.instances_active,
        instances_retired=tables.instances_retired,
        problems=problems(
            now=now,
            database_error=database_error,
            workers=tables.workers,
            queues=queues,
            lag=lag,
            learner=tables.learner,
            thresholds=thresholds,
            pgmq=tables.pgmq,
        ),
        pgmq=tables.pgmq,
    )
