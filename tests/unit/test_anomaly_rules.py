"""Each anomaly rule at its boundaries, its sample guards and its clear (hysteresis) thresholds."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from routelearn.domain import latency
from routelearn.domain.anomaly import (
    AnomalyKind,
    Baseline,
    Finding,
    InstanceActivity,
    LifecycleParams,
    ModelWindow,
    OpenAnomaly,
    RuleParams,
    Severity,
    Verdict,
    assess,
    failure_spike,
    instance_silent,
    low_success_rate,
    silence_threshold,
    slow_responses,
)

T0 = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=5)
P = RuleParams()
WARNING, CRITICAL = Severity.WARNING, Severity.CRITICAL


def baseline(successes: int, failures: int) -> Baseline:
    return Baseline(T0 - WINDOW - timedelta(hours=24), T0 - WINDOW, successes, failures)


def window(
    successes: int,
    failures: int,
    *,
    histogram: tuple[int, ...] = (),
    base: Baseline | None = None,
    model: str = "gpt-4o",
) -> ModelWindow:
    return ModelWindow(model, "complex", T0 - WINDOW, T0, successes, failures, histogram, base)


def histogram_at(ms: float, count: int) -> tuple[int, ...]:
    counts = latency.empty()
    counts[latency.bucket_of(ms)] += count
    return tuple(counts)


def finding(judgement: Finding | Verdict) -> Finding:
    assert isinstance(judgement, Finding), judgement
    return judgement


# -- low success rate --------------------------------------------------------------------------


def test_success_rate_at_the_threshold_does_not_alarm_and_just_below_does() -> None:
    assert low_success_rate(window(17, 3), P, None) is Verdict.CLEAR  # exactly 85%
    found = finding(low_success_rate(window(16, 4), P, None))  # 80%
    assert (found.kind, found.severity, found.value, found.threshold) == (
        AnomalyKind.LOW_SUCCESS_RATE,
        WARNING,
        0.80,
        0.85,
    )
    assert found.subject == ("gpt-4o", "complex")
    assert "80.0%" in found.message


def test_success_rate_needs_enough_outcomes() -> None:
    assert low_success_rate(window(1, 1), P, None) is Verdict.UNKNOWN  # 1/2 does not alarm
    assert low_success_rate(window(0, 19), P, None) is Verdict.UNKNOWN
    assert isinstance(low_success_rate(window(0, 20), P, None), Finding)


def test_success_rate_severity_by_distance() -> None:
    assert finding(low_success_rate(window(14, 6), P, None)).severity is WARNING  # exactly 70%
    assert finding(low_success_rate(window(13, 7), P, None)).severity is CRITICAL  # 65%


def test_open_success_rate_anomaly_holds_until_back_above_the_clear_threshold() -> None:
    hovering = window(86, 14)  # 86%: above the alarm, below the clear threshold
    assert low_success_rate(hovering, P, None) is Verdict.CLEAR
    assert finding(low_success_rate(hovering, P, WARNING)).severity is WARNING
    assert low_success_rate(window(87, 13), P, WARNING) is Verdict.CLEAR


def test_critical_holds_until_past_its_own_clear_threshold() -> None:
    assert finding(low_success_rate(window(71, 29), P, None)).severity is WARNING
    assert finding(low_success_rate(window(71, 29), P, CRITICAL)).severity is CRITICAL
    assert finding(low_success_rate(window(72, 28), P, CRITICAL)).severity is WARNING


# -- slow responses ----------------------------------------------------------------------------


def test_p95_above_5_seconds_alarms() -> None:
    assert slow_responses(window(100, 0, histogram=histogram_at(4_000, 100)), P, None) is (
        Verdict.CLEAR
    )
    found = finding(slow_responses(window(100, 0, histogram=histogram_at(6_000, 100)), P, None))
    assert found.severity is WARNING
    assert found.threshold == 5_000
    assert 5_000 < found.value < 6_400
    assert found.details["samples"] == 100
    severe = finding(slow_responses(window(100, 0, histogram=histogram_at(12_000, 100)), P, None))
    assert severe.severity is CRITICAL


def test_p95_exactly_at_the_threshold_does_not_alarm() -> None:
    counts = latency.empty()
    for ms, n in ((200, 90), (900, 5), (6_000, 5)):
        counts[latency.bucket_of(ms)] += n
    p95 = latency.percentile(counts, 0.95)
    assert p95 is not None
    at = replace(P, slow_ms_clear=1.0, slow_ms_warning=p95)
    below = replace(at, slow_ms_warning=p95 - 0.001)
    assert slow_responses(window(100, 0, histogram=tuple(counts)), at, None) is Verdict.CLEAR
    assert isinstance(slow_responses(window(100, 0, histogram=tuple(counts)), below, None), Finding)


def test_p95_needs_enough_samples() -> None:
    assert slow_responses(window(19, 0, histogram=histogram_at(60_000, 19)), P, None) is (
        Verdict.UNKNOWN
    )
    assert slow_responses(window(50, 0), P, None) is Verdict.UNKNOWN  # no response time at all


def test_open_slow_anomaly_holds_above_the_clear_threshold() -> None:
    hovering = window(100, 0, histogram=histogram_at(4_800, 100))  # p95 ~4,980 ms
    assert slow_responses(hovering, P, None) is Verdict.CLEAR
    assert isinstance(slow_responses(hovering, P, WARNING), Finding)
    assert slow_responses(window(100, 0, histogram=histogram_at(4_000, 100)), P, WARNING) is (
        Verdict.CLEAR
    )


# -- failure spike -----------------------------------------------------------------------------

FIVE_PERCENT = baseline(95_000, 5_000)


def test_52_of_1000_against_a_5_percent_baseline_is_no_spike() -> None:
    assert failure_spike(window(948, 52, base=FIVE_PERCENT), P, None) is Verdict.CLEAR


def test_30_of_100_against_a_5_percent_baseline_is_a_spike() -> None:
    found = finding(failure_spike(window(70, 30, base=FIVE_PERCENT), P, None))
    assert found.kind is AnomalyKind.FAILURE_SPIKE
    assert found.value == 0.30
    assert found.threshold == pytest.approx(0.15, abs=1e-4)
    assert found.severity is WARNING  # +24.99 points: just short of critical
    assert float(str(found.details["p_value"])) < 1e-14
    assert finding(failure_spike(window(60, 40, base=FIVE_PERCENT), P, None)).severity is CRITICAL


def test_spike_needs_significance_and_the_minimum_effect() -> None:
    # 16/100 is the first count both significant (p = 3.7e-5) and +10 points (+10.99).
    assert isinstance(failure_spike(window(84, 16, base=FIVE_PERCENT), P, None), Finding)
    # 15/100: p = 1.4e-4 is significant, but the effect is +9.9995 points with the prior.
    assert failure_spike(window(85, 15, base=FIVE_PERCENT), P, None) is Verdict.CLEAR


def test_a_huge_baseline_does_not_flag_a_trivial_difference() -> None:
    one_percent = baseline(9_900_000, 100_000)
    # 6% against 1%: p ~ 1e-257, but only +5 points.
    assert failure_spike(window(9_400, 600, base=one_percent), P, None) is Verdict.CLEAR
    assert isinstance(failure_spike(window(8_800, 1_200, base=one_percent), P, None), Finding)


def test_a_baseline_without_failures_uses_the_prior() -> None:
    flawless = baseline(10_000, 0)
    found = finding(failure_spike(window(17, 3, base=flawless), P, None))
    assert found.details["baseline_rate"] == pytest.approx(0.5 / 10_001)
    assert failure_spike(window(19, 1, base=flawless), P, None) is Verdict.CLEAR


def test_no_spike_without_a_baseline_or_enough_outcomes() -> None:
    assert failure_spike(window(0, 20), P, None) is Verdict.UNKNOWN
    assert failure_spike(window(0, 20, base=baseline(99, 0)), P, None) is Verdict.UNKNOWN
    assert failure_spike(window(0, 19, base=FIVE_PERCENT), P, None) is Verdict.UNKNOWN
    assert isinstance(failure_spike(window(0, 20, base=baseline(100, 0)), P, None), Finding)


def test_open_spike_holds_on_the_clear_thresholds() -> None:
    lingering = window(87, 13, base=FIVE_PERCENT)  # +8 points, p = 0.0015
    assert failure_spike(lingering, P, None) is Verdict.CLEAR
    assert finding(failure_spike(lingering, P, WARNING)).details["alpha"] == 0.01
    assert failure_spike(window(90, 10, base=FIVE_PERCENT), P, WARNING) is Verdict.CLEAR


# -- instance silence --------------------------------------------------------------------------


def instance(rate: float, silent_for: timedelta | None, *, active: bool = True) -> InstanceActivity:
    last_seen = None if silent_for is None else T0 - silent_for
    return InstanceActivity("web-1", last_seen, rate, active)


def test_silence_threshold_is_max_of_the_minimum_and_k_interarrivals() -> None:
    assert silence_threshold(instance(2.0, None), P) == timedelta(minutes=5)  # 10 x 30 s
    assert silence_threshold(instance(120.0, None), P) == timedelta(minutes=5)  # 10 x 0.5 s
    assert silence_threshold(instance(1.0, None), P) == timedelta(minutes=10)
    assert silence_threshold(instance(0.0, None), P) == timedelta(minutes=5)
    assert silence_threshold(instance(1e-15, None), P) == timedelta(days=366)  # no overflow


@pytest.mark.parametrize(
    ("rate", "threshold"), [(2.0, timedelta(minutes=5)), (1.0, timedelta(minutes=10))]
)
def test_silence_boundary(rate: float, threshold: timedelta) -> None:
    second = timedelta(seconds=1)
    assert instance_silent(instance(rate, threshold - second), T0, P, None) is Verdict.CLEAR
    found = finding(instance_silent(instance(rate, threshold), T0, P, None))
    assert (found.kind, found.subject, found.severity) == (
        AnomalyKind.INSTANCE_SILENT,
        ("web-1",),
        WARNING,
    )
    assert found.value == threshold.total_seconds() == found.threshold


def test_silence_turns_critical_at_three_thresholds() -> None:
    assert finding(instance_silent(instance(2.0, timedelta(minutes=14)), T0, P, None)).severity is (
        WARNING
    )
    assert finding(instance_silent(instance(2.0, timedelta(minutes=15)), T0, P, None)).severity is (
        CRITICAL
    )


def test_no_silence_without_a_baseline_rate() -> None:
    assert instance_silent(instance(0.9, timedelta(hours=3)), T0, P, None) is Verdict.CLEAR
    assert instance_silent(instance(0.0, timedelta(days=3)), T0, P, None) is Verdict.CLEAR
    assert instance_silent(instance(5.0, None), T0, P, None) is Verdict.CLEAR  # never seen


def test_a_retired_instance_is_not_silent() -> None:
    assert instance_silent(instance(5.0, timedelta(hours=1), active=False), T0, P, None) is (
        Verdict.CLEAR
    )
    assert instance_silent(instance(5.0, timedelta(hours=1), active=False), T0, P, WARNING) is (
        Verdict.CLEAR
    )


def test_open_silence_holds_while_silent_even_as_the_baseline_rate_decays() -> None:
    decayed = instance(0.2, timedelta(hours=2))
    assert instance_silent(decayed, T0, P, None) is Verdict.CLEAR
    assert finding(instance_silent(decayed, T0, P, WARNING)).severity is WARNING
    assert finding(instance_silent(decayed, T0, P, CRITICAL)).severity is CRITICAL
    back = instance(0.2, timedelta(minutes=1))
    assert instance_silent(back, T0, P, WARNING) is Verdict.CLEAR


# -- one sweep's assessment --------------------------------------------------------------------


def test_assess_runs_every_rule_and_says_what_it_could_judge() -> None:
    windows = [
        window(10, 90, histogram=histogram_at(8_000, 100), base=FIVE_PERCENT, model="bad"),
        window(99, 1, histogram=histogram_at(300, 100), base=FIVE_PERCENT, model="good"),
        window(1, 1, model="quiet"),
    ]
    instances = [instance(2.0, timedelta(minutes=30)), InstanceActivity("web-2", T0, 2.0)]
    result = assess(windows, instances, T0, P)
    assert [(f.kind, f.subject) for f in result.findings] == [
        (AnomalyKind.FAILURE_SPIKE, ("bad", "complex")),
        (AnomalyKind.INSTANCE_SILENT, ("web-1",)),
        (AnomalyKind.LOW_SUCCESS_RATE, ("bad", "complex")),
        (AnomalyKind.SLOW_RESPONSES, ("bad", "complex")),
    ]
    assert (AnomalyKind.LOW_SUCCESS_RATE, ("good", "complex")) in result.assessed
    assert (AnomalyKind.INSTANCE_SILENT, ("web-2",)) in result.assessed
    assert not any(subject == ("quiet", "complex") for _, subject in result.assessed)
    for found in result.findings:
        json.dumps(found.to_dict())  # stored and published as is


def test_assess_applies_the_clear_thresholds_to_what_is_open() -> None:
    hovering = window(86, 14)
    assert assess([hovering], [], T0, P).findings == ()
    held = OpenAnomaly(
        AnomalyKind.LOW_SUCCESS_RATE, hovering.subject, T0, T0, WARNING, 0.84, clear_sweeps=0
    )
    assert len(assess([hovering], [], T0, P, [held]).findings) == 1


def test_assess_rejects_two_snapshots_of_one_subject() -> None:
    with pytest.raises(ValueError, match="two snapshots"):
        assess([window(1, 1), window(2, 2)], [], T0, P)


# -- snapshots and parameters ------------------------------------------------------------------


def test_snapshots_reject_impossible_values() -> None:
    with pytest.raises(ValueError, match="counts"):
        window(-1, 0)
    with pytest.raises(ValueError, match="buckets"):
        window(1, 0, histogram=(1, 2, 3))
    with pytest.raises(ValueError, match="window_end"):
        ModelWindow("m", "c", T0, T0, 1, 0)
    with pytest.raises(ValueError, match="baseline_rate_per_min"):
        InstanceActivity("web-1", T0, float("nan"))


def test_parameters_name_the_bad_value() -> None:
    with pytest.raises(ValueError, match=r"success_rate_warning.*success_rate_clear"):
        RuleParams(success_rate_clear=0.80)
    with pytest.raises(ValueError, match=r"RuleParams\.min_outcomes must be >= 1"):
        RuleParams(min_outcomes=0)
    with pytest.raises(ValueError, match=r"spike_alpha.*spike_clear_alpha"):
        RuleParams(spike_alpha=0.05)
    with pytest.raises(ValueError, match=r"LifecycleParams\.clear_after"):
        LifecycleParams(clear_after=0)
