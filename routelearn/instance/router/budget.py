"""Cost estimates and a thread-safe spend ledger with limits per scope.

A scope is a pair naming who pays, e.g. ``("instance", "web-1")`` or ``("workspace", "acme")``.
The ledger holds per scope an optional limit (USD), the spend recorded, and the estimates of
requests in flight. ``reserve`` checks and books an estimate in one step under the lock, so two
concurrent requests cannot both take the last of a budget; ``settle`` replaces the estimate by
the actual cost once known. An actual cost above its estimate is recorded in full, so spend can
pass the limit by at most the error of the estimates in flight; the next request is then refused.

The ledger has no time window: a daily budget is ``reset(scope)`` by the caller at midnight.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from routelearn.instance.catalog.file import Prices
from routelearn.instance.router.errors import BudgetExceededError
from routelearn.instance.router.request import Scope

__all__ = ["BudgetLedger", "Reservation", "Scope", "ScopeSpend", "estimate_cost"]

# Float sums of many small costs drift by a few ulps; a request must not be refused for that.
_EPSILON = 1e-12


def estimate_cost(
    prices: Prices | None, prompt_tokens: int, completion_tokens: int
) -> float | None:
    """USD for a request of this size; None when the model has no prices (cost unknown)."""
    if prices is None:
        return None
    return (prompt_tokens * prices.input_per_1k + completion_tokens * prices.output_per_1k) / 1000


@dataclass(frozen=True, slots=True)
class Reservation:
    scope: Scope
    amount: float
    number: int  # unique per ledger, so settling twice is harmless


@dataclass(frozen=True, slots=True)
class ScopeSpend:
    limit: float | None
    spent: float
    reserved: float

    @property
    def remaining(self) -> float | None:
        """What a new request may still cost; None without a limit."""
        if self.limit is None:
            return None
        return max(self.limit - self.spent - self.reserved, 0.0)


class BudgetLedger:
    """Running spend per scope, with optional limits; thread-safe."""

    def __init__(self, limits: Mapping[Scope, float] | None = None) -> None:
        self._lock = threading.Lock()
        self._limits: dict[Scope, float] = {}
        self._spent: dict[Scope, float] = {}
        self._reserved: dict[Scope, float] = {}
        self._open: dict[int, Reservation] = {}
        self._next = 0
        for scope, limit in (limits or {}).items():
            self.set_limit(scope, limit)

    def set_limit(self, scope: Scope, limit: float | None) -> None:
        """Set (or with None, remove) the limit of a scope, in USD."""
        if limit is not None and not (math.isfinite(limit) and limit >= 0):
            raise ValueError(f"limit of {scope} must be a finite number >= 0, got {limit!r}")
        with self._lock:
            if limit is None:
                self._limits.pop(scope, None)
            else:
                self._limits[scope] = float(limit)

    def spend(self, scope: Scope) -> ScopeSpend:
        with self._lock:
            return self._spend(scope)

    def snapshot(self) -> dict[Scope, ScopeSpend]:
        """Every scope with a limit, a spend or a reservation."""
        with self._lock:
            scopes = self._limits.keys() | self._spent.keys() | self._reserved.keys()
            return {scope: self._spend(scope) for scope in scopes}

    def reserve(self, scope: Scope, amount: float, model: str | None = None) -> Reservation:
        """Book ``amount`` against the scope, or raise ``BudgetExceededError`` if it does not
        fit in the limit beside what is spent and reserved."""
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"amount must be a finite number >= 0, got {amount!r}")
        with self._lock:
            limit = self._limits.get(scope)
            if limit is not None:
                used = self._spent.get(scope, 0.0) + self._reserved.get(scope, 0.0)
                if used + amount > limit + _EPSILON:
                    raise BudgetExceededError(scope, limit, used, amount, model)
            self._next += 1
            reservation = Reservation(scope, amount, self._next)
            self._open[reservation.number] = reservation
            self._reserved[scope] = self._reserved.get(scope, 0.0) + amount
            return reservation

    def settle(self, reservation: Reservation, actual: float) -> None:
        """Replace a reservation by the actual cost (0 for a call that failed)."""
        if not (math.isfinite(actual) and actual >= 0):
            raise ValueError(f"actual must be a finite number >= 0, got {actual!r}")
        with self._lock:
            if self._open.pop(reservation.number, None) is None:
                return  # settled or released already
            scope = reservation.scope
            self._reserved[scope] = max(self._reserved[scope] - reservation.amount, 0.0)
            self._spent[scope] = self._spent.get(scope, 0.0) + actual

    def release(self, reservation: Reservation) -> None:
        """Drop a reservation whose request was not sent."""
        self.settle(reservation, 0.0)

    def record(self, scope: Scope, amount: float) -> None:
        """Add spend without a reservation (a decision routed by ``route`` and reported); never
        refused, since the money is spent already."""
        if not (math.isfinite(amount) and amount >= 0):
            raise ValueError(f"amount must be a finite number >= 0, got {amount!r}")
        with self._lock:
            self._spent[scope] = self._spent.get(scope, 0.0) + amount

    def reset(self, scope: Scope) -> None:
        """Start a new period: forget the scope's spend (its limit and reservations stay)."""
        with self._lock:
            self._spent.pop(scope, None)

    def _spend(self, scope: Scope) -> ScopeSpend:
        return ScopeSpend(
            self._limits.get(scope), self._spent.get(scope, 0.0), self._reserved.get(scope, 0.0)
        )
