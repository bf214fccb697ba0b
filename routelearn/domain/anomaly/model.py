"""The values anomaly detection works on: what a sweep observed, and what it concluded.

Everything here is an immutable snapshot built by the sweep from rollups (never from audit rows);
nothing reads a clock or a database.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routelearn.domain import latency

Subject = tuple[str, ...]  # (model, complexity), (instance_id,) or (workspace_id, period)
JsonScalar = str | int | float | bool | None


class AnomalyKind(StrEnum):
    LOW_SUCCESS_RATE = "low_success_rate"
    SLOW_RESPONSES = "slow_responses"
    FAILURE_SPIKE = "failure_spike"
    INSTANCE_SILENT = "instance_silent"
    BUDGET_WARNING = "budget_warning"  # a workspace's spend past its warning ratio or limit


class Severity(StrEnum):
    WARNING = "warning"
    CRITICAL = "critical"


class Verdict(StrEnum):
    """A rule's answer when it found nothing."""

    CLEAR = "clear"  # enough evidence that the condition does not hold
    UNKNOWN = "unknown"  # too little evidence either way: neither seen nor clear


AnomalyKey = tuple[AnomalyKind, Subject]


def model_subject(model: str, complexity: str) -> Subject:
    return (model, complexity)


def instance_subject(instance_id: str) -> Subject:
    return (instance_id,)


def subject_label(subject: Subject) -> str:
    """Human-readable subject for messages and logs (not a key: names may contain '/')."""
    return "/".join(subject)


def subject_key(subject: Subject) -> str:
    """Unambiguous text form of a subject, e.g. for a unique column: a JSON array."""
    return json.dumps(list(subject), separators=(",", ":"))


@dataclass(frozen=True, slots=True)
class Baseline:
    """Outcome counts of a model over its reference period (e.g. the 24 h before the window)."""

    start: datetime
    end: datetime
    successes: int
    failures: int

    def __post_init__(self) -> None:
        _check_counts(self.successes, self.failures)

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class ModelWindow:
    """One (model, complexity) over the last window (e.g. 5 minutes), with its own baseline.

    ``histogram`` is a response-time histogram in ``routelearn.domain.latency``'s layout, or
    empty when the window carried no response time.
    """

    model: str
    complexity: str
    window_start: datetime
    window_end: datetime
    successes: int
    failures: int
    histogram: tuple[int, ...] = ()
    baseline: Baseline | None = None

    def __post_init__(self) -> None:
        _check_counts(self.successes, self.failures)
        if self.window_end <= self.window_start:
            raise ValueError(f"window_end must be after window_start for {self.subject!r}")
        if self.histogram and len(self.histogram) != latency.NUM_BUCKETS:
            raise ValueError(
                f"histogram must have {latency.NUM_BUCKETS} buckets, got {len(self.histogram)}"
            )
        if any(count < 0 for count in self.histogram):
            raise ValueError("histogram counts must be >= 0")

    @property
    def subject(self) -> Subject:
        return model_subject(self.model, self.complexity)

    @property
    def outcomes(self) -> int:
        return self.successes + self.failures


@dataclass(frozen=True, slots=True)
class InstanceActivity:
    """An application instance's recent traffic.

    ``baseline_rate_per_min`` is its usual event rate (events per minute over the baseline
    period); ``active`` is False once the instance was retired.
    """

    instance_id: str
    last_seen_at: datetime | None
    baseline_rate_per_min: float
    active: bool = True

    def __post_init__(self) -> None:
        if not self.baseline_rate_per_min >= 0:  # also rejects NaN
            raise ValueError(
                f"baseline_rate_per_min must be >= 0, got {self.baseline_rate_per_min}"
            )

    @property
    def subject(self) -> Subject:
        return instance_subject(self.instance_id)


@dataclass(frozen=True, slots=True)
class WorkspaceBudget:
    """What a workspace has spent in one budget period (routing policy), against its limit."""

    workspace_id: str
    period: str  # daily, weekly or monthly, in the workspace's time zone
    spent: float
    limit: float
    warning_ratio: float

    @property
    def subject(self) -> Subject:
        return (self.workspace_id, self.period)


@dataclass(frozen=True, slots=True)
class Finding:
    """One rule firing for one subject in one sweep.

    ``value`` and ``threshold`` are in the rule's unit (a rate in [0, 1], milliseconds, or
    seconds of silence); ``details`` holds only JSON scalars so it can be stored and published
    as is.
    """

    kind: AnomalyKind
    subject: Subject
    severity: Severity
    value: float
    threshold: float
    message: str
    details: dict[str, JsonScalar] = field(default_factory=dict)

    @property
    def key(self) -> AnomalyKey:
        return (self.kind, self.subject)

    def to_dict(self) -> dict[str, object]:
        return {
            "kind": self.kind.value,
            "subject": list(self.subject),
            "severity": self.severity.value,
            "value": self.value,
            "threshold": self.threshold,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True, slots=True)
class OpenAnomaly:
    """An anomaly the store holds open, as the lifecycle needs it.

    ``value`` and ``severity`` are the ones last published (at open or the last update), so a
    slow drift adds up until it is worth an update; ``last_seen_at`` is the last sweep that saw
    the condition; ``clear_sweeps`` counts consecutive sweeps that judged it clear.
    """

    kind: AnomalyKind
    subject: Subject
    opened_at: datetime
    last_seen_at: datetime
    severity: Severity
    value: float
    clear_sweeps: int = 0

    @property
    def key(self) -> AnomalyKey:
        return (self.kind, self.subject)

    @property
    def anomaly_id(self) -> str:
        """Stable across retries of the same sweep: a dedupe key for storing and publishing."""
        return f"{self.kind.value}:{subject_key(self.subject)}:{self.opened_at.isoformat()}"

    def to_dict(self) -> dict[str, object]:
        return {
            "anomaly_id": self.anomaly_id,
            "kind": self.kind.value,
            "subject": list(self.subject),
            "opened_at": self.opened_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
            "severity": self.severity.value,
            "value": self.value,
            "clear_sweeps": self.clear_sweeps,
        }


Judgement = Finding | Verdict


def _check_counts(successes: int, failures: int) -> None:
    if successes < 0 or failures < 0:
        raise ValueError(f"outcome counts must be >= 0, got {successes} and {failures}")
