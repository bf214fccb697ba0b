"""ScoreUpdateSubscriber: what an application instance embeds to keep its ModelCatalog current.

A daemon thread first brings the catalog up to date with a full snapshot of the central scores,
so it is current before the first update: either from a ``snapshot_source`` callable, or (with
``request_snapshot=True``, for instances without database access) by asking a worker for one
(task ``routelearn.send_snapshot``), which puts it on the instance's own queue behind whatever
rounds wait there. ``wait_until_current()`` blocks until it is applied. Then it consumes the
instance's own durable queue ``model_score_updates.<instance_id>`` (see
``routelearn.messaging.fanout``),
applies each round of updates to the catalog, and acks a message only once it is applied.
Delivery is at least once and rounds may arrive out of order (a redelivered message, an instance
back from a long absence): the catalog applies an update only if its version is newer than the
score it holds, so a duplicate or a straggler changes nothing and is counted as stale.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu.exceptions import OperationalError
from kombu.messaging import Consumer

from routelearn.constants import SEND_SNAPSHOT_TASK
from routelearn.domain.backoff import backoff_delay
from routelearn.domain.estimates import EstimateReport, InvalidEstimateReport
from routelearn.domain.registry import InvalidRegistryChange, RegistryChange
from routelearn.domain.routing_policy.change import InvalidPolicyChange, PolicyChange
from routelearn.domain.routing_policy.quality import InvalidQualityReport, QualityReport
from routelearn.domain.routing_policy.spend import InvalidSpendReport, SpendReport
from routelearn.domain.score_update import InvalidScoreUpdate, ScoreUpdate
from routelearn.instance.catalog.model import ModelCatalog
from routelearn.messaging.broker import RETRY_POLICY, connection
from routelearn.messaging.fanout import score_update_queue
from routelearn.messaging.task_message import TaskSender
from routelearn.settings import Settings

log = logging.getLogger(__name__)

# kombu ships no type hints: its objects are used through Any (strict mypy refuses untyped calls).
_Consumer: Any = Consumer

SnapshotSource = Callable[[], Mapping[str, Any]]

_ACCEPT = ["application/json"]
# How long one wait for a message lasts: bounds how long stop() waits for the thread.
_POLL_SECONDS = 0.5
_BACKOFF_BASE = 0.2
_BACKOFF_CAP = 5.0
# A failed start-up snapshot is retried this often while updates are consumed meanwhile
# (versions keep that safe: the snapshot later applies only what is newer).
_SNAPSHOT_RETRY_SECONDS = 10.0
# A snapshot asked of the workers that has not arrived after this long is asked for again (the
# workers may have been down); a duplicate snapshot is harmless.
_SNAPSHOT_REQUEST_SECONDS = 30.0


@dataclass(frozen=True)
class SubscriberStats:
    messages: int  # messages handled and acked (malformed ones included)
    updates_applied: int  # updates that changed the catalog
    registry_applied: int  # registry changes (a model added, its status or prices) applied
    ignored_stale: int  # updates whose version was not newer than the catalog's
    malformed: int  # messages or single updates that could not be read, logged and dropped
    snapshot_scores: int  # scores changed by the start-up snapshot
    snapshot_done: bool
    reconnects: int  # connections lost or refused, then retried
    policy_applied: int = 0  # routing policy changes (rules, preferences, configs) applied


class ScoreUpdateSubscriber:
    """Consumes one instance's score updates into ``catalog``; see the module doc.

    Either ``start()`` a background thread (and ``stop()`` it), or, with no thread running,
    call ``drain()`` to handle what is queued now (tests, demonstrations).
    """

    def __init__(
        self,
        settings: Settings,
        instance_id: str,
        catalog: ModelCatalog,
        snapshot_source: SnapshotSource | None = None,
        persist_path: Path | None = None,
        *,
        request_snapshot: bool = False,
        on_update: Callable[[ScoreUpdate], None] | None = None,
    ) -> None:
        if not instance_id:
            raise ValueError("instance_id must not be empty")
        if snapshot_source is not None and request_snapshot:
            raise ValueError("give a snapshot_source or request_snapshot=True, not both")
        self._settings = settings
        self.instance_id = instance_id
        self._catalog = catalog
        self._snapshot_source = snapshot_source
        self._persist_path = persist_path
        self._queue = score_update_queue(instance_id, settings)
        probe = self._connect()  # builds no socket: only asks the transport for its errors
        self._broker_errors: tuple[type[BaseException], ...] = (
            OperationalError,
            OSError,
            *probe.connection_errors,
            *probe.channel_errors,
        )
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._request_snapshot = request_snapshot
        self._on_update = on_update
        self._current = threading.Event()  # set once the start-up snapshot is applied
        if snapshot_source is None and not request_snapshot:
            self._current.set()
        self._snapshot_retry_at = 0.0
        self._task_sender: TaskSender | None = None
        self._messages = self._applied = self._stale = self._malformed = 0
        self._registry_applied = self._policy_applied = 0
        self._snapshot_scores = self._reconnects = 0

    @property
    def queue_name(self) -> str:
        return str(self._queue.name)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def stats(self) -> SubscriberStats:
        with self._lock:
            return SubscriberStats(
                messages=self._messages,
                updates_applied=self._applied,
                registry_applied=self._registry_applied,
                ignored_stale=self._stale,
                malformed=self._malformed,
                snapshot_scores=self._snapshot_scores,
                snapshot_done=self._current.is_set(),
                reconnects=self._reconnects,
                policy_applied=self._policy_applied,
            )

    # -- lifecycle -----------------------------------------------------------------------

    def wait_until_current(self, timeout: float | None = None) -> bool:
        """Block until the start-up snapshot is applied (at once without one); False on
        timeout. Until then the catalog holds the local file's scores."""
        return self._current.wait(timeout)

    def start(self) -> None:
        if self.running:
            return
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name=f"routelearn-subscriber-{self.instance_id}", daemon=True
        )
        self._thread.start()

    def stop(self, timeout: float | None = 10.0) -> bool:
        """Stop the thread; True when it ended within ``timeout``. A message being applied is
        finished and acked first; one not yet acked returns to the queue (kombu restores it)."""
        self._stop.set()
        thread = self._thread
        if thread is None:
            return True
        thread.join(timeout)
        if thread.is_alive():
            return False
        self._thread = None
        return True

    def drain(self, timeout: float = 10.0) -> int:
        """Apply the snapshot (if not done yet) and every message queued now, in this thread;
        return how many messages were handled. Stops at ``timeout`` seconds."""
        if self.running:
            raise RuntimeError("drain() is for a subscriber whose thread is not running")
        deadline = time.monotonic() + timeout
        self._maybe_snapshot()
        handled = 0
        with self._connect() as connection:
            queue = self._queue(connection.default_channel)
            queue.declare()
            while time.monotonic() < deadline:
                message = queue.get(no_ack=False, accept=_ACCEPT)
                if message is None:
                    break
                self._handle(message)
                handled += 1
        return handled

    # -- the thread ----------------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        while not self._stop.is_set():
            self._maybe_snapshot()
            try:
                with self._connect() as connection:
                    connection.ensure_connection(max_retries=1)
                    with _Consumer(
                        connection.default_channel,
                        queues=[self._queue],  # declared on consume: durable, own exchange
                        on_message=self._handle,
                        accept=_ACCEPT,
                        prefetch_count=1,  # one round at a time: each is applied, then acked
                    ):
                        if attempt:
                            log.warning("score update subscriber %s reconnected", self.instance_id)
                        attempt = 0
                        self._consume(connection)
            except self._broker_errors as exc:
                attempt += 1
                with self._lock:
                    self._reconnects += 1
                log.warning(
                    "score update subscriber %s lost the broker (%s); reconnecting",
                    self.instance_id,
                    exc,
                )
                self._stop.wait(backoff_delay(attempt, _BACKOFF_BASE, _BACKOFF_CAP))
            except Exception:
                # Not expected: keep the instance receiving updates rather than let the thread
                # die silently; back off so a persistent bug does not spin.
                attempt += 1
                log.exception("score update subscriber %s failed; restarting", self.instance_id)
                self._stop.wait(backoff_delay(attempt, _BACKOFF_BASE, _BACKOFF_CAP))

    def _consume(self, connection: Any) -> None:
        while not self._stop.is_set():
            # socket.timeout (TimeoutError): nothing arrived; check stop and the snapshot.
            with contextlib.suppress(TimeoutError):
                connection.drain_events(timeout=_POLL_SECONDS)
            if not self._current.is_set():
                self._maybe_snapshot()

    def _connect(self) -> Any:
        return connection(self._settings)

    # -- applying ------------------------------------------------------------------------

    def _maybe_snapshot(self) -> None:
        if self._current.is_set() or time.monotonic() < self._snapshot_retry_at:
            return
        if self._request_snapshot:
            self._ask_for_snapshot()
            return
        if self._snapshot_source is None:
            return
        try:
            snapshot = self._snapshot_source()
        except Exception as exc:
            self._snapshot_retry_at = time.monotonic() + _SNAPSHOT_RETRY_SECONDS
            log.warning(
                "score snapshot for %s failed (%s); consuming updates meanwhile, retrying in "
                "%.0f s",
                self.instance_id,
                exc,
                _SNAPSHOT_RETRY_SECONDS,
            )
            return
        self._apply_snapshot(snapshot)

    def _ask_for_snapshot(self) -> None:
        self._snapshot_retry_at = time.monotonic() + _SNAPSHOT_REQUEST_SECONDS
        try:
            if self._task_sender is None:
                self._task_sender = TaskSender(self._settings, RETRY_POLICY)
            self._task_sender.send(SEND_SNAPSHOT_TASK, [self.instance_id])
        except Exception as exc:
            self._snapshot_retry_at = time.monotonic() + _SNAPSHOT_RETRY_SECONDS
            log.warning(
                "could not ask for a score snapshot for %s (%s); retrying in %.0f s",
                self.instance_id,
                exc,
                _SNAPSHOT_RETRY_SECONDS,
            )

    def _apply_snapshot(self, snapshot: Mapping[str, Any]) -> None:
        """Raises CatalogError for a malformed snapshot."""
        changed = self._catalog.apply_snapshot(snapshot)
        with self._lock:
            self._snapshot_scores += changed
        self._current.set()
        if changed:
            self._persist()

    def _handle(self, message: Any) -> None:
        """Apply one round, then ack. A malformed message is logged and acked too: it would
        be just as malformed on every redelivery, and left unacked it would come back forever
        (after each visibility timeout) and hold up the queue. Its updates are lost, but the
        next round or the next start-up snapshot carries newer versions."""
        try:
            body = message.decode()
            if isinstance(body, Mapping) and "snapshot" in body:
                self._apply_snapshot(body["snapshot"])
                applied_pieces = self._apply_policy(_parse_policy(body.get("policy", []))[0])
                bad = self._apply_inputs(body)
                with self._lock:
                    self._policy_applied += applied_pieces
                    self._messages += 1
                    self._malformed += bad
                message.ack()
                return
            updates, changes, bad = _parse_round(body)
            pieces, bad_pieces = _parse_policy(body.get("policy", []))
            bad += bad_pieces
            bad += self._apply_inputs(body)
        except Exception as exc:
            log.error("malformed score update message on %s dropped: %s", self._queue.name, exc)
            with self._lock:
                self._messages += 1
                self._malformed += 1
            message.ack()
            return
        applied = stale = registry_applied = 0
        # The registry first: a model added in the same round as its first score is known
        # (with its provider and status) when the score arrives.
        for change in changes:
            if self._catalog.apply_registry(change):
                registry_applied += 1
            else:
                stale += 1
        policy_applied = self._apply_policy(pieces)
        stale += len(pieces) - policy_applied
        for update in updates:
            try:
                changed = self._catalog.apply_update(
                    update.model, update.complexity, update.new_score, update.version
                )
            except ValueError as exc:  # the catalog refused it; same reasoning as above
                bad += 1
                log.error("score update %s refused by the catalog: %s", update, exc)
                continue
            if changed:
                applied += 1
                if self._on_update is not None:
                    try:
                        self._on_update(update)
                    except Exception:  # the caller's bug must not stop the updates
                        log.exception("on_update callback failed for %s", update)
            else:
                stale += 1
        if applied:
            self._persist()
        with self._lock:
            self._messages += 1
            self._applied += applied
            self._registry_applied += registry_applied
            self._policy_applied += policy_applied
            self._stale += stale
            self._malformed += bad
        message.ack()

    def _apply_inputs(self, body: Mapping[str, Any]) -> int:
        """The inputs a round may carry (the routing policy's spend and quality, the learner's
        estimates); how many were malformed (logged, skipped)."""
        bad = 0
        book = self._catalog.policy
        spend, quality = body.get("spend"), body.get("quality")
        try:
            if spend is not None:
                book.apply_spend(SpendReport.from_message(spend))
        except InvalidSpendReport as exc:
            bad += 1
            log.error("malformed spend report skipped: %s", exc)
        try:
            if quality is not None:
                book.apply_quality(QualityReport.from_message(quality))
        except InvalidQualityReport as exc:
            bad += 1
            log.error("malformed quality report skipped: %s", exc)
        estimates = body.get("estimates")
        try:
            if estimates is not None:
                self._catalog.estimates.apply(EstimateReport.from_message(estimates))
        except InvalidEstimateReport as exc:
            bad += 1
            log.error("malformed estimate report skipped: %s", exc)
        return bad

    def _apply_policy(self, pieces: list[PolicyChange]) -> int:
        if not pieces:
            return 0
        return self._catalog.policy.apply(pieces)

    def _persist(self) -> None:
        if self._persist_path is None:
            return
        try:
            self._catalog.save(self._persist_path)
        except Exception as exc:
            # The catalog in memory is current; the next change saves again.
            log.error("could not save the catalog to %s: %s", self._persist_path, exc)


def _parse_policy(items: object) -> tuple[list[PolicyChange], int]:
    """The valid routing policy changes of a message, and how many were malformed."""
    if not isinstance(items, list):
        log.error("a message's policy must be a list, got %.200r", items)
        return [], 1
    found: list[PolicyChange] = []
    bad = 0
    for item in items:
        try:
            found.append(PolicyChange.from_message(item))
        except InvalidPolicyChange as exc:
            bad += 1
            log.error("malformed routing policy change skipped: %s", exc)
    return found, bad


def _parse_round(body: object) -> tuple[list[ScoreUpdate], list[RegistryChange], int]:
    """The valid score updates and registry changes of a round message, and how many were
    malformed (logged, skipped: one bad item does not cost the instance the others)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("updates"), list):
        raise InvalidScoreUpdate(f'a round must be {{"updates": [...]}}, got {body!r:.200}')
    models = body.get("models", [])
    if not isinstance(models, list):
        raise InvalidRegistryChange(f"a round's models must be a list, got {models!r:.200}")
    updates: list[ScoreUpdate] = []
    changes: list[RegistryChange] = []
    bad = 0
    for item in body["updates"]:
        try:
            updates.append(ScoreUpdate.from_message(item))
        except InvalidScoreUpdate as exc:
            bad += 1
            log.error("malformed score update skipped: %s", exc)
    for item in models:
        try:
            changes.append(RegistryChange.from_message(item))
        except InvalidRegistryChange as exc:
            bad += 1
            log.error("malformed registry change skipped: %s", exc)
    return updates, changes, bad
