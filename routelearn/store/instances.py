"""The instance registry: instances register by their events; operators register or retire."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, text


@dataclass(frozen=True, slots=True)
class Instance:
    instance_id: str
    first_seen_at: datetime
    last_seen_at: datetime | None
    active: bool
    registered_by: str
    retired_at: datetime | None


_COLUMNS = "instance_id, first_seen_at, last_seen_at, active, registered_by, retired_at"


def list_instances(engine: Engine, include_retired: bool = False) -> list[Instance]:
    where = "" if include_retired else "WHERE active"
    with engine.connect() as conn:
        rows = conn.execute(
            text(f"SELECT {_COLUMNS} FROM instances {where} ORDER BY instance_id")
        ).fetchall()
    return [Instance(*row) for row in rows]


def active_ids(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return list(
            conn.execute(
                text("SELECT instance_id FROM instances WHERE active ORDER BY instance_id")
            ).scalars()
        )


def register(engine: Engine, instance_id: str) -> bool:
    """Register (or re-activate) an instance before its first event; True if it was new."""
    with engine.begin() as conn:
        row = conn.execute(
            text(
                "INSERT INTO instances AS i (instance_id, registered_by) VALUES (:id, 'operator') "
                "ON CONFLICT (instance_id) DO UPDATE SET active = true, retired_at = NULL "
                "RETURNING (xmax = 0) AS inserted"
            ),
            {"id": instance_id},
        ).one()
    return bool(row.inserted)


def retire(engine: Engine, instance_id: str) -> bool:
    """Stop delivering to an instance (its events are still ingested); False if unknown."""
    with engine.begin() as conn:
        result = conn.execute(
            text(
                "UPDATE instances SET active = false, retired_at = coalesce(retired_at, now()) "
                "WHERE instance_id = :id"
            ),
            {"id": instance_id},
        )
    return result.rowcount == 1
