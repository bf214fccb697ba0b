"""The exploration share: how often, which models, and how it is recorded."""

from __future__ import annotations

import itertools
import random
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from routelearn.domain.estimates import Estimate, EstimateReport
from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.router import ModelRouter, Reason
from tests.unit.router.fakes import catalog, make_router, model, validate


def five() -> list[dict[str, object]]:
    return [
        model("best", {"simple": 4.8}),
        model("m2", {"simple": 4.0}),
        model("m3", {"simple": 3.5}),
        model("m4", {"simple": 3.0}, capabilities=("vision",)),
        model("m5", {"simple": 2.0}),
    ]


def test_the_exploratory_share_is_close_to_the_setting() -> None:
    router, _, _ = make_router(catalog(*five()), explore_share=0.05, rng=random.Random(7))
    n = 20_000
    decisions = [router.route("simple") for _ in range(n)]
    explored = [d for d in decisions if d.exploratory]
    # Binomial(20000, 0.05): mean 1000, sd 31; +-5 sd.
    assert 845 <= len(explored) <= 1155
    assert all(d.reason is Reason.EXPLORATION and d.model != "best" for d in explored)
    assert all(d.reason is not Reason.EXPLORATION for d in decisions if not d.exploratory)
    stats = router.stats()
    assert (stats.decisions, stats.exploratory) == (n, len(explored))


def test_no_exploration_at_share_zero_and_always_at_share_one() -> None:
    never, _, _ = make_router(catalog(*five()), explore_share=0.0)
    assert not any(never.route("simple").exploratory for _ in range(2000))
    always, _, _ = make_router(catalog(*five()), explore_share=1.0)
    assert all(always.route("simple").exploratory for _ in range(200))


def test_a_seeded_rng_makes_the_same_choices() -> None:
    def run(seed: int) -> list[str]:
        router, _, _ = make_router(catalog(*five()), explore_share=0.3, rng=random.Random(seed))
        return [router.route("simple").model for _ in range(300)]

    assert run(3) == run(3)
    assert run(3) != run(4)


def test_exploration_respects_capabilities_and_circuits() -> None:
    router, _, _ = make_router(catalog(*five()), explore_share=1.0)
    for _ in range(3):
        router.breaker.record_failure("m2")
    chosen = Counter(router.route("simple").model for _ in range(2000))
    assert set(chosen) == {"m3", "m4", "m5"}
    with_vision = {router.route("simple", ["vision"]).model for _ in range(50)}
    assert with_vision == {"m4"}  # the only capable model: nothing else to explore


def test_exploration_weighs_uncertain_and_stale_models() -> None:
    """best: the exploit choice. u: version 0 (uncertain). k: a learned score (version 3),
    chosen just now, so neither uncertain nor stale: weight 0 until stale_after_s passes,
    then weight 1 against u's 2 (u stays fresh, since exploring it notes it)."""
    cat = catalog(model("best", {"simple": 4.8}), model("u", {"simple": 3.0}), model("k"))
    assert cat.apply_update("k", "simple", 3.5, 3)
    router, _, clock = make_router(cat, explore_share=1.0, stale_after_s=600.0)
    assert router.route("simple", user_model_request="k").model == "k"
    fresh = Counter(router.route("simple").model for _ in range(500))
    assert fresh == {"u": 500}
    clock.advance(600.0)
    stale = Counter(router.route("simple").model for _ in range(3000))
    # k is stale (weight 1) until explored once; then fresh again. So it is explored about
    # once per stale period: here, exactly once, since the clock does not move.
    assert stale["k"] == 1 and stale["u"] == 2999


def test_a_stale_model_weighs_a_third_of_an_uncertain_and_stale_one() -> None:
    """With the clock moving past stale_after_s on every route, k (learned, stale) weighs 1
    and u (uncertain and stale) weighs 3: k takes a quarter of the exploration."""
    cat = catalog(model("best", {"simple": 4.8}), model("u", {"simple": 3.0}), model("k"))
    assert cat.apply_update("k", "simple", 3.5, 3)
    router, _, clock = make_router(cat, explore_share=1.0, stale_after_s=1.0)
    counts: Counter[str] = Counter()
    for _ in range(4000):
        clock.advance(1.0)
        counts[router.route("simple").model] += 1
    share_k = counts["k"] / 4000
    assert 0.22 <= share_k <= 0.28, counts  # expected 0.25, sd 0.007


def test_the_exploratory_flag_is_published_only_when_enabled() -> None:
    on, published_on, _ = make_router(catalog(*five()), explore_share=0.5)
    off, published_off, _ = make_router(
        catalog(*five()), explore_share=0.5, publish_exploratory_flag=False
    )
    for _ in range(200):
        on.route("simple")
        off.route("simple")
    flagged = [e for e in published_on.events if "exploratory" in e["routing_decision"]]
    assert len(flagged) == on.stats().exploratory > 0
    assert all(e["routing_decision"]["exploratory"] is True for e in flagged)
    assert not any("exploratory" in e["routing_decision"] for e in published_off.events)
    for event in published_on.events + published_off.events:
        validate(event)


def report(**rows: tuple[float, float]) -> EstimateReport:
    """The learner's estimates for ``simple``: model -> (mean, spread)."""
    return EstimateReport(
        datetime(2026, 12, 4, tzinfo=UTC),
        "calibrated",
        {(name, "simple"): Estimate(mean, spread) for name, (mean, spread) in rows.items()},
    )


def directed(strategy: str) -> tuple[ModelRouter, ModelCatalog]:
    cat = catalog(*five())
    router, _, _ = make_router(cat, explore_share=1.0, explore_strategy=strategy)
    return router, cat


def test_thompson_explores_a_challenger_as_often_as_its_draw_beats_the_leaders() -> None:
    """Top-two: the share goes to the challengers that may beat the leader (best, the model
    the decision takes), not to the best of the rest."""
    router, cat = directed("thompson")
    # m3 beats best's draw with P(N(4.3, 0.4) > N(4.5, 0.05)) = 0.31 a round, so within 16
    # rounds 99.7% of the time; m2 (4.2 +- 0.05) almost never does. Drawn against each other
    # only, as before, m3 would take 60% (P(N(4.3, 0.4) > N(4.2, 0.05))).
    cat.estimates.apply(
        report(best=(4.5, 0.05), m2=(4.2, 0.05), m3=(4.3, 0.4), m4=(3.0, 0.01), m5=(2.0, 0.05))
    )
    counts = Counter(router.route("simple").model for _ in range(4000))
    assert set(counts) <= {"m2", "m3"}
    assert counts["m3"] / 4000 >= 0.99, counts  # expected 0.998


def test_when_no_challenger_can_beat_the_leader_the_highest_draw_is_explored() -> None:
    router, cat = directed("thompson")
    # Nothing beats best's 4.8 (m3 needs a 4-spread draw): the last round's highest challenger
    # draw is explored. m3's beats m2's (a narrow 4.0) with P(N(3.5, 0.3) > 4.0) = 0.048.
    cat.estimates.apply(
        report(best=(4.8, 0.02), m2=(4.0, 0.01), m3=(3.5, 0.3), m4=(3.0, 0.01), m5=(2.0, 0.05))
    )
    counts = Counter(router.route("simple").model for _ in range(4000))
    assert set(counts) <= {"m2", "m3"}
    assert 0.035 <= counts["m3"] / 4000 <= 0.062, counts  # sd 0.0034
    assert counts["m4"] == 0  # 3.0 +- 0.01 never beats 4.0


def test_a_leader_without_an_estimate_leaves_plain_thompson_sampling() -> None:
    """Nothing to beat: the highest challenger draw is explored (best, the leader by its
    score, is not in the report)."""
    router, cat = directed("thompson")
    # m3's draw beats m2's (a narrow 4.0) with P(N(3.5, 1) > 4.0) = 0.31; m5's never does.
    cat.estimates.apply(report(m2=(4.0, 0.01), m3=(3.5, 1.0), m4=(3.0, 0.01), m5=(2.0, 0.05)))
    counts = Counter(router.route("simple").model for _ in range(4000))
    assert set(counts) <= {"m2", "m3"}
    assert 0.27 <= counts["m3"] / 4000 <= 0.35, counts  # sd 0.007


def learned(cat: ModelCatalog, version: int = 1, **scores: float) -> None:
    for name, score in scores.items():
        assert cat.apply_update(name, "simple", score, version)


def test_a_cut_challenger_gets_the_probe_share_for_probe_s() -> None:
    """A challenger whose learned score fell a point or more from near the top (the learner
    cut it: it degraded) gets ``probe_share`` of the exploring decisions, though its estimate
    says it is poor, until ``probe_s`` has passed since this router last saw it at its old
    score."""
    cat = catalog(*five())
    learned(cat, best=4.8, m2=4.0, m3=3.5, m4=3.0, m5=2.0)
    router, _, clock = make_router(
        cat, explore_share=1.0, explore_strategy="thompson", probe_s=600.0
    )
    estimates = {"best": (4.8, 0.02), "m3": (3.5, 0.3), "m4": (3.0, 0.01), "m5": (2.0, 0.05)}
    cat.estimates.apply(report(**estimates, m2=(4.0, 0.01)))
    before = Counter(router.route("simple").model for _ in range(1000))
    assert before["m2"] > 900  # the highest challenger draw (m3's beats it 5% of the time)
    clock.advance(400.0)
    router.route("simple")  # seen at 4.0 again: the cut will run 600 s from now
    learned(cat, 5, m2=1.5)  # cut: 4.0 -> 1.5
    later = replace(report(**estimates, m2=(1.5, 0.3)), as_of=datetime(2026, 12, 4, 1, tzinfo=UTC))
    cat.estimates.apply(later)
    clock.advance(100.0)
    cut = Counter(router.route("simple").model for _ in range(4000))
    assert 0.46 <= cut["m2"] / 4000 <= 0.54, cut  # the probes (0.5; sd 0.008), nothing else
    # The rest goes by the estimates: m3 is now the runner-up (m4 draws higher 5% of the time).
    assert cut["m3"] / 4000 >= 0.42, cut
    clock.advance(450.0)  # 950 s after m2 was first seen at 4.0, 550 s after it was last
    assert Counter(router.route("simple").model for _ in range(400))["m2"] >= 150
    clock.advance(51.0)  # probe_s since m2 was last seen at 4.0
    after = Counter(router.route("simple").model for _ in range(1000))
    assert after["m2"] == 0, after


def test_only_a_model_that_was_near_the_top_is_cut() -> None:
    """A drop of a point from far below the leader (m4, m5), or from the operator's guess to
    the first learned score (m3, version 0 before), is no cut: probes (here every exploring
    decision) would otherwise go to models that were never in the running."""
    cat = catalog(*five())
    learned(cat, best=4.8, m2=4.0, m4=3.0, m5=2.0)
    router, _, _ = make_router(cat, explore_share=1.0, probe_share=1.0)
    cat.estimates.apply(
        report(best=(4.8, 0.02), m2=(4.0, 0.01), m3=(2.4, 0.1), m4=(1.9, 0.1), m5=(0.9, 0.1))
    )
    router.route("simple")
    learned(cat, 5, m3=2.4, m4=1.9, m5=0.9)
    assert {router.route("simple").model for _ in range(300)} == {"m2"}  # by the estimates
    learned(cat, 6, m2=2.9)  # m2 was within a point of the leader: cut
    cat.estimates.apply(
        replace(
            report(best=(4.8, 0.02), m2=(2.9, 0.1), m3=(3.5, 0.1), m4=(1.9, 0.1)),
            as_of=datetime(2026, 12, 4, 1, tzinfo=UTC),
        )
    )
    assert {router.route("simple").model for _ in range(300)} == {"m2"}  # the probes


def test_probes_take_the_cut_challenger_chosen_least_lately() -> None:
    cat = catalog(*five())
    learned(cat, best=4.8, m2=4.5, m3=4.2, m4=3.0, m5=2.0)
    router, _, clock = make_router(cat, explore_share=1.0, probe_share=1.0)
    cat.estimates.apply(
        report(best=(4.8, 0.02), m2=(1.0, 0.1), m3=(1.0, 0.1), m4=(3.0, 0.01), m5=(2.0, 0.05))
    )
    router.route("simple")
    learned(cat, 5, m2=1.0, m3=1.0)

    def route() -> str:
        clock.advance(0.1)
        return router.route("simple").model

    picks = [route() for _ in range(100)]
    assert Counter(picks) == {"m2": 50, "m3": 50}
    assert all(a != b for a, b in itertools.pairwise(picks))  # in turn
    # In turn on a clock too coarse to tell the decisions apart: they are told by their order.
    stopped = [router.route("simple").model for _ in range(100)]
    assert all(a != b for a, b in itertools.pairwise(stopped)), stopped


def test_no_probes_under_uniform_or_without_a_report() -> None:
    for strategy, estimates in (("uniform", True), ("thompson", False)):
        cat = catalog(*five())
        learned(cat, best=4.8, m2=4.5)
        router, _, _ = make_router(
            cat, explore_share=1.0, explore_strategy=strategy, probe_share=1.0
        )
        if estimates:
            cat.estimates.apply(report(best=(4.8, 0.02), m2=(1.0, 0.1)))
        router.route("simple")
        learned(cat, 5, m2=1.0)
        picks = Counter(router.route("simple").model for _ in range(300))
        assert len(picks) > 1, (strategy, picks)  # by the weights, not all to the cut m2


@pytest.mark.parametrize(
    ("field", "value"), [("probe_share", 1.5), ("probe_share", -0.1), ("probe_s", -1.0)]
)
def test_probe_settings_are_checked(field: str, value: float) -> None:
    with pytest.raises(ValueError, match=f"{field} must be .*, got {value}"):
        make_router(catalog(*five()), **{field: value})


def test_ucb_explores_the_highest_optimistic_bound() -> None:
    router, cat = directed("ucb")
    cat.estimates.apply(
        report(best=(4.8, 0.02), m2=(4.0, 0.05), m3=(3.5, 1.0), m4=(3.0, 0.01), m5=(2.0, 0.05))
    )
    assert {router.route("simple").model for _ in range(300)} == {"m3"}  # 5.5 > 4.1
    # Evidence narrows m3's spread: the bound falls below m2's, and m2 takes the share.
    cat.estimates.apply(
        replace(
            report(best=(4.8, 0.02), m2=(4.0, 0.05), m3=(3.5, 0.1), m4=(3.0, 0.01)),
            as_of=datetime(2026, 12, 4, 0, 1, tzinfo=UTC),
        )
    )
    # m5 is not in the newer report: no evidence on it at all, so it goes first.
    assert {router.route("simple").model for _ in range(300)} == {"m5"}


def test_models_without_estimates_share_the_exploration_first() -> None:
    router, cat = directed("thompson")
    cat.estimates.apply(report(best=(4.8, 0.02), m2=(4.0, 0.05), m3=(3.5, 0.5)))
    counts = Counter(router.route("simple").model for _ in range(2000))
    assert set(counts) == {"m4", "m5"}
    assert 0.45 <= counts["m4"] / 2000 <= 0.55  # ties are broken at random
    # Directed exploration still takes only what could take the request.
    for _ in range(3):
        router.breaker.record_failure("m5")
    assert {router.route("simple").model for _ in range(200)} == {"m4"}
    assert {router.route("simple", ["vision"]).model for _ in range(20)} == {"m4"}


def test_uniform_no_report_and_an_empty_one_use_the_weights() -> None:
    """The weights, not the estimates: m2 has a learned score (version 3) and was chosen just
    now, so it weighs 0 and is never explored; directed exploration would favour it."""

    def explored(strategy: str, held: EstimateReport | None) -> set[str]:
        router, cat = directed(strategy)
        assert cat.apply_update("m2", "simple", 4.0, 3)
        assert router.route("simple", user_model_request="m2").model == "m2"
        if held is not None:
            cat.estimates.apply(held)
        return {router.route("simple").model for _ in range(2000)}

    favour_m2 = report(
        best=(4.8, 0.02), m2=(4.7, 0.5), m3=(1.0, 0.01), m4=(1.0, 0.01), m5=(1.0, 0.01)
    )
    assert explored("thompson", favour_m2) == {"m2"}  # directed
    assert explored("uniform", favour_m2) == {"m3", "m4", "m5"}
    assert explored("thompson", None) == {"m3", "m4", "m5"}  # no report received yet
    empty = EstimateReport(datetime(2026, 12, 4, tzinfo=UTC), "classic", {})
    assert explored("thompson", empty) == {"m3", "m4", "m5"}


def test_an_unknown_strategy_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="explore_strategy must be one of thompson, ucb, uniform"):
        directed("greedy")
