"""One anomaly sweep as a pure step: assess the snapshots, then reconcile with what is open."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from routelearn.domain.anomaly.assess import assess
from routelearn.domain.anomaly.lifecycle import Transitions, reconcile
from routelearn.domain.anomaly.model import (
    InstanceActivity,
    ModelWindow,
    OpenAnomaly,
    WorkspaceBudget,
)
from routelearn.domain.anomaly.params import LifecycleParams, RuleParams


def sweep(
    windows: Sequence[ModelWindow],
    instances: Sequence[InstanceActivity],
    open_anomalies: Collection[OpenAnomaly],
    now: datetime,
    rules: RuleParams,
    lifecycle: LifecycleParams,
    budgets: Sequence[WorkspaceBudget] = (),
) -> Transitions:
    """The rules see what is open (to apply the clear thresholds), and so does the lifecycle."""
    assessment = assess(windows, instances, now, rules, open_anomalies, budgets)
    return reconcile(open_anomalies, assessment, now, lifecycle)
