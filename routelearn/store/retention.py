"""Partition upkeep and retention: create day partitions ahead, drop the expired ones, prune.

Runs hourly from beat (``routelearn.maintain_partitions``) and by ``routelearn db maintain``;
an advisory lock makes a second run at the same time a no-op. Every step is idempotent, so a run
cut short is finished by the next one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import Connection, Engine, text

from routelearn.domain.partitions import (
    PartitionPlan,
    bounds,
    day_of,
    partition_name,
    plan_partitions,
)
from routelearn.store.tables import DEFAULT_PARTITION

MAINTENANCE_LOCK = 0x524C_4D41  # "RLMA": one maintenance run at a time
_PRUNE_BATCH = 20_000
# Creating or dropping a partition locks the parent briefly; never queue behind long readers
# (and make every ingesting worker queue behind us) for more than this.
_LOCK_TIMEOUT = "5s"

_IN_DAY = "timestamp >= :lo AND timestamp < :hi"

_PARTITIONS = """
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = 'routing_records' AND p.relnamespace = to_regnamespace(current_schema())
"""


@dataclass(frozen=True, slots=True)
class MaintenanceResult:
    ran: bool  # False: another run held the lock
    plan: PartitionPlan | None = None
    created: tuple[str, ...] = ()
    dropped: tuple[str, ...] = ()
    moved_from_default: int = 0  # rows the default partition held for a day now created
    pruned: dict[str, int] = field(default_factory=dict)  # table -> rows deleted


def existing_partitions(conn: Connection) -> list[date]:
    names = conn.execute(text(_PARTITIONS)).scalars()
    return sorted(day for day in map(day_of, names) if day is not None)


def _create(conn: Connection, day: date) -> int:
    """Create one day's partition. Rows the default partition caught for that day (events that
    arrived while the partition was missing) move into it, in the same transaction."""
    name, (low, high) = partition_name(day), bounds(day)
    conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
    stray = conn.execute(
        text(
            f"SELECT count(*) FROM {DEFAULT_PARTITION} WHERE timestamp >= :lo AND timestamp < :hi"
        ),
        {"lo": low, "hi": high},
    ).scalar_one()
    spec = f"FOR VALUES FROM ('{low.isoformat()}') TO ('{high.isoformat()}')"
    if not stray:
        conn.execute(text(f"CREATE TABLE {name} PARTITION OF routing_records {spec}"))
        return 0
    conn.execute(text(f"CREATE TABLE {name} (LIKE routing_records INCLUDING DEFAULTS)"))
    conn.execute(
        text(
            f"WITH moved AS (DELETE FROM {DEFAULT_PARTITION} WHERE {_IN_DAY} RETURNING *) "
            f"INSERT INTO {name} SELECT * FROM moved"
        ),
        {"lo": low, "hi": high},
    )
    conn.execute(text(f"ALTER TABLE routing_records ATTACH PARTITION {name} {spec}"))
    return int(stray)


def _prune(engine: Engine, table: str, column: str, cutoff: datetime) -> int:
    """Delete rows older than ``cutoff`` in short transactions, so no lock is held for long."""
    total = 0
    while True:
        with engine.begin() as conn:
            deleted = conn.execute(
                text(
                    f"DELETE FROM {table} WHERE ctid = ANY(ARRAY("
                    f"SELECT ctid FROM {table} WHERE {column} < :cutoff LIMIT {_PRUNE_BATCH}))"
                ),
                {"cutoff": cutoff},
            ).rowcount
        total += deleted
        if deleted < _PRUNE_BATCH:
            return total


def maintain(
    engine: Engine,
    *,
    days_ahead: int,
    retention_days: int,
    rollup_retention_days: int,
    now: datetime | None = None,
) -> MaintenanceResult:
    with engine.connect() as lock_conn:
        if not lock_conn.execute(
            text("SELECT pg_try_advisory_lock(:k)"), {"k": MAINTENANCE_LOCK}
        ).scalar_one():
            return MaintenanceResult(ran=False)
        try:
            if now is None:
                now = lock_conn.execute(text("SELECT now()")).scalar_one()
            lock_conn.commit()
            return _maintain(engine, now, days_ahead, retention_days, rollup_retention_days)
        finally:
            lock_conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": MAINTENANCE_LOCK})
            lock_conn.commit()


def _maintain(
    engine: Engine, now: datetime, days_ahead: int, retention_days: int, rollup_days: int
) -> MaintenanceResult:
    with engine.connect() as conn:
        plan = plan_partitions(existing_partitions(conn), now, days_ahead, retention_days)
    created: list[str] = []
    moved = 0
    for day in plan.create:
        with engine.begin() as conn:  # one day per transaction: a lock timeout loses one day
            moved += _create(conn, day)
        created.append(partition_name(day))
    dropped: list[str] = []
    for day in plan.drop:
        with engine.begin() as conn:
            conn.execute(text(f"SET LOCAL lock_timeout = '{_LOCK_TIMEOUT}'"))
            conn.execute(text(f"DROP TABLE IF EXISTS {partition_name(day)}"))
        dropped.append(partition_name(day))
    rollup_cutoff = now - timedelta(days=rollup_days)
    pruned = {
        DEFAULT_PARTITION: _prune(engine, DEFAULT_PARTITION, "timestamp", plan.cutoff),
        "routing_decisions": _prune(engine, "routing_decisions", "first_seen_at", plan.cutoff),
        "routing_rollups_hourly": _prune(engine, "routing_rollups_hourly", "hour", rollup_cutoff),
        # The routing policy's rollups (usage, workspaces, spend) are kept as long.
        "usage_rollups_hourly": _prune(engine, "usage_rollups_hourly", "hour", rollup_cutoff),
        "workspace_rollups_hourly": _prune(
            engine, "workspace_rollups_hourly", "hour", rollup_cutoff
        ),
        "workspace_spend": _prune(engine, "workspace_spend", "quarter", rollup_cutoff),
        "anomalies": _prune(engine, "anomalies", "closed_at", plan.cutoff),
        "anomaly_events": _prune(engine, "anomaly_events", "published_at", plan.cutoff),
    }
    return MaintenanceResult(True, plan, tuple(created), tuple(dropped), moved, pruned)
