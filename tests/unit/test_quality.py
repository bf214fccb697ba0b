"""The fleet's quality per (model, complexity): judged only on enough evidence."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routelearn.domain.routing_policy.quality import (
    MIN_SAMPLES,
    InvalidQualityReport,
    QualityCounts,
    QualityReport,
    judge,
)


def test_enough_outcomes_give_a_rate_and_enough_response_times_a_mean() -> None:
    judged = judge(
        [
            QualityCounts("a", "simple", 18, 2, 20, 20 * 400.0),
            QualityCounts("b", "simple", 5, 2, 7, 7000.0),
            QualityCounts("c", "complex", 30, 10, MIN_SAMPLES - 1, 1.0),
        ]
    )
    assert judged[("a", "simple")].success_rate == 0.9
    assert judged[("a", "simple")].latency_ms == 400.0
    assert judged[("b", "simple")].success_rate is None  # 7 outcomes: not judged
    assert judged[("c", "complex")].success_rate == 0.75
    assert judged[("c", "complex")].latency_ms is None
    report = QualityReport(datetime(2026, 12, 3, tzinfo=UTC), judged)
    assert QualityReport.from_message(report.to_message()) == report


def test_a_malformed_report_is_named() -> None:
    with pytest.raises(InvalidQualityReport, match="success_rate"):
        QualityReport.from_message(
            {
                "as_of": "2026-12-03T00:00:00Z",
                "models": {"a": {"simple": {"success_rate": 2, "latency_ms": 1, "samples": 3}}},
            }
        )
