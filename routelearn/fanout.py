"""Fan-out: one round of score updates to every instance's own durable queue.

Why one queue per instance, each with its own direct exchange: a Redis "fanout" exchange is
PUB/SUB, so an instance that is offline misses what was sent; and binding many queues to one
shared routing key makes kombu's Redis transport copy a restored (unacked) message into every
queue bound to it. A queue per instance (``model_score_updates.<instance_id>``) keeps what an
offline instance misses until it returns.

Why it is fast enough for a fleet (one round of 100 updates to 1,000 queues well under 1 s):

- one message per instance per round (``{"updates": [...]}``), serialised once for all of them;
- one kombu connection and producer reused across rounds, queues declared once per connection;
- published through ``producer.batch()``, which buffers the Redis LPUSHes in pipelines, and to
  the anonymous exchange with the queue's name as routing key: with a named exchange, kombu's
  Redis transport reads the exchange's bindings (one SMEMBERS round trip) for every message.
  Delivery and redelivery are the same: the anonymous exchange routes to the queue named by
  the routing key, which is also where kombu restores an unacked message.

The bound: after publishing, every queue longer than ``max_queue_length`` loses its OLDEST
messages (one pipelined LLEN + LTRIM per queue). kombu's Redis transport LPUSHes new messages and
consumers (B)RPOP, so the oldest are at the right end and ``LTRIM key 0 max-1`` keeps the newest.
Dropping the oldest loses only superseded history: every update carries a version, and a
subscriber fetches a full snapshot at start-up, so an instance that was away long enough to hit
the bound is still current once it returns. The bound is in rounds (messages), not bytes: with
the default 10,000 and one round a minute, a queue keeps about a week of rounds; a round of 100
updates is ~31 kB in Redis, so size it to the broker's memory for the fleet's absent instances.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import uuid
import weakref
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from kombu.connection import Connection
from kombu.exceptions import BatchPublishError, OperationalError
from kombu.messaging import Producer

from routelearn.broker import connection, durable_queue
from routelearn.domain.score_update import ScoreUpdate
from routelearn.errors import TransientError
from routelearn.settings import Settings

log = logging.getLogger(__name__)

# kombu ships no type hints for its constructors and methods, and strict mypy refuses untyped
# calls in this module: kombu objects are used through Any here.
_Producer: Any = Producer

QUEUE_PREFIX = "model_score_updates."
DEFAULT_MAX_QUEUE_LENGTH = 10_000
# Messages per Redis pipeline. Measured here for 100 updates to 1,000 queues: 100 per pipeline
# 0.125 s, 500 0.141 s, 1,000 (one round trip) 0.151 s: the round trips saved by a bigger
# pipeline cost less than buffering it, and a chunk bounds the buffer (~31 kB per message).
_PIPELINE_SIZE = 100
# A round whose pipeline failed is sent again once on a fresh connection: delivery of the
# failed pipeline is uncertain, and a duplicate is harmless (the subscriber ignores a version it
# already holds), while a lost round would leave instances stale until the next change.
_ROUND_ATTEMPTS = 2
_RETRY_POLICY = {"max_retries": 3, "interval_start": 0.0, "interval_step": 0.2, "interval_max": 1}


def queue_name(instance_id: str) -> str:
    return QUEUE_PREFIX + instance_id


def score_update_queue(instance_id: str) -> Any:
    """The instance's durable queue, with an exchange and binding of its own (see module doc);
    the subscriber declares it the same way."""
    return durable_queue(queue_name(instance_id))


def round_body(updates: Iterable[ScoreUpdate]) -> dict[str, Any]:
    """The message one instance receives for one round."""
    return {"updates": [update.to_message() for update in updates]}


@dataclass(frozen=True)
class FanOutReport:
    instances: int  # queues published to
    messages: int  # messages sent (one per instance; 0 when there was nothing to send)
    updates: int  # updates in the round
    trimmed_queues: int  # queues that were over max_queue_length and lost their oldest messages
    declared_queues: int  # queues declared by this call (first time seen on this connection)
    seconds: float


class FanOut:
    """A reusable publisher of rounds over one broker connection; thread-safe (one round at a
    time). Remembers which queues it declared, so a steady fleet costs no declarations."""

    def __init__(self, connection: Connection) -> None:
        self._connection: Any = connection
        self._lock = threading.Lock()
        self._declared: set[str] = set()
        self._producer: Any = None

    @classmethod
    def from_settings(cls, settings: Settings) -> FanOut:
        return cls(connection(settings))

    def close(self) -> None:
        with self._lock:
            self._producer = None
            self._declared.clear()
            self._connection.release()

    def publish(
        self,
        instance_ids: Iterable[str],
        updates: Sequence[ScoreUpdate],
        max_queue_length: int = DEFAULT_MAX_QUEUE_LENGTH,
    ) -> FanOutReport:
        if max_queue_length < 1:
            raise ValueError(f"max_queue_length must be at least 1, got {max_queue_length}")
        started = time.perf_counter()
        # dict.fromkeys: an instance listed twice still gets one message.
        names = list(dict.fromkeys(queue_name(i) for i in instance_ids))
        if not names or not updates:
            return FanOutReport(len(names), 0, len(updates), 0, 0, time.perf_counter() - started)
        # Serialised once for the whole fleet; kombu sends a str body with a content type as is.
        body = json.dumps(round_body(updates), separators=(",", ":"))
        declared, trimmed = self._deliver(names, body, max_queue_length, "score fan-out")
        seconds = time.perf_counter() - started
        return FanOutReport(len(names), len(names), len(updates), trimmed, declared, seconds)

    def send_snapshot(
        self,
        instance_id: str,
        snapshot: dict[str, Any],
        max_queue_length: int = DEFAULT_MAX_QUEUE_LENGTH,
    ) -> None:
        """Put a full score snapshot (``ModelCatalog.apply_snapshot``'s input) on one instance's
        queue, behind the rounds already there: the subscriber applies only what is newer."""
        body = json.dumps({"snapshot": snapshot}, separators=(",", ":"))
        self._deliver([queue_name(instance_id)], body, max_queue_length, "score snapshot")

    def _deliver(
        self, names: list[str], body: str, max_queue_length: int, what: str
    ) -> tuple[int, int]:
        """Declare, send and trim; once more on a fresh connection if the broker failed.
        Returns (queues declared, queues trimmed)."""
        with self._lock:
            for attempt in range(1, _ROUND_ATTEMPTS + 1):
                try:
                    declared = self._declare(names)
                    self._send(names, body)
                    return declared, self._trim(names, max_queue_length)
                except (
                    # BatchPublishError: a pipeline failed part-way, delivery uncertain.
                    BatchPublishError,
                    OperationalError,
                    *self._connection.connection_errors,
                ) as exc:
                    self._reset()
                    if attempt == _ROUND_ATTEMPTS:
                        raise TransientError(f"{what} failed: {exc}") from exc
                    log.warning("%s failed (%s); sending it again", what, exc)
        raise AssertionError("unreachable")

    # -- steps ---------------------------------------------------------------------------

    def _producer_for(self) -> Any:
        if self._producer is None:
            self._connection.ensure_connection(**_RETRY_POLICY)
            self._producer = _Producer(self._connection.default_channel, serializer="json")
        return self._producer

    def _declare(self, names: list[str]) -> int:
        """Declare the queues this connection has not declared yet (a few Redis commands
        each: paid once per queue, not once per round)."""
        new = [name for name in names if name not in self._declared]
        channel = self._producer_for().channel
        for name in new:
            score_update_queue(name.removeprefix(QUEUE_PREFIX))(channel).declare()
            self._declared.add(name)
        return len(new)

    def _send(self, names: list[str], body: str) -> None:
        producer = self._producer_for()
        for start in range(0, len(names), _PIPELINE_SIZE):
            chunk = names[start : start + _PIPELINE_SIZE]
            # One pipeline per chunk; the batch is flushed (one round trip) when the block ends.
            with producer.batch(max_size=len(chunk)):
                for name in chunk:
                    producer.publish(
                        body,
                        exchange="",
                        routing_key=name,
                        content_type="application/json",
                        content_encoding="utf-8",
                        delivery_mode=2,  # persistent: what the durable queue is for
                    )

    def _trim(self, names: list[str], max_queue_length: int) -> int:
        """Drop the oldest messages of every queue over the bound; return how many queues."""
        client = self._producer_for().channel.client
        with client.pipeline(transaction=False) as pipe:
            for name in names:
                # kombu's Redis transport: a priority-0 queue is the Redis list named after it,
                # newest at the left (LPUSH), oldest at the right (consumers RPOP).
                pipe.llen(name)
                pipe.ltrim(name, 0, max_queue_length - 1)
            results = pipe.execute()
        lengths = results[0::2]
        trimmed = [n for n, length in zip(names, lengths, strict=True) if length > max_queue_length]
        if trimmed:
            log.warning(
                "%d score update queues were over %d messages and lost their oldest "
                "(instances away for long; they resync from a snapshot at start-up): %s",
                len(trimmed),
                max_queue_length,
                ", ".join(trimmed[:10]) + (" ..." if len(trimmed) > 10 else ""),
            )
        return len(trimmed)

    def _reset(self) -> None:
        # After a connection error, drop the channel; queues are declared again on the new
        # one (declaring is idempotent), in case the broker lost them.
        self._producer = None
        self._declared.clear()
        try:
            self._connection.close()
        except Exception:  # the connection is broken already
            log.debug("closing the broken fan-out connection failed", exc_info=True)


# One FanOut per Connection or per broker URL, so that callers passing the same connection or
# the same settings round after round reuse the connection and the declared-queue set.
_by_connection: weakref.WeakKeyDictionary[Connection, FanOut] = weakref.WeakKeyDictionary()
_by_url: dict[str, FanOut] = {}
_cache_lock = threading.Lock()


def _fanout_for(connection_or_settings: Connection | Settings) -> FanOut:
    with _cache_lock:
        if isinstance(connection_or_settings, Settings):
            url = connection_or_settings.broker_url
            if url not in _by_url:
                _by_url[url] = FanOut.from_settings(connection_or_settings)
            return _by_url[url]
        fanout = _by_connection.get(connection_or_settings)
        if fanout is None:
            fanout = _by_connection[connection_or_settings] = FanOut(connection_or_settings)
        return fanout


def fan_out(
    connection_or_settings: Connection | Settings,
    instance_ids: Iterable[str],
    updates: Sequence[ScoreUpdate],
    max_queue_length: int = DEFAULT_MAX_QUEUE_LENGTH,
) -> FanOutReport:
    """Send one round of ``updates`` to every instance's queue: one message per instance, then
    trim each queue to its newest ``max_queue_length`` messages. Raises TransientError when the
    broker stays unreachable; a round may then have reached some instances (sending it again is
    safe: updates are versioned)."""
    return _fanout_for(connection_or_settings).publish(instance_ids, updates, max_queue_length)


def send_snapshot(
    connection_or_settings: Connection | Settings,
    instance_id: str,
    snapshot: dict[str, Any],
    max_queue_length: int = DEFAULT_MAX_QUEUE_LENGTH,
) -> None:
    """One full snapshot to one instance's queue; raises TransientError like ``fan_out``."""
    _fanout_for(connection_or_settings).send_snapshot(instance_id, snapshot, max_queue_length)


def _reset_after_fork() -> None:
    # A forked child (a prefork Celery worker) must not share the parent's sockets.
    _by_connection.clear()
    _by_url.clear()
    global _cache_lock
    _cache_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)


def bench_fanout(settings: Settings, instances: int = 1000, updates: int = 100) -> float:
    """Seconds for one steady-state round of ``updates`` updates to ``instances`` queues (queues
    declared by an untimed first round, as in production after the first minute). Uses queues
    of its own and deletes them afterwards. A benchmark, not a test."""
    from datetime import UTC, datetime

    tag = uuid.uuid4().hex[:8]
    ids = [f"bench-{tag}-{i}" for i in range(instances)]
    round_ = [
        ScoreUpdate(
            timestamp=datetime.now(UTC),
            model=f"model-{i}",
            complexity=("simple", "medium", "complex")[i % 3],
            old_score=2.5,
            new_score=2.7,
            reason="Learned from 250 real uses",
            confidence=0.9,
            based_on_samples=250,
            version=i + 1,
        )
        for i in range(updates)
    ]
    fanout = FanOut.from_settings(settings)
    try:
        fanout.publish(ids, round_)
        report = fanout.publish(ids, round_)
        if report.messages != instances:
            raise RuntimeError(f"benchmark sent {report.messages} messages, not {instances}")
        return report.seconds
    finally:
        channel: Any = fanout._producer_for().channel
        for instance_id in ids:
            score_update_queue(instance_id)(channel).delete()
        fanout.close()
