"""Wilson bounds and the sample-size-aware ranking of routelearn.stats.ranking."""

from __future__ import annotations

import pytest

from routelearn.stats.ranking import Candidate, rank, wilson_interval


@pytest.mark.parametrize(
    ("successes", "outcomes", "low", "high"),
    [
        (0, 0, 0.0, 1.0),
        (10, 10, 0.7225, 1.0),
        (0, 10, 0.0, 0.2775),
        (50, 100, 0.4038, 0.5962),
        (370, 400, 0.8950, 0.9470),
    ],
)
def test_wilson_interval_reference_values(
    successes: int, outcomes: int, low: float, high: float
) -> None:
    assert wilson_interval(successes, outcomes) == pytest.approx((low, high), abs=1e-4)


@pytest.mark.parametrize(("successes", "outcomes"), [(-1, 3), (4, 3), (0, -1)])
def test_wilson_interval_refuses_impossible_counts(successes: int, outcomes: int) -> None:
    with pytest.raises(ValueError, match="successes <= outcomes"):
        wilson_interval(successes, outcomes)


def test_interval_narrows_with_evidence() -> None:
    small, large = wilson_interval(9, 10), wilson_interval(900, 1000)
    assert small[0] < large[0] < 0.9 < large[1] < small[1]


CANDIDATES = [
    Candidate("lucky", "simple", 25, 0),  # 100% on little evidence
    Candidate("solid", "complex", 370, 30),  # 92.5% on a lot
    Candidate("poor", "medium", 30, 30),
    Candidate("new", "simple", 5, 0),  # under the minimum
]


def test_top_orders_by_lower_bound() -> None:
    ranked = rank(CANDIDATES, 10)
    assert [(r.rank, r.candidate.model) for r in ranked] == [
        (1, "solid"),
        (2, "lucky"),
        (3, "poor"),
    ]
    assert ranked[0].success_rate == pytest.approx(0.925)
    assert ranked[0].bound == pytest.approx(wilson_interval(370, 400)[0])


def test_bottom_orders_by_upper_bound() -> None:
    ranked = rank(CANDIDATES, 2, bottom=True)
    assert [r.candidate.model for r in ranked] == ["poor", "solid"]
    assert ranked[0].bound == pytest.approx(wilson_interval(30, 60)[1])


def test_min_samples_and_n() -> None:
    assert [r.candidate.model for r in rank(CANDIDATES, 10, min_samples=5)][-2:] == ["new", "poor"]
    assert rank(CANDIDATES, 0) == []
    assert rank([], 5) == []
    with pytest.raises(ValueError):
        rank(CANDIDATES, 3, min_samples=0)


def test_ties_go_to_more_evidence_then_name() -> None:
    tied = [
        Candidate("b", "simple", 40, 0),
        Candidate("a", "simple", 40, 0),
        Candidate("c", "simple", 80, 0),
    ]
    assert [r.candidate.model for r in rank(tied, 3)] == ["c", "a", "b"]
