"""Open, update and close anomalies across sweeps: one alert per episode, not one per minute.

``reconcile`` compares what is open with what a sweep assessed, keyed by (kind, subject):
- a finding with nothing open opens an anomaly;
- a finding for an open anomaly is *published* as an update only when the severity changed or the
  value moved past a tolerance from the value last published; otherwise only its bookkeeping
  (``last_seen_at``, the clear counter) changes;
- an open anomaly the sweep judged clear closes after ``clear_after`` consecutive clear sweeps
  (with the rules' clear thresholds, that is a double hysteresis: margin and time);
- an open anomaly the sweep could not judge (too few samples) is left as it is, and closes as
  expired when it has not been seen for ``expire_after``.
A condition that returns after closing opens a new anomaly, with a new ``opened_at``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import TypeVar

from routelearn.domain.anomaly.assess import Assessment
from routelearn.domain.anomaly.model import (
    AnomalyKey,
    AnomalyKind,
    Finding,
    OpenAnomaly,
    subject_label,
)
from routelearn.domain.anomaly.params import LifecycleParams

_V = TypeVar("_V")


class CloseReason(StrEnum):
    CLEARED = "cleared"  # judged clear for clear_after consecutive sweeps
    EXPIRED = "expired"  # not judged at all for expire_after


@dataclass(frozen=True, slots=True)
class Change:
    """An anomaly opened or updated: store ``anomaly`` and publish ``finding``."""

    anomaly: OpenAnomaly
    finding: Finding


@dataclass(frozen=True, slots=True)
class Closure:
    """An anomaly closed: its last open state, when and why."""

    anomaly: OpenAnomaly
    closed_at: datetime
    reason: CloseReason

    @property
    def message(self) -> str:
        kind = self.anomaly.kind.value.replace("_", " ")
        subject = subject_label(self.anomaly.subject)
        if self.reason is CloseReason.CLEARED:
            return f"{subject}: {kind} cleared ({self.anomaly.clear_sweeps} clear sweeps)"
        return f"{subject}: {kind} expired (no data since {self.anomaly.last_seen_at.isoformat()})"


@dataclass(frozen=True, slots=True)
class Transitions:
    """The outcome of one sweep, every list ordered by (kind, subject).

    ``opened``, ``updated`` and ``closed`` are to be stored and published; ``refreshed`` are
    open anomalies whose bookkeeping alone changed (store quietly, publish nothing); ``still_open``
    is every anomaly open after the sweep, the input of the next ``reconcile``.
    """

    opened: list[Change] = field(default_factory=list)
    updated: list[Change] = field(default_factory=list)
    closed: list[Closure] = field(default_factory=list)
    refreshed: list[OpenAnomaly] = field(default_factory=list)
    still_open: list[OpenAnomaly] = field(default_factory=list)


def reconcile(
    open_anomalies: Collection[OpenAnomaly],
    assessment: Assessment,
    now: datetime,
    params: LifecycleParams,
) -> Transitions:
    open_by_key = _unique({anomaly.key: anomaly for anomaly in open_anomalies}, open_anomalies)
    found = _unique({f.key: f for f in assessment.findings}, assessment.findings)
    result = Transitions()

    for key in sorted(open_by_key.keys() | found.keys()):
        anomaly, finding = open_by_key.get(key), found.get(key)
        if anomaly is None:
            assert finding is not None
            opened = OpenAnomaly(
                kind=finding.kind,
                subject=finding.subject,
                opened_at=now,
                last_seen_at=now,
                severity=finding.severity,
                value=finding.value,
            )
            result.opened.append(Change(opened, finding))
            result.still_open.append(opened)
        elif finding is not None:
            seen = replace(anomaly, last_seen_at=now, clear_sweeps=0)
            if is_material(anomaly, finding, params):
                seen = replace(seen, severity=finding.severity, value=finding.value)
                result.updated.append(Change(seen, finding))
            else:
                result.refreshed.append(seen)
            result.still_open.append(seen)
        elif key in assessment.assessed:
            clearing = replace(anomaly, clear_sweeps=anomaly.clear_sweeps + 1)
            if clearing.clear_sweeps >= params.clear_after:
                result.closed.append(Closure(clearing, now, CloseReason.CLEARED))
            else:
                result.refreshed.append(clearing)
                result.still_open.append(clearing)
        elif now - anomaly.last_seen_at >= params.expire_after:
            result.closed.append(Closure(anomaly, now, CloseReason.EXPIRED))
        else:
            result.still_open.append(anomaly)  # no evidence either way: nothing changes
    return result


def is_material(anomaly: OpenAnomaly, finding: Finding, params: LifecycleParams) -> bool:
    """Worth publishing: a new severity, or a value far enough from the one last published."""
    if finding.severity is not anomaly.severity:
        return True
    if finding.kind in (AnomalyKind.LOW_SUCCESS_RATE, AnomalyKind.FAILURE_SPIKE):
        return abs(finding.value - anomaly.value) > params.rate_tolerance
    if finding.kind is AnomalyKind.SLOW_RESPONSES:
        return abs(finding.value - anomaly.value) > params.latency_tolerance * anomaly.value
    return False  # silence grows every sweep by design: only its severity is news


def _unique(by_key: dict[AnomalyKey, _V], items: Collection[object]) -> dict[AnomalyKey, _V]:
    if len(by_key) != len(items):
        raise ValueError("two entries share one (kind, subject)")
    return by_key
