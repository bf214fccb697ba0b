"""What the central router would decide, and why, without deciding: ``POST /api/routing/test``
and ``GET /api/agents/{agentType}/models``.

Both read the API process's central router (its catalog, scores and routing policy, as
``POST /api/route`` does) and run the same policy engine and selection, through
``ModelRouter.verdict`` and ``ModelRouter.preview``: nothing is published, no circuit trial is
claimed, no exploration is drawn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routelearn.api.central import CentralRouter, NotLoaded
from routelearn.api.explain import Routed, describe, size
from routelearn.domain.event import Complexity, Prefer
from routelearn.domain.routing_policy.engine import (
    BudgetExhausted,
    BudgetStatus,
    RequestFacts,
    Tier,
    Verdict,
)
from routelearn.errors import RouteLearnError


@dataclass(frozen=True, slots=True)
class Left:
    """A model the request may not go to, and what left it out."""

    model: str
    stage: str  # the policy's Stage, or "status" for a model that is not active
    detail: str


@dataclass(frozen=True, slots=True)
class DryRun:
    routed: Routed | None  # None: refused (``refusal`` says why)
    refusal: str | None
    rule: str | None
    tiers: tuple[Tier, ...]
    excluded: tuple[Left, ...]
    budget: BudgetStatus | None


def _inactive(central: CentralRouter) -> list[Left]:
    """The registry's models that are not active (a model that is only scored, not
    registered, is not the registry's to list)."""
    found = []
    for entry in central.catalog.models():
        status = central.status_of(entry.name)
        if status is not None and not entry.enabled:
            found.append(Left(entry.name, "status", f"{status}: only active models are routed to"))
    return found


def _left(verdict: Verdict | None, central: CentralRouter) -> tuple[Left, ...]:
    found = [] if verdict is None else verdict.excluded
    return tuple([Left(e.model, e.stage.value, e.detail) for e in found] + _inactive(central))


def test(
    central: CentralRouter,
    prompt: str,
    *,
    complexity: Complexity | None,
    max_tokens: int | None,
    capabilities: Sequence[str],
    prefer: Prefer | None,
    budget: float | None,
    agent_type: str | None,
    workspace_id: str | None,
    request_type: str | None,
) -> DryRun:
    """The decision ``POST /api/route`` would make for this request now, and its explanation.
    Raises NotLoaded."""
    if not central.loaded:
        raise NotLoaded("the model catalog has not been read from the database yet")
    catalog, router = central.catalog, central.router
    prompt_tokens, completion_tokens, level = size(router, prompt, complexity, max_tokens)
    try:
        decision = router.preview(
            level,
            capabilities,
            prefer,
            budget,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            agent_type=agent_type,
            workspace_id=workspace_id,
            request_type=request_type,
            content_length=len(prompt),
        )
    except BudgetExhausted as exc:
        return DryRun(None, str(exc), None, (), _left(None, central), exc.status)
    except RouteLearnError as exc:  # no model, or none within the budget: say what was left
        facts = RequestFacts(
            agent_type, workspace_id, request_type, len(prompt), frozenset(capabilities)
        )
        left = router.verdict(facts, level)
        return DryRun(None, str(exc), *_explained(left), _left(left, central), _budget(left))
    # The verdict the decision was made under: one draw, so tiers and arm agree with it.
    verdict = decision.verdict
    routed = describe(
        catalog,
        decision,
        complexity_given=complexity is not None,
        capabilities=capabilities,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        max_tokens=max_tokens,
        budget=budget,
    )
    return DryRun(routed, None, *_explained(verdict), _left(verdict, central), _budget(verdict))


def _explained(verdict: Verdict | None) -> tuple[str | None, tuple[Tier, ...]]:
    return (None, ()) if verdict is None else (verdict.rule, verdict.tiers)


def _budget(verdict: Verdict | None) -> BudgetStatus | None:
    return None if verdict is None else verdict.budget


@dataclass(frozen=True, slots=True)
class AgentModels:
    qualifying: tuple[tuple[str, str | None], ...]  # (model, its tier kind or None)
    excluded: tuple[Left, ...]


def agent_models(central: CentralRouter, agent_type: str) -> AgentModels:
    """The active models an agent's requests may go to now (the agent's preferences and every
    rule's restrictions aside from workspaces), and why each other model may not."""
    if not central.loaded:
        raise NotLoaded("the model catalog has not been read from the database yet")
    catalog, router = central.catalog, central.router
    verdict = router.verdict(RequestFacts(agent_type=agent_type), Complexity.MEDIUM)
    if verdict is None:
        active = [e.name for e in catalog.models() if e.enabled]
        return AgentModels(tuple((m, None) for m in active), _left(None, central))
    kinds = {m: tier.kind.value for tier in verdict.tiers for m in tier.models}
    qualifying = tuple(
        (e.name, kinds.get(e.name)) for e in catalog.models() if e.name in verdict.allowed
    )
    return AgentModels(qualifying, _left(verdict, central))
