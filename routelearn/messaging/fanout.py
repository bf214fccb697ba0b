"""Fan-out: one round of score updates to every instance's own durable queue.

Why one queue per instance, each with its own direct exchange: a Redis "fanout" exchange is
PUB/SUB, so an instance that is offline misses what was sent; and binding many queues to one
shared routing key makes kombu's Redis transport copy a restored (unacked) message into every
queue bound to it. A queue per instance (``model_score_updates.<instance_id>``) keeps what an
offline instance misses until it returns.

Why it is fast enough for a fleet (README, "Figures": one round of 100 updates to 1,000 queues):
one message per instance per round, serialised once for all of them; one connection and
producer reused across rounds, queues declared once per connection; sent through
``broker.publish_bounded`` (pipelined on Redis).

The bound: every queue keeps its newest ``Settings.instance_queue_max`` rounds (see
``broker.bounded_queue``). Dropping the oldest loses only superseded history: every update
carries a version, and a subscriber fetches a full snapshot at start-up, so an instance that was
away long enough to hit the bound is still current once it returns.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kombu.exceptions import BatchPublishError, OperationalError
from kombu.messaging import Producer

from routelearn.domain.registry import RegistryChange
from routelearn.domain.routing_policy.change import PolicyChange
from routelearn.domain.score_update import ScoreUpdate
from routelearn.errors import TransientError
from routelearn.messaging.broker import (
    RETRY_POLICY,
    bounded_queue,
    connection,
    publish_bounded,
)
from routelearn.settings import Settings, is_redis

log = logging.getLogger(__name__)

# kombu ships no type hints for its constructors and methods, and strict mypy refuses untyped
# calls in this module: kombu objects are used through Any here.
_Producer: Any = Producer

QUEUE_PREFIX = "model_score_updates."
# Messages per Redis pipeline: a chunk bounds the buffer (~31 kB per message); README's figures
# show bigger pipelines are no faster.
_PIPELINE_SIZE = 100
# A round whose pipeline failed is sent again once on a fresh connection: delivery of the
# failed pipeline is uncertain, and a duplicate is harmless (the subscriber ignores a version it
# already holds), while a lost round would leave instances stale until the next change.
_ROUND_ATTEMPTS = 2


def queue_name(instance_id: str) -> str:
    return QUEUE_PREFIX + instance_id


def score_update_queue(instance_id: str, settings: Settings) -> Any:
    """The instance's durable queue, with an exchange and binding of its own (see module doc);
    the subscriber declares it the same way."""
    return bounded_queue(queue_name(instance_id), settings, settings.instance_queue_max)


def round_body(
    updates: Iterable[ScoreUpdate],
    models: Iterable[RegistryChange] = (),
    policy: Iterable[PolicyChange] = (),
    inputs: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The message one instance receives for one round: score updates, registry changes under
    ``models``, routing policy changes under ``policy``, and the policy's inputs (``spend``,
    ``quality``) when there are any (``updates`` is always there, so a subscriber that predates
    the registry still reads the round)."""
    body: dict[str, Any] = {"updates": [update.to_message() for update in updates]}
    changes = [change.to_message() for change in models]
    if changes:
        body["models"] = changes
    pieces = [change.to_message() for change in policy]
    if pieces:
        body["policy"] = pieces
    if inputs:  # the routing policy's inputs ("spend", "quality"), the learner's "estimates"
        body.update(inputs)
    return body


@dataclass(frozen=True)
class FanOutReport:
    instances: int  # queues published to
    messages: int  # messages sent (one per instance; 0 when there was nothing to send)
    updates: int  # updates in the round
    trimmed_queues: int  # queues over the bound that lost their oldest messages (Redis only)
    declared_queues: int  # queues declared by this call (first time seen on this connection)
    seconds: float


class FanOut:
    """A reusable publisher of rounds over one broker connection; thread-safe (one round at a
    time). Remembers which queues it declared, so a steady fleet costs no declarations."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        # On RabbitMQ a round is one AMQP transaction: one round trip confirms every message of
        # it, where a publisher confirm per message costs one each (README, "Redis or RabbitMQ").
        self._transactional = not is_redis(settings.broker_url)
        self._connection: Any = connection(settings, confirm=not self._transactional)
        self._lock = threading.Lock()
        self._declared: set[str] = set()
        self._producer: Any = None

    def close(self) -> None:
        with self._lock:
            self._producer = None
            self._declared.clear()
            self._connection.release()

    def publish(
        self,
        instance_ids: Iterable[str],
        updates: Sequence[ScoreUpdate],
        models: Sequence[RegistryChange] = (),
        policy: Sequence[PolicyChange] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> FanOutReport:
        started = time.perf_counter()
        # dict.fromkeys: an instance listed twice still gets one message.
        ids = list(dict.fromkeys(instance_ids))
        if not ids or not (updates or models or policy or inputs):
            return FanOutReport(len(ids), 0, len(updates), 0, 0, time.perf_counter() - started)
        # Serialised once for the whole fleet; kombu sends a str body with a content type as is.
        body = json.dumps(round_body(updates, models, policy, inputs), separators=(",", ":"))
        declared, trimmed = self._deliver(ids, body, "score fan-out")
        seconds = time.perf_counter() - started
        return FanOutReport(len(ids), len(ids), len(updates), trimmed, declared, seconds)

    def send_snapshot(
        self,
        instance_id: str,
        snapshot: dict[str, Any],
        policy: Sequence[PolicyChange] = (),
        inputs: Mapping[str, Any] | None = None,
    ) -> None:
        """Put a full score snapshot (``ModelCatalog.apply_snapshot``'s input) on one instance's
        queue, behind the rounds already there: the subscriber applies only what is newer. The
        routing policy rides beside it, under ``policy``, and the learner's latest estimates
        under ``estimates`` (``inputs``), where a subscriber that predates them does not
        look."""
        message: dict[str, Any] = {"snapshot": snapshot}
        if policy:
            message["policy"] = [change.to_message() for change in policy]
        if inputs:
            message.update(inputs)
        body = json.dumps(message, separators=(",", ":"))
        self._deliver([instance_id], body, "score snapshot")

    def _deliver(self, ids: list[str], body: str, what: str) -> tuple[int, int]:
        """Declare, send and bound; once more on a fresh connection if the broker failed.
        Returns (queues declared, queues trimmed)."""
        queues = [score_update_queue(i, self._settings) for i in ids]
        with self._lock:
            for attempt in range(1, _ROUND_ATTEMPTS + 1):
                try:
                    declared = self._declare(queues)
                    producer = self._producer_for()
                    trimmed = publish_bounded(
                        producer, queues, body, self._settings.instance_queue_max, _PIPELINE_SIZE
                    )
                    if self._transactional:
                        producer.channel.tx_commit()
                except (
                    # BatchPublishError: a pipeline failed part-way, delivery uncertain.
                    BatchPublishError,
                    OperationalError,
                    *self._connection.connection_errors,
                    *self._connection.channel_errors,
                ) as exc:
                    self._reset()
                    if attempt == _ROUND_ATTEMPTS:
                        raise TransientError(f"{what} failed: {exc}") from exc
                    log.warning("%s failed (%s); sending it again", what, exc)
                    continue
                if trimmed:
                    log.warning(
                        "%d score update queues were over %d messages and lost their oldest "
                        "(instances away for long; they resync from a snapshot at start-up): %s",
                        len(trimmed),
                        self._settings.instance_queue_max,
                        ", ".join(trimmed[:10]) + (" ..." if len(trimmed) > 10 else ""),
                    )
                return declared, len(trimmed)
        raise AssertionError("unreachable")

    def _producer_for(self) -> Any:
        if self._producer is None:
            self._connection.ensure_connection(**RETRY_POLICY)
            channel = self._connection.default_channel
            if self._transactional:
                channel.tx_select()
            self._producer = _Producer(channel, serializer="json")
        return self._producer

    def _declare(self, queues: list[Any]) -> int:
        """Declare the queues this connection has not declared yet (paid once per queue, not
        once per round)."""
        new = [queue for queue in queues if queue.name not in self._declared]
        channel = self._producer_for().channel
        for queue in new:
            queue(channel).declare()
            self._declared.add(queue.name)
        return len(new)

    def _reset(self) -> None:
        # After a connection error, drop the channel; queues are declared again on the new
        # one (declaring is idempotent), in case the broker lost them.
        self._producer = None
        self._declared.clear()
        try:
            self._connection.close()
        except Exception:  # the connection is broken already
            log.debug("closing the broken fan-out connection failed", exc_info=True)


# One FanOut per settings, so that callers passing the same settings round after round reuse
# the connection and the declared-queue set.
_by_settings: dict[str, FanOut] = {}
_cache_lock = threading.Lock()


def _fanout_for(settings: Settings) -> FanOut:
    with _cache_lock:
        key = settings.model_dump_json()  # Settings holds a dict: not hashable itself
        fanout = _by_settings.get(key)
        if fanout is None:
            fanout = _by_settings[key] = FanOut(settings)
        return fanout


def fan_out(
    settings: Settings,
    instance_ids: Iterable[str],
    updates: Sequence[ScoreUpdate],
    models: Sequence[RegistryChange] = (),
    policy: Sequence[PolicyChange] = (),
    inputs: Mapping[str, Any] | None = None,
) -> FanOutReport:
    """Send one round of ``updates`` (and registry and policy changes) to every instance's
    queue: one
    message per instance, each queue bounded to its newest ``settings.instance_queue_max``
    messages. Raises TransientError when the broker stays unreachable; a round may then have
    reached some instances (sending it again is safe: updates and changes are versioned)."""
    return _fanout_for(settings).publish(instance_ids, updates, models, policy, inputs)


def send_snapshot(
    settings: Settings,
    instance_id: str,
    snapshot: dict[str, Any],
    policy: Sequence[PolicyChange] = (),
    inputs: Mapping[str, Any] | None = None,
) -> None:
    """One full snapshot to one instance's queue; raises TransientError like ``fan_out``."""
    _fanout_for(settings).send_snapshot(instance_id, snapshot, policy, inputs)


def close_all() -> None:
    """Close every cached fan-out connection; the next round opens and declares afresh (for a
    process whose broker namespace was emptied under it: tests)."""
    with _cache_lock:
        fanouts = list(_by_settings.values())
        _by_settings.clear()
    for fanout in fanouts:
        fanout.close()


def _reset_after_fork() -> None:
    # A forked child (a prefork Celery worker) must not share the parent's sockets.
    _by_settings.clear()
    global _cache_lock
    _cache_lock = threading.Lock()


os.register_at_fork(after_in_child=_reset_after_fork)
