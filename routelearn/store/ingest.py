"""One batch, one transaction: audit rows, decisions, metric deltas, dead letters.

Every statement is set-based (a JSON array of rows, or arrays bound to ``unnest``; one round
trip each) and every aggregate
change is an atomic upsert, never read-then-write, so any number of workers may ingest at once.
Rows are written in key order, so concurrent batches take row locks in the same order.
"""

from __future__ import annotations

import json
from collections.abc import Container, Sequence
from dataclasses import dataclass, fields
from typing import Any

import msgspec
from sqlalchemy import Connection

from routelearn.domain.aggregate import CountedOutcome, MetricDelta, MetricKey, metric_deltas
from routelearn.domain.decisions import DecisionRow, fold_decisions
from routelearn.domain.identity import counted_by_its_event, dead_letter_key
from routelearn.domain.rollup import RollupKey, rollup_deltas
from routelearn.domain.usage import counted_events, spend_deltas, usage_deltas, workspace_deltas
from routelearn.domain.validation import Rejection, ValidEvent

# The rows are ValidEvent objects as JSON (msgspec writes the dataclasses themselves: no row
# lists built in Python), turned into typed rows by json_to_recordset in one pass (extracting
# each field with ->> from jsonb cost more).
_INSERT_RECORDS = """
INSERT INTO routing_records (event_id, decision_id, decision_key, timestamp, instance_id,
    complexity, model, provider, score, outcome, response_time_ms, capabilities_required,
    preference, user_model_request, exploratory, workspace_id, agent_type, request_type,
    prompt_tokens, completion_tokens, cost_usd, rule_id, split_arm)
SELECT event_id, decision_id, decision_key, timestamp, instance_id, complexity, model, provider,
    score, outcome, response_time_ms, capabilities, prefer, user_model_request, exploratory,
    attribution->>'workspace_id', attribution->>'agent_type', attribution->>'request_type',
    (attribution->>'prompt_tokens')::int8, (attribution->>'completion_tokens')::int8,
    (attribution->>'cost_usd')::float8, attribution->>'rule_id', attribution->>'split_arm'
FROM json_to_recordset(%s::json) AS r(event_id text, decision_id text, decision_key text,
    timestamp timestamptz, instance_id text, complexity text, model text, provider text,
    score float8, outcome text, response_time_ms float8, capabilities text[], prefer text,
    user_model_request text, exploratory boolean, attribution json)
ORDER BY event_id
ON CONFLICT (event_id, timestamp) DO NOTHING
RETURNING event_id
"""

# One statement per batch for its decisions (DecisionRow objects as JSON): a new decision is
# inserted; a known one whose outcome is still unset takes the batch's outcome when it names the
# decision's model and complexity (the first outcome wins: a concurrent writer re-checks the
# WHERE after waiting for the row lock). ``inserted`` tells the two apart (a new row has no
# xmax); a known decision the batch does not change returns nothing.
_UPSERT_DECISIONS = """
INSERT INTO routing_decisions AS d (decision_key, model_name, complexity_level, instance_id,
    first_seen_at, outcome, response_time_ms)
SELECT key, model, complexity, instance_id, first_seen, outcome, response_time_ms
FROM json_to_recordset(%s::json) AS r(key text, model text, complexity text, instance_id text,
    first_seen timestamptz, outcome text, response_time_ms float8)
ORDER BY key
ON CONFLICT (decision_key) DO UPDATE
    SET outcome = excluded.outcome, response_time_ms = excluded.response_time_ms
    WHERE d.outcome IS NULL AND excluded.outcome IS NOT NULL
      AND d.model_name = excluded.model_name AND d.complexity_level = excluded.complexity_level
RETURNING d.decision_key, (d.xmax = 0) AS inserted
"""

# Histograms add element by element: ARRAY(... ORDER BY i) costs half of
# array_agg(... ORDER BY i), which sets up a sort per aggregate (20 against 40 µs a merge).
_UPSERT_METRICS = """
INSERT INTO model_routing_metrics AS m (model_name, complexity_level, usage_count,
    success_count, failure_count, response_time_count, response_time_sum, avg_response_time,
    response_time_histogram, updated_at)
SELECT v.model, v.complexity, v.usage, v.success, v.failure, v.rt_count, v.rt_sum,
    CASE WHEN v.rt_count > 0 THEN v.rt_sum / v.rt_count END, v.hist::bigint[], now()
FROM unnest(%s::text[], %s::text[], %s::int8[], %s::int8[], %s::int8[], %s::int8[],
            %s::float8[], %s::text[])
     AS v(model, complexity, usage, success, failure, rt_count, rt_sum, hist)
ORDER BY v.model, v.complexity
ON CONFLICT (model_name, complexity_level) DO UPDATE SET
    usage_count = m.usage_count + excluded.usage_count,
    success_count = m.success_count + excluded.success_count,
    failure_count = m.failure_count + excluded.failure_count,
    response_time_count = m.response_time_count + excluded.response_time_count,
    response_time_sum = m.response_time_sum + excluded.response_time_sum,
    avg_response_time = CASE
        WHEN m.response_time_count + excluded.response_time_count > 0
        THEN (m.response_time_sum + excluded.response_time_sum)
             / (m.response_time_count + excluded.response_time_count)
    END,
    response_time_histogram = ARRAY(
        SELECT a + b
        FROM unnest(m.response_time_histogram, excluded.response_time_histogram)
             WITH ORDINALITY AS h(a, b, i)
        ORDER BY i
    ),
    updated_at = now()
"""

_UPSERT_ROLLUPS = """
INSERT INTO routing_rollups_hourly AS m (hour, model_name, complexity_level, instance_id,
    decisions, success_count, failure_count, response_time_count, response_time_sum,
    response_time_histogram)
SELECT (r->>0)::timestamptz, r->>1, r->>2, r->>3, (r->>4)::int8, (r->>5)::int8, (r->>6)::int8,
    (r->>7)::int8, (r->>8)::float8, (r->>9)::bigint[]
FROM jsonb_array_elements(%s::jsonb) AS r
ON CONFLICT (hour, model_name, complexity_level, instance_id) DO UPDATE SET
    decisions = m.decisions + excluded.decisions,
    success_count = m.success_count + excluded.success_count,
    failure_count = m.failure_count + excluded.failure_count,
    response_time_count = m.response_time_count + excluded.response_time_count,
    response_time_sum = m.response_time_sum + excluded.response_time_sum,
    response_time_histogram = CASE
        WHEN excluded.response_time_count = 0 THEN m.response_time_histogram
        ELSE ARRAY(SELECT a + b
                   FROM unnest(m.response_time_histogram, excluded.response_time_histogram)
                        WITH ORDINALITY AS h(a, b, i)
                   ORDER BY i)
    END
"""

_UPSERT_USAGE = """
INSERT INTO usage_rollups_hourly AS u (hour, model_name, workspace_id, agent_type, instance_id,
    events, prompt_tokens, completion_tokens, cost_usd, requests, success_count, failure_count,
    response_time_count, response_time_sum)
SELECT * FROM unnest(%s::timestamptz[], %s::text[], %s::text[], %s::text[], %s::text[],
    %s::int8[], %s::int8[], %s::int8[], %s::float8[], %s::int8[], %s::int8[], %s::int8[],
    %s::int8[], %s::float8[])
ON CONFLICT (hour, model_name, workspace_id, agent_type, instance_id) DO UPDATE SET
    events = u.events + excluded.events,
    requests = u.requests + excluded.requests,
    success_count = u.success_count + excluded.success_count,
    failure_count = u.failure_count + excluded.failure_count,
    response_time_count = u.response_time_count + excluded.response_time_count,
    response_time_sum = u.response_time_sum + excluded.response_time_sum,
    prompt_tokens = u.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = u.completion_tokens + excluded.completion_tokens,
    cost_usd = u.cost_usd + excluded.cost_usd
"""

_UPSERT_WORKSPACES = """
INSERT INTO workspace_rollups_hourly AS w (workspace_id, hour, requests, success_count,
    failure_count, response_time_count, response_time_sum, response_time_histogram,
    prompt_tokens, completion_tokens, cost_usd)
SELECT v.workspace, v.hour, v.requests, v.success, v.failure, v.rt_count, v.rt_sum,
    v.hist::bigint[], v.prompt, v.completion, v.cost
FROM unnest(%s::text[], %s::timestamptz[], %s::int8[], %s::int8[], %s::int8[], %s::int8[],
    %s::float8[], %s::text[], %s::int8[], %s::int8[], %s::float8[])
    AS v(workspace, hour, requests, success, failure, rt_count, rt_sum, hist, prompt,
         completion, cost)
ON CONFLICT (workspace_id, hour) DO UPDATE SET
    requests = w.requests + excluded.requests,
    success_count = w.success_count + excluded.success_count,
    failure_count = w.failure_count + excluded.failure_count,
    response_time_count = w.response_time_count + excluded.response_time_count,
    response_time_sum = w.response_time_sum + excluded.response_time_sum,
    response_time_histogram = CASE
        WHEN excluded.response_time_count = 0 THEN w.response_time_histogram
        ELSE ARRAY(SELECT a + b
                   FROM unnest(w.response_time_histogram, excluded.response_time_histogram)
                        WITH ORDINALITY AS h(a, b, i)
                   ORDER BY i)
    END,
    prompt_tokens = w.prompt_tokens + excluded.prompt_tokens,
    completion_tokens = w.completion_tokens + excluded.completion_tokens,
    cost_usd = w.cost_usd + excluded.cost_usd
"""

_UPSERT_SPEND = """
INSERT INTO workspace_spend AS w (workspace_id, quarter, events, cost_usd)
SELECT * FROM unnest(%s::text[], %s::timestamptz[], %s::int8[], %s::float8[])
ON CONFLICT (workspace_id, quarter) DO UPDATE SET
    events = w.events + excluded.events, cost_usd = w.cost_usd + excluded.cost_usd
"""

# Registers new instances and refreshes ``last_seen_at``; a retired instance stays retired (its
# events are still ingested, but it is not re-activated behind the operator's back).
_TOUCH_INSTANCES = """
INSERT INTO instances AS i (instance_id, first_seen_at, last_seen_at)
SELECT v, now(), now() FROM unnest(%s::text[]) AS v ORDER BY 1
ON CONFLICT (instance_id) DO UPDATE SET last_seen_at = now()
"""

_INSERT_DEAD_LETTERS = """
INSERT INTO dead_letters (payload_key, payload, reason, errors, source)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[], %s::jsonb[], %s::text[]) AS v
ORDER BY 1
ON CONFLICT (payload_key) DO NOTHING
RETURNING payload_key
"""


@dataclass(frozen=True, slots=True)
class BatchCounts:
    """What one committed batch changed."""

    received: int = 0
    inserted: int = 0
    duplicates: int = 0
    rejected: int = 0
    new_decisions: int = 0
    counted_outcomes: int = 0
    instances: tuple[str, ...] = ()  # instances registered or refreshed by this batch

    def __add__(self, other: BatchCounts) -> BatchCounts:
        """Two batches' counts as one (the instances of both)."""
        return BatchCounts(*(getattr(self, f.name) + getattr(other, f.name) for f in fields(self)))


def _json(rows: Sequence[Any]) -> str:
    """Rows for ``json_to_recordset``: one JSON document is far cheaper to send than a bound
    array per column (psycopg adapts array elements one by one, in Python). msgspec writes it
    several times faster than ``json``; every float in it is finite (validated)."""
    return msgspec.json.encode(rows).decode()


def payload_text(payload: object) -> str:
    """The payload as stored: JSON text (control characters escaped, so PostgreSQL takes it).

    Lone surrogates (which ``json.loads`` accepts) cannot be encoded as UTF-8, so such a payload
    is stored with every non-ASCII character escaped; it still loads back to the same value.
    """
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=True)
    except (TypeError, ValueError):
        return json.dumps(repr(payload))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(payload, allow_nan=True)
    return text


def insert_dead_letters(conn: Connection, rejections: Sequence[Rejection], source: str) -> int:
    """Keep each distinct rejected payload once; returns how many were new."""
    rows: dict[str, Rejection] = {}
    for rejection in rejections:
        rows.setdefault(dead_letter_key(rejection.payload), rejection)
    if not rows:
        return 0
    keys = sorted(rows)
    params = (
        keys,
        [payload_text(rows[k].payload) for k in keys],
        [rows[k].reason for k in keys],
        [
            json.dumps(
                [{"field": e.field, "value": e.value, "message": e.message} for e in rows[k].errors]
            )
            for k in keys
        ],
        [source] * len(keys),
    )
    return len(conn.exec_driver_sql(_INSERT_DEAD_LETTERS, params).fetchall())


def _insert_records(conn: Connection, events: Sequence[ValidEvent]) -> set[str]:
    # fetchall: psycopg makes the rows in one call; iterating the result fetched them one by
    # one, through SQLAlchemy, at several µs a row.
    return {row[0] for row in conn.exec_driver_sql(_INSERT_RECORDS, (_json(events),)).fetchall()}


def _apply_decisions(
    conn: Connection, rows: Sequence[DecisionRow]
) -> tuple[list[DecisionRow], list[DecisionRow]]:
    """The decisions this batch created, and those whose outcome it counted (in key order).

    A decision ``counted_by_its_event`` is new with its event (the caller passes only fresh
    events) and is not written: nothing else can name it, and writing its row was a third of
    the decisions' cost on a seed-format stream."""
    inserted = {r.key for r in rows if counted_by_its_event(r.key)}
    shared = [r for r in rows if r.key not in inserted]
    updated: set[str] = set()
    if shared:
        for key, new in conn.exec_driver_sql(_UPSERT_DECISIONS, (_json(shared),)).fetchall():
            (inserted if new else updated).add(key)
    new_decisions = [r for r in rows if r.key in inserted]
    counted = [r for r in rows if r.outcome is not None and (r.key in inserted or r.key in updated)]
    return new_decisions, counted


def _upsert_metrics(conn: Connection, deltas: dict[MetricKey, MetricDelta]) -> None:
    if not deltas:
        return
    keys = list(deltas)
    d = [deltas[k] for k in keys]
    conn.exec_driver_sql(
        _UPSERT_METRICS,
        (
            [k[0] for k in keys],
            [k[1] for k in keys],
            [x.usage for x in d],
            [x.success for x in d],
            [x.failure for x in d],
            [x.rt_count for x in d],
            [x.rt_sum for x in d],
            ["{" + ",".join(map(str, x.histogram)) + "}" for x in d],
        ),
    )


def _upsert_rollups(conn: Connection, deltas: dict[RollupKey, MetricDelta]) -> None:
    if not deltas:
        return
    rows = [
        [
            key[0].isoformat(),
            key[1],
            key[2],
            key[3],
            d.usage,
            d.success,
            d.failure,
            d.rt_count,
            d.rt_sum,
            "{" + ",".join(map(str, d.histogram)) + "}",
        ]
        for key, d in deltas.items()
    ]
    conn.exec_driver_sql(_UPSERT_ROLLUPS, (_json(rows),))


def _upsert_usage(
    conn: Connection,
    fresh: Sequence[ValidEvent],
    new_decisions: Sequence[DecisionRow],
    counted: Sequence[DecisionRow],
) -> None:
    """Requests, outcomes, tokens and cost of the batch's attributed events that count (most
    events carry no attribution: then nothing is written)."""
    if all(e.attribution is None for e in fresh):
        return
    attributed = counted_events(fresh, {r.key for r in new_decisions}, {r.key for r in counted})
    if not attributed:
        return
    usage = usage_deltas(attributed)
    keys, deltas = list(usage), list(usage.values())
    columns = [[k[i] for k in keys] for i in range(5)]
    conn.exec_driver_sql(
        _UPSERT_USAGE,
        (
            *columns,
            [d.events for d in deltas],
            [d.prompt_tokens for d in deltas],
            [d.completion_tokens for d in deltas],
            [d.cost_usd for d in deltas],
            [d.requests for d in deltas],
            [d.outcomes.success for d in deltas],
            [d.outcomes.failure for d in deltas],
            [d.outcomes.rt_count for d in deltas],
            [d.outcomes.rt_sum for d in deltas],
        ),
    )
    workspaces = workspace_deltas(attributed)
    if workspaces:
        rows = list(workspaces.values())
        conn.exec_driver_sql(
            _UPSERT_WORKSPACES,
            (
                [k[0] for k in workspaces],
                [k[1] for k in workspaces],
                [d.requests for d in rows],
                [d.outcomes.success for d in rows],
                [d.outcomes.failure for d in rows],
                [d.outcomes.rt_count for d in rows],
                [d.outcomes.rt_sum for d in rows],
                ["{" + ",".join(map(str, d.outcomes.histogram)) + "}" for d in rows],
                [d.prompt_tokens for d in rows],
                [d.completion_tokens for d in rows],
                [d.cost_usd for d in rows],
            ),
        )
    spend = spend_deltas(attributed)
    if spend:
        conn.exec_driver_sql(
            _UPSERT_SPEND,
            (
                [k[0] for k in spend],
                [k[1] for k in spend],
                [d.events for d in spend.values()],
                [d.cost_usd for d in spend.values()],
            ),
        )


def ingest_batch(
    conn: Connection,
    events: Sequence[ValidEvent],
    rejections: Sequence[Rejection],
    source: str,
    recently_seen: Container[str] = frozenset(),
) -> BatchCounts:
    """Write one batch inside the caller's transaction (the caller commits or rolls back).

    Instances in ``recently_seen`` (refreshed by this process moments ago) are not written
    again: their rows are shared by every worker, so touching them on every batch would make
    concurrent batches queue on those row locks.
    """
    unique: dict[str, ValidEvent] = {}
    for event in events:
        unique.setdefault(event.event_id, event)
    fresh: list[ValidEvent] = []
    new_decisions: list[DecisionRow] = []
    counted: list[DecisionRow] = []
    if unique:
        new_ids = _insert_records(conn, sorted(unique.values(), key=lambda e: e.event_id))
        fresh = [e for e in unique.values() if e.event_id in new_ids]  # arrival order
    if fresh:
        new_decisions, counted = _apply_decisions(conn, fold_decisions(fresh))
        _upsert_metrics(
            conn,
            metric_deltas(
                [(r.model, r.complexity) for r in new_decisions],
                [
                    CountedOutcome(r.model, r.complexity, r.outcome, r.response_time_ms)
                    for r in counted
                    if r.outcome is not None
                ],
            ),
        )
        _upsert_rollups(conn, rollup_deltas(new_decisions, counted))
        _upsert_usage(conn, fresh, new_decisions, counted)
    insert_dead_letters(conn, rejections, source)
    touched = sorted({e.instance_id for e in fresh if e.instance_id not in recently_seen})
    if touched:
        # Last, so the shared instance rows stay locked only until the commit.
        conn.exec_driver_sql(_TOUCH_INSTANCES, (touched,))
    return BatchCounts(
        received=len(events) + len(rejections),
        inserted=len(fresh),
        duplicates=len(events) - len(fresh),
        rejected=len(rejections),
        instances=tuple(touched),
        new_decisions=len(new_decisions),
        counted_outcomes=len(counted),
    )
