"""A workspace's budget as an anomaly: past its warning ratio a warning, at its limit critical,
clear below; its notices name the workspace and the period."""

from __future__ import annotations

from datetime import UTC, datetime

from routelearn.domain.anomaly import LifecycleParams, RuleParams
from routelearn.domain.anomaly.budget import budget_warning
from routelearn.domain.anomaly.model import AnomalyKind, Finding, Severity, Verdict, WorkspaceBudget
from routelearn.domain.anomaly.sweep import sweep
from routelearn.domain.model_health import anomalies_by_model

NOW = datetime(2026, 12, 3, 12, tzinfo=UTC)


def budget(
    spent: float, limit: float = 10.0, ratio: float = 0.8, workspace: str = "ws-1"
) -> WorkspaceBudget:
    return WorkspaceBudget(workspace, "daily", spent, limit, ratio)


def test_below_the_warning_ratio_is_clear_then_warning_then_critical() -> None:
    assert budget_warning(budget(7.99)) is Verdict.CLEAR
    warning = budget_warning(budget(8.0))
    assert isinstance(warning, Finding) and warning.severity is Severity.WARNING
    assert warning.message == "workspace ws-1 has spent 80% of its daily budget: 8 of 10 USD"
    assert warning.subject == ("ws-1", "daily") and warning.threshold == 8.0
    critical = budget_warning(budget(10.5))
    assert isinstance(critical, Finding) and critical.severity is Severity.CRITICAL
    assert critical.message.endswith("10.5 of 10 USD: its requests are refused")
    assert isinstance(budget_warning(budget(0.0, limit=0.0)), Finding)  # a zero budget


def test_a_sweep_opens_it_and_it_belongs_to_no_model() -> None:
    done = sweep(
        [],
        [],
        [],
        NOW,
        RuleParams(),
        LifecycleParams(),
        [budget(9.0), budget(1.0, workspace="ws-2")],
    )
    assert [(c.finding.kind, c.finding.subject) for c in done.opened] == [
        (AnomalyKind.BUDGET_WARNING, ("ws-1", "daily"))
    ]
    assert anomalies_by_model(done.still_open) == {}
