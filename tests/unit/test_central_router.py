"""The central router behind POST /api/route, without a database: the catalog it builds from the
registry and the scores, its choice (the instance-side router's), fallbacks, the explanation and
the routed event. The database read itself is tested over HTTP (test_api_route.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import create_engine

from routelearn.api.central import (
    API_INSTANCE_ID,
    CentralRouter,
    NotLoaded,
    catalog_document,
)
from routelearn.api.explain import fallback_models
from routelearn.domain.event import Complexity, Prefer
from routelearn.domain.registry import REMOVED, RegistryChange
from routelearn.instance.router import BudgetExceededError, NoModelAvailableError, Reason
from routelearn.settings import Settings
from tests.unit.router.fakes import Collector, validate

Scores = dict[str, dict[str, dict[str, Any]]]


def change(
    model: str,
    status: str = "active",
    capabilities: tuple[str, ...] = (),
    prices: tuple[float, float] | None = None,
    version: int = 1,
) -> RegistryChange:
    return RegistryChange(
        model=model,
        version=version,
        status=status,
        provider=f"{model}-provider",
        capabilities=capabilities,
        input_per_1k=None if prices is None else prices[0],
        output_per_1k=None if prices is None else prices[1],
        context_window=8192,
        typical_latency_ms=400.0,
        timestamp=datetime(2026, 12, 1, tzinfo=UTC),
    )


def registry() -> list[RegistryChange]:
    """atlas: vision, priced; boreal: cheap, no vision; cirrus: vision, the best, inactive;
    dune: no prices."""
    return [
        change("atlas", capabilities=("vision", "json"), prices=(0.01, 0.03)),
        change("boreal", capabilities=("json",), prices=(0.001, 0.002)),
        change("cirrus", "inactive", capabilities=("vision", "json"), prices=(0.0, 0.0)),
        change("dune"),
    ]


def scores() -> Scores:
    return {
        "atlas": {"complex": {"score": 4.0, "version": 0}},  # as catalog import leaves it
        "boreal": {"complex": {"score": 3.0, "version": 2}, "simple": {"score": 4.8, "version": 1}},
        "cirrus": {"complex": {"score": 4.9, "version": 3}, "simple": {"score": 5.0, "version": 1}},
        "dune": {"complex": {"score": 2.0, "version": 1}},
        "ghost": {"complex": {"score": 5.0, "version": 9}},  # scored, never registered
    }


def central(explore: float = 0.0) -> tuple[CentralRouter, Collector]:
    sink = Collector()
    settings = Settings(api_route_explore_share=explore)
    # The engine connects on first use only: these tests never use it.
    router = CentralRouter(settings, create_engine("postgresql+psycopg://nowhere/x"), sink)
    router.load(registry(), scores())
    return router, sink


def route(router: CentralRouter, prompt: str = "hello", **kwargs: Any) -> Any:
    kwargs.setdefault("complexity", Complexity.COMPLEX)
    kwargs.setdefault("max_tokens", None)
    kwargs.setdefault("capabilities", ())
    kwargs.setdefault("prefer", None)
    kwargs.setdefault("budget", None)
    return router.route(prompt, **kwargs)


def test_the_catalog_is_the_registry_with_its_scores_and_versions() -> None:
    removed = change("old").removed(5, datetime(2026, 12, 1, tzinfo=UTC))
    document = catalog_document([*registry(), removed], scores(), 2.5)
    specs = {spec["name"]: spec for spec in document["models"]}
    assert list(specs) == ["atlas", "boreal", "cirrus", "dune"]  # no ghost, no removed model
    assert removed.status == REMOVED
    assert specs["cirrus"]["enabled"] is False and specs["atlas"]["enabled"] is True
    assert specs["atlas"]["prices"] == {"input_per_1k": 0.01, "output_per_1k": 0.03}
    assert "prices" not in specs["dune"]
    assert specs["boreal"]["scores"] == {"complex": 3.0, "simple": 4.8}
    assert specs["boreal"]["versions"] == {"complex": 2, "simple": 1}


def test_the_best_active_capable_model_is_chosen_never_an_inactive_one() -> None:
    router, sink = central()
    best = route(router)
    # cirrus scores 4.9 but is inactive; atlas's 4.0 is a version-0 score, and counts.
    assert (best.decision.model, best.decision.reason, best.decision.score) == (
        "atlas",
        Reason.BEST,
        4.0,
    )
    assert best.decision.provider == "atlas-provider"
    assert best.fallbacks == ["boreal", "dune"]
    assert best.candidates == 3
    assert route(router, capabilities=["vision"]).decision.model == "atlas"
    assert route(router, capabilities=["vision"]).fallbacks == []
    # A complexity no model has a score for: default_score for all, ties go to the name.
    assert route(router, complexity=Complexity.MEDIUM).decision.model == "atlas"
    assert route(router, complexity=Complexity.SIMPLE).decision.model == "boreal"
    chosen = {route(router, capabilities=c).decision.model for c in ([], ["json"], ["vision"])}
    assert "cirrus" not in chosen
    # Every decision published its routed event, joinable by decision_id.
    event = sink.events[0]
    validate(event)
    assert event["instance_id"] == API_INSTANCE_ID
    assert event["decision_id"] == best.decision.decision_id
    assert event["routing_decision"]["outcome"] == "routed"


def test_a_reload_follows_the_registry_and_newer_scores() -> None:
    router, _ = central()
    activated = [c if c.model != "cirrus" else change("cirrus", version=2) for c in registry()]
    router.load(activated, scores())
    assert route(router).decision.model == "cirrus"
    newer = scores()
    newer["boreal"]["complex"] = {"score": 5.0, "version": 3}
    router.load(registry(), newer)  # cirrus inactive again, boreal now the best
    assert route(router).decision.model == "boreal"
    gone = [c for c in registry() if c.model != "boreal"]
    router.load(gone, newer)  # boreal no longer registered: never chosen
    assert route(router).decision.model == "atlas"


def test_tokens_cost_budget_and_fallbacks() -> None:
    router, _ = central()
    routed = route(router, "x" * 400, max_tokens=1000)
    assert (routed.prompt_tokens, routed.completion_tokens) == (
        router.router.tokens.count("x" * 400),
        1000,
    )
    cost = (routed.prompt_tokens * 0.01 + 1000 * 0.03) / 1000
    assert routed.decision.estimated_cost == pytest.approx(cost)
    unbounded = route(router, "x" * 400)
    assert unbounded.completion_tokens == router.router.expected_completion_tokens
    # Under a budget atlas is too dear, dune has no prices: boreal, with no fallback.
    cheap = route(router, "x" * 400, max_tokens=1000, budget=0.01)
    assert (cheap.decision.model, cheap.decision.reason) == ("boreal", Reason.BUDGET)
    assert cheap.fallbacks == [] and "$0.01" in cheap.explanation
    with pytest.raises(BudgetExceededError):
        route(router, "x" * 400, max_tokens=1000, budget=0.0000001)
    with pytest.raises(NoModelAvailableError, match="teleport"):
        route(router, capabilities=["teleport"])


def test_fallbacks_are_best_first_bounded_and_skip_the_chosen() -> None:
    router, _ = central()
    ranked = router.catalog.candidates(Complexity.COMPLEX)
    assert fallback_models(ranked, "atlas", None, 10, 10) == ["boreal", "dune"]
    assert fallback_models(ranked, "boreal", None, 10, 10, limit=1) == ["atlas"]
    assert fallback_models(ranked, "atlas", 1.0, 10, 10) == ["boreal"]  # dune: no prices


def test_complexity_is_estimated_when_not_given_and_explained() -> None:
    router, _ = central()
    estimated = route(router, "Say hi", complexity=None, max_tokens=50)
    assert estimated.decision.complexity is Complexity.SIMPLE and not estimated.complexity_given
    assert estimated.explanation.startswith("complexity simple (estimated from ")
    assert "maxTokens 50" in estimated.explanation
    given = route(router)
    assert given.explanation.startswith("complexity complex (given): the best score 4.00")
    preferred = route(router, prefer=Prefer.COST, complexity=Complexity.MEDIUM)
    assert preferred.decision.reason is Reason.PREFER and "cheapest" in preferred.explanation


def test_exploration_is_a_setting_and_nothing_routes_before_the_first_load() -> None:
    router, _ = central(explore=1.0)
    reasons = {route(router).decision.reason for _ in range(20)}
    assert Reason.EXPLORATION in reasons
    fresh = CentralRouter(Settings(), create_engine("postgresql+psycopg://nowhere/x"), Collector())
    with pytest.raises(NotLoaded):
        route(fresh)


def test_a_database_that_went_back_is_followed_all_the_same() -> None:
    """An instance keeps a held score newer than its file's; the central router follows the
    database even when its versions go back (restored, scores deleted and imported again)."""
    router, _ = central()
    newer = scores()
    newer["boreal"]["complex"] = {"score": 5.0, "version": 7}
    router.load(registry(), newer)
    assert route(router).decision.model == "boreal"
    router.load(registry(), scores())  # boreal back at version 2, score 3.0
    assert route(router).decision.model == "atlas"
    assert router.catalog.version("boreal", "complex") == 2
