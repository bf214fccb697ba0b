"""The central model registry in PostgreSQL (tables ``models``, ``model_endpoints``,
``model_health_reports``) and its outbox of changes (``registry_changes``).

Every write that changes what an instance sees of a model (registered, replaced, status,
removed) takes a new version from ``registry_version_seq`` and writes the change to the outbox
in the same transaction; ``routelearn.fan_out_registry`` sends the outbox to the instances after
the commit. Nothing is half-applied: each call is one transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select
from sqlalchemy.dialects.postgresql import insert as pg_insert

from routelearn.domain.registry import (
    ModelExists,
    ModelRecord,
    ModelStatus,
    RegistryChange,
    UnknownModels,
)
from routelearn.store import outbox
from routelearn.store.tables import (
    model_endpoints,
    model_health_reports,
    models,
    registry_changes,
    registry_version_seq,
)


@dataclass(frozen=True, slots=True)
class StoredModel:
    record: ModelRecord
    version: int
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Endpoint:
    url: str
    type: str
    weight: float
    health_check_url: str | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class HealthReport:
    status: str
    response_time_ms: float | None
    error_rate: float | None
    availability: float | None
    reported_by: str | None
    reported_at: datetime


def _stored(row: Any) -> StoredModel:
    m = row._mapping
    return StoredModel(
        ModelRecord.model_validate(m["record"]), m["version"], m["created_at"], m["updated_at"]
    )


_MODEL_COLUMNS = (models.c.record, models.c.version, models.c.created_at, models.c.updated_at)


def _write(conn: Connection, record: ModelRecord, *, create_only: bool) -> StoredModel:
    """Insert or replace one model at a new version, with its outbox row."""
    version = conn.execute(select(registry_version_seq.next_value())).scalar_one()
    values = {
        "model_id": record.id,
        "provider": record.provider,
        "model_type": record.model_type,
        "status": record.status.value,
        "tags": list(record.tags),
        "record": record.document(),
        "version": version,
    }
    statement = pg_insert(models).values(**values)
    if create_only:
        statement = statement.on_conflict_do_nothing(index_elements=[models.c.model_id])
    else:
        statement = statement.on_conflict_do_update(
            index_elements=[models.c.model_id], set_={**values, "updated_at": func.now()}
        )
    row = conn.execute(statement.returning(*_MODEL_COLUMNS)).first()
    if row is None:
        raise ModelExists(record.id)
    stored = _stored(row)
    _outbox(conn, RegistryChange.of(record, version, stored.updated_at))
    return stored


def _outbox(conn: Connection, change: RegistryChange) -> None:
    conn.execute(
        insert(registry_changes).values(
            model_id=change.model, version=change.version, payload=change.to_message()
        )
    )


def register(engine: Engine, record: ModelRecord) -> StoredModel:
    """A new model; ModelExists if its modelId is taken."""
    with engine.begin() as conn:
        return _write(conn, record, create_only=True)


def replace_model(engine: Engine, record: ModelRecord) -> StoredModel:
    """Register or replace the whole record (``PUT``)."""
    with engine.begin() as conn:
        return _write(conn, record, create_only=False)


def get(engine: Engine, model_id: str) -> StoredModel | None:
    with engine.connect() as conn:
        row = conn.execute(select(*_MODEL_COLUMNS).where(models.c.model_id == model_id)).first()
    return None if row is None else _stored(row)


def list_models(
    engine: Engine,
    *,
    provider: str | None = None,
    status: str | None = None,
    model_type: str | None = None,
    tag: str | None = None,
) -> list[StoredModel]:
    query = select(*_MODEL_COLUMNS).order_by(models.c.model_id)
    if provider is not None:
        query = query.where(models.c.provider == provider)
    if status is not None:
        query = query.where(models.c.status == status)
    if model_type is not None:
        query = query.where(models.c.model_type == model_type)
    if tag is not None:
        query = query.where(models.c.tags.any_() == tag)
    with engine.connect() as conn:
        return [_stored(row) for row in conn.execute(query)]


def set_status(
    engine: Engine, statuses: Mapping[str, ModelStatus]
) -> tuple[list[StoredModel], int]:
    """Set each model's status, all or nothing: UnknownModels (and no change) if any is not
    registered. A model whose status is already the one asked is left as it is (no new
    version, nothing sent). Returns every model asked for, and how many changed."""
    with engine.begin() as conn:
        ids = sorted(statuses)  # lock order
        rows = conn.execute(
            select(*_MODEL_COLUMNS, models.c.model_id)
            .where(models.c.model_id.in_(ids))
            .order_by(models.c.model_id)
            .with_for_update()
        ).all()
        found = {row.model_id: _stored(row) for row in rows}
        missing = [i for i in ids if i not in found]
        if missing:
            raise UnknownModels(missing)
        result = []
        changed = 0
        for model_id in ids:
            current = found[model_id]
            if current.record.status == statuses[model_id]:
                result.append(current)
                continue
            record = current.record.model_copy(update={"status": statuses[model_id]})
            result.append(_write(conn, record, create_only=False))
            changed += 1
        return result, changed


def remove(engine: Engine, model_id: str) -> None:
    """Delete a model with its endpoints and health reports; instances are told it is gone.
    Its scores stay (they are the fleet's history, and come back if it is registered again)."""
    with engine.begin() as conn:
        row = conn.execute(
            delete(models).where(models.c.model_id == model_id).returning(models.c.record)
        ).first()
        if row is None:
            raise UnknownModels([model_id])
        version = conn.execute(select(registry_version_seq.next_value())).scalar_one()
        now = datetime.now(UTC)
        record = ModelRecord.model_validate(row.record)
        _outbox(conn, RegistryChange.of(record, version, now).removed(version, now))


def import_records(conn: Connection, records: Iterable[ModelRecord]) -> int:
    """Register or update ``records`` inside the caller's transaction (``catalog import``).

    A model not registered yet is registered as given. For one that is, only what a catalog
    file holds is taken (provider, capabilities, prices, context window, typical latency),
    and the status only to take a model out of service: a file that disables a model makes it
    inactive, but a file that enables it does not bring back a model an operator took out of
    service through the API. The seed's other fields (name, version, modelType, parameters,
    tags) stay as registered. Returns how many models changed."""
    wanted = {record.id: record for record in records}
    if not wanted:
        return 0
    rows = conn.execute(
        select(models.c.model_id, models.c.record)
        .where(models.c.model_id.in_(sorted(wanted)))
        .with_for_update()
    ).all()
    held = {row.model_id: ModelRecord.model_validate(row.record) for row in rows}
    changed = 0
    for model_id in sorted(wanted):
        new, old = wanted[model_id], held.get(model_id)
        if old is not None:
            by_type = {c.type: c for c in old.capabilities}
            new = old.model_copy(
                update={
                    "provider": new.provider,
                    # A capability keeps its registered maxTokens; the file has none.
                    "capabilities": tuple(by_type.get(c.type, c) for c in new.capabilities),
                    "prices": new.prices,
                    "context_window": new.context_window,
                    "typical_latency_ms": new.typical_latency_ms,
                    "status": (new.status if new.status != ModelStatus.ACTIVE else old.status),
                }
            )
            if new == old:
                continue
        _write(conn, new, create_only=False)
        changed += 1
    return changed


def put_records(conn: Connection, records: Iterable[ModelRecord]) -> tuple[int, int]:
    """Register or replace each record whole, in the caller's transaction (``config import``);
    one equal to the registered record is left as it is (no new version). Returns (added,
    changed)."""
    wanted = {record.id: record for record in records}
    if not wanted:
        return 0, 0
    rows = conn.execute(
        select(models.c.model_id, models.c.record)
        .where(models.c.model_id.in_(sorted(wanted)))
        .order_by(models.c.model_id)
        .with_for_update()
    ).all()
    held = {row.model_id: ModelRecord.model_validate(row.record) for row in rows}
    added = changed = 0
    for model_id in sorted(wanted):
        old = held.get(model_id)
        if old == wanted[model_id]:
            continue
        _write(conn, wanted[model_id], create_only=False)
        if old is None:
            added += 1
        else:
            changed += 1
    return added, changed


def all_records(conn: Connection) -> list[ModelRecord]:
    rows = conn.execute(select(models.c.record).order_by(models.c.model_id)).scalars()
    return [ModelRecord.model_validate(record) for record in rows]


def all_endpoints(conn: Connection) -> dict[str, list[Endpoint]]:
    rows = conn.execute(
        select(model_endpoints.c.model_id, *_ENDPOINT_COLUMNS).order_by(
            model_endpoints.c.model_id, model_endpoints.c.url
        )
    ).all()
    found: dict[str, list[Endpoint]] = {}
    for row in rows:
        found.setdefault(row[0], []).append(Endpoint(*row[1:]))
    return found


def current_changes(conn: Connection) -> list[RegistryChange]:
    """Every registered model as a change at its current version: the registry part of a
    snapshot for an instance that was away."""
    rows = conn.execute(
        select(models.c.record, models.c.version, models.c.updated_at).order_by(models.c.model_id)
    ).all()
    return [
        RegistryChange.of(ModelRecord.model_validate(r.record), r.version, r.updated_at)
        for r in rows
    ]


def unsent_changes(conn: Connection, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    return outbox.unsent(conn, registry_changes, limit)


def mark_sent(conn: Connection, ids: Sequence[int]) -> None:
    outbox.mark_sent(conn, registry_changes, ids)


# -- endpoints and health reports ---------------------------------------------------------------


def _require(conn: Connection, model_id: str) -> None:
    found = conn.execute(select(models.c.model_id).where(models.c.model_id == model_id)).first()
    if found is None:
        raise UnknownModels([model_id])


def add_endpoint(
    engine: Engine,
    model_id: str,
    url: str,
    type_: str,
    weight: float,
    health_check_url: str | None,
) -> Endpoint:
    """Add an endpoint, or replace the one with the same URL."""
    with engine.begin() as conn:
        _require(conn, model_id)
        return put_endpoint(conn, model_id, url, type_, weight, health_check_url)


def put_endpoint(
    conn: Connection,
    model_id: str,
    url: str,
    type_: str,
    weight: float,
    health_check_url: str | None,
) -> Endpoint:
    """``add_endpoint`` in the caller's transaction, the model known to exist."""
    values = {"type": type_, "weight": weight, "health_check_url": health_check_url}
    row = conn.execute(
        pg_insert(model_endpoints)
        .values(model_id=model_id, url=url, **values)
        .on_conflict_do_update(constraint="uq_model_endpoints_url", set_=values)
        .returning(*_ENDPOINT_COLUMNS)
    ).one()
    return Endpoint(*row)


_ENDPOINT_COLUMNS = (
    model_endpoints.c.url,
    model_endpoints.c.type,
    model_endpoints.c.weight,
    model_endpoints.c.health_check_url,
    model_endpoints.c.created_at,
)


def endpoints(engine: Engine, model_id: str) -> list[Endpoint]:
    with engine.connect() as conn:
        _require(conn, model_id)
        rows = conn.execute(
            select(*_ENDPOINT_COLUMNS)
            .where(model_endpoints.c.model_id == model_id)
            .order_by(model_endpoints.c.weight.desc(), model_endpoints.c.url)
        ).all()
    return [Endpoint(*row) for row in rows]


_HEALTH_COLUMNS = (
    model_health_reports.c.status,
    model_health_reports.c.response_time_ms,
    model_health_reports.c.error_rate,
    model_health_reports.c.availability,
    model_health_reports.c.reported_by,
    model_health_reports.c.reported_at,
)


def add_health(
    engine: Engine,
    model_id: str,
    status: str,
    response_time_ms: float | None,
    error_rate: float | None,
    availability: float | None,
    reported_by: str | None,
) -> HealthReport:
    with engine.begin() as conn:
        _require(conn, model_id)
        row = conn.execute(
            insert(model_health_reports)
            .values(
                model_id=model_id,
                status=status,
                response_time_ms=response_time_ms,
                error_rate=error_rate,
                availability=availability,
                reported_by=reported_by,
            )
            .returning(*_HEALTH_COLUMNS)
        ).one()
    return HealthReport(*row)


def health_reports(engine: Engine, model_id: str, limit: int = 20) -> list[HealthReport]:
    """The newest first."""
    with engine.connect() as conn:
        _require(conn, model_id)
        rows = conn.execute(
            select(*_HEALTH_COLUMNS)
            .where(model_health_reports.c.model_id == model_id)
            .order_by(model_health_reports.c.reported_at.desc(), model_health_reports.c.id.desc())
            .limit(limit)
        ).all()
    return [HealthReport(*row) for row in rows]


def latest_health_reports(engine: Engine) -> dict[str, HealthReport]:
    """Each registered model's newest health report, by modelId (a model without one is
    absent): one query, however many models."""
    reports = model_health_reports.c
    with engine.connect() as conn:
        rows = conn.execute(
            select(reports.model_id, *_HEALTH_COLUMNS)
            .distinct(reports.model_id)
            .order_by(reports.model_id, reports.reported_at.desc(), reports.id.desc())
        ).all()
    return {row[0]: HealthReport(*row[1:]) for row in rows}
