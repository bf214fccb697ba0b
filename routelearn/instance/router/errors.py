"""What the router raises on purpose; every class derives from ``RouteLearnError``."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from routelearn.errors import RouteLearnError

if TYPE_CHECKING:
    from routelearn.instance.router.execution import Attempt
    from routelearn.instance.router.request import Scope

# Statuses after which the same request may succeed if sent again: timeouts, conflicts, rate
# limits and server errors. Any other 4xx says the request itself is wrong.
RETRYABLE_STATUSES = frozenset({408, 409, 425, 429})


def is_retryable_status(status_code: int | None) -> bool:
    """No status (a network error, a timeout) or a retryable one: a retry may succeed."""
    return status_code is None or status_code >= 500 or status_code in RETRYABLE_STATUSES


def format_scope(scope: Scope | None) -> str:
    return "per-request budget" if scope is None else f"scope {scope[0]}:{scope[1]}"


class RouterError(RouteLearnError):
    """Root of the router's errors."""


class ProviderError(RouterError):
    """A provider call failed. Raised by the caller's ``call`` function, not by the router.

    ``retryable`` says whether sending the same request again may succeed; when not given it
    follows the status code (none, 408, 409, 425, 429 or 5xx: yes; any other 4xx: no).
    """

    def __init__(
        self,
        provider: str,
        status_code: int | None = None,
        retryable: bool | None = None,
        message: str = "",
    ) -> None:
        self.provider = provider
        self.status_code = status_code
        self.retryable = is_retryable_status(status_code) if retryable is None else retryable
        self.detail = message
        status = f"HTTP {status_code}" if status_code is not None else "error"
        text = f"{status} from {provider}"
        if message:
            text += f": {message}"
        super().__init__(f"{text} (retryable: {self.retryable})")


class NoModelAvailableError(RouterError):
    """No model of the catalog can take the request; the message says why each was left out."""

    def __init__(
        self,
        complexity: str,
        capabilities: Iterable[str],
        *,
        capable: int = 0,
        circuit_open: int = 0,
        tried: int = 0,
        policy_excluded: int = 0,
    ) -> None:
        self.complexity = complexity
        self.capabilities = tuple(capabilities)
        self.policy_excluded = policy_excluded
        wanted = f" with capabilities {list(self.capabilities)}" if self.capabilities else ""
        if capable == 0:
            why = "no enabled model has them" if self.capabilities else "no model is enabled"
        else:
            why = f"{capable} capable: {circuit_open} with an open circuit, {tried} already tried"
            if policy_excluded:
                why += f", {policy_excluded} left out by the routing policy"
        super().__init__(f"no model available for complexity {complexity!r}{wanted} ({why})")


class BudgetExceededError(RouterError):
    """No capable, available model fits the budget in force."""

    def __init__(
        self,
        scope: Scope | None,
        limit: float,
        spent: float,
        estimate: float | None,
        model: str | None = None,
    ) -> None:
        self.scope = scope
        self.limit = limit
        self.spent = spent
        self.estimate = estimate
        self.model = model
        if estimate is None:
            need = "no capable model has prices, so none can be checked against it"
        else:
            need = f"the cheapest capable model ({model}) needs an estimated ${estimate:.6f}"
        super().__init__(
            f"budget exceeded for {format_scope(scope)}: limit ${limit:.6f}, "
            f"spent ${spent:.6f}, remaining ${max(limit - spent, 0.0):.6f}; {need}"
        )


class ExecutionFailedError(RouterError):
    """Every attempt of ``execute`` failed, or fallback stopped; ``attempts`` lists them."""

    def __init__(self, attempts: Sequence[Attempt], reason: str) -> None:
        self.attempts = tuple(attempts)
        self.last_error = self.attempts[-1].error if self.attempts else None
        lines = [f"{a.decision.model}: {a.error}" for a in self.attempts]
        count = len(self.attempts)
        super().__init__(
            f"{count} attempt{'s' if count != 1 else ''} failed, {reason}"
            + "".join(f"\n  {line}" for line in lines)
        )
