"""Dead letters: list, inspect, fix, replay and delete payloads that failed ingestion.

Replay re-validates each stored payload with the current code and, in one transaction per
chunk, ingests the valid ones (``ingest_batch`` is idempotent by ``event_id``) and deletes their
dead-letter rows, so a replay that is interrupted or run twice never counts an event twice.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Connection, Engine

from routelearn.domain.validation import (
    FieldError,
    Rejection,
    ValidEvent,
    decode_payload,
    validate_batch,
)
from routelearn.store.engine import is_transient
from routelearn.store.ingest import ingest_batch

log = logging.getLogger(__name__)

REPLAY_CHUNK = 500
REPLAY_SOURCE = "replay"
_VALUE_LIMIT = 120

_COLUMNS = "id, payload_key, payload, reason, errors, source, received_at"

# Rows are locked so that two operators replaying at once process each row once: the second
# waits, then finds the row deleted (READ COMMITTED re-checks it) and skips it.
_LOCK_CHUNK = "SELECT id, payload FROM dead_letters WHERE id = ANY(%s) ORDER BY id FOR UPDATE"

_UPDATE_REASONS = """
UPDATE dead_letters AS d SET reason = v.reason, errors = v.errors
FROM unnest(%s::bigint[], %s::text[], %s::jsonb[]) AS v(id, reason, errors)
WHERE d.id = v.id
"""


@dataclass(frozen=True, slots=True)
class DeadLetter:
    id: int
    payload_key: str
    payload: str  # JSON text, exactly as stored
    reason: str
    errors: tuple[FieldError, ...]
    source: str
    received_at: datetime

    def payload_value(self) -> Any:
        """The payload parsed back to JSON; raises ValueError if the stored text is not JSON."""
        return json.loads(self.payload)


@dataclass(frozen=True, slots=True)
class ReplayReport:
    """What a replay did. ``missing``: requested ids that no longer exist."""

    selected: int = 0
    ingested: int = 0
    duplicates: int = 0
    still_invalid_ids: tuple[int, ...] = ()
    missing: tuple[int, ...] = ()

    @property
    def still_invalid(self) -> int:
        return len(self.still_invalid_ids)

    def __add__(self, other: ReplayReport) -> ReplayReport:
        return ReplayReport(
            selected=self.selected + other.selected,
            ingested=self.ingested + other.ingested,
            duplicates=self.duplicates + other.duplicates,
            still_invalid_ids=self.still_invalid_ids + other.still_invalid_ids,
            missing=self.missing + other.missing,
        )


def _row(row: Sequence[Any]) -> DeadLetter:
    errors = tuple(
        FieldError(str(e.get("field", "")), str(e.get("value", "")), str(e.get("message", "")))
        for e in (row[4] or [])
        if isinstance(e, dict)
    )
    return DeadLetter(int(row[0]), row[1], row[2], row[3], errors, row[5], row[6])


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def list_dead_letters(
    engine: Engine,
    limit: int | None = 50,
    reason_like: str | None = None,
    source: str | None = None,
    since: datetime | None = None,
) -> list[DeadLetter]:
    """Newest (highest id) first. ``reason_like`` is a case-insensitive substring, not a
    pattern; ``limit=None`` returns every match (an export)."""
    where: list[str] = []
    params: list[Any] = []
    if reason_like:
        where.append("reason ILIKE %s")
        params.append(f"%{_like_escape(reason_like)}%")
    if source is not None:
        where.append("source = %s")
        params.append(source)
    if since is not None:
        where.append("received_at >= %s")
        params.append(since)
    # Ordered by id rather than received_at: the primary key index serves a LIMIT on a large
    # table, and ids follow arrival order.
    sql = f"SELECT {_COLUMNS} FROM dead_letters"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY id DESC"
    if limit is not None:
        sql += " LIMIT %s"
        params.append(limit)
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(sql, tuple(params)).fetchall()
    return [_row(r) for r in rows]


def get(engine: Engine, dead_letter_id: int) -> DeadLetter | None:
    with engine.connect() as conn:
        row = conn.exec_driver_sql(
            f"SELECT {_COLUMNS} FROM dead_letters WHERE id = %s", (dead_letter_id,)
        ).fetchone()
    return _row(row) if row is not None else None


def count(engine: Engine, older_than: timedelta | None = None) -> int:
    """How many dead letters there are (received more than ``older_than`` ago, if given)."""
    sql, params = "SELECT count(*) FROM dead_letters", []
    if older_than is not None:
        sql, params = sql + " WHERE received_at < now() - %s", [older_than]
    with engine.connect() as conn:
        return int(conn.exec_driver_sql(sql, tuple(params)).scalar_one())


def existing_ids(engine: Engine, ids: Sequence[int]) -> set[int]:
    """Which of ``ids`` exist, so the CLI can name an unknown id before changing anything."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT id FROM dead_letters WHERE id = ANY(%s)", (list(ids),)
        ).fetchall()
    return {int(r[0]) for r in rows}


def replace_payload(engine: Engine, dead_letter_id: int, payload: Any) -> bool:
    """Store a corrected payload; False if the id does not exist. Validates nothing (replay
    does). ``payload_key`` stays: it names the message as it arrived, so a redelivery of the
    original bad message is still recognised as already kept."""
    text = json_text(payload)
    with engine.begin() as conn:
        result = conn.exec_driver_sql(
            "UPDATE dead_letters SET payload = %s WHERE id = %s RETURNING id",
            (text, dead_letter_id),
        ).fetchone()
    return result is not None


def delete(engine: Engine, ids: Sequence[int]) -> list[int]:
    """Delete the given dead letters; returns the ids that existed and were deleted."""
    if not ids:
        return []
    with engine.begin() as conn:
        rows = conn.exec_driver_sql(
            "DELETE FROM dead_letters WHERE id = ANY(%s) RETURNING id", (sorted(set(ids)),)
        ).fetchall()
    return sorted(int(r[0]) for r in rows)


def purge(engine: Engine, older_than: timedelta | None) -> int:
    """Delete dead letters received more than ``older_than`` ago (all when None); how many.

    The cut-off uses the database clock, the same clock that set ``received_at``."""
    sql, params = "DELETE FROM dead_letters", []
    if older_than is not None:
        sql, params = sql + " WHERE received_at < now() - %s", [older_than]
    with engine.begin() as conn:
        return conn.exec_driver_sql(sql, tuple(params)).rowcount


def replay(
    engine: Engine,
    ids: Sequence[int] | None,
    now: datetime | None = None,
    chunk_size: int = REPLAY_CHUNK,
) -> ReplayReport:
    """Re-validate and re-ingest the given dead letters (all when ``ids`` is None), in id order.

    Raises a transient database error as is: chunks committed before it stay committed, and
    running the replay again is safe.
    """
    now = now or datetime.now(UTC)
    report = ReplayReport()
    if ids is None:
        for chunk in _all_id_chunks(engine, chunk_size):
            # A row deleted between listing and locking is not "missing": nobody asked for it.
            report += replace(_replay_chunk(engine, chunk, now), missing=())
        return report
    wanted = sorted(set(ids))
    for start in range(0, len(wanted), chunk_size):
        report += _replay_chunk(engine, wanted[start : start + chunk_size], now)
    return report


def _all_id_chunks(engine: Engine, chunk_size: int) -> Iterator[list[int]]:
    # Bounded by the highest id at the start, so dead letters that workers keep adding during
    # a long replay cannot keep it running forever; still-invalid rows are passed by keyset.
    with engine.connect() as conn:
        high = conn.exec_driver_sql("SELECT max(id) FROM dead_letters").scalar_one()
    if high is None:
        return
    last = 0
    while True:
        with engine.connect() as conn:
            chunk = [
                int(r[0])
                for r in conn.exec_driver_sql(
                    "SELECT id FROM dead_letters WHERE id > %s AND id <= %s ORDER BY id LIMIT %s",
                    (last, high, chunk_size),
                )
            ]
        if not chunk:
            return
        yield chunk
        last = chunk[-1]


def _replay_chunk(engine: Engine, ids: list[int], now: datetime) -> ReplayReport:
    """One transaction for the chunk; a chunk that fails for a non-transient reason (an event
    the database refuses) is halved until the failing row is found, as Ingestor does, so one
    such row cannot block every later replay of ``--all``."""
    try:
        with engine.begin() as conn:
            report = _replay_locked(conn, ids, now)
        return report
    except Exception as exc:
        if is_transient(exc):
            raise
        if len(ids) > 1:
            half = len(ids) // 2
            return _replay_chunk(engine, ids[:half], now) + _replay_chunk(engine, ids[half:], now)
        log.error("dead letter %d could not be replayed: %s", ids[0], exc)
        return _mark_internal_error(engine, ids[0], exc)


def _replay_locked(conn: Connection, ids: list[int], now: datetime) -> ReplayReport:
    rows = conn.exec_driver_sql(_LOCK_CHUNK, (ids,)).fetchall()
    found = {int(r[0]) for r in rows}
    valid: list[tuple[int, ValidEvent]] = []
    invalid: list[tuple[int, Rejection]] = []
    for row in rows:
        result = _revalidate(row[1], now)
        if isinstance(result, ValidEvent):
            valid.append((int(row[0]), result))
        else:
            invalid.append((int(row[0]), result))
    ingested = duplicates = 0
    # Ingest first, then delete and update: once this transaction has deleted or updated a
    # dead-letter row, a worker inserting the same payload_key waits for it, so it must not
    # then wait for anything a worker holds (that order could deadlock).
    if valid:
        counts = ingest_batch(conn, [e for _, e in valid], [], source=REPLAY_SOURCE)
        ingested, duplicates = counts.inserted, counts.duplicates
        conn.exec_driver_sql(
            "DELETE FROM dead_letters WHERE id = ANY(%s)", ([i for i, _ in valid],)
        )
    if invalid:
        conn.exec_driver_sql(
            _UPDATE_REASONS,
            (
                [i for i, _ in invalid],
                [r.reason for _, r in invalid],
                [errors_json(r.errors) for _, r in invalid],
            ),
        )
    return ReplayReport(
        selected=len(rows),
        ingested=ingested,
        duplicates=duplicates,
        still_invalid_ids=tuple(i for i, _ in invalid),
        missing=tuple(i for i in ids if i not in found),
    )


def _revalidate(text: str, now: datetime) -> ValidEvent | Rejection:
    # Only a payload edited outside routelearn can be unparseable: it stores JSON text.
    payload = decode_payload(text, "(payload)")
    if isinstance(payload, Rejection):
        return payload
    valid, rejected = validate_batch([payload], now)
    return valid[0] if valid else rejected[0]


def _mark_internal_error(engine: Engine, dead_letter_id: int, exc: BaseException) -> ReplayReport:
    first_line = str(exc).splitlines()[0] if str(exc) else ""
    error = FieldError("(event)", "(replay)", f"internal error: {type(exc).__name__}: {first_line}")
    with engine.begin() as conn:
        row = conn.exec_driver_sql(
            "UPDATE dead_letters SET reason = %s, errors = %s::jsonb WHERE id = %s RETURNING id",
            (str(error), errors_json((error,)), dead_letter_id),
        ).fetchone()
    if row is None:
        return ReplayReport(missing=(dead_letter_id,))
    return ReplayReport(selected=1, still_invalid_ids=(dead_letter_id,))


def errors_json(errors: Sequence[FieldError]) -> str:
    """The ``errors`` column's JSON, in the form insert_dead_letters writes."""
    return json.dumps([{"field": e.field, "value": e.value, "message": e.message} for e in errors])


def json_text(value: Any, indent: int | None = None) -> str:
    """JSON as payload_text writes it (non-ASCII kept), but raising on a value that is not JSON
    rather than storing its repr, and ASCII-escaped when it holds a lone surrogate (``"\\ud800"``
    in the input), which neither PostgreSQL nor a terminal can take as UTF-8."""
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return json.dumps(value, indent=indent)
    return text


def _short(text: str) -> str:
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 3] + "..."
