"""One learner tick: read aggregated counters, let the policy decide, store every change.

The tick is one REPEATABLE READ transaction holding a transaction-scoped advisory lock: two
ticks never run at once, even from two beat processes by mistake (the second finds the lock
taken and does nothing). A score row changed meanwhile by ``catalog import`` is not
overwritten: the update is conditional on the version read.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text

from routelearn.domain.evidence import Counters, build_evidence
from routelearn.domain.policy import Policy, ScoreDecision

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

_SNAPSHOTS = """
SELECT model_name, complexity_level, success_count, failure_count, response_time_histogram
FROM metric_snapshots WHERE taken_at > now() - make_interval(secs => :keep)
ORDER BY taken_at
"""

_NEW_SCORE = """
INSERT INTO model_scores (model_name, complexity_level, score, version, source, policy)
VALUES (:m, :c, :s, 0, 'default', :p) ON CONFLICT DO NOTHING
"""

_CHANGE = """
UPDATE model_scores SET score = :new, version = version + 1, policy = :p, confidence = :conf,
    based_on_samples = :n, outcomes_at_adjustment = :n, source = 'learner', updated_at = now()
WHERE model_name = :m AND complexity_level = :c AND version = :v
RETURNING version
"""

_HISTORY = """
INSERT INTO score_history (model_name, complexity_level, version, old_score, new_score, reason,
    based_on_samples, confidence, policy)
VALUES (:m, :c, :v, :old, :new, :reason, :n, :conf, :p)
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
) -> LearnerResult:
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
        for snap in conn.execute(text(_SNAPSHOTS), {"keep": keep}):
            history[(snap[0], snap[1])].append(Counters(snap[2], snap[3], tuple(snap[4])))
        for row in rows:
            model, complexity = row.model_name, row.complexity_level
            if row.score is None:  # first seen in events: it starts from the default
                conn.execute(
                    text(_NEW_SCORE),
                    {"m": model, "c": complexity, "s": default_score, "p": policy.name},
                )
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
            if not decision.changed:
                continue
            params = {
                "m": model,
                "c": complexity,
                "new": decision.new_score,
                "p": policy.name,
                "conf": decision.confidence,
                "n": decision.based_on_samples,
                "v": row.version or 0,
            }
            version = conn.execute(text(_CHANGE), params).scalar()
            if version is None:  # changed by a catalog import meanwhile: its value stands
                continue
            conn.execute(
                text(_HISTORY),
                {**params, "v": version, "old": decision.old_score, "reason": decision.reason},
            )
            changes.append(ScoreChange(model, complexity, version, decision))
        conn.execute(text(_SNAPSHOT))
        conn.execute(
            text(
                "DELETE FROM metric_snapshots WHERE taken_at <= now() - make_interval(secs => :k)"
            ),
            {"k": keep},
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
