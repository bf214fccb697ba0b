"""Which model takes a request: the pure part of routing (no events, no state changes).

In order:
1. an explicit user request wins if that model is known, enabled, has the capabilities, has an
   available circuit, is not excluded and fits the budget;
2. otherwise the best score among the enabled models that have the capabilities, an available
   circuit and an estimate within the budget (the catalog keeps them sorted, so this stops at
   the first that qualifies instead of sorting per request);
3. ``prefer`` breaks near-ties of that best score by latency or price (ties.py);
4. with probability ``share`` the decision explores instead (exploration.py);
5. otherwise, if the chosen model has a split for the complexity, ``percent`` of its traffic
   goes to the split's model, which may be disabled but must otherwise qualify.
A fallback (a later attempt of ``execute``) takes steps 2-3 only.

With the central routing policy's ``Verdict`` (``routelearn.domain.routing_policy``), only the
models it allows qualify, its capabilities add to the request's, and before step 2 its tiers
(a rule's targets, the agent's preferred then fallback models) are tried in order: the best
score among a tier's qualifying models takes the request, without exploration or split.

Under a budget, a model without prices does not qualify: its cost cannot be checked.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection
from dataclasses import dataclass

from routelearn.domain.routing_policy.engine import TierKind, Verdict
from routelearn.instance.catalog.model import ModelCatalog, ModelEntry
from routelearn.instance.router.breaker import CircuitBreaker
from routelearn.instance.router.budget import estimate_cost
from routelearn.instance.router.decision import Reason
from routelearn.instance.router.errors import BudgetExceededError, NoModelAvailableError
from routelearn.instance.router.exploration import Explorer
from routelearn.instance.router.request import Limit, Request, Tokens
from routelearn.instance.router.ties import Ranked, TieBreaker

_TIER_REASON = {
    TierKind.RULE: Reason.RULE,
    TierKind.PREFERRED: Reason.PREFERRED,
    TierKind.FALLBACK: Reason.PREFERRED,
}


@dataclass(frozen=True, slots=True)
class Choice:
    entry: ModelEntry
    score: float
    reason: Reason
    exploratory: bool
    estimated_cost: float | None


class Selector:
    def __init__(
        self,
        catalog: ModelCatalog,
        breaker: CircuitBreaker,
        explorer: Explorer,
        rng: random.Random,
        tie_margin: float,
    ) -> None:
        self._catalog = catalog
        self._breaker = breaker
        self._explorer = explorer
        self._rng = rng
        self._ties = TieBreaker(tie_margin)

    def select(
        self,
        request: Request,
        tokens: Tokens | None,
        limit: Limit | None,
        exclude: Collection[str] = (),
        *,
        fallback: bool = False,
        verdict: Verdict | None = None,
        explore: bool = True,
    ) -> Choice:
        complexity = request.complexity
        required = request.required
        available = self._breaker.available
        permitted = None
        if verdict is not None:
            required = required | verdict.required
            permitted = verdict.allowed

        def cost(entry: ModelEntry) -> float | None:
            if tokens is None:
                return None
            return estimate_cost(entry.prices, tokens.prompt, tokens.completion)

        def qualifies(entry: ModelEntry) -> bool:
            """Whether a model that has the capabilities may take the request."""
            if permitted is not None and entry.name not in permitted:
                return False
            if entry.name in exclude or not available(entry.name):
                return False
            if limit is None:
                return True
            estimate = cost(entry)
            return estimate is not None and estimate <= limit.available

        # The common case: no exclusions, no budget, every circuit closed. Then every capable
        # model qualifies and the scans below skip the per-model check.
        open_field = (
            permitted is None and not exclude and limit is None and not self._breaker.any_tripped
        )

        wanted = request.user_model_request
        if wanted is not None and not fallback:
            entry = self._catalog.entry(wanted)
            if (
                entry is not None
                and entry.enabled
                and required <= entry.capabilities
                and qualifies(entry)
            ):
                score = entry.scores[complexity]
                return Choice(entry, score, Reason.USER_REQUEST, False, cost(entry))

        ranked = self._catalog.candidates(complexity)
        if verdict is not None:
            for tier in verdict.tiers:
                for entry, score in ranked:  # best score first
                    if (
                        entry.name in tier.models
                        and required <= entry.capabilities
                        and qualifies(entry)
                    ):
                        why = Reason.FALLBACK if fallback else _TIER_REASON[tier.kind]
                        return Choice(entry, score, why, False, cost(entry))
        best = -1
        skipped_for_budget = False
        for index, (entry, _) in enumerate(ranked):
            if required and not required <= entry.capabilities:
                continue
            if open_field or qualifies(entry):
                best = index
                break
            if limit is not None and entry.name not in exclude and available(entry.name):
                skipped_for_budget = True
        if best < 0:
            raise self._no_model(request, required, ranked, exclude, limit, cost, permitted)

        entry, score = ranked[best]
        reason = Reason.BUDGET if skipped_for_budget else Reason.BEST
        if request.prefer is not None:
            check = None if open_field else qualifies
            preferred = self._ties.choose(request, ranked, best, check, tokens)
            if preferred is not entry:
                entry, reason = preferred, Reason.PREFER
                score = entry.scores[complexity]
        if fallback:
            return Choice(entry, score, Reason.FALLBACK, False, cost(entry))

        if explore and self._explorer.should_explore():
            chosen = entry

            def explorable(other: ModelEntry) -> bool:
                if other is chosen or (required and not required <= other.capabilities):
                    return False
                return open_field or qualifies(other)

            explored = self._explorer.pick(ranked, complexity, explorable, chosen)
            if explored is not None:
                score = explored.scores[complexity]
                return Choice(explored, score, Reason.EXPLORATION, True, cost(explored))

        split = entry.splits.get(complexity)
        if split is not None:
            canary = self._catalog.entry(split.model)
            if (
                canary is not None
                and required <= canary.capabilities
                and qualifies(canary)
                and self._rng.random() * 100.0 < split.percent
            ):
                return Choice(canary, canary.scores[complexity], Reason.SPLIT, False, cost(canary))
        return Choice(entry, score, reason, False, cost(entry))

    def _no_model(
        self,
        request: Request,
        required: frozenset[str],
        ranked: Ranked,
        exclude: Collection[str],
        limit: Limit | None,
        cost: Callable[[ModelEntry], float | None],
        permitted: frozenset[str] | None,
    ) -> Exception:
        capable = circuit_open = tried = policy_excluded = 0
        cheapest: tuple[float, str] | None = None
        for entry, _ in ranked:
            if not required <= entry.capabilities:
                continue
            capable += 1
            if permitted is not None and entry.name not in permitted:
                policy_excluded += 1
            elif entry.name in exclude:
                tried += 1
            elif not self._breaker.available(entry.name):
                circuit_open += 1
            elif limit is not None:
                estimate = cost(entry)
                if estimate is not None and (cheapest is None or estimate < cheapest[0]):
                    cheapest = (estimate, entry.name)
        if limit is not None and capable > tried + circuit_open + policy_excluded:
            estimate, model = cheapest if cheapest is not None else (None, None)
            return BudgetExceededError(limit.scope, limit.limit, limit.spent, estimate, model)
        return NoModelAvailableError(
            request.complexity.value,
            request.capabilities,
            capable=capable,
            circuit_open=circuit_open,
            tried=tried,
            policy_excluded=policy_excluded,
        )
