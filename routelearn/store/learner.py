"""One learner tick: read aggregated counters, let the policy decide, store every change.

The tick is one REPEATABLE READ transaction holding a transaction-scoped advisory lock: two
ticks never run at once, even from two beat processes by mistake (the second finds the lock
taken and does nothing). A score row changed meanwhile by ``catalog import`` is not
overwritten: the update is conditional on the version read.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, NamedTuple, TypedDict

from sqlalchemy import Connection, Engine, text

from routelearn.domain import recency
from routelearn.domain.estimates import EstimateReport
from routelearn.domain.latency import NUM_BUCKETS
from routelearn.domain.policy import EvidenceBatch, Policy, ScoreDecision
from routelearn.domain.score_update import ScoreUpdate
from routelearn.store import estimates as stored_estimates
from routelearn.store import pgbinary

if TYPE_CHECKING:
    import numpy as np

    from routelearn.domain.recency import Vector

# The policy's change window covers the last three ticks: it starts at the newest snapshot at
# least 2.5 learner intervals old, which beat's jitter cannot push to a fourth. The segment
# before it (the policy compares the two) starts at the newest snapshot at least 8.5 intervals
# old: the six ticks before the window. The short windows, the last tick and the last two, at
# the newest snapshots at least 0.5 and 1.5 intervals old.
CHANGE_WINDOW_TICKS = 2.5
BEFORE_WINDOW_TICKS = 8.5
SHORT_WINDOW_TICKS = (0.5, 1.5)


class SnapshotWindows(TypedDict):
    change_window_seconds: float
    before_window_seconds: float
    short_window_seconds: tuple[float, ...]
    keep_snapshots_seconds: float


def snapshot_windows(interval: float, anomaly_window: float) -> SnapshotWindows:
    """`run_learner`'s snapshot arguments for a learner ticking every ``interval`` seconds:
    the change window, the segment before it, the short windows, and how long snapshots are
    kept (the anomaly sweep's window also starts at one at least ``anomaly_window`` old)."""
    before = BEFORE_WINDOW_TICKS * interval
    return SnapshotWindows(
        change_window_seconds=CHANGE_WINDOW_TICKS * interval,
        before_window_seconds=before,
        short_window_seconds=tuple(ticks * interval for ticks in SHORT_WINDOW_TICKS),
        keep_snapshots_seconds=max(anomaly_window, before) + 2 * interval,
    )


# pg_try_advisory_xact_lock key: "rlearn" in ASCII, so it is recognizable in pg_locks.
LEARNER_LOCK = 0x726C6561726E

# Everything a tick weighs, one row per (model, complexity): counters, score, recency state.
# The histograms go straight into numpy, the metrics' array through array_send and the state's
# as raw bytes (3,000 rows of 122-bucket histograms parsed into Python ints would take a good
# part of a tick). No ORDER BY: sorting them spills to disk at the default work_mem, and the
# changes are sorted where order matters.
_READ = """
SELECT m.model_name, m.complexity_level, m.success_count, m.failure_count,
       array_send(m.response_time_histogram), m.avg_response_time,
       s.score, s.version, s.outcomes_at_adjustment,
       extract(epoch FROM now() - r.as_of)::float8,
       r.seen_success_count, r.seen_failure_count, r.seen_histogram,
       r.weighted_successes, r.weighted_failures, r.weighted_histogram
FROM model_routing_metrics m
LEFT JOIN model_scores s
       ON s.model_name = m.model_name AND s.complexity_level = m.complexity_level
LEFT JOIN recent_outcomes r
       ON r.model_name = m.model_name AND r.complexity_level = m.complexity_level
"""

# recent_outcomes' histograms: raw little-endian vectors of NUM_BUCKETS values (bytea), not
# arrays; array_send and array_recv of 6,000 arrays cost a tenth of a second a tick.
SEEN_DTYPE = "<i8"
WEIGHTED_DTYPE = "<f8"

# The state is rewritten whole each tick (a pair whose metrics row is gone leaves with it).
_STATE_COPY = """
COPY recent_outcomes (model_name, complexity_level, as_of, seen_success_count,
    seen_failure_count, seen_histogram, weighted_successes, weighted_failures,
    weighted_histogram)
FROM STDIN (FORMAT BINARY)
"""

# Writes are set-based (rows as one JSON array, as ingestion does): a tick that changes
# thousands of scores is a few statements, not thousands of round trips. jsonb, not json: each
# ->> on a json value parses its element again (half the time of these statements).
_NEW_SCORES = """
INSERT INTO model_scores (model_name, complexity_level, score, version, source, policy)
SELECT r->>0, r->>1, (r->>2)::float8, 0, 'default', r->>3
FROM jsonb_array_elements(%s::jsonb) AS r ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""

# Conditional on the version read, so a score a catalog import changed meanwhile stands.
_CHANGE = """
UPDATE model_scores AS s SET score = (r->>2)::float8, version = s.version + 1, policy = r->>4,
    confidence = (r->>5)::float8, based_on_samples = (r->>6)::bigint,
    outcomes_at_adjustment = (r->>6)::bigint, source = 'learner', updated_at = now()
FROM jsonb_array_elements(%s::jsonb) AS r
WHERE s.model_name = r->>0 AND s.complexity_level = r->>1 AND s.version = (r->>3)::bigint
RETURNING s.model_name, s.complexity_level, s.version
"""

# The counters as the newest snapshot at least a given age held them: the starts of the change
# window, of the segment before it and of the short windows (the policy compares the outcomes
# between them). The primary key starts with taken_at, so every lookup is an index scan.
_WINDOW_BASE = """
SELECT model_name, complexity_level, success_count, failure_count
FROM metric_snapshots
WHERE taken_at = (
    SELECT max(taken_at) FROM metric_snapshots
    WHERE taken_at <= now() - make_interval(secs => %s)
)
"""

_HISTORY = """
INSERT INTO score_history (model_name, complexity_level, version, old_score, new_score, reason,
    based_on_samples, confidence, policy)
SELECT r->>0, r->>1, (r->>2)::bigint, (r->>3)::float8, (r->>4)::float8, r->>5,
    (r->>6)::bigint, (r->>7)::float8, r->>8
FROM jsonb_array_elements(%s::jsonb) AS r
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
    # What the policy believes of every row (empty: a policy without a posterior): the routers
    # direct their exploration with it. None: the tick did not run.
    estimates: EstimateReport | None = None


@dataclass(frozen=True, slots=True)
class _Read:
    """What one tick read, column by column (row i of each is the same (model, complexity))."""

    keys: list[tuple[str, str]]
    mean_ms: tuple[float | None, ...]
    scores: tuple[float | None, ...]
    versions: tuple[int | None, ...]
    markers: tuple[int | None, ...]
    successes: tuple[int, ...]
    failures: tuple[int, ...]
    current: recency.Rows
    current_histograms: np.ndarray[Any, np.dtype[np.int64]]
    seen: recency.Rows
    recent: recency.Rows
    elapsed: np.ndarray[Any, np.dtype[np.float64]]


def _read(conn: Connection) -> _Read:
    import numpy as np

    raw = conn.connection.driver_connection
    assert raw is not None  # a live connection inside the transaction
    # A binary result: bytea arrives as is, not hex-encoded.
    with raw.cursor(binary=True) as cursor:
        cursor.execute(_READ)
        rows = cursor.fetchall()
    columns = list(zip(*rows, strict=True)) or [()] * 16
    (models, complexities, succ, fail, hist, mean_ms, scores, versions, markers, elapsed,
     seen_s, seen_f, seen_h, rec_s, rec_f, rec_h) = columns  # fmt: skip
    keys = list(zip(models, complexities, strict=True))

    def vector(values: tuple[float | None, ...], missing: float) -> Vector:
        return np.array([missing if v is None else v for v in values], dtype=np.float64)

    names = [f"{model}/{complexity}" for model, complexity in keys]

    def state(raw: tuple[bytes | None, ...], dtype: str) -> Any:
        return pgbinary.read_vectors(raw, dtype, NUM_BUCKETS, names)

    current_h = pgbinary.read_arrays(hist, pgbinary.INT8, NUM_BUCKETS, names)
    return _Read(
        keys=keys,
        mean_ms=mean_ms,
        scores=scores,
        versions=versions,
        markers=markers,
        successes=succ,
        failures=fail,
        current=recency.Rows(vector(succ, 0.0), vector(fail, 0.0), current_h.astype(np.float64)),
        current_histograms=current_h,
        seen=recency.Rows(vector(seen_s, 0.0), vector(seen_f, 0.0), state(seen_h, SEEN_DTYPE)),
        recent=recency.Rows(vector(rec_s, 0.0), vector(rec_f, 0.0), state(rec_h, WEIGHTED_DTYPE)),
        elapsed=vector(elapsed, math.nan),  # NaN: no state yet
    )


def _write_state(conn: Connection, read: _Read, state: recency.Rows, as_of: datetime) -> None:
    at = pgbinary.timestamptz(as_of)
    rows = zip(
        read.keys,
        read.successes,
        read.failures,
        pgbinary.vector_fields(read.current_histograms, SEEN_DTYPE),
        state.successes.tolist(),
        state.failures.tolist(),
        pgbinary.vector_fields(state.histograms, WEIGHTED_DTYPE),
        strict=True,
    )
    raw = conn.connection.driver_connection
    assert raw is not None
    encoding = raw.info.encoding
    stream = pgbinary.copy_stream(
        (
            pgbinary.text(model, encoding),
            pgbinary.text(complexity, encoding),
            at,
            pgbinary.int8(s),
            pgbinary.int8(f),
            seen_h,
            pgbinary.float8(rs),
            pgbinary.float8(rf),
            recent_h,
        )
        for (model, complexity), s, f, seen_h, rs, rf, recent_h in rows
    )
    with raw.cursor() as cursor:
        cursor.execute("DELETE FROM recent_outcomes")
        with cursor.copy(_STATE_COPY) as copy:
            copy.write(stream)


def _snapshot_counts(conn: Connection, seconds: float) -> dict[tuple[str, str], tuple[int, int]]:
    """Each row's counters as the newest snapshot at least ``seconds`` old held them."""
    return {
        (m, c): (s, f) for m, c, s, f in conn.exec_driver_sql(_WINDOW_BASE, (seconds,)).fetchall()
    }


def _between(
    keys: Sequence[tuple[str, str]],
    later: Callable[[int], tuple[int, int] | None],
    earlier: dict[tuple[str, str], tuple[int, int]],
) -> tuple[Vector, Vector]:
    """Each row's successes and failures between two counter readings (NaN: a reading is
    missing, or the counters went down between them: reset by hand)."""
    import numpy as np

    ss = np.full(len(keys), np.nan)
    fs = np.full(len(keys), np.nan)
    for i, key in enumerate(keys):
        then, now = earlier.get(key), later(i)
        if then is not None and now is not None and now[0] >= then[0] and now[1] >= then[1]:
            ss[i] = now[0] - then[0]
            fs[i] = now[1] - then[1]
    return ss, fs


class _Segments(NamedTuple):
    window: tuple[Vector, Vector] | None
    before: tuple[Vector, Vector] | None
    short: tuple[tuple[Vector, Vector], ...]


def _segments(
    conn: Connection,
    read: _Read,
    window_seconds: float | None,
    before_seconds: float | None,
    short_seconds: Sequence[float],
) -> _Segments:
    """Each row's successes and failures over the change window (since the newest snapshot at
    least ``window_seconds`` old), over the segment before it (from the newest snapshot at
    least ``before_seconds`` old to the window's start), and over each short window (since the
    newest snapshot at least that many of ``short_seconds`` old)."""
    if window_seconds is None:
        return _Segments(None, None, ())

    def now(i: int) -> tuple[int, int]:
        return read.successes[i], read.failures[i]

    start = _snapshot_counts(conn, window_seconds)
    window = _between(read.keys, now, start)
    short = tuple(_between(read.keys, now, _snapshot_counts(conn, s)) for s in short_seconds)
    if before_seconds is None:
        return _Segments(window, None, short)
    before = _between(
        read.keys, lambda i: start.get(read.keys[i]), _snapshot_counts(conn, before_seconds)
    )
    return _Segments(window, before, short)


def _decide(
    read: _Read,
    state: recency.Rows,
    policy: Policy,
    default_score: float,
    segments: _Segments,
) -> tuple[list[list[object]], dict[tuple[str, str], tuple[int, ScoreDecision]], EvidenceBatch]:
    """The rows first seen (to insert at the default score), every decided change, and the
    batch they were decided on."""
    import numpy as np

    window, before = segments.window, segments.before
    new_rows = [
        [model, complexity, default_score, policy.name]
        for (model, complexity), score in zip(read.keys, read.scores, strict=True)
        if score is None  # first seen in events: it starts from the default
    ]
    batch = EvidenceBatch(
        keys=read.keys,
        current_scores=np.array(
            [default_score if score is None else score for score in read.scores], dtype=float
        ),
        successes=read.successes,
        failures=read.failures,
        histograms=read.current_histograms,
        mean_response_ms=read.mean_ms,
        recent=state,
        outcomes_at_last_adjustment=[marker or 0 for marker in read.markers],
        window_successes=None if window is None else window[0],
        window_failures=None if window is None else window[1],
        before_successes=None if before is None else before[0],
        before_failures=None if before is None else before[1],
        short=segments.short,
    )
    decided = {
        read.keys[i]: (read.versions[i] or 0, decision) for i, decision in policy.decide_all(batch)
    }
    return new_rows, decided, batch


def run_learner(
    engine: Engine,
    policy: Policy,
    *,
    default_score: float,
    keep_snapshots_seconds: float,
    change_window_seconds: float | None = None,
    before_window_seconds: float | None = None,
    short_window_seconds: Sequence[float] = (),
    with_changes: Callable[[Connection, Sequence[ScoreChange], datetime], None] | None = None,
) -> LearnerResult:
    """One tick. The counter snapshots it takes are kept ``keep_snapshots_seconds`` (the anomaly
    sweep's window starts at one of them, and the policy's change window at another:
    ``change_window_seconds``, None for none; the segment before the window at a third:
    ``before_window_seconds``, None for none; the short windows at the others:
    ``short_window_seconds``). ``with_changes`` is called with the tick's
    changes, if any, in the tick's transaction (the pgmq bridge sends them there: they are
    sent if and only if they are stored)."""
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
        read = _read(conn)
        state = recency.advance(read.current, read.seen, read.recent, read.elapsed, policy.decay)
        segments = _segments(
            conn, read, change_window_seconds, before_window_seconds, short_window_seconds
        )
        new_rows, decided, batch = _decide(read, state, policy, default_score, segments)
        estimated = policy.estimate_all(batch)
        kept = policy.state_after(batch)  # what the next tick starts from
        if kept is not None:
            state = kept
        # A policy without a posterior sends an empty report: it replaces whatever an earlier
        # policy left with the instances and in learner_estimates, and routers fall back on
        # their own weights.
        estimates = (
            EstimateReport(started_at, policy.name, {})
            if estimated is None
            else EstimateReport.of_rows(
                started_at, policy.name, read.keys, estimated[0].tolist(), estimated[1].tolist()
            )
        )
        if new_rows:
            conn.exec_driver_sql(_NEW_SCORES, (json.dumps(new_rows),))
        if decided:
            changes = _store_changes(conn, decided, policy.name)
        if changes and with_changes is not None:
            with_changes(conn, changes, started_at)
        stored_estimates.write(conn, estimates)
        _write_state(conn, read, state, started_at)
        conn.execute(text(_SNAPSHOT))
        conn.execute(
            text("DELETE FROM metric_snapshots WHERE taken_at < now() - make_interval(secs => :k)"),
            {"k": keep_snapshots_seconds},
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
                "n": len(read.keys),
                "c": len(changes),
                "ms": seconds * 1000,
            },
        )
    return LearnerResult(True, started_at, len(read.keys), tuple(changes), seconds, estimates)


def _store_changes(
    conn: Connection,
    decided: dict[tuple[str, str], tuple[int, ScoreDecision]],
    policy_name: str,
) -> list[ScoreChange]:
    """Apply the changes whose row still has the version read, and record them in history."""
    updated = conn.exec_driver_sql(
        _CHANGE,
        (
            json.dumps(
                [
                    [m, c, d.new_score, v, policy_name, d.confidence, d.based_on_samples]
                    for (m, c), (v, d) in sorted(decided.items())
                ]
            ),
        ),
    ).fetchall()
    changes = [
        ScoreChange(model, complexity, version, decided[(model, complexity)][1])
        # Plain tuples: sorting SQLAlchemy rows compares them through Python-level operators.
        for model, complexity, version in sorted(tuple(row) for row in updated)
    ]
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
                            policy_name,
                        ]
                        for c in changes
                    ]
                ),
            ),
        )
    return changes
