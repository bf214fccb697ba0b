"""ModelRouter: choose a model per request, publish the decision, learn from its outcome.

``route`` chooses and publishes (outcome ``routed``); the caller calls the model and then
``report``s the outcome, published with the same ``decision_id``. ``execute`` does all of it
around a caller-supplied provider call, with a response cache, a budget, and fallback to the
next-best model. Selection rules: selection.py; the rest: docs/router.md.
"""

from __future__ import annotations

import logging
import math
import random
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from typing import Any

from routelearn.domain.event import Complexity, Outcome, Prefer
from routelearn.domain.routing_policy.engine import RequestFacts, Verdict
from routelearn.domain.routing_policy.quality import Quality
from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.router.breaker import CircuitBreaker, CircuitStatus
from routelearn.instance.router.budget import BudgetLedger, Reservation, Scope, estimate_cost
from routelearn.instance.router.cache import ResponseCache
from routelearn.instance.router.decision import Decision, Reason
from routelearn.instance.router.errors import BudgetExceededError
from routelearn.instance.router.events import EventSink, decision_event, new_id, usage_of
from routelearn.instance.router.execution import CallOutput, ExecutionResult, ProviderCall
from routelearn.instance.router.executor import run
from routelearn.instance.router.exploration import Explorer, Strategy
from routelearn.instance.router.policy import policy_verdict
from routelearn.instance.router.request import Limit, Request, Tokens
from routelearn.instance.router.selection import Choice, Selector
from routelearn.instance.router.stats import CostErrors, CostErrorStats, Counters, RouterStats
from routelearn.instance.router.tokens import TokenEstimator

log = logging.getLogger(__name__)

# Lookups instead of Complexity(...) / Prefer(...) calls, which cost more than a whole route.
_COMPLEXITY: dict[str, Complexity] = {c.value: c for c in Complexity}
_PREFER: dict[str | None, Prefer | None] = {None: None, **{p.value: p for p in Prefer}}
_REASON_COUNTER = {
    Reason.EXPLORATION: "exploratory",
    Reason.SPLIT: "splits",
    Reason.USER_REQUEST: "user_requests",
    Reason.FALLBACK: "fallbacks",
}
# Times route re-selects when a concurrent request took a half-open trial between selection
# and claiming it.
_MAX_RACES = 8


class ModelRouter:
    """Thread-safe: many threads may call ``route``, ``report`` and ``execute`` at once."""

    def __init__(
        self,
        catalog: ModelCatalog,
        publisher: EventSink,
        *,
        instance_id: str,
        breaker: CircuitBreaker | None = None,
        ledger: BudgetLedger | None = None,
        cache: ResponseCache[CallOutput] | None = None,
        tokens: TokenEstimator | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        explore_share: float = 0.05,
        explore_strategy: Strategy | str = Strategy.THOMPSON,
        stale_after_s: float = 600.0,
        probe_share: float = 0.5,
        probe_s: float = 1200.0,
        tie_margin: float = 0.2,
        expected_completion_tokens: int = 256,
        publish_exploratory_flag: bool = True,
    ) -> None:
        if not instance_id or len(instance_id) > 128 or not instance_id.isprintable():
            raise ValueError(f"instance_id must be 1-128 printable characters, got {instance_id!r}")
        if expected_completion_tokens < 0:
            raise ValueError(
                f"expected_completion_tokens must be >= 0, got {expected_completion_tokens!r}"
            )
        self.catalog = catalog
        self.instance_id = instance_id
        self.breaker = breaker if breaker is not None else CircuitBreaker(clock=clock)
        self.ledger = ledger if ledger is not None else BudgetLedger()
        self.cache = cache  # None: execute never caches (outputs at temperature > 0 vary)
        self.tokens = tokens if tokens is not None else TokenEstimator()
        self.expected_completion_tokens = expected_completion_tokens
        self.publish_exploratory_flag = publish_exploratory_flag
        self._publisher = publisher
        self._clock = clock
        rng = rng if rng is not None else random.Random()
        self._rng = rng
        # The fleet's spend of a workspace per period (daily, weekly, monthly), for the
        # routing policy's budgets (None, or a workspace it does not know: nothing spent).
        # Default: what the fan-out last reported to this instance's catalog.
        self.spend: Callable[[str], Mapping[str, float] | None] | None = catalog.policy.spend_of
        # The fleet's recent success rate and latency of a (model, complexity), which quality
        # floors judge (None: not known, not judged). Default: the fan-out's last report.
        self.quality: Callable[[str, str], Quality | None] = catalog.policy.quality_of
        self._explorer = Explorer(
            explore_share,
            stale_after_s,
            rng,
            clock,
            explore_strategy,
            catalog.estimates,
            probe_share=probe_share,
            probe_s=probe_s,
        )
        self._selector = Selector(catalog, self.breaker, self._explorer, rng, tie_margin)
        self._counters = Counters()
        self._cost_errors = CostErrors()

    # -- route and report -----------------------------------------------------------------

    def route(
        self,
        complexity: Complexity | str,
        capabilities: Iterable[str] = (),
        prefer: Prefer | str | None = None,
        budget: float | None = None,
        user_model_request: str | None = None,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        agent_type: str | None = None,
        workspace_id: str | None = None,
        request_type: str | None = None,
        content_length: int = 0,
    ) -> Decision:
        """Choose a model and publish the decision. ``budget`` (USD for this request) needs
        ``prompt_tokens`` to estimate each model's cost; ``completion_tokens`` defaults to
        ``expected_completion_tokens``. ``agent_type``, ``workspace_id``, ``request_type`` and
        ``content_length`` (the prompt's characters) are what the central routing policy's
        rules, preferences and workspace configs apply to. Report the outcome with
        ``report``."""
        facts = RequestFacts(agent_type, workspace_id, request_type, content_length)
        request, tokens, verdict, limit = self._prepare(
            complexity,
            capabilities,
            prefer,
            budget,
            user_model_request,
            prompt_tokens,
            completion_tokens,
            facts,
        )
        excluded: set[str] = set()
        for _ in range(_MAX_RACES):
            choice = self._selector.select(request, tokens, limit, excluded, verdict=verdict)
            if self.breaker.acquire(choice.entry.name):
                return self._open(choice, request, verdict, facts)
            excluded.add(choice.entry.name)  # another request took its half-open trial
        choice = self._selector.select(request, tokens, limit, excluded, verdict=verdict)
        return self._open(choice, request, verdict, facts)

    def preview(
        self,
        complexity: Complexity | str,
        capabilities: Iterable[str] = (),
        prefer: Prefer | str | None = None,
        budget: float | None = None,
        *,
        prompt_tokens: int | None = None,
        completion_tokens: int | None = None,
        agent_type: str | None = None,
        workspace_id: str | None = None,
        request_type: str | None = None,
        content_length: int = 0,
    ) -> Decision:
        """The choice ``route`` would make for this request now, without exploring: a dry
        run. Nothing is published, no circuit's trial is claimed, nothing is remembered."""
        facts = RequestFacts(agent_type, workspace_id, request_type, content_length)
        request, tokens, verdict, limit = self._prepare(
            complexity, capabilities, prefer, budget, None, prompt_tokens, completion_tokens, facts
        )
        choice = self._selector.select(request, tokens, limit, (), verdict=verdict, explore=False)
        return self._decision(choice, request, verdict, facts)

    def _prepare(
        self,
        complexity: Complexity | str,
        capabilities: Iterable[str],
        prefer: Prefer | str | None,
        budget: float | None,
        user_model_request: str | None,
        prompt_tokens: int | None,
        completion_tokens: int | None,
        facts: RequestFacts,
    ) -> tuple[Request, Tokens | None, Verdict | None, Limit | None]:
        request = _request(complexity, capabilities, prefer, user_model_request)
        tokens = None
        if prompt_tokens is not None:
            tokens = Tokens(prompt_tokens, _or(completion_tokens, self.expected_completion_tokens))
        elif budget is not None:
            raise ValueError("route(budget=...) needs prompt_tokens to estimate costs")
        verdict = self.verdict(replace(facts, capabilities=request.required), request.complexity)
        limit = self._limit(budget, None, verdict)
        if tokens is None and limit is not None and limit.scope is not None:
            tokens = Tokens(0, self.expected_completion_tokens)  # a workspace budget in force
        return request, tokens, verdict, limit

    def verdict(self, facts: RequestFacts, complexity: Complexity) -> Verdict | None:
        """The central routing policy's verdict for a request (None: no policy is set).
        Raises BudgetExhausted when the request's workspace has spent a period's limit."""
        return policy_verdict(
            self.catalog, facts, complexity, self.spend, self.quality, self._rng.random
        )

    def report(
        self,
        decision: Decision,
        success: bool,
        response_time_ms: float | None = None,
        tokens: tuple[int, int] | None = None,
        *,
        budget_scope: Scope | None = None,
    ) -> float | None:
        """Publish a decision's outcome and feed its model's circuit breaker; call it once per
        decision. With ``tokens`` (prompt, completion) returns the cost, and records it in the
        ledger under ``budget_scope`` if given."""
        if tokens is None or decision.entry is None:
            self._close(decision, success, response_time_ms)
            return None
        cost = estimate_cost(decision.entry.prices, tokens[0], tokens[1])
        self._close(decision, success, response_time_ms, usage_of(tokens[0], tokens[1], cost))
        if success:  # a failed call costs nothing, whatever was estimated
            self._cost_errors.record(decision.estimated_cost, cost)
        if budget_scope is not None:
            self.ledger.record(budget_scope, cost or 0.0)
        return cost

    # -- execute ---------------------------------------------------------------------------

    def execute(
        self,
        prompt: str,
        call: ProviderCall,
        *,
        complexity: Complexity | str,
        capabilities: Iterable[str] = (),
        prefer: Prefer | str | None = None,
        budget: float | None = None,
        budget_scope: Scope | None = None,
        params: Mapping[str, Any] | None = None,
        max_attempts: int = 3,
        user_model_request: str | None = None,
        expected_completion_tokens: int | None = None,
        use_cache: bool = True,
        fallback_on_non_retryable: bool = False,
        agent_type: str | None = None,
        workspace_id: str | None = None,
        request_type: str | None = None,
    ) -> ExecutionResult:
        """Route, call ``call(entry, prompt, params)``, report, and on failure fall back to the
        next-best model, up to ``max_attempts`` calls, under the central routing policy for
        ``agent_type``, ``workspace_id`` and ``request_type`` (a fallback takes the policy's
        tiers in order too). See docs/router.md for the rules."""
        if max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts}")
        request = _request(complexity, capabilities, prefer, user_model_request)
        facts = RequestFacts(agent_type, workspace_id, request_type, len(prompt), request.required)
        return run(
            _Steps(self, self.verdict(facts, request.complexity), facts),
            prompt,
            call,
            request,
            Tokens(
                self.tokens.count(prompt),
                _or(expected_completion_tokens, self.expected_completion_tokens),
            ),
            budget=budget,
            budget_scope=budget_scope,
            params=dict(params or {}),
            max_attempts=max_attempts,
            use_cache=use_cache and self.cache is not None,
            fallback_on_non_retryable=fallback_on_non_retryable,
        )

    # -- introspection ---------------------------------------------------------------------

    def stats(self) -> RouterStats:
        return self._counters.snapshot()

    def circuit_states(self) -> dict[str, CircuitStatus]:
        return self.breaker.states()

    def cost_estimate_errors(self) -> CostErrorStats:
        """(estimated - actual) / actual of every successful call whose cost was estimated
        before it and is known after it (execute, or report with tokens)."""
        return self._cost_errors.snapshot()

    # -- the steps route and execute share (used by executor.py) ---------------------------

    def _limit(
        self, budget: float | None, scope: Scope | None, verdict: Verdict | None = None
    ) -> Limit | None:
        """The tightest of the request's budget, the scope's remaining limit and what the
        workspace's budget has left."""
        limit = None
        if budget is not None:
            if not (math.isfinite(budget) and budget >= 0):
                raise ValueError(f"budget must be a finite number >= 0, got {budget!r}")
            limit = Limit(budget, None, budget, 0.0)
        status = None if verdict is None else verdict.budget
        if status is not None and (limit is None or status.remaining < limit.available):
            workspace: Scope = (f"workspace {status.period}", status.workspace)
            limit = Limit(status.remaining, workspace, status.limit, status.spent)
        if scope is not None:
            spend = self.ledger.spend(scope)
            remaining = spend.remaining
            tighter = limit is None or (remaining is not None and remaining < limit.available)
            if spend.limit is not None and remaining is not None and tighter:
                limit = Limit(remaining, scope, spend.limit, spend.spent + spend.reserved)
        return limit

    def _book(self, choice: Choice, scope: Scope | None) -> tuple[bool, Reservation | None]:
        """Reserve the choice's estimate and claim its circuit: (False, None) when a
        concurrent request took the budget or the half-open trial first (select again)."""
        reservation = None
        if scope is not None:
            try:
                reservation = self.ledger.reserve(
                    scope, choice.estimated_cost or 0.0, choice.entry.name
                )
            except BudgetExceededError:
                return False, None
        if not self.breaker.acquire(choice.entry.name):
            if reservation is not None:
                self.ledger.release(reservation)
            return False, None
        return True, reservation

    def _decision(
        self,
        choice: Choice,
        request: Request,
        verdict: Verdict | None = None,
        facts: RequestFacts | None = None,
    ) -> Decision:
        entry = choice.entry
        return Decision(
            decision_id=new_id(),
            model=entry.name,
            provider=entry.provider,
            complexity=request.complexity,
            score=choice.score,
            reason=choice.reason,
            exploratory=choice.exploratory,
            estimated_cost=choice.estimated_cost,
            capabilities=request.capabilities,
            prefer=request.prefer,
            user_model_request=request.user_model_request,
            entry=entry,
            rule=None if verdict is None or choice.reason is not Reason.RULE else verdict.rule,
            # The arm only when the split's own pick served: a fallback target is neither arm.
            arm=(
                verdict.arm
                if verdict is not None
                and choice.reason is Reason.RULE
                and choice.entry.name == verdict.pick
                else None
            ),
            verdict=verdict,
            workspace_id=None if facts is None else facts.workspace_id,
            agent_type=None if facts is None else facts.agent_type,
            request_type=None if facts is None else facts.request_type,
        )

    def _open(
        self,
        choice: Choice,
        request: Request,
        verdict: Verdict | None = None,
        facts: RequestFacts | None = None,
    ) -> Decision:
        """Make the decision and publish it (``routed``)."""
        decision = self._decision(choice, request, verdict, facts)
        self._explorer.note(decision.model, request.complexity)
        counter = _REASON_COUNTER.get(choice.reason)
        if counter is None:
            self._counters.add("decisions")
        else:
            self._counters.add("decisions", counter)
        self._publish(decision, Outcome.ROUTED, None)
        return decision

    def _close(
        self,
        decision: Decision,
        success: bool,
        response_time_ms: float | None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        if success:
            self.breaker.record_success(decision.model)
            self._counters.add("successes")
        else:
            self.breaker.record_failure(decision.model)
            self._counters.add("failures")
        outcome = Outcome.SUCCESS if success else Outcome.FAILURE
        self._publish(decision, outcome, response_time_ms, usage)

    def _publish(
        self,
        decision: Decision,
        outcome: Outcome,
        response_time_ms: float | None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        event = decision_event(
            self.instance_id,
            decision,
            outcome,
            response_time_ms,
            exploratory_flag=self.publish_exploratory_flag,
            usage=usage,
        )
        try:
            accepted = self._publisher.publish(event)
        except Exception:  # telemetry must never fail a request
            log.exception("publishing a routing event failed")
            accepted = False
        if not accepted:
            self._counters.add("events_dropped")


class _Steps:
    """The router as ``executor.Steps``: the steps ``route`` and ``execute`` share."""

    def __init__(self, router: ModelRouter, verdict: Verdict | None, facts: RequestFacts) -> None:
        self._router = router
        self.cache = router.cache
        # The policy's verdict for this request: every attempt is chosen under it.
        self._verdict = verdict
        self._facts = facts

    def select(
        self,
        request: Request,
        tokens: Tokens,
        budget: float | None,
        scope: Scope | None,
        tried: set[str],
        fallback: bool,
    ) -> Choice:
        limit = self._router._limit(budget, scope, self._verdict)
        return self._router._selector.select(
            request, tokens, limit, tried, fallback=fallback, verdict=self._verdict
        )

    def book(self, choice: Choice, scope: Scope | None) -> tuple[bool, Reservation | None]:
        return self._router._book(choice, scope)

    def release(self, reservation: Reservation) -> None:
        self._router.ledger.release(reservation)

    def settle(self, reservation: Reservation, cost: float) -> None:
        self._router.ledger.settle(reservation, cost)

    def note_cost(self, estimated: float | None, actual: float | None) -> None:
        self._router._cost_errors.record(estimated, actual)

    def decision(self, choice: Choice, request: Request) -> Decision:
        return self._router._decision(choice, request, self._verdict, self._facts)

    def open(self, choice: Choice, request: Request) -> Decision:
        return self._router._open(choice, request, self._verdict, self._facts)

    def close(
        self,
        decision: Decision,
        success: bool,
        response_time_ms: float | None,
        usage: dict[str, Any] | None = None,
    ) -> None:
        self._router._close(decision, success, response_time_ms, usage)

    def count(self, name: str) -> None:
        self._router._counters.add(name)

    def count_tokens(self, text: str, model: str) -> int:
        return self._router.tokens.count(text, model)

    def now(self) -> float:
        return self._router._clock()


def _request(
    complexity: Complexity | str,
    capabilities: Iterable[str],
    prefer: Prefer | str | None,
    user_model_request: str | None,
) -> Request:
    known = _COMPLEXITY.get(complexity)
    if known is None:
        raise ValueError(f"complexity {complexity!r} is not one of {', '.join(_COMPLEXITY)}")
    if prefer not in _PREFER:
        raise ValueError(f"prefer {prefer!r} is not one of speed, cost, None")
    if isinstance(capabilities, str):  # tuple("vision") would be six capabilities
        raise TypeError(f"capabilities must be a list of names, not the string {capabilities!r}")
    caps = tuple(capabilities) if capabilities else ()
    return Request(known, caps, frozenset(caps), _PREFER[prefer], user_model_request)


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
