"""Seed 001's monitoring queries, and more, as functions over the database.

Every query reads the hourly rollups (a time window), ``model_routing_metrics`` (all time) or
small tables, never the audit table, in a read-only transaction. Counts are summed in SQL;
response-time histograms are summed in SQL too (only their non-zero buckets, and only for the
pairs a query shows), then read with ``routelearn.domain.latency.percentile``. So a query costs
about the same whatever the number of audit rows: it grows with the rollup rows of its window.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, NamedTuple

from sqlalchemy import Connection, Engine

from routelearn.domain import latency
from routelearn.stats.model import (
    InstanceUsage,
    LatencyStats,
    ModelLatency,
    Performer,
    ScoreHistoryEntry,
    SuccessRate,
    success_rate,
)
from routelearn.stats.percentiles import add_histograms, summarize
from routelearn.stats.ranking import DEFAULT_MIN_SAMPLES, Candidate, rank
from routelearn.stats.window import Window

Pair = tuple[str, str]  # (model, complexity)

# JIT compiling costs more than these short queries save (README, "Benchmark"), and 64 MB of
# sort memory (this transaction only) keeps a day's grouping off disk.
_SETUP = ("SET TRANSACTION READ ONLY", "SET LOCAL jit = off", "SET LOCAL work_mem = '64MB'")


class PairCounts(NamedTuple):
    model: str
    complexity: str
    decisions: int
    successes: int
    failures: int
    samples: int  # response times counted
    total_ms: float  # their sum


@contextmanager
def reading(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction, rolled back at the end."""
    with engine.connect() as conn:
        for statement in _SETUP:
            conn.exec_driver_sql(statement)
        try:
            yield conn
        finally:
            conn.rollback()


def _where(conditions: Sequence[str]) -> str:
    return f"WHERE {' AND '.join(conditions)}" if conditions else ""


def pair_counts(
    conn: Connection, window: Window, model: str | None = None, complexity: str | None = None
) -> list[PairCounts]:
    """Counts per (model, complexity): from the window's rollups, or from model_routing_metrics
    for all time."""
    params: dict[str, Any] = {"since": window.first_hour, "model": model, "complexity": complexity}
    conditions = [] if window.is_all_time else ["hour >= %(since)s"]
    conditions += ["model_name = %(model)s"] if model is not None else []
    conditions += ["complexity_level = %(complexity)s"] if complexity is not None else []
    if window.is_all_time:
        sql = (
            "SELECT model_name, complexity_level, usage_count, success_count, failure_count,"
            " response_time_count, response_time_sum"
            f" FROM model_routing_metrics {_where(conditions)}"
        )
    else:
        sql = (
            "SELECT model_name, complexity_level, sum(decisions)::bigint,"
            " sum(success_count)::bigint, sum(failure_count)::bigint,"
            " sum(response_time_count)::bigint, sum(response_time_sum)"
            f" FROM routing_rollups_hourly {_where(conditions)} GROUP BY 1, 2"
        )
    return [
        PairCounts(m, c, int(d), int(s), int(f), int(n), float(total))
        for m, c, d, s, f, n, total in conn.exec_driver_sql(sql, params)
    ]


# The window's histograms of the given pairs, summed bucket by bucket. unnest() keeps only the
# non-zero buckets: a rollup row of a few samples has a few, and identical arrays (common in
# sparse hours) are unnested once (Memoize). Output is sparse: positions (1-based) and counts.
_WINDOW_HISTOGRAMS = """
SELECT model_name, complexity_level, array_agg(i), array_agg(n)
FROM (
    SELECT r.model_name, r.complexity_level, u.i, sum(u.c)::bigint AS n
    FROM unnest(%(models)s::text[], %(complexities)s::text[]) AS p(model_name, complexity_level)
    JOIN routing_rollups_hourly AS r
      ON r.model_name = p.model_name AND r.complexity_level = p.complexity_level
    CROSS JOIN LATERAL unnest(r.response_time_histogram) WITH ORDINALITY AS u(c, i)
    WHERE r.hour >= %(since)s AND u.c > 0
    GROUP BY 1, 2, 3
) AS per_bucket
GROUP BY 1, 2
"""

_ALL_TIME_HISTOGRAMS = """
SELECT m.model_name, m.complexity_level, m.response_time_histogram
FROM unnest(%(models)s::text[], %(complexities)s::text[]) AS p(model_name, complexity_level)
JOIN model_routing_metrics AS m
  ON m.model_name = p.model_name AND m.complexity_level = p.complexity_level
"""


def _histograms(conn: Connection, window: Window, pairs: Sequence[Pair]) -> dict[Pair, list[int]]:
    if not pairs:
        return {}
    params = {
        "models": [p[0] for p in pairs],
        "complexities": [p[1] for p in pairs],
        "since": window.first_hour,
    }
    if window.is_all_time:
        rows = conn.exec_driver_sql(_ALL_TIME_HISTOGRAMS, params)
        return {(m, c): list(h) for m, c, h in rows}
    found: dict[Pair, list[int]] = {}
    for model, complexity, positions, counts in conn.exec_driver_sql(_WINDOW_HISTOGRAMS, params):
        dense = latency.empty()
        for position, count in zip(positions, counts, strict=True):
            dense[position - 1] = count
        found[(model, complexity)] = dense
    return found


def models_by_instance(
    engine: Engine, window: Window, *, instance: str | None = None, limit: int = 100
) -> list[InstanceUsage]:
    """Decisions per (instance, model), most first. All time reads every rollup hour kept (the
    metrics table has no instance); ``limit`` 0 means every row."""
    conditions = [] if window.is_all_time else ["hour >= %(since)s"]
    conditions += ["instance_id = %(instance)s"] if instance is not None else []
    sql = (
        "SELECT instance_id, model_name, sum(decisions)::bigint, sum(success_count)::bigint,"
        f" sum(failure_count)::bigint FROM routing_rollups_hourly {_where(conditions)}"
        " GROUP BY 1, 2 ORDER BY 3 DESC, 1, 2" + (" LIMIT %(limit)s" if limit else "")
    )
    params = {"since": window.first_hour, "instance": instance, "limit": limit}
    with reading(engine) as conn:
        rows = conn.exec_driver_sql(sql, params).fetchall()
    return [InstanceUsage(i, m, d, s, f, success_rate(s, f)) for i, m, d, s, f in rows]


def success_rates(
    engine: Engine,
    window: Window,
    *,
    model: str | None = None,
    complexity: str | None = None,
    min_samples: int = 0,
    limit: int = 0,
) -> list[SuccessRate]:
    """Per (model, complexity), best rate first (pairs without an outcome last); only pairs with
    at least ``min_samples`` outcomes; ``limit`` 0 means every pair."""
    with reading(engine) as conn:
        rows = pair_counts(conn, window, model, complexity)
    found = [
        SuccessRate(
            r.model,
            r.complexity,
            r.decisions,
            r.successes,
            r.failures,
            success_rate(r.successes, r.failures),
        )
        for r in rows
        if r.successes + r.failures >= min_samples
    ]
    found.sort(
        key=lambda r: (
            r.success_rate is None,
            -(r.success_rate or 0.0),
            -(r.successes + r.failures),
            r.model,
            r.complexity,
        )
    )
    return found[:limit] if limit else found


def latency_stats(
    engine: Engine,
    window: Window,
    *,
    model: str | None = None,
    complexity: str | None = None,
    limit: int = 20,
    by: str = "mean",
) -> list[LatencyStats]:
    """Per (model, complexity) with response times: samples, mean, p50, p95, p99. Ordered by
    ``by`` (``mean``: slowest first, as seed 001's trend query; ``samples``: busiest first);
    percentiles are computed for the ``limit`` pairs shown (0: every pair)."""
    if by not in ("mean", "samples"):
        raise ValueError(f"by must be 'mean' or 'samples', got {by!r}")
    with reading(engine) as conn:
        rows = [r for r in pair_counts(conn, window, model, complexity) if r.samples > 0]
        if by == "mean":
            rows.sort(key=lambda r: (-r.total_ms / r.samples, r.model, r.complexity))
        else:
            rows.sort(key=lambda r: (-r.samples, r.model, r.complexity))
        rows = rows[:limit] if limit else rows
        histograms = _histograms(conn, window, [(r.model, r.complexity) for r in rows])
    found = []
    for r in rows:
        s = summarize(histograms.get((r.model, r.complexity), []), r.samples, r.total_ms)
        found.append(
            LatencyStats(r.model, r.complexity, r.samples, s.mean_ms, s.p50_ms, s.p95_ms, s.p99_ms)
        )
    return found


def latency_by_model(
    engine: Engine, window: Window, *, model: str | None = None
) -> list[ModelLatency]:
    """Per model with response times, by name: samples, mean, p50, p95, p99 over every
    complexity (the pairs' histograms summed), with each complexity's figures. Reads every
    pair's histogram, as ``latency_stats`` with ``limit`` 0 does."""
    with reading(engine) as conn:
        rows = [r for r in pair_counts(conn, window, model) if r.samples > 0]
        histograms = _histograms(conn, window, [(r.model, r.complexity) for r in rows])
    per_model: dict[str, list[PairCounts]] = {}
    for r in sorted(rows, key=lambda r: (r.model, -r.samples, r.complexity)):
        per_model.setdefault(r.model, []).append(r)
    found = []
    for name, pairs in per_model.items():
        held = [
            histograms[(name, r.complexity)] for r in pairs if (name, r.complexity) in histograms
        ]
        complexities = tuple(
            _latency_row(r, histograms.get((name, r.complexity), [])) for r in pairs
        )
        samples, total_ms = sum(r.samples for r in pairs), sum(r.total_ms for r in pairs)
        s = summarize(add_histograms(held) if held else [], samples, total_ms)
        found.append(
            ModelLatency(name, samples, s.mean_ms, s.p50_ms, s.p95_ms, s.p99_ms, complexities)
        )
    return found


def _latency_row(r: PairCounts, histogram: Sequence[int]) -> LatencyStats:
    s = summarize(histogram, r.samples, r.total_ms)
    return LatencyStats(r.model, r.complexity, r.samples, s.mean_ms, s.p50_ms, s.p95_ms, s.p99_ms)


def known_models(engine: Engine) -> list[str]:
    """Every model with counters (``model_routing_metrics``) or a learned score, by name."""
    with reading(engine) as conn:
        rows = conn.exec_driver_sql(
            "SELECT model_name FROM model_routing_metrics"
            " UNION SELECT model_name FROM model_scores ORDER BY 1"
        )
        return [name for (name,) in rows]


def performers(
    engine: Engine,
    window: Window,
    *,
    n: int = 10,
    bottom: bool = False,
    min_samples: int = DEFAULT_MIN_SAMPLES,
    complexity: str | None = None,
) -> list[Performer]:
    """The ``n`` best (or worst) pairs by the Wilson bound of their success rate (see
    routelearn.stats.ranking), with their current score and p95 response time."""
    with reading(engine) as conn:
        candidates = [
            Candidate(r.model, r.complexity, r.successes, r.failures)
            for r in pair_counts(conn, window, None, complexity)
        ]
        ranked = rank(candidates, n, bottom=bottom, min_samples=min_samples)
        pairs = [(r.candidate.model, r.candidate.complexity) for r in ranked]
        histograms = _histograms(conn, window, pairs)
        scores = _scores(conn, pairs)
    return [
        Performer(
            rank=r.rank,
            model=r.candidate.model,
            complexity=r.candidate.complexity,
            outcomes=r.candidate.outcomes,
            successes=r.candidate.successes,
            success_rate=r.success_rate,
            bound=r.bound,
            score=scores.get(pair),
            p95_ms=latency.percentile(histograms[pair], 0.95) if pair in histograms else None,
        )
        for r, pair in zip(ranked, pairs, strict=True)
    ]


def _scores(conn: Connection, pairs: Sequence[Pair]) -> dict[Pair, float]:
    if not pairs:
        return {}
    rows = conn.exec_driver_sql(
        "SELECT s.model_name, s.complexity_level, s.score"
        " FROM unnest(%(models)s::text[], %(complexities)s::text[]) AS p(m, c)"
        " JOIN model_scores AS s ON s.model_name = p.m AND s.complexity_level = p.c",
        {"models": [p[0] for p in pairs], "complexities": [p[1] for p in pairs]},
    )
    return {(m, c): float(score) for m, c, score in rows}


def score_history(
    engine: Engine, model: str, *, complexity: str | None = None, limit: int = 20
) -> list[ScoreHistoryEntry]:
    """The model's score changes, newest first (``limit`` 0: all of them)."""
    conditions = ["model_name = %(model)s"]
    conditions += ["complexity_level = %(complexity)s"] if complexity is not None else []
    sql = (
        "SELECT changed_at, model_name, complexity_level, version, old_score, new_score, policy,"
        " based_on_samples, confidence, reason"
        f" FROM score_history {_where(conditions)} ORDER BY changed_at DESC, id DESC"
        + (" LIMIT %(limit)s" if limit else "")
    )
    params = {"model": model, "complexity": complexity, "limit": limit}
    with reading(engine) as conn:
        return [ScoreHistoryEntry(*row) for row in conn.exec_driver_sql(sql, params)]
