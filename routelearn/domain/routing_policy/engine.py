"""The routing policy's decision for one request, before the learned scores: which models may take
it, which to choose among first, and why each other model may not.

In order (docs/routing-policy.md has a worked example):
1. the workspace's ``modelRestrictions`` (blocked wins over allowed; models and providers);
2. its ``complianceRequirements`` (allowed providers, a region of the model's among the allowed
   ones, tags the model must carry);
3. capabilities: the request's and the agent's ``requiredCapabilities``;
4. the agent's ``performanceRequirements`` and the workspace's ``qualityRequirements``, judged on
   the fleet's learned success rate and latency for the model and complexity (a model without
   evidence yet is not judged) and the registry's prices (a model without prices fails a cost
   ceiling: its cost cannot be checked);
5. the workspace's budget: a period at its limit refuses the request; otherwise the smallest
   remaining amount is the most the request may cost, so the router takes cheaper models first
   (``BudgetStatus.remaining``);
6. the tiers to choose among first: the first enabled rule (highest ``priority``) whose condition
   matches sends the request to one of its targets (by ``weight``, or by ``trafficSplit``),
   then its other targets in ``fallbackOrder``; then the agent's ``preferredModels``, then its
   ``fallbackModels``.
The router then takes the first tier with a model that qualifies (circuit, budget), the best
learned score within it; with none, the best learned score among the allowed models, with its
exploration and splits. Pure: no I/O, no clock; the random draw is the caller's.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    RoutingRule,
    RuleCondition,
    TargetModel,
    WorkspaceConfig,
)
from routelearn.errors import RouteLearnError


class Stage(StrEnum):
    """What left a model out."""

    RESTRICTION = "restriction"
    COMPLIANCE = "compliance"
    CAPABILITY = "capability"
    PERFORMANCE = "performance"  # the agent's performanceRequirements
    QUALITY = "quality"  # the workspace's qualityRequirements


class TierKind(StrEnum):
    RULE = "rule"
    PREFERRED = "preferred"
    FALLBACK = "fallback"


class Arm(StrEnum):
    PRIMARY = "primary"
    CANARY = "canary"


@dataclass(frozen=True, slots=True)
class ModelFacts:
    """What the policy reads of one active model."""

    name: str
    provider: str
    capabilities: frozenset[str] = frozenset()
    tags: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()
    cost_per_token: float | None = None  # USD, the higher of the input and output prices
    success_rate: float | None = None  # learned by the fleet for the request's complexity
    latency_ms: float | None = None  # likewise


@dataclass(frozen=True, slots=True)
class RequestFacts:
    agent_type: str | None = None
    workspace_id: str | None = None
    request_type: str | None = None
    content_length: int = 0  # the prompt's characters
    capabilities: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class PolicyState:
    """Everything the operator set; ``rules`` in the order they are tried."""

    rules: tuple[RoutingRule, ...] = ()
    agents: Mapping[str, AgentPreferences] = field(default_factory=dict)
    workspaces: Mapping[str, WorkspaceConfig] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        rules: Iterable[RoutingRule],
        agents: Mapping[str, AgentPreferences],
        workspaces: Mapping[str, WorkspaceConfig],
    ) -> PolicyState:
        ordered = sorted(rules, key=lambda r: (-r.priority, r.id))
        return cls(tuple(ordered), dict(agents), dict(workspaces))

    @property
    def empty(self) -> bool:
        return not (self.rules or self.agents or self.workspaces)


@dataclass(frozen=True, slots=True)
class Exclusion:
    model: str
    stage: Stage
    detail: str


@dataclass(frozen=True, slots=True)
class Tier:
    kind: TierKind
    models: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BudgetStatus:
    """The workspace's tightest period (the least left), and whether any period is past its
    warning ratio."""

    workspace: str
    period: str
    spent: float
    limit: float
    warning: bool

    @property
    def remaining(self) -> float:
        return max(self.limit - self.spent, 0.0)


@dataclass(frozen=True, slots=True)
class Verdict:
    allowed: frozenset[str]
    excluded: tuple[Exclusion, ...]
    tiers: tuple[Tier, ...]
    required: frozenset[str]  # capabilities, the request's and the agent's
    rule: str | None = None  # the id of the rule that matched
    pick: str | None = None  # the rule's target the draw picked (its first tier, if allowed)
    arm: Arm | None = None  # the traffic split's arm of ``pick``
    budget: BudgetStatus | None = None


class BudgetExhausted(RouteLearnError):
    """A workspace's budget period is spent: the request is refused."""

    def __init__(self, status: BudgetStatus) -> None:
        super().__init__(
            f"workspace {status.workspace!r} has spent {status.spent:.6g} USD of its "
            f"{status.period} limit of {status.limit:.6g} USD"
        )
        self.status = status


def evaluate(
    state: PolicyState,
    request: RequestFacts,
    models: Sequence[ModelFacts],
    *,
    spend: Mapping[str, float] | None = None,
    draw: float = 0.0,
) -> Verdict:
    """The policy's verdict (module doc). ``spend``: the workspace's spend in USD per period
    (``daily``, ``weekly``, ``monthly``) so far; ``draw``: uniform in [0, 1), read only when a
    matching rule has more than one target. Raises BudgetExhausted."""
    workspace = state.workspaces.get(request.workspace_id or "") if request.workspace_id else None
    agent = state.agents.get(request.agent_type) if request.agent_type else None
    budget = _budget(request.workspace_id, workspace, spend)
    if budget is not None and budget.remaining <= 0.0:
        raise BudgetExhausted(budget)

    required = request.capabilities
    if agent is not None and agent.required_capabilities:
        required = required | frozenset(agent.required_capabilities)
    allowed: list[str] = []
    excluded: list[Exclusion] = []
    for model in models:
        reason = _exclusion(model, required, agent, workspace)
        if reason is None:
            allowed.append(model.name)
        else:
            excluded.append(Exclusion(model.name, *reason))

    permitted = frozenset(allowed)
    tiers: list[Tier] = []
    rule = _matching_rule(state.rules, request)
    arm = first = None
    if rule is not None:
        first, arm = _pick(rule, draw)
        order = [first, *(t.model_id for t in rule.by_fallback_order() if t.model_id != first)]
        tiers.extend(Tier(TierKind.RULE, (m,)) for m in order if m in permitted)
    if agent is not None:
        for kind, names in (
            (TierKind.PREFERRED, agent.preferred_models),
            (TierKind.FALLBACK, agent.fallback_models),
        ):
            usable = tuple(m for m in names if m in permitted)
            if usable:
                tiers.append(Tier(kind, usable))
    return Verdict(
        allowed=permitted,
        excluded=tuple(excluded),
        tiers=tuple(tiers),
        required=required,
        rule=None if rule is None else rule.id,
        pick=first,
        arm=arm,
        budget=budget,
    )


def needs_quality(state: PolicyState) -> bool:
    """Whether any piece judges the fleet's learned success rate or latency (then the quality
    report is worth reading and sending)."""
    for config in state.workspaces.values():
        q = config.quality_requirements
        if q.min_success_rate is not None or q.max_latency is not None:
            return True
    for agent in state.agents.values():
        p = agent.performance_requirements
        if p.min_success_rate is not None or p.max_latency is not None:
            return True
    return False


def budget_zones(state: PolicyState) -> dict[str, str]:
    """workspace -> time zone, for every workspace with a budget limit (whose spend the
    policy needs)."""
    return {
        workspace: config.budget_limits.time_zone
        for workspace, config in state.workspaces.items()
        if config.budget_limits.limits()
    }


def matches(condition: RuleCondition, request: RequestFacts) -> bool:
    if condition.agent_type is not None and request.agent_type not in condition.agent_type:
        return False
    if condition.request_type is not None and request.request_type not in condition.request_type:
        return False
    bounds = condition.content_length
    if bounds is not None:
        if bounds.min is not None and request.content_length < bounds.min:
            return False
        if bounds.max is not None and request.content_length > bounds.max:
            return False
    return True


def _matching_rule(rules: Sequence[RoutingRule], request: RequestFacts) -> RoutingRule | None:
    for rule in rules:
        if rule.enabled and matches(rule.condition, request):
            return rule
    return None


def _pick(rule: RoutingRule, draw: float) -> tuple[str, Arm | None]:
    """The rule's target for this draw: by trafficSplit when it has one (the first target in
    fallbackOrder is the primary, the others share the canary percent by weight), else by
    weight over all targets."""
    targets = rule.by_fallback_order()
    split = rule.traffic_split
    if split is None:
        return _weighted(targets, draw), None
    point = draw * 100.0
    if point < split.primary or split.canary <= 0.0:
        return targets[0].model_id, Arm.PRIMARY
    # The rest of the draw, rescaled to [0, 1), picks among the canaries.
    return _weighted(targets[1:], (point - split.primary) / split.canary), Arm.CANARY


def _weighted(targets: Sequence[TargetModel], draw: float) -> str:
    """The target whose share of the cumulative weights holds ``draw``: with weights 0.7 and
    0.3, draws below 0.7 take the first (sums by fsum, so 0.7 + 0.2 + 0.1 is exactly 1)."""
    weights = [t.weight for t in targets]
    total = math.fsum(weights)
    if total <= 0.0:  # all weights zero (a canary set with no weight): the first one
        return targets[0].model_id
    point = min(max(draw, 0.0), 1.0) * total
    for index, target in enumerate(targets):
        if target.weight > 0.0 and point < math.fsum(weights[: index + 1]):
            return target.model_id
    return next(t.model_id for t in reversed(targets) if t.weight > 0.0)


def _budget(
    workspace_id: str | None, config: WorkspaceConfig | None, spend: Mapping[str, float] | None
) -> BudgetStatus | None:
    if workspace_id is None or config is None:
        return None
    limits = config.budget_limits
    tightest: tuple[str, float, float] | None = None
    warning = False
    for period, limit in limits.limits().items():
        spent = (spend or {}).get(period, 0.0)
        warning = warning or spent >= limits.warning_ratio * limit
        if tightest is None or limit - spent < tightest[2] - tightest[1]:
            tightest = (period, spent, limit)
    if tightest is None:
        return None
    return BudgetStatus(workspace_id, *tightest, warning)


def _exclusion(
    model: ModelFacts,
    required: frozenset[str],
    agent: AgentPreferences | None,
    workspace: WorkspaceConfig | None,
) -> tuple[Stage, str] | None:
    if workspace is not None:
        found = _restricted(model, workspace) or _noncompliant(model, workspace)
        if found is not None:
            return found
    missing = required - model.capabilities
    if missing:
        return Stage.CAPABILITY, f"lacks {', '.join(sorted(missing))}"
    if agent is not None:
        needs = agent.performance_requirements
        found = _measured(model, needs.min_success_rate, needs.max_latency, Stage.PERFORMANCE)
        if found is not None:
            return found
        ceiling = needs.max_cost_per_token
        if ceiling is not None:
            if model.cost_per_token is None:
                return Stage.PERFORMANCE, "no prices in the registry to check maxCostPerToken"
            if model.cost_per_token > ceiling:
                return (
                    Stage.PERFORMANCE,
                    f"costs {model.cost_per_token:.6g} USD a token, above maxCostPerToken "
                    f"{ceiling:.6g}",
                )
    if workspace is not None:
        quality = workspace.quality_requirements
        return _measured(model, quality.min_success_rate, quality.max_latency, Stage.QUALITY)
    return None


def _restricted(model: ModelFacts, workspace: WorkspaceConfig) -> tuple[Stage, str] | None:
    rules = workspace.model_restrictions
    if model.name in rules.blocked_models:
        return Stage.RESTRICTION, "blocked by the workspace"
    if model.provider in rules.blocked_providers:
        return Stage.RESTRICTION, f"provider {model.provider} blocked by the workspace"
    if rules.allowed_models and model.name not in rules.allowed_models:
        return Stage.RESTRICTION, "not among the workspace's allowed models"
    if rules.allowed_providers and model.provider not in rules.allowed_providers:
        return Stage.RESTRICTION, f"provider {model.provider} not allowed by the workspace"
    return None


def _noncompliant(model: ModelFacts, workspace: WorkspaceConfig) -> tuple[Stage, str] | None:
    needs = workspace.compliance_requirements
    if needs.allowed_providers and model.provider not in needs.allowed_providers:
        return Stage.COMPLIANCE, f"provider {model.provider} is not an allowed provider"
    if needs.allowed_regions and not (model.regions & set(needs.allowed_regions)):
        where = ", ".join(sorted(model.regions)) if model.regions else "no region registered"
        return Stage.COMPLIANCE, f"regions ({where}) outside the allowed ones"
    missing = set(needs.required_tags) - model.tags
    if missing:
        return Stage.COMPLIANCE, f"not tagged {', '.join(sorted(missing))}"
    return None


def _measured(
    model: ModelFacts, min_success: float | None, max_latency: float | None, stage: Stage
) -> tuple[Stage, str] | None:
    if (
        min_success is not None
        and model.success_rate is not None
        and model.success_rate < min_success
    ):
        return stage, f"success rate {model.success_rate:.3f} below {min_success:g}"
    if max_latency is not None and model.latency_ms is not None and model.latency_ms > max_latency:
        return stage, f"latency {model.latency_ms:.0f} ms above {max_latency:g} ms"
    return None
