"""Cost estimates, the spend ledger, and budget-aware selection."""

from __future__ import annotations

import importlib.util
import threading

import pytest

from routelearn.instance.catalog import Prices
from routelearn.instance.router import (
    BudgetExceededError,
    BudgetLedger,
    CallOutput,
    ExecutionFailedError,
    Reason,
    ScopeSpend,
    TokenEstimator,
    estimate_cost,
    heuristic_tokens,
)
from routelearn.instance.router.budget import Scope
from tests.unit.router.fakes import catalog, make_router, model

ACME: Scope = ("workspace", "acme")


def priced() -> list[dict[str, object]]:
    """dear: best, $0.01 + $0.03 per 1k; mid: $0.001 + $0.002; cheap: $0.0001 + $0.0002;
    free: no prices (cost unknown)."""
    return [
        model("dear", {"simple": 4.8}, prices=(0.01, 0.03)),
        model("free", {"simple": 4.6}),
        model("mid", {"simple": 4.2}, prices=(0.001, 0.002)),
        model("cheap", {"simple": 3.0}, prices=(0.0001, 0.0002)),
    ]


def test_estimate_cost_uses_prices_per_1k_tokens() -> None:
    prices = Prices(input_per_1k=0.003, output_per_1k=0.015)
    assert estimate_cost(prices, 1000, 500) == pytest.approx(0.003 + 0.0075)
    assert estimate_cost(prices, 0, 0) == 0.0
    assert estimate_cost(None, 1000, 500) is None


def test_the_token_fallback_is_four_characters_per_token() -> None:
    plain = TokenEstimator(use_tiktoken=False)
    assert not plain.uses_tiktoken
    assert [plain.count(t) for t in ("", "a", "abcd", "abcde", "x" * 400)] == [0, 1, 1, 2, 100]
    assert heuristic_tokens("abcdefgh") == 2
    # With tiktoken installed it is used; without, the estimator falls back quietly.
    installed = importlib.util.find_spec("tiktoken") is not None
    assert TokenEstimator().uses_tiktoken is installed
    assert TokenEstimator().count("hello world, how are you?", "gpt-4o") > 0


def test_a_budget_takes_the_best_model_that_fits() -> None:
    router, _, _ = make_router(catalog(*priced()))
    # 1000 prompt + 256 completion tokens: dear $0.01768, mid $0.001512, cheap $0.0001512.
    unlimited = router.route("simple", prompt_tokens=1000)
    assert unlimited.model == "dear"
    assert unlimited.estimated_cost == pytest.approx(0.01768)
    fits = router.route("simple", budget=0.005, prompt_tokens=1000)
    # free has no prices, so under a budget it cannot be checked and does not qualify.
    assert (fits.model, fits.reason) == ("mid", Reason.BUDGET)
    assert fits.estimated_cost == pytest.approx(0.001512)
    assert router.route("simple", budget=0.001, prompt_tokens=1000).model == "cheap"
    assert router.route("simple").model == "dear"  # no size, no budget: no estimate
    assert router.route("simple").estimated_cost is None


def test_a_request_budget_nothing_fits_is_refused_naming_the_cheapest() -> None:
    router, _, _ = make_router(catalog(*priced()))
    with pytest.raises(BudgetExceededError) as caught:
        router.route("simple", budget=0.0001, prompt_tokens=1000)
    error = caught.value
    assert (error.scope, error.limit, error.spent, error.model) == (None, 0.0001, 0.0, "cheap")
    assert error.estimate == pytest.approx(0.0001512)
    assert "per-request budget" in str(error) and "cheap" in str(error)


def test_a_scope_limit_refusal_names_scope_limit_spent_and_estimate() -> None:
    ledger = BudgetLedger({ACME: 0.01})
    router, _, _ = make_router(catalog(*priced()), ledger=ledger)
    ledger.record(ACME, 0.0099)
    with pytest.raises(BudgetExceededError) as caught:
        router.execute(
            "x" * 4000,  # 1000 tokens by the fallback heuristic
            lambda entry, prompt, params: "never called",
            complexity="simple",
            budget_scope=ACME,
        )
    message = str(caught.value)
    assert "scope workspace:acme" in message
    assert "limit $0.010000" in message and "spent $0.009900" in message
    assert "cheap" in message and "$0.000151" in message
    assert caught.value.scope == ACME


def test_execute_reserves_then_records_the_actual_spend() -> None:
    ledger = BudgetLedger({ACME: 1.0})
    router, _, _ = make_router(catalog(*priced()), ledger=ledger)
    seen: list[float] = []

    def call(entry: object, prompt: str, params: object) -> CallOutput:
        seen.append(ledger.spend(ACME).reserved)  # the estimate is held during the call
        return CallOutput("ok", prompt_tokens=2000, completion_tokens=1000)

    result = router.execute("hello", call, complexity="simple", budget_scope=ACME)
    assert seen == [pytest.approx(result.decision.estimated_cost)]
    assert result.cost == pytest.approx(2 * 0.01 + 1 * 0.03)
    spend = ledger.spend(ACME)
    assert spend.spent == pytest.approx(0.05) and spend.reserved == 0.0
    assert spend.remaining == pytest.approx(0.95)


def test_a_failed_call_releases_its_reservation() -> None:
    ledger = BudgetLedger({ACME: 1.0})
    router, _, _ = make_router(catalog(*priced()), ledger=ledger)

    def call(entry: object, prompt: str, params: object) -> str:
        raise TimeoutError

    with pytest.raises(ExecutionFailedError, match="max_attempts"):
        router.execute("hi", call, complexity="simple", budget_scope=ACME)
    assert ledger.spend(ACME) == ScopeSpend(limit=1.0, spent=0.0, reserved=0.0)


def test_report_records_spend_from_tokens() -> None:
    ledger = BudgetLedger()
    router, _, _ = make_router(catalog(*priced()), ledger=ledger)
    decision = router.route("simple")
    cost = router.report(decision, True, 900.0, tokens=(1000, 1000), budget_scope=ACME)
    assert cost == pytest.approx(0.04)
    assert ledger.spend(ACME).spent == pytest.approx(0.04)
    assert ledger.spend(ACME).limit is None and ledger.spend(ACME).remaining is None


def test_the_ledger_refuses_and_resets() -> None:
    ledger = BudgetLedger({ACME: 1.0})
    first = ledger.reserve(ACME, 0.75)
    with pytest.raises(BudgetExceededError):
        ledger.reserve(ACME, 0.5)
    ledger.settle(first, 0.5)
    ledger.settle(first, 0.5)  # twice: no effect
    assert ledger.spend(ACME).spent == 0.5
    ledger.reserve(ACME, 0.5)
    ledger.reset(ACME)
    assert (ledger.spend(ACME).spent, ledger.spend(ACME).reserved) == (0.0, 0.5)
    with pytest.raises(ValueError, match="limit"):
        ledger.set_limit(ACME, -1.0)


def test_the_ledger_never_lets_concurrent_requests_overspend() -> None:
    ledger = BudgetLedger({ACME: 10.0})
    granted: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(16)

    def work() -> None:
        barrier.wait()
        for _ in range(100):
            try:
                reservation = ledger.reserve(ACME, 0.25)  # exact in binary: sums are exact
            except BudgetExceededError:
                continue
            ledger.settle(reservation, 0.25)
            with lock:
                granted.append(1)

    threads = [threading.Thread(target=work) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(granted) == 40
    assert ledger.spend(ACME).spent == 10.0 and ledger.spend(ACME).reserved == 0.0
