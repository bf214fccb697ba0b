"""Canary evaluation of a routing rule's traffic split on the real data: the outcome events of
the rule's decisions, by the arm that sent them (``primary`` is a, ``canary`` b), compared with
``compare_split`` (routelearn.instance.router.splits: two-proportion z-test on success,
Mann-Whitney U on latency).

Read from the audit table through its partial index on ``rule_id`` (only events of rule-routed
decisions are in it), over the window, the newest ``max_samples`` latencies of each arm.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from routelearn.instance.router.splits import SplitComparison, compare_split
from routelearn.stats.queries import reading
from routelearn.stats.window import Window

DEFAULT_MAX_SAMPLES = 20_000

_COUNTS = """
SELECT split_arm, count(*) FILTER (WHERE outcome = 'success'), count(*)
FROM routing_records
WHERE rule_id = %(rule)s AND timestamp >= %(since)s AND outcome IN ('success', 'failure')
    AND split_arm IS NOT NULL
GROUP BY 1
"""
_LATENCIES = """
SELECT response_time_ms FROM routing_records
WHERE rule_id = %(rule)s AND timestamp >= %(since)s AND split_arm = %(arm)s
    AND outcome IN ('success', 'failure') AND response_time_ms IS NOT NULL
ORDER BY timestamp DESC LIMIT %(limit)s
"""


@dataclass(frozen=True, slots=True)
class SplitEvaluation:
    rule_id: str
    primary_outcomes: int
    canary_outcomes: int
    comparison: SplitComparison


def evaluate_split(
    engine: Engine,
    rule_id: str,
    window: Window,
    *,
    max_samples: int = DEFAULT_MAX_SAMPLES,
    min_samples: int = 30,
) -> SplitEvaluation:
    if window.is_all_time:
        raise ValueError("a split's evaluation needs a time range")
    params = {"rule": rule_id, "since": window.first_hour, "limit": max_samples}
    with reading(engine) as conn:
        counts = {
            arm: (int(ok), int(total)) for arm, ok, total in conn.exec_driver_sql(_COUNTS, params)
        }
        latencies = {
            arm: [float(r[0]) for r in conn.exec_driver_sql(_LATENCIES, {**params, "arm": arm})]
            for arm in ("primary", "canary")
        }
    a_ok, a_total = counts.get("primary", (0, 0))
    b_ok, b_total = counts.get("canary", (0, 0))
    comparison = compare_split(
        a_ok,
        a_total,
        b_ok,
        b_total,
        latencies["primary"],
        latencies["canary"],
        min_samples=min_samples,
    )
    return SplitEvaluation(rule_id, a_total, b_total, comparison)
