"""The central routing policy as the router applies it: the facts it reads of each catalog
entry, and the verdict for one request (``routelearn.domain.routing_policy.engine`` decides)."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from routelearn.domain.event import Complexity
from routelearn.domain.routing_policy.engine import ModelFacts, RequestFacts, Verdict, evaluate
from routelearn.domain.routing_policy.quality import Quality
from routelearn.instance.catalog.model import ModelCatalog, ModelEntry

SpendOf = Callable[[str], Mapping[str, float] | None]
QualityOf = Callable[[str, str], Quality | None]


def policy_verdict(
    catalog: ModelCatalog,
    facts: RequestFacts,
    complexity: Complexity,
    spend_of: SpendOf | None,
    quality_of: QualityOf,
    draw: Callable[[], float],
) -> Verdict | None:
    """The verdict for a request (None: no policy is set). ``draw`` is called once, only when
    a policy is set. Raises BudgetExhausted when the workspace has spent a period's limit."""
    state = catalog.policy.state
    if state.empty:
        return None
    level = complexity.value
    models = [
        model_facts(entry, quality_of(entry.name, level))
        for entry, _ in catalog.candidates(complexity)
    ]
    spend = None
    if facts.workspace_id is not None and spend_of is not None:
        spend = spend_of(facts.workspace_id)
    return evaluate(state, facts, models, spend=spend, draw=draw())


def model_facts(entry: ModelEntry, quality: Quality | None = None) -> ModelFacts:
    """What the routing policy reads of a catalog entry, and of its quality for the request's
    complexity."""
    prices = entry.prices
    per_token = None
    if prices is not None:
        per_token = max(prices.input_per_1k, prices.output_per_1k) / 1000.0
    return ModelFacts(
        name=entry.name,
        provider=entry.provider,
        capabilities=entry.capabilities,
        tags=entry.tags,
        regions=entry.regions,
        cost_per_token=per_token,
        success_rate=None if quality is None else quality.success_rate,
        latency_ms=None if quality is None else quality.latency_ms,
    )
