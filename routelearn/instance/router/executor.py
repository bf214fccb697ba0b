"""The loop behind ``ModelRouter.execute``: select, look up the cache, book, call, report, and
fall back to the next-best model on failure.

Rules:
- Each call is a decision of its own (its own ``decision_id``, a ``routed`` event, then a
  ``success`` or ``failure`` event): the central service counts one outcome per decision, for
  the decision's model, so attempts on two models cannot share one id.
- A failure is any exception from ``call``. A ``ProviderError`` with ``retryable=False`` (the
  request itself is wrong: a 400, 413 or 422) stops the fallback, since every model would
  refuse it too, unless ``fallback_on_non_retryable``. Anything else tries the next-best model
  not tried yet, up to ``max_attempts`` calls.
- A cache hit returns the stored output without calling, publishing or spending: it says
  nothing about the model's quality now, and a ``routed`` event without an outcome would count
  as a use of the model.
- A budget scope's estimate is reserved before the call and settled at the actual cost after
  it: from the provider's token counts, or estimates for the counts it leaves out. A failed
  call is settled at 0 (providers do not bill a request they refuse).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from routelearn.instance.router.budget import Reservation, Scope, estimate_cost
from routelearn.instance.router.cache import ResponseCache, cache_key
from routelearn.instance.router.decision import Decision
from routelearn.instance.router.errors import (
    BudgetExceededError,
    ExecutionFailedError,
    NoModelAvailableError,
    ProviderError,
    RouterError,
)
from routelearn.instance.router.events import usage_of
from routelearn.instance.router.execution import Attempt, CallOutput, ExecutionResult, ProviderCall
from routelearn.instance.router.request import Request, Tokens
from routelearn.instance.router.selection import Choice

# Times one execute selects again because a concurrent request took the budget or a half-open
# trial between its selection and its booking.
MAX_RACES = 8


class Steps(Protocol):
    """What an execution needs from its router: ``ModelRouter`` provides it (``_Steps``), so
    this module never reaches into the router itself."""

    @property
    def cache(self) -> ResponseCache[CallOutput] | None: ...

    def select(
        self,
        request: Request,
        tokens: Tokens,
        budget: float | None,
        scope: Scope | None,
        tried: set[str],
        fallback: bool,
    ) -> Choice: ...

    def book(self, choice: Choice, scope: Scope | None) -> tuple[bool, Reservation | None]: ...

    def release(self, reservation: Reservation) -> None: ...

    def settle(self, reservation: Reservation, cost: float) -> None: ...

    def note_cost(self, estimated: float | None, actual: float | None) -> None: ...

    def decision(self, choice: Choice, request: Request) -> Decision: ...

    def open(self, choice: Choice, request: Request) -> Decision: ...

    def close(
        self,
        decision: Decision,
        success: bool,
        response_time_ms: float | None,
        usage: dict[str, Any] | None = None,
    ) -> None: ...

    def count(self, name: str) -> None: ...

    def count_tokens(self, text: str, model: str) -> int: ...

    def now(self) -> float: ...


def run(
    router: Steps,
    prompt: str,
    call: ProviderCall,
    request: Request,
    tokens: Tokens,
    *,
    budget: float | None,
    budget_scope: Scope | None,
    params: Mapping[str, Any],
    max_attempts: int,
    use_cache: bool,
    fallback_on_non_retryable: bool,
) -> ExecutionResult:
    attempts: list[Attempt] = []
    tried: set[str] = set()
    races = 0
    while len(attempts) < max_attempts:
        try:
            choice = router.select(
                request, tokens, budget, budget_scope, tried, fallback=bool(attempts)
            )
        except (NoModelAvailableError, BudgetExceededError) as exc:
            if not attempts:
                raise
            raise ExecutionFailedError(attempts, f"and no other model can be tried: {exc}") from exc
        entry = choice.entry

        key = None
        if use_cache and router.cache is not None:
            start = router.now()
            key = cache_key(entry.name, params, prompt)
            cached = router.cache.get(key)
            if cached is not None:
                router.count("cache_hits")
                return ExecutionResult(
                    model=entry.name,
                    provider=entry.provider,
                    output=cached.output,
                    latency_ms=_ms(router.now() - start),
                    cost=0.0,
                    cache_hit=True,
                    prompt_tokens=0,
                    completion_tokens=0,
                    attempts=tuple(attempts),
                    decision=router.decision(choice, request),
                )

        booked, reservation = router.book(choice, budget_scope)
        if not booked:
            races += 1
            if races > MAX_RACES:
                raise RouterError(f"gave up after {MAX_RACES} races for budget or circuit trials")
            continue

        decision = router.open(choice, request)
        start = router.now()
        try:
            output = _output(call(entry, prompt, params))
        except Exception as exc:
            latency = _ms(router.now() - start)
            if reservation is not None:
                router.release(reservation)
            router.close(decision, False, latency)
            attempts.append(Attempt(decision, False, latency, 0.0, exc))
            tried.add(entry.name)
            stop = isinstance(exc, ProviderError) and not exc.retryable
            if stop and not fallback_on_non_retryable:
                raise ExecutionFailedError(attempts, "and the error is not retryable") from exc
            continue
        except BaseException:
            if reservation is not None:  # do not hold budget for a call that never ends
                router.release(reservation)
            raise

        latency = _ms(router.now() - start)
        prompt_tokens = _or(output.prompt_tokens, tokens.prompt)
        completion_tokens = output.completion_tokens
        if completion_tokens is None:
            completion_tokens = router.count_tokens(output.output, entry.name)
        cost = estimate_cost(entry.prices, prompt_tokens, completion_tokens)
        router.note_cost(choice.estimated_cost, cost)
        if reservation is not None:
            router.settle(reservation, cost or 0.0)
        router.close(decision, True, latency, usage_of(prompt_tokens, completion_tokens, cost))
        if key is not None and router.cache is not None:
            router.cache.put(key, output)
        attempts.append(Attempt(decision, True, latency, cost))
        return ExecutionResult(
            model=entry.name,
            provider=entry.provider,
            output=output.output,
            latency_ms=latency,
            cost=cost,
            cache_hit=False,
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            attempts=tuple(attempts),
            decision=decision,
        )
    raise ExecutionFailedError(attempts, f"max_attempts={max_attempts} reached")


def _output(value: object) -> CallOutput:
    if isinstance(value, CallOutput):
        return value
    if isinstance(value, str):
        return CallOutput(value)
    raise TypeError(f"call must return a CallOutput or a str, got {type(value).__name__}")


def _ms(seconds: float) -> float:
    return max(seconds, 0.0) * 1000.0


def _or(value: int | None, default: int) -> int:
    return default if value is None else value
