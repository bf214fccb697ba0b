"""EventPublisher: what an application instance embeds to send its routing events to the workers.

``publish()`` only appends to a bounded in-memory buffer; one background thread sends the
buffer as batches, one task message (``routelearn.ingest_events``) per batch, sent without
Celery (``routelearn.messaging.task_message``). Every event
``publish()`` accepted ends up either sent or handed to ``on_error``: nothing is lost silently.
"""

from __future__ import annotations

import atexit
import functools
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

from kombu.exceptions import EncodeError

from routelearn.domain.backoff import backoff_delay
from routelearn.messaging.broker import RETRY_POLICY
from routelearn.messaging.event_codec import RAW_TYPES, check_raw, encode_event
from routelearn.messaging.task_message import TaskSender
from routelearn.settings import Settings, get_settings

log = logging.getLogger(__name__)

ErrorHandler = Callable[[list[Any], BaseException], None]

_BACKOFF_BASE = 0.1
_BACKOFF_CAP = 2.0
# How long close() waits past its timeout for the send in progress to end, and the events
# still buffered to be reported.
_CLOSE_GRACE = 1.0


@dataclass(frozen=True)
class PublisherStats:
    """Event counts since the publisher was made; ``accepted == sent + failed + pending``."""

    accepted: int  # taken by publish()
    sent: int  # handed to the broker
    dropped: int  # refused by publish(): buffer full, or publisher closed
    failed: int  # given to on_error: not sent within send_timeout, or not JSON-encodable
    batches: int  # messages sent
    pending: int  # accepted, neither sent nor failed yet (buffered or being sent)


def _log_failure(events: list[Any], exc: BaseException) -> None:
    log.error("%d routing events could not be sent and are lost: %s", len(events), exc)


class EventPublisher:
    """Thread-safe, batching, non-blocking producer of routing events.

    An event is a JSON-encodable object, or the raw JSON of one event as bytes (a line of a
    JSON Lines file: sent as it is, the cheapest way in). Events are sent exactly as given
    (never validated or completed: the workers validate), so do not mutate an event after
    publishing it. Use as a context manager, or call ``close()``; an interpreter exit closes
    it too.
    """

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        batch_size: int | None = None,
        linger_ms: float | None = None,
        buffer_size: int | None = None,
        send_timeout: float = 30.0,
        on_error: ErrorHandler | None = None,
    ) -> None:
        self._settings = settings or get_settings()
        self._batch_size = self._settings.publish_batch_size if batch_size is None else batch_size
        linger = self._settings.publish_linger_ms if linger_ms is None else linger_ms
        self._buffer_size = (
            self._settings.publish_buffer_size if buffer_size is None else buffer_size
        )
        if self._batch_size < 1 or self._buffer_size < 1:
            raise ValueError("batch_size and buffer_size must be at least 1")
        if linger < 0 or send_timeout < 0:
            raise ValueError("linger_ms and send_timeout must not be negative")
        self._linger = linger / 1000.0
        self._send_timeout = send_timeout
        self._on_error = on_error or _log_failure
        self._closing = False
        self._init_state()
        self._sender()
        # The hook holds only a weak reference: a publisher that never started its thread can
        # still be garbage-collected (the running thread does keep it alive until close).
        self._atexit_hook = functools.partial(_close_at_exit, weakref.ref(self))
        atexit.register(self._atexit_hook)
        weakref.finalize(self, atexit.unregister, self._atexit_hook).atexit = False
        _live.add(self)

    def _init_state(self) -> None:
        """Locks, buffer and counters; also called in a forked child, which starts afresh."""
        self._lock = threading.Lock()
        self._has_work = threading.Condition(self._lock)  # the sender waits for events
        self._has_space = threading.Condition(self._lock)  # blocked publish() calls wait
        self._progress = threading.Condition(self._lock)  # flush() waits for sent/failed
        self._close_requested = threading.Event()  # cuts the sender's back-off sleeps short
        # Events, and beside them the time each was accepted: floats, which the garbage
        # collector does not track. A (time, event) tuple per event was tracked, and a full
        # buffer of them promoted to the oldest generation set off full collections of the
        # application's whole heap (fed dicts, 145,000 events/s against 230,000 without).
        self._buffer: deque[Any] = deque()
        self._accepted_at: deque[float] = deque()
        self._in_flight = 0
        self._accepted = self._sent = self._dropped = self._failed = self._batches = 0
        self._flushers = 0  # flush() calls waiting: send partial batches without lingering
        self._deadline: float | None = None  # set by close(timeout): then give up what is left
        self._thread: threading.Thread | None = None
        self._task_sender: TaskSender | None = None
        self._last_error: Exception | None = None  # the sender's, for the reports at close
        self._warned_closed = False

    # -- the caller's side ---------------------------------------------------------------------

    def publish(self, event: Any, block: bool = False, timeout: float | None = None) -> bool:
        """Buffer ``event`` for sending. False (and counted as dropped) when the buffer is full
        and ``block`` is False, when it stays full for ``timeout`` seconds, or once closed.

        Raw bytes must be one JSON value: NotJSONError (a ValueError) says why not, and the
        event is neither accepted nor counted."""
        return self.publish_many((event,), block, timeout) == 1

    def publish_many(
        self, events: Iterable[Any], block: bool = False, timeout: float | None = None
    ) -> int:
        """``publish()`` for many events at a fraction of the cost per event (one lock taken);
        returns how many were accepted: the first ones, in order. Once one is refused the rest
        are too, and counted as dropped; ``timeout`` bounds the whole call.

        Raw bytes are checked first: the first that is not JSON raises NotJSONError and none
        of the call's events is accepted or counted (``check_raw`` them to report each)."""
        batch = [check_raw(e) if isinstance(e, RAW_TYPES) else e for e in events]
        until = None if timeout is None or not block else time.monotonic() + timeout
        accepted = 0
        with self._lock:
            now = time.monotonic()
            for event in batch:
                if not self._room(block, until):
                    break
                self._buffer.append(event)
                self._accepted_at.append(now)
                accepted += 1
                # Wake the sender only when it has something new to do: a first event to
                # linger on, or a full batch. Otherwise it is sending, or lingering.
                size = len(self._buffer)
                if size == 1 or size == self._batch_size:
                    self._has_work.notify()
            self._accepted += accepted
            self._dropped += len(batch) - accepted
            if accepted and self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="routelearn-publisher", daemon=True
                )
                self._thread.start()
        return accepted

    def _room(self, block: bool, until: float | None) -> bool:
        """Under the lock: wait, if asked to, until the buffer has room for one more event;
        False when it has none in time, or when the publisher is closed."""
        while self._pending() >= self._buffer_size and not self._closing:
            remaining = None if until is None else until - time.monotonic()
            if not block or (remaining is not None and remaining <= 0):
                return False
            self._has_space.wait(remaining)
        if self._closing:
            if not self._warned_closed:
                self._warned_closed = True
                log.warning("publish() on a closed EventPublisher: events are dropped")
            return False
        return True

    def flush(self, timeout: float | None = None) -> bool:
        """Send everything accepted so far, without lingering; True when all of it was sent or
        reported to on_error within ``timeout`` seconds (None: however long that takes)."""
        until = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            if threading.current_thread() is self._thread:
                return False  # called from on_error: the sender cannot wait for itself
            target = self._accepted
            if self._sent + self._failed >= target:
                return True
            self._flushers += 1
            self._has_work.notify()
            try:
                while self._sent + self._failed < target:
                    if self._thread is None or not self._thread.is_alive():
                        return False
                    remaining = None if until is None else until - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        return False
                    self._progress.wait(remaining)
                return True
            finally:
                self._flushers -= 1

    def close(self, timeout: float | None = None) -> bool:
        """Flush, then stop the sender thread; idempotent. Events still unsent after
        ``timeout`` seconds (None: no limit) are given to on_error instead.

        True when every accepted event was sent or reported. Returns within ``timeout`` plus
        a short grace for the send in progress; False if that send is still stuck then (its
        events are reported when it ends).
        """
        until = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._closing = True
            if until is not None and (self._deadline is None or until < self._deadline):
                self._deadline = until
            self._has_work.notify_all()
            self._has_space.notify_all()
            thread = self._thread
        self._close_requested.set()
        atexit.unregister(self._atexit_hook)
        if thread is not None and thread is not threading.current_thread():
            grace = None if until is None else max(0.0, until - time.monotonic()) + _CLOSE_GRACE
            thread.join(grace)
        with self._lock:
            return self._sent + self._failed == self._accepted

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Bounded: with the broker down, give it one send_timeout to return, then report.
        self.close(self._send_timeout)

    @property
    def stats(self) -> PublisherStats:
        with self._lock:
            return PublisherStats(
                accepted=self._accepted,
                sent=self._sent,
                dropped=self._dropped,
                failed=self._failed,
                batches=self._batches,
                pending=self._pending(),
            )

    def _pending(self) -> int:
        # The batch being sent still counts against the bound: memory is what the bound limits.
        return len(self._buffer) + self._in_flight

    # -- the sender thread ---------------------------------------------------------------------

    def _run(self) -> None:
        try:
            while (batch := self._next_batch()) is not None:
                self._deliver(batch)
        except BaseException:
            log.exception("EventPublisher's sender thread died; buffered events are not sent")
            raise
        finally:
            if self._task_sender is not None:
                self._task_sender.close()

    def _next_batch(self) -> list[Any] | None:
        """Wait until a batch is due (full, lingered long enough, flushed or closing); None
        once closing and nothing is left."""
        with self._lock:
            while True:
                if not self._buffer:
                    if self._closing:
                        return None
                    self._has_work.wait()
                    continue
                if len(self._buffer) >= self._batch_size or self._flushers or self._closing:
                    break
                wait = self._accepted_at[0] + self._linger - time.monotonic()
                if wait <= 0:
                    break
                self._has_work.wait(wait)
            take = min(len(self._buffer), self._batch_size)
            batch = [self._buffer.popleft() for _ in range(take)]
            for _ in range(take):
                self._accepted_at.popleft()
            self._in_flight = take
            return batch

    def _deliver(self, batch: list[Any]) -> None:
        """Send ``batch`` as one message, retrying with back-off for up to send_timeout (or
        until the close deadline), then report it to on_error."""
        started = time.monotonic()
        attempt = 0
        while True:
            if self._deadline is not None and time.monotonic() >= self._deadline:
                reason = "EventPublisher closed before the batch could be sent"
                if self._last_error is not None:
                    reason += f" (broker: {self._last_error})"
                self._fail(batch, TimeoutError(reason))
                return
            try:
                self._send(batch)
            except EncodeError as exc:
                # Never going to succeed: report the events that cannot be encoded and send
                # the rest, instead of failing the whole batch for one bad event.
                batch = self._drop_unencodable(batch, exc)
                if not batch:
                    return
                continue
            except Exception as exc:
                self._last_error = exc
                give_up_at = started + self._send_timeout
                if self._deadline is not None:
                    give_up_at = min(give_up_at, self._deadline)
                now = time.monotonic()
                if now >= give_up_at:
                    self._fail(batch, exc)
                    return
                if attempt == 0:
                    log.warning(
                        "broker did not take %d events (%s); retrying for up to %.1f s",
                        len(batch),
                        exc,
                        give_up_at - now,
                    )
                # Jittered, so a fleet of instances does not reconnect in lock-step.
                delay = backoff_delay(attempt + 1, _BACKOFF_BASE, _BACKOFF_CAP)
                self._sleep(min(delay, give_up_at - now))
                attempt += 1
            else:
                if attempt:
                    log.warning(
                        "broker took the batch of %d events after %d retries", len(batch), attempt
                    )
                self._last_error = None
                self._done(len(batch), sent=True)
                return

    def _sender(self) -> TaskSender:
        """Building it connects to nothing."""
        if self._task_sender is None:
            self._task_sender = TaskSender(self._settings, RETRY_POLICY)
        return self._task_sender

    def _send(self, batch: list[Any]) -> None:
        self._sender().send_events(batch)

    def _drop_unencodable(self, batch: list[Any], exc: EncodeError) -> list[Any]:
        good: list[Any] = []
        bad: list[Any] = []
        for event in batch:
            try:
                encode_event(event)
            except EncodeError:
                bad.append(event)
            else:
                good.append(event)
        if not bad:  # the batch as a whole failed to encode; nothing to single out
            bad, good = good, []
        self._fail(bad, exc, keep_in_flight=len(good))
        return good

    def _sleep(self, seconds: float) -> None:
        if self._close_requested.is_set():
            time.sleep(seconds)  # the deadline is known already; nothing left to wake us for
        else:
            self._close_requested.wait(seconds)

    def _fail(self, events: list[Any], exc: BaseException, keep_in_flight: int = 0) -> None:
        try:
            self._on_error(events, exc)
        except Exception:
            log.exception("on_error raised while reporting %d unsent events", len(events))
        self._done(len(events), sent=False, keep_in_flight=keep_in_flight)

    def _done(self, n: int, *, sent: bool, keep_in_flight: int = 0) -> None:
        with self._lock:
            if sent:
                self._sent += n
                self._batches += 1
            else:
                self._failed += n
            self._in_flight = keep_in_flight
            self._has_space.notify_all()
            self._progress.notify_all()


def _close_at_exit(ref: weakref.ReferenceType[EventPublisher]) -> None:
    publisher = ref()
    if publisher is not None:
        publisher.close(publisher._send_timeout)


# A forked child inherits the buffer but not the sender thread, and possibly a lock held by a
# parent thread: it starts afresh (the parent sends what it had buffered).
_live: weakref.WeakSet[EventPublisher] = weakref.WeakSet()


def _reset_after_fork() -> None:
    for publisher in list(_live):
        publisher._init_state()


os.register_at_fork(after_in_child=_reset_after_fork)
