"""The routing policy in PostgreSQL (table ``routing_policy``) and its outbox (``policy_changes``).

Every write takes a new version from ``policy_version_seq`` and writes the change to the outbox
in the same transaction; ``routelearn.fan_out_registry`` sends it to the instances after the
commit. A piece that names models is checked against the registry in that transaction, the
models' rows locked against a concurrent removal: a rule never points at a model that was never
registered. Nothing is half-applied: each call is one transaction.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, insert, select, text
from sqlalchemy.dialects.postgresql import insert as pg_insert

from routelearn.domain.routing_policy.change import PolicyChange, PolicyKind
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    RoutingRule,
    RuleSpec,
    WorkspaceConfig,
    model_references,
)
from routelearn.domain.routing_policy.engine import PolicyState
from routelearn.errors import RouteLearnError
from routelearn.store import outbox
from routelearn.store.tables import models, policy_changes, policy_version_seq, routing_policy


class UnknownReferences(RouteLearnError, LookupError):
    """A piece names models the registry does not hold: (field path, modelId) each."""

    def __init__(self, missing: list[tuple[str, str]]) -> None:
        names = ", ".join(f"{path}={model!r}" for path, model in missing)
        super().__init__(f"not in the registry: {names}")
        self.missing = missing


class PolicyNotFound(RouteLearnError, LookupError):
    def __init__(self, kind: PolicyKind, key: str) -> None:
        super().__init__(f"no {kind.value} {key!r}")
        self.kind = kind
        self.key = key


@dataclass(frozen=True, slots=True)
class Stored:
    kind: PolicyKind
    key: str
    document: dict[str, Any]
    version: int
    created_at: datetime
    updated_at: datetime


_COLUMNS = (
    routing_policy.c.kind,
    routing_policy.c.key,
    routing_policy.c.document,
    routing_policy.c.version,
    routing_policy.c.created_at,
    routing_policy.c.updated_at,
)


def _stored(row: Any) -> Stored:
    return Stored(
        PolicyKind(row.kind), row.key, row.document, row.version, row.created_at, row.updated_at
    )


def new_rule_id() -> str:
    return "rule-" + os.urandom(6).hex()


def _check_references(
    conn: Connection, piece: RuleSpec | AgentPreferences | WorkspaceConfig
) -> None:
    references = model_references(piece)
    if not references:
        return
    names = sorted({model for _, model in references})
    found = set(
        conn.execute(
            select(models.c.model_id)
            .where(models.c.model_id.in_(names))
            .order_by(models.c.model_id)
            .with_for_update(read=True)
        ).scalars()
    )
    missing = [(path, model) for path, model in references if model not in found]
    if missing:
        raise UnknownReferences(missing)


def _lock(conn: Connection, kind: PolicyKind, key: str) -> None:
    """Writes of one piece in turn: each takes its version after the one before committed,
    so a newer version is always the newer write (instances keep the newest)."""
    conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:piece, 0))"),
        {"piece": f"routing_policy:{kind.value}:{key}"},
    )


def _put(conn: Connection, kind: PolicyKind, key: str, piece: Any) -> Stored:
    _check_references(conn, piece)
    _lock(conn, kind, key)
    version = conn.execute(select(policy_version_seq.next_value())).scalar_one()
    document = piece.document()
    statement = pg_insert(routing_policy).values(
        kind=kind.value, key=key, document=document, version=version
    )
    statement = statement.on_conflict_do_update(
        index_elements=[routing_policy.c.kind, routing_policy.c.key],
        set_={"document": document, "version": version, "updated_at": func.now()},
    )
    row = conn.execute(statement.returning(*_COLUMNS)).one()
    stored = _stored(row)
    _outbox(conn, PolicyChange(kind, key, version, piece, stored.updated_at))
    return stored


def _outbox(conn: Connection, change: PolicyChange) -> None:
    conn.execute(
        insert(policy_changes).values(
            kind=change.kind.value,
            key=change.key,
            version=change.version,
            payload=change.to_message(),
        )
    )


def put(engine: Engine, kind: PolicyKind, key: str, piece: Any) -> Stored:
    """Create or replace one piece; UnknownReferences (and no change) if it names a model the
    registry does not hold."""
    with engine.begin() as conn:
        return _put(conn, kind, key, piece)


def put_in(conn: Connection, kind: PolicyKind, key: str, piece: Any) -> Stored:
    """``put`` inside the caller's transaction (an import applies many pieces or none)."""
    return _put(conn, kind, key, piece)


def add_rule(engine: Engine, spec: RuleSpec) -> Stored:
    rule_id = new_rule_id()
    rule = RoutingRule.model_validate({**spec.document(), "id": rule_id})
    return put(engine, PolicyKind.RULE, rule_id, rule)


def update_rule(engine: Engine, rule_id: str, changes: dict[str, Any]) -> Stored:
    """Apply a partial update (camelCase fields) to a rule and validate the result whole:
    the rule as it would be after the change must be valid, or nothing changes. Raises
    PolicyNotFound, pydantic's ValidationError, UnknownReferences."""
    with engine.begin() as conn:
        row = conn.execute(
            select(*_COLUMNS)
            .where(routing_policy.c.kind == PolicyKind.RULE.value, routing_policy.c.key == rule_id)
            .with_for_update()
        ).first()
        if row is None:
            raise PolicyNotFound(PolicyKind.RULE, rule_id)
        merged = {**row.document, **changes, "id": rule_id}
        rule = RoutingRule.model_validate(merged)
        return _put(conn, PolicyKind.RULE, rule_id, rule)


def get(engine: Engine, kind: PolicyKind, key: str) -> Stored | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(*_COLUMNS).where(
                routing_policy.c.kind == kind.value, routing_policy.c.key == key
            )
        ).first()
    return None if row is None else _stored(row)


def list_kind(engine: Engine, kind: PolicyKind) -> list[Stored]:
    with engine.connect() as conn:
        rows = conn.execute(
            select(*_COLUMNS)
            .where(routing_policy.c.kind == kind.value)
            .order_by(routing_policy.c.key)
        ).all()
    return [_stored(row) for row in rows]


def remove(engine: Engine, kind: PolicyKind, key: str) -> None:
    """Delete one piece; instances are told it is gone. PolicyNotFound if there is none."""
    with engine.begin() as conn:
        _lock(conn, kind, key)
        row = conn.execute(
            delete(routing_policy)
            .where(routing_policy.c.kind == kind.value, routing_policy.c.key == key)
            .returning(routing_policy.c.key)
        ).first()
        if row is None:
            raise PolicyNotFound(kind, key)
        version = conn.execute(select(policy_version_seq.next_value())).scalar_one()
        now = conn.execute(select(func.now())).scalar_one()
        _outbox(conn, PolicyChange(kind, key, version, None, now))


def current_changes(conn: Connection) -> list[PolicyChange]:
    """Every piece as a change at its current version: the policy part of a snapshot."""
    rows = conn.execute(select(*_COLUMNS).order_by(routing_policy.c.kind, routing_policy.c.key))
    return [change_of(_stored(row)) for row in rows]


def change_of(stored: Stored) -> PolicyChange:
    message = {
        "timestamp": stored.updated_at,
        "kind": stored.kind.value,
        "key": stored.key,
        "version": stored.version,
        "document": stored.document,
    }
    return PolicyChange.from_message(message)


def state_of(changes: Sequence[PolicyChange]) -> PolicyState:
    """The policy the engine reads, from the current pieces."""
    rules = [c.piece for c in changes if isinstance(c.piece, RoutingRule)]
    agents = {c.key: c.piece for c in changes if isinstance(c.piece, AgentPreferences)}
    workspaces = {c.key: c.piece for c in changes if isinstance(c.piece, WorkspaceConfig)}
    return PolicyState.of(rules, agents, workspaces)


def unsent_changes(conn: Connection, limit: int = 1000) -> list[tuple[int, dict[str, Any]]]:
    return outbox.unsent(conn, policy_changes, limit)


def mark_sent(conn: Connection, ids: Sequence[int]) -> None:
    outbox.mark_sent(conn, policy_changes, ids)
