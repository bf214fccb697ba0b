"""One sweep's judgement: every rule over every snapshot."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from routelearn.domain.anomaly.budget import budget_warning
from routelearn.domain.anomaly.model import (
    AnomalyKey,
    AnomalyKind,
    Finding,
    InstanceActivity,
    Judgement,
    ModelWindow,
    OpenAnomaly,
    Verdict,
    WorkspaceBudget,
    subject_label,
)
from routelearn.domain.anomaly.params import RuleParams
from routelearn.domain.anomaly.rules import MODEL_RULES
from routelearn.domain.anomaly.silence import instance_silent


@dataclass(frozen=True, slots=True)
class Assessment:
    """What one sweep concluded: the findings, and every key it had the evidence to judge."""

    findings: tuple[Finding, ...]
    assessed: frozenset[AnomalyKey]


def assess(
    windows: Sequence[ModelWindow],
    instances: Sequence[InstanceActivity],
    now: datetime,
    params: RuleParams,
    open_anomalies: Collection[OpenAnomaly] = (),
    budgets: Sequence[WorkspaceBudget] = (),
) -> Assessment:
    """Run every rule over every snapshot. Findings come out ordered by (kind, subject)."""
    held = {anomaly.key: anomaly.severity for anomaly in open_anomalies}
    judgements: dict[AnomalyKey, Judgement] = {}

    def record(key: AnomalyKey, judgement: Judgement) -> None:
        if key in judgements:
            raise ValueError(f"two snapshots for {key[0].value} {subject_label(key[1])!r}")
        judgements[key] = judgement

    for window in windows:
        for kind, rule in MODEL_RULES.items():
            key = (kind, window.subject)
            record(key, rule(window, params, held.get(key)))
    for instance in instances:
        key = (AnomalyKind.INSTANCE_SILENT, instance.subject)
        record(key, instance_silent(instance, now, params, held.get(key)))
    for budget in budgets:
        record((AnomalyKind.BUDGET_WARNING, budget.subject), budget_warning(budget))

    ordered = sorted(judgements.items(), key=lambda item: item[0])
    findings = tuple(j for _, j in ordered if isinstance(j, Finding))
    assessed = frozenset(key for key, j in judgements.items() if j is not Verdict.UNKNOWN)
    return Assessment(findings=findings, assessed=assessed)
