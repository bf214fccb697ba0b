"""What ``POST /api/route`` (and its dry run) says about a decision besides the model: the
tokens and complexity it was sized by, the fallbacks to try, and a sentence saying why."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from routelearn.domain.complexity import estimate_complexity
from routelearn.domain.event import Complexity, Prefer
from routelearn.domain.routing_policy.engine import Verdict
from routelearn.instance.catalog import Candidate, ModelCatalog
from routelearn.instance.router import Decision, ModelRouter, Reason, estimate_cost

MAX_FALLBACKS = 3


@dataclass(frozen=True, slots=True)
class Routed:
    """A decision with what the answer says about it."""

    decision: Decision
    complexity_given: bool
    prompt_tokens: int
    completion_tokens: int
    max_tokens: int | None
    candidates: int  # active models with the capabilities
    fallbacks: list[str]
    explanation: str


def fallback_models(
    ranked: Sequence[Candidate],
    chosen: str,
    budget: float | None,
    prompt_tokens: int,
    completion_tokens: int,
    limit: int = MAX_FALLBACKS,
    verdict: Verdict | None = None,
) -> list[str]:
    """The next models to try if ``chosen`` fails, best score first: the capable active ones
    (``ranked``), under a budget only those whose estimate fits it (a model without prices
    cannot be checked, so it does not). With a routing policy's verdict, only the models it
    allows, its tiers first (a rule's targets in fallbackOrder, the agent's models)."""
    if verdict is not None:
        allowed = verdict.allowed
        first = {name: i for i, tier in enumerate(verdict.tiers) for name in tier.models}
        ranked = sorted(
            (pair for pair in ranked if pair[0].name in allowed),
            key=lambda pair: first.get(pair[0].name, len(verdict.tiers)),
        )  # stable: best score first within a tier
    found: list[str] = []
    for entry, _ in ranked:
        if len(found) >= limit:
            break
        if entry.name == chosen:
            continue
        if budget is not None:
            cost = estimate_cost(entry.prices, prompt_tokens, completion_tokens)
            if cost is None or cost > budget:
                continue
        found.append(entry.name)
    return found


def explain(
    decision: Decision,
    *,
    complexity_given: bool,
    prompt_tokens: int,
    max_tokens: int | None,
    candidates: int,
    budget: float | None,
) -> str:
    """Why this model, in one sentence for a person (``reason`` is the code for a program)."""
    level = decision.complexity.value
    if complexity_given:
        source = f"complexity {level} (given)"
    else:
        bound = "no maxTokens" if max_tokens is None else f"maxTokens {max_tokens}"
        source = f"complexity {level} (estimated from {prompt_tokens} prompt tokens, {bound})"
    wanted = f" with {', '.join(decision.capabilities)}" if decision.capabilities else ""
    field = f"{candidates} active model{'s' if candidates != 1 else ''}{wanted}"
    score = f"score {decision.score:.2f}"
    # Only the chosen reason's sentence is built: this runs on every POST /api/route.
    match decision.reason:
        case Reason.BEST:
            why = f"the best {score} among {field}"
        case Reason.PREFER:
            fastest = "fastest" if decision.prefer is Prefer.SPEED else "cheapest"
            why = f"{score}, within the tie margin of the best among {field}, and the {fastest} "
            why += "of those"
        case Reason.BUDGET:
            why = f"the best {score} among {field} whose estimate fits the budget of ${budget}"
        case Reason.EXPLORATION:
            why = (
                f"explored ({score}): its score is still uncertain or was not chosen lately, "
                "and a share of decisions gathers evidence on such models"
            )
        case Reason.SPLIT:
            why = f"a canary split of the traffic of the best among {field} ({score})"
        case Reason.USER_REQUEST:
            why = f"the model asked for ({score})"
        case Reason.FALLBACK:
            why = f"the next best among {field} ({score})"
        case Reason.RULE:
            arm = f", {decision.arm} arm of its traffic split" if decision.arm else ""
            why = f"a target of routing rule {decision.rule}{arm} ({score})"
        case Reason.PREFERRED:
            why = f"the best of the agent's preferred models ({score})"
    return f"{source}: {why}"


def size(
    router: ModelRouter, prompt: str, complexity: Complexity | None, max_tokens: int | None
) -> tuple[int, int, Complexity]:
    """A request's prompt and completion tokens, and its complexity (given, else estimated)."""
    prompt_tokens = router.tokens.count(prompt)
    completion_tokens = router.expected_completion_tokens if max_tokens is None else max_tokens
    if complexity is None:
        complexity = estimate_complexity(prompt_tokens, max_tokens)
    return prompt_tokens, completion_tokens, complexity


def describe(
    catalog: ModelCatalog,
    decision: Decision,
    *,
    complexity_given: bool,
    capabilities: Sequence[str],
    prompt_tokens: int,
    completion_tokens: int,
    max_tokens: int | None,
    budget: float | None,
) -> Routed:
    """The decision with what the answer says about it: fallbacks and the explanation."""
    ranked = catalog.candidates(decision.complexity, capabilities)
    return Routed(
        decision=decision,
        complexity_given=complexity_given,
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
        max_tokens=max_tokens,
        candidates=len(ranked),
        fallbacks=fallback_models(
            ranked,
            decision.model,
            budget,
            prompt_tokens,
            completion_tokens,
            verdict=decision.verdict,
        ),
        explanation=explain(
            decision,
            complexity_given=complexity_given,
            prompt_tokens=prompt_tokens,
            max_tokens=max_tokens,
            candidates=len(ranked),
            budget=budget,
        ),
    )
