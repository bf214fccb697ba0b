"""Traffic splits in routing, and the statistics comparing a canary with its model."""

from __future__ import annotations

import random
from collections import Counter
from pathlib import Path

import pytest

from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.router import Reason, Verdict, compare_split
from routelearn.instance.router.splits import mann_whitney_u, two_proportion_z
from tests.unit.router.fakes import catalog, make_router, model

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "catalog.yaml"


def with_canary(percent: float, **canary: object) -> ModelCatalog:
    return catalog(
        model(
            "main",
            {"medium": 4.5, "simple": 4.0},
            capabilities=("vision",),
            splits={"medium": {"model": "canary", "percent": percent}},
        ),
        model("other", {"medium": 4.0, "simple": 4.5}, capabilities=("vision",)),
        model("canary", {"medium": 3.0}, **canary),  # type: ignore[arg-type]
    )


def test_the_split_sends_its_percent_to_the_canary() -> None:
    router, _, _ = make_router(with_canary(20, capabilities=("vision",)), rng=random.Random(5))
    n = 10_000
    chosen = Counter(router.route("medium").model for _ in range(n))
    assert set(chosen) == {"main", "canary"}
    assert 0.18 <= chosen["canary"] / n <= 0.22  # sd 0.004
    assert router.stats().splits == chosen["canary"]
    decision = next(d for d in (router.route("medium") for _ in range(100)) if d.model == "canary")
    assert (decision.reason, decision.score) == (Reason.SPLIT, 3.0)


def test_a_disabled_canary_gets_only_its_split_share() -> None:
    router, _, _ = make_router(with_canary(50, capabilities=("vision",), enabled=False))
    assert "canary" in {router.route("medium").model for _ in range(200)}
    # Not a candidate otherwise: the simple traffic goes to other, which has no split.
    assert {router.route("simple").model for _ in range(200)} == {"other"}


def test_no_split_when_the_canary_cannot_take_the_request() -> None:
    lacking, _, _ = make_router(with_canary(100))  # canary lacks vision
    assert {lacking.route("medium", ["vision"]).model for _ in range(100)} == {"main"}
    assert {lacking.route("medium").model for _ in range(100)} == {"canary"}
    router, _, _ = make_router(with_canary(100, capabilities=("vision",)))
    for _ in range(3):
        router.breaker.record_failure("canary")
    assert {router.route("medium").model for _ in range(100)} == {"main"}


def test_the_example_catalog_canary_takes_a_tenth_of_claude_sonnet() -> None:
    cat = ModelCatalog.from_file(EXAMPLE)
    router, _, _ = make_router(cat, rng=random.Random(11))
    assert router.route("complex").model == "gpt-4o"  # the best: no split of its own
    for _ in range(3):
        router.breaker.record_failure("gpt-4o")
    chosen = Counter(router.route("complex").model for _ in range(5000))
    assert set(chosen) == {"claude-sonnet", "claude-sonnet-next"}
    assert 0.085 <= chosen["claude-sonnet-next"] / 5000 <= 0.115  # sd 0.0042


def test_two_proportion_z_test_against_known_values() -> None:
    # 45/50 against 30/50: pooled 0.75, se sqrt(0.75 * 0.25 * 0.04) = 0.0866.
    z, p = two_proportion_z(45, 50, 30, 50)
    assert z == pytest.approx(-3.4641016, abs=1e-6)
    assert p == pytest.approx(0.000532, abs=1e-6)
    assert two_proportion_z(50, 50, 20, 20) == (0.0, 1.0)
    with pytest.raises(ValueError):
        two_proportion_z(5, 4, 1, 2)


def test_mann_whitney_against_known_values() -> None:
    # scipy.stats.mannwhitneyu(males, females, method="asymptotic") documents U=17 (for
    # males; 3 for females) and p=0.11134688653314041.
    males, females = [19, 22, 16, 29, 24], [20, 11, 17, 12]
    u, z, p = mann_whitney_u(males, females)
    assert u == 3.0 and z < 0
    assert p == pytest.approx(0.11134688653314041, abs=1e-12)
    # With ties: ranks 1 | 3 3 3 | 5.5 5.5 | 7.5 7.5; U(b) = 23.5 - 10 = 13.5; tie-corrected
    # variance 16/12 * (9 - 36/56) = 11.142857; z = (13.5 - 8 - 0.5) / 3.338092 = 1.497862.
    u, z, p = mann_whitney_u([1, 2, 2, 3], [2, 3, 4, 4])
    assert u == 13.5 and z == pytest.approx(1.497862, abs=1e-6)
    assert p == pytest.approx(0.134169, abs=1e-6)
    assert mann_whitney_u([5, 5], [5, 5, 5])[2] == 1.0


def test_compare_split_verdicts() -> None:
    worse = compare_split(450, 500, 400, 500)
    assert worse.verdict is Verdict.B_WORSE and worse.success_p_value is not None
    assert worse.success_p_value < 0.001 and "90.0%" in worse.summary
    better = compare_split(400, 500, 450, 500)
    assert better.verdict is Verdict.B_BETTER
    rng = random.Random(1)
    slow = [rng.gauss(1000, 100) for _ in range(200)]
    fast = [rng.gauss(800, 100) for _ in range(200)]
    faster = compare_split(190, 200, 190, 200, slow, fast)
    assert faster.verdict is Verdict.B_FASTER and faster.latency_p_value is not None
    assert faster.latency_p_value < 1e-6 and faster.b_median_ms is not None
    assert compare_split(190, 200, 190, 200, fast, slow).verdict is Verdict.B_SLOWER
    same = compare_split(190, 200, 189, 200, slow, slow[::-1])
    assert same.verdict is Verdict.NO_DIFFERENCE
    small = compare_split(9, 10, 1, 10)
    assert small.verdict is Verdict.INSUFFICIENT_DATA and "need 30" in small.summary
    assert small.success_p_value is not None  # still computed
    empty = compare_split(0, 0, 0, 0)
    assert (empty.verdict, empty.success_p_value, empty.latency_p_value) == (
        Verdict.INSUFFICIENT_DATA,
        None,
        None,
    )
