"""A circuit breaker per model: stop routing to a model that keeps failing, try it again later.

closed -> open after ``failure_threshold`` consecutive failures. Once ``reset_timeout_s`` has
passed, the circuit is half-open: one trial request may take the model (``acquire``); its success
closes the circuit, its failure opens it again for another timeout. A trial whose outcome is
never reported (a caller that routed but never called ``report``) would block the model for
good, so a trial older than the timeout is given up and another one allowed.

``available`` is on every route's path, so a closed model (the common case) costs one set
membership test and no lock; everything that changes state runs under the lock.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum


class CircuitState(StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"  # the timeout has passed: one trial request may go through


@dataclass(frozen=True, slots=True)
class CircuitStatus:
    state: CircuitState
    consecutive_failures: int
    failures: int  # since the breaker was made
    successes: int
    opened_at: float | None  # clock time the circuit last opened; None while closed
    trial_in_flight: bool


@dataclass(slots=True)
class _Health:
    consecutive_failures: int = 0
    failures: int = 0
    successes: int = 0
    opened_at: float | None = None
    trial_started: float | None = None


class CircuitBreaker:
    """Per-model breakers sharing one configuration; thread-safe."""

    def __init__(
        self,
        failure_threshold: int = 3,
        reset_timeout_s: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if failure_threshold < 1:
            raise ValueError(f"failure_threshold must be >= 1, got {failure_threshold}")
        if reset_timeout_s < 0:
            raise ValueError(f"reset_timeout_s must be >= 0, got {reset_timeout_s}")
        self.failure_threshold = failure_threshold
        self.reset_timeout_s = reset_timeout_s
        self._clock = clock
        self._lock = threading.Lock()
        self._health: dict[str, _Health] = {}
        # Models whose circuit is not closed. Mutated under the lock, read without it: a
        # membership test is atomic, and a reader racing a change sees the state before or after.
        self._tripped: set[str] = set()

    @property
    def any_tripped(self) -> bool:
        """Whether some circuit is not closed; when not, every model is available."""
        return bool(self._tripped)

    def available(self, model: str) -> bool:
        """Whether a request may be routed to ``model`` now; takes nothing (see ``acquire``)."""
        if model not in self._tripped:
            return True
        with self._lock:
            health = self._health.get(model)
            return health is None or self._may_try(health, self._clock())

    def acquire(self, model: str) -> bool:
        """Claim the model for one request: always granted while closed; while half-open,
        granted once (the trial), until its outcome is recorded or it expires."""
        if model not in self._tripped:
            return True
        with self._lock:
            health = self._health.get(model)
            if health is None or health.opened_at is None:
                return True
            now = self._clock()
            if not self._may_try(health, now):
                return False
            health.trial_started = now
            return True

    def record_success(self, model: str) -> None:
        with self._lock:
            health = self._health.setdefault(model, _Health())
            health.successes += 1
            if health.opened_at is not None and health.trial_started is None:
                # A straggler routed before the circuit opened; only a trial may close it.
                return
            health.consecutive_failures = 0
            health.opened_at = None
            health.trial_started = None
            self._tripped.discard(model)

    def record_failure(self, model: str) -> None:
        with self._lock:
            health = self._health.setdefault(model, _Health())
            health.failures += 1
            health.consecutive_failures += 1
            now = self._clock()
            if health.trial_started is not None:
                # The trial failed: open for another full timeout.
                health.opened_at = now
                health.trial_started = None
            elif health.opened_at is None and health.consecutive_failures >= self.failure_threshold:
                health.opened_at = now
                self._tripped.add(model)

    def state(self, model: str) -> CircuitStatus:
        with self._lock:
            health = self._health.get(model) or _Health()
            return self._status(health, self._clock())

    def states(self) -> dict[str, CircuitStatus]:
        """Every model that has reported an outcome, by name."""
        with self._lock:
            now = self._clock()
            return {model: self._status(h, now) for model, h in self._health.items()}

    def reset(self, model: str | None = None) -> None:
        """Forget one model's history (an operator fixed it), or every model's."""
        with self._lock:
            if model is None:
                self._health.clear()
                self._tripped.clear()
            else:
                self._health.pop(model, None)
                self._tripped.discard(model)

    # -- under the lock -------------------------------------------------------------------

    def _may_try(self, health: _Health, now: float) -> bool:
        if health.opened_at is None:
            return True
        if now - health.opened_at < self.reset_timeout_s:
            return False
        # Half-open: free unless a trial is in flight, and a trial older than the timeout
        # is taken as lost.
        started = health.trial_started
        return started is None or now - started >= self.reset_timeout_s

    def _status(self, health: _Health, now: float) -> CircuitStatus:
        if health.opened_at is None:
            state = CircuitState.CLOSED
        elif now - health.opened_at < self.reset_timeout_s:
            state = CircuitState.OPEN
        else:
            state = CircuitState.HALF_OPEN
        return CircuitStatus(
            state=state,
            consecutive_failures=health.consecutive_failures,
            failures=health.failures,
            successes=health.successes,
            opened_at=health.opened_at,
            trial_in_flight=health.trial_started is not None,
        )
