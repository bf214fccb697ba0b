"""What a routing decision is: the model chosen for one request, and why."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from routelearn.domain.event import Complexity, Prefer
from routelearn.domain.routing_policy.engine import Arm, Verdict
from routelearn.instance.catalog.model import ModelEntry


class Reason(StrEnum):
    BEST = "best"  # the best score among the capable, available models
    PREFER = "prefer"  # a near-tie of the best score, broken by latency or price
    BUDGET = "budget"  # a better model's estimate did not fit the budget
    USER_REQUEST = "user_request"  # the model the user asked for
    SPLIT = "split"  # a canary share of the traffic of the model that would have been chosen
    EXPLORATION = "exploration"  # an uncertain or stale model, to keep its score learning
    FALLBACK = "fallback"  # the next-best model after an attempt of execute() failed
    RULE = "rule"  # a routing rule's target (the central routing policy)
    PREFERRED = "preferred"  # among the agent's preferred or fallback models (routing policy)


@dataclass(frozen=True, slots=True)
class Decision:
    """One routing decision. ``decision_id`` ties its ``routed`` event to its outcome event."""

    decision_id: str
    model: str
    provider: str
    complexity: Complexity
    score: float  # the model's score for this complexity at the time of the decision
    reason: Reason
    exploratory: bool
    estimated_cost: float | None  # USD; None if the model has no prices or no size was given
    capabilities: tuple[str, ...] = ()
    prefer: Prefer | None = None
    user_model_request: str | None = None
    entry: ModelEntry | None = field(default=None, repr=False, compare=False)
    rule: str | None = None  # the routing rule whose target this is (Reason.RULE)
    arm: Arm | None = None  # the rule's traffic split arm, if it has a split
    # Who asked (the routing policy's inputs), carried into the decision's events.
    workspace_id: str | None = None
    agent_type: str | None = None
    request_type: str | None = None
    # The routing policy's verdict the choice was made under (None: no policy set).
    verdict: Verdict | None = field(default=None, repr=False, compare=False)
