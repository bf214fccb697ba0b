"""The anomaly rules on a (model, complexity) window, each a pure judgement of one snapshot.

A rule answers a ``Finding`` (the condition holds), ``Verdict.CLEAR`` (enough evidence that it
does not) or ``Verdict.UNKNOWN`` (too little evidence either way). ``held`` is the severity of the
anomaly already open for this rule and subject, if any: an open anomaly is judged against the
clear thresholds (hysteresis), so a value hovering at the alarm threshold does not flap.
"""

from __future__ import annotations

from collections.abc import Callable

from routelearn.domain import latency
from routelearn.domain.anomaly.model import (
    AnomalyKind,
    Finding,
    JsonScalar,
    Judgement,
    ModelWindow,
    Severity,
    Verdict,
    subject_label,
)
from routelearn.domain.anomaly.params import RuleParams
from routelearn.domain.anomaly.stats import failure_spike_test

ModelRule = Callable[[ModelWindow, RuleParams, Severity | None], Judgement]


def low_success_rate(window: ModelWindow, params: RuleParams, held: Severity | None) -> Judgement:
    if window.outcomes < params.min_outcomes:
        return Verdict.UNKNOWN  # 1 failure out of 2 says nothing
    rate = window.successes / window.outcomes
    alarm = params.success_rate_clear if held is not None else params.success_rate_warning
    if not rate < alarm:
        return Verdict.CLEAR
    critical = (
        params.success_rate_critical_clear
        if held is Severity.CRITICAL
        else params.success_rate_critical
    )
    severity = Severity.CRITICAL if rate < critical else Severity.WARNING
    return Finding(
        kind=AnomalyKind.LOW_SUCCESS_RATE,
        subject=window.subject,
        severity=severity,
        value=rate,
        threshold=params.success_rate_warning,
        message=(
            f"{subject_label(window.subject)}: success rate {rate:.1%} over {window.outcomes} "
            f"outcomes, below {params.success_rate_warning:.0%}"
        ),
        details={
            **_window_details(window),
            "critical_threshold": params.success_rate_critical,
            "held": held is not None,
        },
    )


def slow_responses(window: ModelWindow, params: RuleParams, held: Severity | None) -> Judgement:
    samples = sum(window.histogram)
    if samples < params.min_latency_samples:
        return Verdict.UNKNOWN
    value = latency.percentile(window.histogram, params.latency_quantile)
    assert value is not None  # samples >= 1
    alarm = params.slow_ms_clear if held is not None else params.slow_ms_warning
    if not value > alarm:
        return Verdict.CLEAR
    critical = (
        params.slow_ms_critical_clear if held is Severity.CRITICAL else params.slow_ms_critical
    )
    severity = Severity.CRITICAL if value > critical else Severity.WARNING
    q = f"p{params.latency_quantile * 100:g}"
    return Finding(
        kind=AnomalyKind.SLOW_RESPONSES,
        subject=window.subject,
        severity=severity,
        value=value,
        threshold=params.slow_ms_warning,
        message=(
            f"{subject_label(window.subject)}: {q} response time {value:,.0f} ms over "
            f"{samples} samples, above {params.slow_ms_warning:,.0f} ms"
        ),
        details={
            **_window_details(window),
            "quantile": params.latency_quantile,
            "samples": samples,
            "critical_threshold": params.slow_ms_critical,
            "held": held is not None,
        },
    )


def failure_spike(window: ModelWindow, params: RuleParams, held: Severity | None) -> Judgement:
    baseline = window.baseline
    if window.outcomes < params.spike_min_outcomes:
        return Verdict.UNKNOWN
    if baseline is None or baseline.outcomes < params.spike_min_baseline_outcomes:
        return Verdict.UNKNOWN  # no reference to spike against: no alarm
    test = failure_spike_test(
        window.failures,
        window.outcomes,
        baseline.failures,
        baseline.outcomes,
        params.spike_prior_failures,
        params.spike_prior_successes,
    )
    alpha = params.spike_clear_alpha if held is not None else params.spike_alpha
    min_effect = params.spike_clear_effect if held is not None else params.spike_min_effect
    # Significance alone is not enough: against a huge baseline a trivial rise is significant.
    if not (test.p_value < alpha and test.effect >= min_effect):
        return Verdict.CLEAR
    critical = (
        params.spike_critical_clear_effect
        if held is Severity.CRITICAL
        else params.spike_critical_effect
    )
    severity = Severity.CRITICAL if test.effect >= critical else Severity.WARNING
    return Finding(
        kind=AnomalyKind.FAILURE_SPIKE,
        subject=window.subject,
        severity=severity,
        value=test.window_rate,
        threshold=test.baseline_rate + params.spike_min_effect,
        message=(
            f"{subject_label(window.subject)}: failure rate {test.window_rate:.1%} "
            f"({window.failures}/{window.outcomes}) against a baseline of "
            f"{test.baseline_rate:.2%}, p = {test.p_value:.2g}"
        ),
        details={
            **_window_details(window),
            "baseline_start": baseline.start.isoformat(),
            "baseline_end": baseline.end.isoformat(),
            "baseline_successes": baseline.successes,
            "baseline_failures": baseline.failures,
            "baseline_rate": test.baseline_rate,
            "effect": test.effect,
            "p_value": test.p_value,
            "alpha": alpha,
            "test": "one-sided exact binomial",
            "held": held is not None,
        },
    )


MODEL_RULES: dict[AnomalyKind, ModelRule] = {
    AnomalyKind.LOW_SUCCESS_RATE: low_success_rate,
    AnomalyKind.SLOW_RESPONSES: slow_responses,
    AnomalyKind.FAILURE_SPIKE: failure_spike,
}


def _window_details(window: ModelWindow) -> dict[str, JsonScalar]:
    return {
        "model": window.model,
        "complexity": window.complexity,
        "window_start": window.window_start.isoformat(),
        "window_end": window.window_end.isoformat(),
        "successes": window.successes,
        "failures": window.failures,
    }
