"""What a selection is asked: the request's needs, its expected size, the budget in force."""

from __future__ import annotations

from dataclasses import dataclass

from routelearn.domain.event import Complexity, Prefer

# A budget scope: (kind, name), e.g. ("team", "search"); its limit is kept by BudgetLedger.
Scope = tuple[str, str]


@dataclass(frozen=True, slots=True)
class Request:
    complexity: Complexity
    capabilities: tuple[str, ...]  # as the caller gave them, for the event
    required: frozenset[str]
    prefer: Prefer | None
    user_model_request: str | None


@dataclass(frozen=True, slots=True)
class Tokens:
    """The expected size of a request, for its cost estimate."""

    prompt: int
    completion: int


@dataclass(frozen=True, slots=True)
class Limit:
    """The budget in force for one selection: the tightest of the request's and the scope's."""

    available: float  # USD the request may cost
    scope: Scope | None  # None: the per-request budget
    limit: float
    spent: float  # spent and reserved
