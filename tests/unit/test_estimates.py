"""The learner's estimate report: its message both ways, its checks, and the instance's book."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from routelearn.domain.estimates import Estimate, EstimateReport, InvalidEstimateReport
from routelearn.instance.catalog.estimates import EstimateBook

AT = datetime(2026, 12, 4, 12, tzinfo=UTC)


def test_a_report_round_trips_rounded_and_clamped() -> None:
    report = EstimateReport.of_rows(
        AT,
        "calibrated",
        [("atlas", "complex"), ("atlas", "simple"), ("brisk", "simple")],
        [4.71234, 5.0000001, -1e-9],
        [0.04449, 1.2, 0.0],
    )
    message = report.to_message()
    assert message == {
        "as_of": "2026-12-04T12:00:00Z",
        "policy": "calibrated",
        "models": {
            "atlas": {"complex": [4.712, 0.044], "simple": [5.0, 1.2]},
            "brisk": {"simple": [0.0, 0.0]},
        },
    }
    back = EstimateReport.from_message(message)
    assert back == report
    assert back.of("atlas", "complex") == Estimate(4.712, 0.044)
    assert back.of("atlas", "medium") is None


@pytest.mark.parametrize(
    ("message", "names"),
    [
        ({"policy": "calibrated", "models": {}}, "as_of"),
        ({"as_of": "2026-12-04T12:00:00", "policy": "c", "models": {}}, "as_of"),
        ({"as_of": "2026-12-04T12:00:00Z", "policy": "c", "models": {"m": {"hard": [1, 0]}}},
         "models.m.hard"),
        ({"as_of": "2026-12-04T12:00:00Z", "policy": "c", "models": {"m": {"simple": [6, 0]}}},
         "models.m.simple.0"),
        ({"as_of": "2026-12-04T12:00:00Z", "policy": "c", "models": {"m": {"simple": [1, -1]}}},
         "models.m.simple.1"),
        ({"as_of": "2026-12-04T12:00:00Z", "policy": "c", "models": {"m": {"simple": [1]}}},
         "models.m.simple"),
    ],
)  # fmt: skip
def test_a_bad_report_is_refused_naming_the_field(message: object, names: str) -> None:
    with pytest.raises(InvalidEstimateReport, match=rf"estimate report: {names}"):
        EstimateReport.from_message(message)


def test_the_book_keeps_the_newest_report() -> None:
    book = EstimateBook()
    assert book.report is None and book.of("atlas", "simple") is None
    newer = EstimateReport(AT, "calibrated", {("atlas", "simple"): Estimate(4.0, 0.1)})
    older = EstimateReport(
        AT - timedelta(seconds=5), "calibrated", {("atlas", "simple"): Estimate(1.0, 0.1)}
    )
    assert book.apply(newer)
    assert not book.apply(older)
    assert not book.apply(newer)  # the same one again: nothing to do
    assert book.of("atlas", "simple") == Estimate(4.0, 0.1)


def test_draws_follow_the_normal_approximation() -> None:
    rng = random.Random(5)
    e = Estimate(3.0, 0.5)
    draws = [e.sample(rng) for _ in range(20_000)]
    mean = sum(draws) / len(draws)
    sd = (sum((d - mean) ** 2 for d in draws) / len(draws)) ** 0.5
    assert mean == pytest.approx(3.0, abs=0.02)
    assert sd == pytest.approx(0.5, abs=0.02)
    assert e.upper(2.0) == 4.0
