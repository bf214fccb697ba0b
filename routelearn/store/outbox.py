"""The outboxes the fan-out drains (``registry_changes``, ``policy_changes``): a change is
written in the transaction that makes it, and sent after the commit; these read the unsent rows
and mark them sent."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, func, select, update


def unsent(conn: Connection, table: Table, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    """The outbox's unsent rows (id, message), oldest first, locked for the caller's
    transaction; SKIP LOCKED lets a second sender take the next ones meanwhile."""
    rows = conn.execute(
        select(table.c.id, table.c.payload)
        .where(table.c.sent_at.is_(None))
        .order_by(table.c.id)
        .limit(limit)
        .with_for_update(skip_locked=True)
    ).all()
    return [(row.id, row.payload) for row in rows]


def mark_sent(conn: Connection, table: Table, ids: Sequence[int]) -> None:
    if ids:
        conn.execute(update(table).where(table.c.id.in_(list(ids))).values(sent_at=func.now()))
