"""Ingest a batch of raw payloads: validate, write in one transaction, never lose an event.

- A database that does not answer is retried with back-off until the caller's deadline, then
  ``TransientError`` tells the caller to hand the batch back to the broker.
- Any other failure is narrowed down by halving the batch, so one poison event ends up in
  ``dead_letters`` with the error as its reason and the rest of the batch is ingested.
- `Ingestor.ingest_within` writes inside the caller's transaction instead (the pgmq bridge
  deletes the messages it read in the same one): the halving runs on savepoints, and a
  database that does not answer is the caller's to retry.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from routelearn.domain.backoff import backoff_delay
from routelearn.domain.validation import FieldError, Rejection, ValidEvent, validate_batch
from routelearn.errors import TransientError
from routelearn.messaging.task_message import SOURCE_BROKER
from routelearn.observability import metrics
from routelearn.store import consumer_stats
from routelearn.store.engine import is_transient
from routelearn.store.ingest import BatchCounts, ingest_batch

log = logging.getLogger(__name__)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass
class _ErrorState:
    consecutive: int = 0
    unreported: int = 0
    last_error: str = ""
    last_error_at: datetime | None = None


@dataclass
class Ingestor:
    """Per-process ingestion service; holds the consumer statistics of its process."""

    engine: Engine
    retry_base: float = 0.2
    retry_cap: float = 5.0
    worker: str = field(default_factory=worker_name)
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    sleep: Callable[[float], None] = time.sleep
    # An instance's last_seen_at is refreshed at most this often by one process.
    instance_refresh_seconds: float = 10.0
    _errors: _ErrorState = field(default_factory=_ErrorState)
    _instances_seen: dict[str, float] = field(default_factory=dict)  # id -> monotonic time

    def ingest(
        self,
        payloads: Sequence[Any],
        source: str,
        deadline: float | None = None,
        *,
        via: object = SOURCE_BROKER,
        sent_at: object = None,
    ) -> BatchCounts:
        """Ingest ``payloads``; ``deadline`` is a ``time.monotonic()`` value to give up at.
        ``source`` is what dead letters record; ``via`` and ``sent_at`` (the message's headers,
        unchecked) are the metrics' source label and the send time of the ingest lag."""
        started = time.monotonic()
        valid, rejected = validate_batch(payloads, now=datetime.now(UTC))
        while True:
            if self._errors.consecutive:
                self._wait_before_retry(deadline)
            try:
                self._report_errors()
                counts = self._write_isolating(valid, rejected, source)
            except Exception as exc:
                if not is_transient(exc):
                    raise
                self._note_error(exc)
                continue
            self._errors.consecutive = 0
            _observe(counts, len(rejected), started, via, sent_at)
            return counts

    def ingest_within(
        self,
        conn: Connection,
        payloads: Sequence[Any],
        source: str,
        *,
        via: object,
        rejected: Sequence[Rejection] = (),
    ) -> Pending:
        """Ingest ``payloads`` inside ``conn``'s open transaction: nothing is committed here,
        and the caller's other writes in that transaction stand or fall with the events. A
        poison event is isolated by the same halving, on savepoints; a transient error is
        raised (the transaction is lost: the caller retries it whole). ``rejected``: what the
        caller refused already (dead-lettered with the rest). The caller calls
        `Pending.committed` once its transaction has committed."""
        started = time.monotonic()
        valid, invalid = validate_batch(payloads, now=datetime.now(UTC))
        invalid += rejected
        counts = self._write_isolating(valid, invalid, source, conn)

        def committed() -> None:
            # Only now: a batch rolled back counted nothing and refreshed no instance row.
            self._seen(counts.instances)
            _observe(counts, len(invalid), started, via, None)

        return Pending(counts, committed)

    def _wait_before_retry(self, deadline: float | None) -> None:
        delay = backoff_delay(self._errors.consecutive, self.retry_base, self.retry_cap)
        if deadline is not None and time.monotonic() + delay > deadline:
            raise TransientError(
                f"database unavailable after {self._errors.consecutive} consecutive errors: "
                f"{self._errors.last_error}"
            )
        self.sleep(delay)

    def _note_error(self, exc: BaseException) -> None:
        state = self._errors
        state.consecutive += 1
        state.unreported += 1
        state.last_error = f"{type(exc).__name__}: {exc}".strip()
        state.last_error_at = datetime.now(UTC)
        log.warning(
            "database error %d in a row, backing off: %s",
            state.consecutive,
            state.last_error.splitlines()[0],
        )

    def _report_errors(self) -> None:
        state = self._errors
        if not state.unreported or state.last_error_at is None:
            return
        consumer_stats.record_errors(
            self.engine,
            self.worker,
            self.started_at,
            state.unreported,
            state.consecutive,
            state.last_error,
            state.last_error_at,
        )
        state.unreported = 0

    def _write(
        self,
        valid: Sequence[ValidEvent],
        rejected: Sequence[Rejection],
        source: str,
        outer: Connection | None,
    ) -> BatchCounts:
        now = time.monotonic()
        recent = {
            i for i, at in self._instances_seen.items() if now - at < self.instance_refresh_seconds
        }
        # Its own transaction, or a savepoint in the caller's (whose commit is the caller's).
        with self.engine.begin() if outer is None else _savepoint(outer) as conn:
            counts = ingest_batch(conn, valid, rejected, source, recent)
            consumer_stats.record_batch(conn, self.worker, self.started_at, counts)
        if outer is None:
            self._seen(counts.instances)
        return counts

    def _seen(self, instances: Sequence[str]) -> None:
        """``instances`` had their rows refreshed by a committed batch just now."""
        now = time.monotonic()
        if len(self._instances_seen) > 100_000:  # a bound, whatever the fleet's size
            self._instances_seen = {
                i: at
                for i, at in self._instances_seen.items()
                if now - at < self.instance_refresh_seconds
            }
        self._instances_seen.update(dict.fromkeys(instances, now))

    def _write_isolating(
        self,
        valid: Sequence[ValidEvent],
        rejected: Sequence[Rejection],
        source: str,
        outer: Connection | None = None,
    ) -> BatchCounts:
        try:
            return self._write(valid, rejected, source, outer)
        except Exception as exc:
            if is_transient(exc):
                raise
            if len(valid) <= 1:
                if not valid:
                    raise  # only rejections, and even they cannot be stored: a real fault
                log.error(
                    "event %s could not be ingested, dead-lettered: %s", valid[0].event_id, exc
                )
                poison = _internal_rejection(valid[0], exc)
                return self._write([], [*rejected, poison], source, outer)
            half = len(valid) // 2
            first = self._write_isolating(valid[:half], rejected, source, outer)
            second = self._write_isolating(valid[half:], [], source, outer)
            return first + second


@contextmanager
def _savepoint(conn: Connection) -> Iterator[Connection]:
    with conn.begin_nested():
        yield conn


@dataclass(frozen=True, slots=True)
class Pending:
    """A batch `Ingestor.ingest_within` wrote in its caller's open transaction."""

    counts: BatchCounts
    committed: Callable[[], None]  # records it (metrics, instances refreshed) after the commit


def _observe(
    counts: BatchCounts, invalid: int, started: float, via: object, sent_at: object
) -> None:
    metrics.observe_batch(
        source=via,
        received=counts.received,
        accepted=counts.inserted,
        duplicates=counts.duplicates,
        invalid=invalid,
        # Valid events the database refused, dead-lettered by the batch halving.
        internal_errors=counts.rejected - invalid,
        seconds=time.monotonic() - started,
        sent_at=sent_at,
    )


def _internal_rejection(event: ValidEvent, exc: BaseException) -> Rejection:
    decision: dict[str, Any] = {
        "complexity": event.complexity,
        "selected_model": event.model,
        "selected_provider": event.provider,
        "complexity_score": event.score,
        "outcome": event.outcome,
        "response_time_ms": event.response_time_ms,
        "capabilities_required": list(event.capabilities),
        "prefer": event.prefer,
        "user_model_request": event.user_model_request,
    }
    payload: dict[str, Any] = {
        "timestamp": event.timestamp.isoformat(),
        "instance_id": event.instance_id,
        "event_id": event.event_id,
        "decision_id": event.decision_id,
        "routing_decision": decision,
    }
    found = event.attribution
    if event.exploratory:
        decision["exploratory"] = True
    if found is not None:  # the event as sent, so a replay of the dead letter loses nothing
        for name in ("workspace_id", "agent_type", "request_type"):
            if getattr(found, name) is not None:
                payload[name] = getattr(found, name)
        usage = {
            "prompt_tokens": found.prompt_tokens,
            "completion_tokens": found.completion_tokens,
            "cost_usd": found.cost_usd,
        }
        if any(value is not None for value in usage.values()):
            payload["usage"] = usage
        for name in ("rule_id", "split_arm"):
            if getattr(found, name) is not None:
                decision[name] = getattr(found, name)
    message = (
        f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    )
    return Rejection(payload, (FieldError("(event)", repr(event.event_id), message),))
