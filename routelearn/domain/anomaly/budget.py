"""The budget rule: a workspace's spend in a period past its warning ratio (warning) or at its
limit (critical). Spend only grows within a period, so no hysteresis: it clears when the period
rolls over (or the limit is raised)."""

from __future__ import annotations

from routelearn.domain.anomaly.model import (
    AnomalyKind,
    Finding,
    Judgement,
    Severity,
    Verdict,
    WorkspaceBudget,
)


def budget_warning(budget: WorkspaceBudget) -> Judgement:
    if budget.spent < budget.warning_ratio * budget.limit:
        return Verdict.CLEAR
    spent_all = budget.spent >= budget.limit
    ratio = budget.spent / budget.limit if budget.limit > 0 else 1.0
    state = "has spent its" if spent_all else f"has spent {ratio:.0%} of its"
    return Finding(
        kind=AnomalyKind.BUDGET_WARNING,
        subject=budget.subject,
        severity=Severity.CRITICAL if spent_all else Severity.WARNING,
        value=budget.spent,
        threshold=budget.warning_ratio * budget.limit,
        message=(
            f"workspace {budget.workspace_id} {state} {budget.period} budget: "
            f"{budget.spent:.6g} of {budget.limit:.6g} USD"
            + (": its requests are refused" if spent_all else "")
        ),
        details={
            "workspace_id": budget.workspace_id,
            "period": budget.period,
            "spent_usd": budget.spent,
            "limit_usd": budget.limit,
            "warning_ratio": budget.warning_ratio,
        },
    )
