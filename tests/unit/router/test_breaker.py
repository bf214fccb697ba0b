"""The circuit breaker: open after N consecutive failures, half-open after the timeout with one
trial, closed by the trial's success, reopened by its failure."""

from __future__ import annotations

import threading

import pytest

from routelearn.instance.router import CircuitBreaker, CircuitState
from tests.unit.router.fakes import FakeClock, catalog, make_router, model


def breaker(threshold: int = 3, timeout: float = 60.0) -> tuple[CircuitBreaker, FakeClock]:
    clock = FakeClock()
    return CircuitBreaker(threshold, timeout, clock=clock), clock


def test_opens_after_three_consecutive_failures() -> None:
    b, _ = breaker()
    b.record_failure("m")
    b.record_failure("m")
    assert b.available("m") and b.state("m").state is CircuitState.CLOSED
    b.record_success("m")  # resets the run
    b.record_failure("m")
    b.record_failure("m")
    assert b.state("m").consecutive_failures == 2 and b.available("m")
    b.record_failure("m")
    status = b.state("m")
    assert (status.state, status.consecutive_failures, status.failures, status.successes) == (
        CircuitState.OPEN,
        3,
        5,
        1,
    )
    assert not b.available("m") and not b.acquire("m")
    assert b.available("other") and b.state("other").state is CircuitState.CLOSED


def test_half_open_after_the_timeout_allows_one_trial_and_success_closes() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure("m")
    clock.advance(59.9)
    assert not b.available("m")
    clock.advance(0.1)
    assert b.state("m").state is CircuitState.HALF_OPEN
    assert b.available("m")
    assert b.acquire("m")  # the trial
    assert not b.available("m") and not b.acquire("m")  # one at a time
    assert b.state("m").trial_in_flight
    b.record_success("m")
    status = b.state("m")
    assert (status.state, status.consecutive_failures) == (CircuitState.CLOSED, 0)
    assert b.acquire("m") and b.acquire("m")


def test_a_failed_trial_reopens_for_another_timeout() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure("m")
    clock.advance(60)
    assert b.acquire("m")
    b.record_failure("m")
    status = b.state("m")
    assert (status.state, status.opened_at) == (CircuitState.OPEN, clock.now)
    clock.advance(59)
    assert not b.available("m")
    clock.advance(1)
    assert b.acquire("m")


def test_a_trial_never_reported_is_given_up_after_the_timeout() -> None:
    b, clock = breaker()
    for _ in range(3):
        b.record_failure("m")
    clock.advance(60)
    assert b.acquire("m")
    clock.advance(59)
    assert not b.acquire("m")
    clock.advance(1)
    assert b.acquire("m")


def test_a_straggler_success_does_not_close_an_open_circuit() -> None:
    b, _ = breaker()
    for _ in range(3):
        b.record_failure("m")
    b.record_success("m")  # routed before the circuit opened
    assert b.state("m").state is CircuitState.OPEN


def test_settings_are_checked_and_reset_forgets() -> None:
    with pytest.raises(ValueError, match="failure_threshold"):
        CircuitBreaker(0)
    b, _ = breaker(threshold=1)
    b.record_failure("m")
    assert not b.available("m")
    b.reset("m")
    assert b.available("m") and b.states() == {}


def test_concurrent_outcomes_are_all_counted() -> None:
    b, _ = breaker(threshold=10**9)
    barrier = threading.Barrier(8)

    def work() -> None:
        barrier.wait()
        for _ in range(2000):
            b.record_failure("m")
            b.record_success("n")

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert b.state("m").failures == b.state("m").consecutive_failures == 16_000
    assert b.state("n").successes == 16_000


def test_the_router_feeds_and_shows_its_breaker() -> None:
    cat = catalog(model("a", {"simple": 4.5}), model("b", {"simple": 4.0}))
    router, _, clock = make_router(cat)
    for _ in range(3):
        decision = router.route("simple")
        assert decision.model == "a"
        router.report(decision, success=False, response_time_ms=100.0)
    assert router.circuit_states()["a"].state is CircuitState.OPEN
    assert router.route("simple").model == "b"
    clock.advance(60)
    trial = router.route("simple")
    assert trial.model == "a"  # the half-open trial
    assert router.route("simple").model == "b"  # while it is in flight
    router.report(trial, success=True, response_time_ms=80.0)
    assert router.circuit_states()["a"].state is CircuitState.CLOSED
    assert router.route("simple").model == "a"
