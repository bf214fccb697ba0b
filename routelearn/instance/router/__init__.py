"""Instance-side routing: choose a model per request from the catalog, publish the decision and
its outcome for the fleet to learn from, and execute a caller's provider call with a circuit
breaker, a budget, a response cache and fallback. No Celery, no database: the publisher is
passed in. docs/router.md describes it; one concept per module:

- ``router``: ModelRouter (route, report, execute, stats) and ``executor``: execute's loop
- ``selection``: the selection rules; ``exploration``: the exploration share
- ``breaker``, ``budget``, ``cache``, ``tokens``: the reliability and cost parts
- ``decision``, ``execution``, ``events``, ``stats``: the data the router gives and publishes
- ``splits``: statistics comparing a split's canary with its model
- ``errors``: what the router raises
"""

from __future__ import annotations

from routelearn.instance.router.breaker import CircuitBreaker, CircuitState, CircuitStatus
from routelearn.instance.router.budget import (
    BudgetLedger,
    Reservation,
    Scope,
    ScopeSpend,
    estimate_cost,
)
from routelearn.instance.router.cache import CacheStats, ResponseCache, cache_key
from routelearn.instance.router.decision import Decision, Reason
from routelearn.instance.router.errors import (
    BudgetExceededError,
    ExecutionFailedError,
    NoModelAvailableError,
    ProviderError,
    RouterError,
)
from routelearn.instance.router.events import EventSink, decision_event
from routelearn.instance.router.execution import Attempt, CallOutput, ExecutionResult, ProviderCall
from routelearn.instance.router.router import ModelRouter
from routelearn.instance.router.splits import SplitComparison, Verdict, compare_split
from routelearn.instance.router.stats import CostErrorStats, RouterStats
from routelearn.instance.router.tokens import TokenEstimator, heuristic_tokens

__all__ = [
    "Attempt",
    "BudgetExceededError",
    "BudgetLedger",
    "CacheStats",
    "CallOutput",
    "CircuitBreaker",
    "CircuitState",
    "CircuitStatus",
    "CostErrorStats",
    "Decision",
    "EventSink",
    "ExecutionFailedError",
    "ExecutionResult",
    "ModelRouter",
    "NoModelAvailableError",
    "ProviderCall",
    "ProviderError",
    "Reason",
    "Reservation",
    "ResponseCache",
    "RouterError",
    "RouterStats",
    "Scope",
    "ScopeSpend",
    "SplitComparison",
    "TokenEstimator",
    "Verdict",
    "cache_key",
    "compare_split",
    "decision_event",
    "estimate_cost",
    "heuristic_tokens",
]
