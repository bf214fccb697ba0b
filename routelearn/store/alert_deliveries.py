"""The alert webhook's delivery state (``webhook_deliveries``), one row per anomaly notice.

The notices themselves are the sweep's outbox (``anomaly_events``); a delivery run first enrolls
the ones it has not seen (no older than the give-up age), then takes the due ones in outbox
order, skipping a notice while an earlier one of the same anomaly is still pending (so a
receiver never sees an anomaly closed before it saw it opened). One run at a time: a session
advisory lock, held by the caller for the whole run (``delivery_lock``).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from routelearn.domain.alert_delivery import DeliveryStatus

DELIVERY_LOCK = 0x524C_4457  # "RLDW"


@contextmanager
def delivery_lock(engine: Engine) -> Iterator[bool]:
    """True while this run holds the lock (False: another run does); released at exit, or
    with the connection if the process dies."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        held = bool(
            conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": DELIVERY_LOCK}).scalar_one()
        )
        try:
            yield held
        finally:
            if held:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": DELIVERY_LOCK})


def enroll(conn: Connection, max_age_seconds: float) -> int:
    """Start tracking every notice younger than the give-up age that has no delivery row yet;
    returns how many. (Older ones were written while no run happened for that long: they
    would only be given up.)"""
    result = conn.execute(
        text(
            "INSERT INTO webhook_deliveries (event_id, anomaly_id, next_attempt_at)"
            " SELECT e.id, e.anomaly_id, e.created_at FROM anomaly_events e"
            " WHERE e.created_at > now() - make_interval(secs => :age)"
            " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries d WHERE d.event_id = e.id)"
            " ORDER BY e.id ON CONFLICT (event_id) DO NOTHING"
        ),
        {"age": max_age_seconds},
    )
    return int(result.rowcount or 0)


@dataclass(frozen=True, slots=True)
class DueNotice:
    event_id: int
    anomaly_id: str
    event: str
    payload: Mapping[str, Any]
    created_at: datetime
    attempts: int
    last_error: str | None


def due(conn: Connection, now: datetime, limit: int = 100) -> list[DueNotice]:
    """Pending notices whose next attempt is due at ``now``, oldest first, each the earliest
    pending one of its anomaly."""
    rows = conn.execute(
        text(
            "SELECT d.event_id, d.anomaly_id, e.event, e.payload, e.created_at, d.attempts,"
            " d.last_error FROM webhook_deliveries d JOIN anomaly_events e ON e.id = d.event_id"
            " WHERE d.status = 'pending' AND d.next_attempt_at <= :now"
            " AND NOT EXISTS (SELECT 1 FROM webhook_deliveries p WHERE p.status = 'pending'"
            "                 AND p.anomaly_id = d.anomaly_id AND p.event_id < d.event_id)"
            " ORDER BY d.event_id LIMIT :n"
        ),
        {"now": now, "n": limit},
    )
    return [DueNotice(*row) for row in rows]


def record(
    conn: Connection,
    event_id: int,
    status: DeliveryStatus,
    *,
    attempted: bool,
    next_attempt_at: datetime | None = None,
    error: str | None = None,
) -> None:
    """The outcome of an attempt (``attempted``), or of a notice given up without one."""
    conn.execute(
        text(
            "UPDATE webhook_deliveries SET status = :status,"
            " attempts = attempts + CAST(:attempted AS int),"
            " last_attempt_at = CASE WHEN :attempted THEN now() ELSE last_attempt_at END,"
            " next_attempt_at = COALESCE(:next, next_attempt_at),"
            " delivered_at = CASE WHEN :delivered THEN now() END,"
            " failed_at = CASE WHEN :failed THEN now() END,"
            " last_error = COALESCE(:error, last_error)"
            " WHERE event_id = :id"
        ),
        {
            "id": event_id,
            "status": status.value,
            "delivered": status is DeliveryStatus.DELIVERED,
            "failed": status is DeliveryStatus.FAILED,
            "attempted": attempted,
            "next": next_attempt_at,
            "error": error,
        },
    )


@dataclass(frozen=True, slots=True)
class Delivery:
    event_id: int
    anomaly_id: str
    event: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None
    failed_at: datetime | None
    last_error: str | None


def list_deliveries(engine: Engine, status: str | None = None, limit: int = 100) -> list[Delivery]:
    """Newest first; ``status`` one of pending, delivered, failed (None: all)."""
    where = "WHERE d.status = :status" if status else ""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT d.event_id, d.anomaly_id, e.event, d.status, d.attempts, e.created_at,"
                " d.next_attempt_at, d.last_attempt_at, d.delivered_at, d.failed_at, d.last_error"
                f" FROM webhook_deliveries d JOIN anomaly_events e ON e.id = d.event_id {where}"
                " ORDER BY d.event_id DESC LIMIT :n"
            ),
            {"status": status, "n": limit},
        )
        return [Delivery(*row) for row in rows]
