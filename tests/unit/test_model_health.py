"""A model's health and the fleet's (routelearn.domain.model_health): pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from routelearn.domain.anomaly import AnomalyKind, OpenAnomaly, Severity
from routelearn.domain.model_health import (
    UNREGISTERED,
    Health,
    HealthRule,
    ModelEvidence,
    anomalies_by_model,
    fleet_health,
    judge,
)

NOW = datetime(2025, 3, 4, 12, 0, tzinfo=UTC)


def anomaly(
    subject: tuple[str, ...],
    severity: Severity = Severity.WARNING,
    kind: AnomalyKind = AnomalyKind.LOW_SUCCESS_RATE,
) -> OpenAnomaly:
    return OpenAnomaly(kind, subject, NOW, NOW, severity, 0.5)


def evidence(
    successes: int = 0,
    failures: int = 0,
    *anomalies: OpenAnomaly,
    status: str = "active",
    decisions: int | None = None,
) -> ModelEvidence:
    made = successes + failures if decisions is None else decisions
    return ModelEvidence("m", status, made, successes, failures, tuple(anomalies))


def test_no_trouble_is_healthy_even_without_traffic() -> None:
    assert judge(evidence()).health == Health.HEALTHY
    assert judge(evidence(95, 5)) == judge(evidence())  # 95%: above 85%
    assert judge(evidence(95, 5)).reasons == ()


@pytest.mark.parametrize(
    ("successes", "failures", "health"),
    [
        (17, 3, Health.HEALTHY),  # exactly 85%: not below
        (84, 16, Health.DEGRADED),  # 84%
        (70, 30, Health.DEGRADED),  # exactly 70%: not below
        (69, 31, Health.UNHEALTHY),
        (0, 20, Health.UNHEALTHY),
        (0, 19, Health.HEALTHY),  # 19 outcomes: too few to judge
    ],
)
def test_success_rate_thresholds_on_enough_outcomes(
    successes: int, failures: int, health: Health
) -> None:
    assert judge(evidence(successes, failures)).health == health


def test_the_reason_names_the_rate_its_evidence_and_the_threshold() -> None:
    assert judge(evidence(60, 40)).reasons == ("success rate 60.0% over 100 outcomes, below 70%",)
    assert judge(evidence(80, 20)).reasons == ("success rate 80.0% over 100 outcomes, below 85%",)


def test_the_defaults_are_the_anomaly_sweeps_thresholds_and_can_be_changed() -> None:
    rule = HealthRule()
    assert (rule.min_outcomes, rule.degraded_below, rule.unhealthy_below) == (20, 0.85, 0.70)
    strict = HealthRule(min_outcomes=5, degraded_below=0.99, unhealthy_below=0.9)
    assert judge(evidence(19, 1), strict).health == Health.DEGRADED
    assert judge(evidence(4, 1), strict).health == Health.UNHEALTHY
    with pytest.raises(ValueError, match="unhealthy_below <= degraded_below"):
        HealthRule(degraded_below=0.5, unhealthy_below=0.6)
    with pytest.raises(ValueError, match="min_outcomes"):
        HealthRule(min_outcomes=0)


def test_open_anomalies_by_severity_win_over_a_good_rate() -> None:
    warning = anomaly(("m", "simple"), Severity.WARNING, AnomalyKind.SLOW_RESPONSES)
    critical = anomaly(("m", "complex"), Severity.CRITICAL)
    degraded = judge(evidence(100, 0, warning))
    assert degraded.health == Health.DEGRADED
    assert degraded.reasons == ("warning anomaly open: slow_responses (simple)",)
    unhealthy = judge(evidence(80, 20, warning, critical))
    assert unhealthy.health == Health.UNHEALTHY
    assert unhealthy.reasons == (  # worst first
        "critical anomaly open: low_success_rate (complex)",
        "warning anomaly open: slow_responses (simple)",
        "success rate 80.0% over 100 outcomes, below 85%",
    )


def test_anomalies_go_to_the_model_of_their_subject_never_an_instances() -> None:
    a, b = anomaly(("a", "simple")), anomaly(("a", "complex"), Severity.CRITICAL)
    c = anomaly(("b", "simple"), kind=AnomalyKind.FAILURE_SPIKE)
    silent = anomaly(("a",), kind=AnomalyKind.INSTANCE_SILENT)  # an instance named like a model
    assert anomalies_by_model([a, silent, b, c]) == {"a": (a, b), "b": (c,)}


def test_in_service_active_or_unregistered_and_seen() -> None:
    assert evidence(status="active").in_service
    for status in ("inactive", "deprecated", "maintenance"):
        assert not evidence(50, 50, status=status).in_service
    assert not evidence(status=UNREGISTERED).in_service
    assert evidence(status=UNREGISTERED, decisions=1).in_service  # routed, no outcome yet
    assert evidence(0, 0, anomaly(("m", "x")), status=UNREGISTERED).in_service


def fleet(*models: tuple[str, int, Health]) -> Health:
    return fleet_health(
        (ModelEvidence(f"m{n}", status, decisions), health)
        for n, (status, decisions, health) in enumerate(models)
    )


def test_fleet_healthy_degraded_or_unhealthy_from_the_models_in_service() -> None:
    ok, bad, sick = Health.HEALTHY, Health.DEGRADED, Health.UNHEALTHY
    assert fleet() == ok  # nothing in service: nothing wrong
    assert fleet(("active", 0, ok), (UNREGISTERED, 5, ok)) == ok
    assert fleet(("active", 10, ok), ("active", 10, sick)) == bad
    assert fleet(("active", 10, bad), (UNREGISTERED, 3, bad)) == sick  # none healthy
    assert fleet(("active", 10, sick)) == sick
    # Out of service: neither their trouble nor their health counts.
    assert fleet(("active", 10, ok), ("deprecated", 10, sick), ("maintenance", 0, sick)) == ok
    assert fleet(("active", 10, sick), ("inactive", 0, ok), (UNREGISTERED, 0, ok)) == sick
