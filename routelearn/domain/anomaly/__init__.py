"""Anomaly detection for the sweep: rules, the significance test and the lifecycle, all pure.

docs/anomalies.md describes the rules, their defaults and the test.
"""

from __future__ import annotations

from routelearn.domain.anomaly.assess import Assessment, assess
from routelearn.domain.anomaly.lifecycle import (
    Change,
    CloseReason,
    Closure,
    Transitions,
    is_material,
    reconcile,
)
from routelearn.domain.anomaly.model import (
    AnomalyKey,
    AnomalyKind,
    Baseline,
    Finding,
    InstanceActivity,
    JsonScalar,
    Judgement,
    ModelWindow,
    OpenAnomaly,
    Severity,
    Subject,
    Verdict,
    instance_subject,
    model_subject,
    subject_key,
    subject_label,
)
from routelearn.domain.anomaly.params import LifecycleParams, RuleParams
from routelearn.domain.anomaly.rules import failure_spike, low_success_rate, slow_responses
from routelearn.domain.anomaly.silence import instance_silent, silence_threshold
from routelearn.domain.anomaly.stats import SpikeTest, binomial_sf, failure_spike_test
from routelearn.domain.anomaly.sweep import sweep

__all__ = [
    "AnomalyKey",
    "AnomalyKind",
    "Assessment",
    "Baseline",
    "Change",
    "CloseReason",
    "Closure",
    "Finding",
    "InstanceActivity",
    "JsonScalar",
    "Judgement",
    "LifecycleParams",
    "ModelWindow",
    "OpenAnomaly",
    "RuleParams",
    "Severity",
    "SpikeTest",
    "Subject",
    "Transitions",
    "Verdict",
    "assess",
    "binomial_sf",
    "failure_spike",
    "failure_spike_test",
    "instance_silent",
    "instance_subject",
    "is_material",
    "low_success_rate",
    "model_subject",
    "reconcile",
    "silence_threshold",
    "slow_responses",
    "subject_key",
    "subject_label",
    "sweep",
]
