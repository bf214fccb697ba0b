"""One learner tick: read aggregated counters, let the policy decide, store every change.

The tick is one REPEATABLE READ transaction holding a transaction-scoped advisory lock: two
ticks never run at once, even from two beat processes by mistake (the second finds the lock
taken and does nothing). A score row changed meanwhile by ``catalog import`` is not
overwritten: the update is conditional on the version read.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, text

from routelearn.domain.evidence import Counters, build_evidence
from routelearn.domain.latency import NUM_BUCKETS
from routelearn.domain.policy import Policy, ScoreDecision
from routelearn.domain.score_update import ScoreUpdate

if TYPE_CHECKING:
    import numpy as np

# pg_try_advisory_xact_lock key: "rlearn" in ASCII, so it is recognizable in pg_locks.
LEARNER_LOCK = 0x726C6561726E

_READ = """
SELECT m.model_name, m.complexity_level, m.success_count, m.failure_count,
       m.response_time_histogram, m.avg_response_time,
       s.score, s.version, s.outcomes_at_adjustment
FROM model_routing_metrics m
LEFT JOIN model_scores s
       ON s.model_name = m.model_name AND s.complexity_level = m.complexity_level
ORDER BY m.model_name, m.complexity_level
"""

# One row per (model, complexity), its snapshots oldest first, the histograms in PostgreSQL's
# binary array format (array_send) read straight into numpy: 48,000 histograms of 122 counts
# parsed from text into Python ints took most of a tick.
_SNAPSHOTS = """
SELECT model_name, complexity_level, array_agg(success_count ORDER BY taken_at),
       array_agg(failure_count ORDER BY taken_at),
       string_agg(array_send(response_time_histogram), ''::bytea ORDER BY taken_at)
FROM metric_snapshots WHERE taken_at > now() - make_interval(secs => %(keep)s)
GROUP BY model_name, complexity_level
"""


@cache
def _sent_histogram() -> np.dtype[np.void]:
    """array_send of a one-dimensional bigint[] without NULLs: a 20-byte header (ndim, has-null
    flag, element type, length, lower bound), then per element its length (4 bytes) and value.
    numpy is imported here, not at the top: ingestion workers never load it (memory)."""
    import numpy as np

    return np.dtype(
        [("header", "V20"), ("counts", [("length", ">i4"), ("value", ">i8")], (NUM_BUCKETS,))]
    )


def _histograms(sent: bytes) -> np.ndarray[Any, np.dtype[np.int64]]:
    """The (snapshots x buckets) matrix of a string_agg of array_send'd histograms."""
    import numpy as np

    return np.frombuffer(sent, dtype=_sent_histogram())["counts"]["value"].astype(np.int64)


# Writes are set-based (rows as one JSON array, as ingestion does): a tick that changes
# thousands of scores is a few statements, not thousands of round trips.
_NEW_SCORES = """
INSERT INTO model_scores (model_name, complexity_level, score, version, source, policy)
SELECT r->>0, r->>1, (r->>2)::float8, 0, 'default', r->>3
FROM json_array_elements(%s::json) AS r ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""

# Conditional on the version read, so a score a catalog import changed meanwhile stands.
_CHANGE = """
UPDATE model_scores AS s SET score = (r->>2)::float8, version = s.version + 1, policy = r->>4,
    confidence = (r->>5)::float8, based_on_samples = (r->>6)::bigint,
    outcomes_at_adjustment = (r->>6)::bigint, source = 'learner', updated_at = now()
FROM json_array_elements(%s::json) AS r
WHERE s.model_name = r->>0 AND s.complexity_level = r->>1 AND s.version = (r->>3)::bigint
RETURNING s.model_name, s.complexity_level, s.version
"""

_HISTORY = """
INSERT INTO score_history (model_name, complexity_level, version, old_score, new_score, reason,
    based_on_samples, confidence, policy)
SELECT r->>0, r->>1, (r->>2)::bigint, (r->>3)::float8, (r->>4)::float8, r->>5,
    (r->>6)::bigint, (r->>7)::float8, r->>8
FROM json_array_elements(%s::json) AS r
"""

_SNAPSHOT = """
INSERT INTO metric_snapshots (taken_at, model_name, complexity_level, success_count,
    failure_count, response_time_histogram)
SELECT now(), model_name, complexity_level, success_count, failure_count, response_time_histogram
FROM model_routing_metrics
"""


@dataclass(frozen=True, slots=True)
class ScoreChange:
    """A stored change: what the fan-out sends to the instances."""

    model: str
    complexity: str
    version: int
    decision: ScoreDecision

    def to_update(self, timestamp: datetime) -> ScoreUpdate:
        d = self.decision
        return ScoreUpdate(
            timestamp=timestamp,
            model=self.model,
            complexity=self.complexity,
            old_score=d.old_score,
            new_score=d.new_score,
            reason=d.reason,
            confidence=d.confidence,
            based_on_samples=d.based_on_samples,
            version=self.version,
        )


@dataclass(frozen=True, slots=True)
class LearnerResult:
    ran: bool  # False: another tick held the lock
    started_at: datetime | None = None
    considered: int = 0
    changes: tuple[ScoreChange, ...] = ()
    seconds: float = 0.0


def run_learner(
    engine: Engine,
    policy: Policy,
    *,
    default_score: float,
    window_seconds: float,
    keep_windows: int,
    min_keep_seconds: float = 0.0,
) -> LearnerResult:
    """One tick. Counter snapshots are kept for ``keep_windows`` windows, and at least
    ``min_keep_seconds`` (the anomaly sweep's window starts at one of them)."""
    began = time.perf_counter()
    changes: list[ScoreChange] = []
    with (
        engine.connect().execution_options(isolation_level="REPEATABLE READ") as conn,
        conn.begin(),
    ):
        if not conn.execute(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": LEARNER_LOCK}
        ).scalar_one():
            return LearnerResult(ran=False)
        started_at: datetime = conn.execute(text("SELECT now()")).scalar_one()
        rows = conn.execute(text(_READ)).fetchall()
        history: dict[tuple[str, str], list[Counters]] = defaultdict(list)
        # Keep one window more than asked: the oldest snapshot is where the first window starts.
        keep = window_seconds * (keep_windows + 1)
        # Sorting 48,000 histograms for the GROUP BY spills to disk at the default work_mem.
        conn.execute(text("SET LOCAL work_mem = '64MB'"))
        # A binary result: bytea arrives as is, not hex-encoded (half the time of the read).
        raw = conn.connection.driver_connection
        assert raw is not None  # a live connection inside the transaction
        with raw.cursor(binary=True) as cursor:
            cursor.execute(_SNAPSHOTS, {"keep": keep})
            snapshot_rows = cursor.fetchall()
        for model, complexity, succ, fail, sent in snapshot_rows:
            matrix = _histograms(sent)
            if matrix.shape != (len(succ), NUM_BUCKETS):
                raise ValueError(f"{model}/{complexity}: snapshot histograms do not parse")
            history[(model, complexity)] = [
                Counters(s, f, row) for s, f, row in zip(succ, fail, matrix, strict=True)
            ]
        new_rows: list[list[object]] = []
        decided: dict[tuple[str, str], tuple[int, ScoreDecision]] = {}
        for row in rows:
            model, complexity = row.model_name, row.complexity_level
            if row.score is None:  # first seen in events: it starts from the default
                new_rows.append([model, complexity, default_score, policy.name])
            evidence = build_evidence(
                model,
                complexity,
                default_score if row.score is None else row.score,
                Counters(row.success_count, row.failure_count, tuple(row.response_time_histogram)),
                history.get((model, complexity), []),
                mean_response_ms=row.avg_response_time,
                window_seconds=window_seconds,
                outcomes_at_last_adjustment=row.outcomes_at_adjustment or 0,
            )
            decision = policy.decide(evidence)
            if decision.changed:
                decided[(model, complexity)] = (row.version or 0, decision)
        if new_rows:
            conn.exec_driver_sql(_NEW_SCORES, (json.dumps(new_rows),))
        if decided:
            updated = conn.exec_driver_sql(
                _CHANGE,
                (
                    json.dumps(
                        [
                            [m, c, d.new_score, v, policy.name, d.confidence, d.based_on_samples]
                            for (m, c), (v, d) in sorted(decided.items())
                        ]
                    ),
                ),
            ).fetchall()
            for model, complexity, version in sorted(updated):
                changes.append(
                    ScoreChange(model, complexity, version, decided[(model, complexity)][1])
                )
            if changes:
                conn.exec_driver_sql(
                    _HISTORY,
                    (
                        json.dumps(
                            [
                                [
                                    c.model,
                                    c.complexity,
                                    c.version,
                                    c.decision.old_score,
                                    c.decision.new_score,
                                    c.decision.reason,
                                    c.decision.based_on_samples,
                                    c.decision.confidence,
                                    policy.name,
                                ]
                                for c in changes
                            ]
                        ),
                    ),
                )
        conn.execute(text(_SNAPSHOT))
        conn.execute(
            text(
                "DELETE FROM metric_snapshots WHERE taken_at <= now() - make_interval(secs => :k)"
            ),
            {"k": max(keep, min_keep_seconds)},
        )
        seconds = time.perf_counter() - began
        conn.execute(
            text(
                "INSERT INTO learner_runs (started_at, policy, rows_considered, changed,"
                " duration_ms) VALUES (:t, :p, :n, :c, :ms)"
            ),
            {
                "t": started_at,
                "p": policy.name,
                "n": len(rows),
                "c": len(changes),
                "ms": seconds * 1000,
            },
        )
    return LearnerResult(True, started_at, len(rows), tuple(changes), seconds)
