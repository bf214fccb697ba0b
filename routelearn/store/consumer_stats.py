"""Per-worker-process consumer statistics (seed 000's consumer state), kept in PostgreSQL."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection, Engine

from routelearn.store.ingest import BatchCounts

_RECORD_BATCH = """
INSERT INTO consumer_stats AS s (worker, started_at, updated_at, batches, processed,
    duplicates, dead_lettered, consecutive_errors)
VALUES (%s, %s, now(), 1, %s, %s, %s, 0)
ON CONFLICT (worker) DO UPDATE SET
    updated_at = now(), batches = s.batches + 1,
    processed = s.processed + excluded.processed,
    duplicates = s.duplicates + excluded.duplicates,
    dead_lettered = s.dead_lettered + excluded.dead_lettered,
    consecutive_errors = 0
"""

_RECORD_ERROR = """
INSERT INTO consumer_stats AS s (worker, started_at, updated_at, errors, consecutive_errors,
    last_error, last_error_at)
VALUES (%s, %s, now(), %s, %s, %s, %s)
ON CONFLICT (worker) DO UPDATE SET
    updated_at = now(), errors = s.errors + excluded.errors,
    consecutive_errors = excluded.consecutive_errors,
    last_error = excluded.last_error, last_error_at = excluded.last_error_at
"""


@dataclass(frozen=True, slots=True)
class ConsumerStats:
    worker: str
    started_at: datetime
    updated_at: datetime
    batches: int
    processed: int
    duplicates: int
    dead_lettered: int
    errors: int
    consecutive_errors: int
    last_error: str | None
    last_error_at: datetime | None


def record_batch(conn: Connection, worker: str, started_at: datetime, counts: BatchCounts) -> None:
    """Count a batch inside its own transaction, so the statistics are exactly what committed."""
    conn.exec_driver_sql(
        _RECORD_BATCH, (worker, started_at, counts.received, counts.duplicates, counts.rejected)
    )


def record_errors(
    engine: Engine,
    worker: str,
    started_at: datetime,
    errors: int,
    consecutive: int,
    last_error: str,
    last_error_at: datetime,
) -> None:
    """Add ``errors`` unreported errors; raises if the database is still down (caller retries)."""
    with engine.begin() as conn:
        conn.exec_driver_sql(
            _RECORD_ERROR,
            (worker, started_at, errors, consecutive, last_error[:2000], last_error_at),
        )


def list_stats(engine: Engine) -> list[ConsumerStats]:
    with engine.connect() as conn:
        rows = conn.exec_driver_sql(
            "SELECT worker, started_at, updated_at, batches, processed, duplicates, dead_lettered,"
            " errors, consecutive_errors, last_error, last_error_at"
            " FROM consumer_stats ORDER BY updated_at DESC"
        ).fetchall()
    return [ConsumerStats(*row) for row in rows]
