"""execute(): the call, fallback, attempts, the events of each attempt, and errors."""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import Mapping
from typing import Any

import pytest

from routelearn.errors import RouteLearnError
from routelearn.instance.catalog import ModelEntry
from routelearn.instance.router import (
    CallOutput,
    CircuitBreaker,
    ExecutionFailedError,
    NoModelAvailableError,
    ProviderError,
    Reason,
)
from tests.unit.router.fakes import FakeClock, catalog, make_router, model, validate


def four() -> list[dict[str, Any]]:
    return [
        model("a", {"complex": 4.8}, provider="pa", prices=(0.01, 0.03)),
        model("b", {"complex": 4.5}, provider="pb", prices=(0.001, 0.002)),
        model("c", {"complex": 4.0}, provider="pc"),
        model("d", {"complex": 3.0}, provider="pd"),
    ]


class Script:
    """A provider call: per model, raise the given error or answer; advances the clock."""

    def __init__(self, clock: FakeClock, errors: Mapping[str, BaseException] | None = None):
        self.clock = clock
        self.errors = dict(errors or {})
        self.calls: list[str] = []

    def __call__(self, entry: ModelEntry, prompt: str, params: Mapping[str, Any]) -> CallOutput:
        self.calls.append(entry.name)
        self.clock.advance(0.25)
        error = self.errors.get(entry.name)
        if error is not None:
            raise error
        return CallOutput(f"{entry.name}: {prompt}", prompt_tokens=1000, completion_tokens=500)


def test_a_successful_call_gives_every_result_field() -> None:
    router, publisher, clock = make_router(catalog(*four()))
    script = Script(clock)
    result = router.execute("hello", script, complexity="complex", params={"t": 0})
    assert script.calls == ["a"]
    assert (result.model, result.provider, result.output) == ("a", "pa", "a: hello")
    assert result.latency_ms == pytest.approx(250.0)
    assert result.cost == pytest.approx(0.01 + 0.015)
    assert (result.cache_hit, result.prompt_tokens, result.completion_tokens) == (False, 1000, 500)
    assert len(result.attempts) == 1 and result.attempts[0].success
    assert result.decision.model == "a" and result.decision.reason is Reason.BEST
    routed, success = publisher.events
    assert routed["decision_id"] == success["decision_id"] == result.decision.decision_id
    assert [validate(e).routing_decision.outcome for e in (routed, success)] == [
        "routed",
        "success",
    ]
    assert success["routing_decision"]["response_time_ms"] == pytest.approx(250.0)
    assert success["event_id"] == f"{result.decision.decision_id}:success"


def test_a_failure_falls_back_to_the_next_best_model() -> None:
    router, publisher, clock = make_router(catalog(*four()))
    script = Script(clock, {"a": ProviderError("pa", 503, message="overloaded")})
    result = router.execute("hi", script, complexity="complex")
    assert script.calls == ["a", "b"] and result.model == "b"
    first, second = result.attempts
    assert (first.success, first.cost, second.success) == (False, 0.0, True)
    assert isinstance(first.error, ProviderError) and first.error.status_code == 503
    assert second.decision.reason is Reason.FALLBACK and result.decision is second.decision
    # Each attempt is a decision of its own: routed then its outcome, under its own id.
    by_decision: dict[str, list[str]] = defaultdict(list)
    for event in publisher.events:
        validate(event)
        by_decision[event["decision_id"]].append(event["routing_decision"]["outcome"])
    assert by_decision == {
        first.decision.decision_id: ["routed", "failure"],
        second.decision.decision_id: ["routed", "success"],
    }
    failure = publisher.events[1]["routing_decision"]
    assert (failure["selected_model"], failure["response_time_ms"]) == ("a", 250.0)
    stats = router.stats()
    assert (stats.decisions, stats.fallbacks, stats.successes, stats.failures) == (2, 1, 1, 1)


def test_max_attempts_bounds_the_calls() -> None:
    router, publisher, clock = make_router(catalog(*four()))
    script = Script(clock, {n: ConnectionError(f"{n} down") for n in "abcd"})
    with pytest.raises(ExecutionFailedError) as caught:
        router.execute("hi", script, complexity="complex", max_attempts=3)
    error = caught.value
    assert script.calls == ["a", "b", "c"]
    assert [a.decision.model for a in error.attempts] == ["a", "b", "c"]
    assert isinstance(error.last_error, ConnectionError)
    assert "3 attempts failed" in str(error) and "c down" in str(error)
    assert isinstance(error, RouteLearnError)
    assert publisher.outcomes() == ["routed", "failure"] * 3


def test_running_out_of_models_ends_with_the_attempts_made() -> None:
    router, _, clock = make_router(catalog(*four()[:2]))
    script = Script(clock, {"a": TimeoutError(), "b": TimeoutError()})
    with pytest.raises(ExecutionFailedError) as caught:
        router.execute("hi", script, complexity="complex", max_attempts=5)
    assert len(caught.value.attempts) == 2
    assert isinstance(caught.value.__cause__, NoModelAvailableError)
    with pytest.raises(NoModelAvailableError):  # no model at all: nothing was attempted
        router.execute("hi", script, complexity="complex", capabilities=["vision"])


def test_a_non_retryable_error_stops_the_fallback_unless_asked() -> None:
    bad_request = ProviderError("pa", 400, message="prompt too long")
    assert not bad_request.retryable
    router, _, clock = make_router(catalog(*four()))
    script = Script(clock, {"a": bad_request})
    with pytest.raises(ExecutionFailedError, match="not retryable") as caught:
        router.execute("hi", script, complexity="complex")
    assert script.calls == ["a"] and caught.value.last_error is bad_request
    result = router.execute("hi", script, complexity="complex", fallback_on_non_retryable=True)
    assert result.model == "b"


def test_provider_errors_say_whether_a_retry_may_succeed() -> None:
    assert [ProviderError("p", s).retryable for s in (None, 408, 429, 500, 503)] == [True] * 5
    assert [ProviderError("p", s).retryable for s in (400, 401, 404, 422)] == [False] * 4
    assert ProviderError("p", 400, retryable=True).retryable
    error = ProviderError("openai", 429, message="Rate limit exceeded")
    assert str(error) == "HTTP 429 from openai: Rate limit exceeded (retryable: True)"
    assert (error.provider, error.status_code) == ("openai", 429)


def test_missing_token_counts_are_estimated_and_a_str_is_an_output() -> None:
    router, _, _ = make_router(catalog(*four()))

    def call(entry: ModelEntry, prompt: str, params: Mapping[str, Any]) -> str:
        return "y" * 400  # 100 tokens by the fallback heuristic

    result = router.execute("x" * 800, call, complexity="complex")
    assert (result.output, result.prompt_tokens, result.completion_tokens) == ("y" * 400, 200, 100)
    assert result.cost == pytest.approx(0.2 * 0.01 + 0.1 * 0.03)
    assert result.decision.estimated_cost == pytest.approx(0.2 * 0.01 + 0.256 * 0.03)


def test_an_unpriced_model_has_an_unknown_cost() -> None:
    router, _, clock = make_router(catalog(*four()))
    result = router.execute("hi", Script(clock), complexity="complex", user_model_request="c")
    assert (result.model, result.cost, result.decision.estimated_cost) == ("c", None, None)


def test_the_params_reach_the_call() -> None:
    router, _, _ = make_router(catalog(*four()))
    seen: list[Mapping[str, Any]] = []

    def call(entry: ModelEntry, prompt: str, params: Mapping[str, Any]) -> str:
        seen.append(params)
        return "ok"

    router.execute("hi", call, complexity="complex", params={"temperature": 0.2})
    assert seen == [{"temperature": 0.2}]
    with pytest.raises(ValueError, match="max_attempts"):
        router.execute("hi", call, complexity="complex", max_attempts=0)


def test_concurrent_executes_publish_one_outcome_per_decision() -> None:
    # A breaker that never opens: the fake clock stands still, so an open circuit would stay
    # open, and this test is about the events, not the breaker.
    router, publisher, _ = make_router(
        catalog(*four()), explore_share=0.1, breaker=CircuitBreaker(10**9)
    )

    def flaky(entry: ModelEntry, prompt: str, params: Mapping[str, Any]) -> str:
        if entry.name == "a" and int(prompt) % 5 == 0:
            raise ProviderError(entry.provider, 502)
        return "ok"

    errors: list[BaseException] = []

    def work(thread: int) -> None:
        for i in range(200):
            try:
                router.execute(str(thread * 1000 + i), flaky, complexity="complex")
            except BaseException as exc:  # collected, asserted below
                errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    outcomes: dict[str, list[str]] = defaultdict(list)
    for event in publisher.events:
        outcomes[event["decision_id"]].append(event["routing_decision"]["outcome"])
    assert all(o[0] == "routed" and len(o) == 2 for o in outcomes.values())
    stats = router.stats()
    assert stats.successes == 1600 and 0 < stats.failures <= 320
    assert stats.decisions == len(outcomes) == 1600 + stats.failures == stats.fallbacks + 1600
