"""The instance-silence rule: an instance whose event volume stops.

An instance is silent when it is active, usually sends at least ``silence_min_rate_per_min``
events a minute, and sent nothing for max(``silence_min_gap``, ``silence_gap_factor`` x its usual
inter-arrival time). Under a Poisson stream a gap of 10 inter-arrival times happens with
probability e^-10 (about 1 in 22,000 gaps), so the default factor rarely alarms on chance.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from routelearn.domain.anomaly.model import (
    AnomalyKind,
    Finding,
    InstanceActivity,
    Judgement,
    Severity,
    Verdict,
)
from routelearn.domain.anomaly.params import RuleParams

_LONGEST = timedelta(days=366)


def silence_threshold(instance: InstanceActivity, params: RuleParams) -> timedelta:
    """max(minimum gap, factor x usual inter-arrival time); the minimum gap without a rate."""
    if instance.baseline_rate_per_min <= 0.0:
        return params.silence_min_gap
    seconds = params.silence_gap_factor * 60.0 / instance.baseline_rate_per_min
    # A near-zero rate would overflow timedelta; such a rate is far below silence_min_rate_per_min.
    return max(params.silence_min_gap, timedelta(seconds=min(seconds, _LONGEST.total_seconds())))


def instance_silent(
    instance: InstanceActivity, now: datetime, params: RuleParams, held: Severity | None
) -> Judgement:
    if not instance.active:
        return Verdict.CLEAR  # retired: silence is expected
    if instance.last_seen_at is None:
        # Registered by command but never heard from: nothing to fall silent from.
        return Verdict.CLEAR
    gap = now - instance.last_seen_at
    threshold = silence_threshold(instance, params)
    if held is not None:
        # The baseline rate decays while the instance stays silent, so an open anomaly holds on
        # the minimum gap alone and clears only when events come back.
        silent = gap >= params.silence_min_gap
    else:
        silent = (
            instance.baseline_rate_per_min >= params.silence_min_rate_per_min and gap >= threshold
        )
    if not silent:
        return Verdict.CLEAR
    critical = held is Severity.CRITICAL or gap >= params.silence_critical_factor * threshold
    return Finding(
        kind=AnomalyKind.INSTANCE_SILENT,
        subject=instance.subject,
        severity=Severity.CRITICAL if critical else Severity.WARNING,
        value=gap.total_seconds(),
        threshold=threshold.total_seconds(),
        message=(
            f"instance {instance.instance_id}: no event for {_duration(gap)} "
            f"(usually {instance.baseline_rate_per_min:.3g}/min, threshold {_duration(threshold)})"
        ),
        details={
            "instance_id": instance.instance_id,
            "last_seen_at": instance.last_seen_at.isoformat(),
            "baseline_rate_per_min": instance.baseline_rate_per_min,
            "held": held is not None,
        },
    )


def _duration(span: timedelta) -> str:
    seconds = int(span.total_seconds())
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
