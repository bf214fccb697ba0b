"""Learned scores in PostgreSQL: one versioned row per (model, complexity), every change in
``score_history``."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, text

from routelearn.domain.event import Complexity
from routelearn.domain.registry import ModelCapability, ModelPrices, ModelRecord, ModelStatus
from routelearn.domain.score_update import ScoreUpdate
from routelearn.instance.catalog import CatalogFile, ModelSpec
from routelearn.store import registry

CATALOG_POLICY = "catalog"


@dataclass(frozen=True, slots=True)
class ImportReport:
    inserted: int = 0  # rows the catalog created
    updated: int = 0  # catalog rows whose score the file changed (version + 1)
    unchanged: int = 0
    kept_learned: int = 0  # rows the learner owns, left alone (see overwrite_learned)
    # The changes to send to the fleet (the updated rows; a new row is version 0, which the
    # instances loading the same file hold already).
    changes: tuple[ScoreUpdate, ...] = ()
    # Registry entries registered or changed (their changes wait in the registry's outbox).
    models_changed: int = 0


def _history(
    conn: Connection,
    model: str,
    complexity: str,
    version: int,
    old: float | None,
    new: float,
    reason: str,
) -> None:
    conn.execute(
        text(
            "INSERT INTO score_history (model_name, complexity_level, version, old_score,"
            " new_score, reason, policy) VALUES (:m, :c, :v, :old, :new, :reason, :policy)"
        ),
        {
            "m": model,
            "c": complexity,
            "v": version,
            "old": old,
            "new": new,
            "reason": reason,
            "policy": CATALOG_POLICY,
        },
    )


def import_catalog(
    engine: Engine,
    catalog: CatalogFile,
    origin: str,
    overwrite_learned: bool = False,
    with_updates: Callable[[Connection, Sequence[ScoreUpdate]], None] | None = None,
) -> ImportReport:
    """Load every catalog model's score for each complexity (``default_score`` where the file
    gives none). A new row starts at version 0, as instances loading the same file do. A score
    the file changes gets version + 1, so the fan-out will carry it to the instances. A score
    the learner has changed since is the fleet's evidence and is kept, unless
    ``overwrite_learned``. ``with_updates`` gets the changed scores in the import's
    transaction (the pgmq bridge sends them there)."""
    wanted = {
        (spec.name, c.value): spec.scores.get(c, catalog.default_score)
        for spec in catalog.models
        for c in Complexity
    }
    with engine.begin() as conn:
        models_changed = registry.import_records(conn, map(model_record, catalog.models))
        report = write_scores(conn, wanted, f"imported from {origin}", overwrite_learned)
        if report.changes and with_updates is not None:
            with_updates(conn, report.changes)
    return replace(report, models_changed=models_changed)


def write_scores(
    conn: Connection,
    wanted: Mapping[tuple[str, str], float],
    reason: str,
    overwrite_learned: bool = False,
) -> ImportReport:
    """Set each (model, complexity)'s score in the caller's transaction: a new row at version 0;
    a changed one at version + 1 (sent to the fleet: ``changes``); one the learner has changed
    since is kept unless ``overwrite_learned``."""
    inserted = updated = unchanged = kept = 0
    changes: list[ScoreUpdate] = []
    for (model, complexity), score in sorted(wanted.items()):  # key order: lock order
        created = conn.execute(
            text(
                "INSERT INTO model_scores (model_name, complexity_level, score, policy)"
                " VALUES (:m, :c, :s, :p) ON CONFLICT DO NOTHING RETURNING version"
            ),
            {"m": model, "c": complexity, "s": score, "p": CATALOG_POLICY},
        ).first()
        if created is not None:
            _history(conn, model, complexity, 0, None, score, reason)
            inserted += 1
            continue
        current = conn.execute(
            text(
                "SELECT score, version, source FROM model_scores"
                " WHERE model_name = :m AND complexity_level = :c FOR UPDATE"
            ),
            {"m": model, "c": complexity},
        ).one()
        if current.score == score:
            unchanged += 1
        elif current.source != "catalog" and not overwrite_learned:
            kept += 1
        else:
            version = current.version + 1
            conn.execute(
                text(
                    "UPDATE model_scores SET score = :s, version = :v, source = 'catalog',"
                    " policy = :p, updated_at = now()"
                    " WHERE model_name = :m AND complexity_level = :c"
                ),
                {"s": score, "v": version, "p": CATALOG_POLICY, "m": model, "c": complexity},
            )
            _history(conn, model, complexity, version, current.score, score, reason)
            changes.append(
                ScoreUpdate(
                    timestamp=datetime.now(UTC),
                    model=model,
                    complexity=complexity,
                    old_score=current.score,
                    new_score=score,
                    reason=reason,
                    confidence=None,
                    based_on_samples=0,
                    version=version,
                )
            )
            updated += 1
    return ImportReport(inserted, updated, unchanged, kept, tuple(changes))


def model_record(spec: ModelSpec) -> ModelRecord:
    """A catalog file's model as a registry record (``registry.import_records`` says what an
    import changes of a registered one)."""
    prices = spec.prices
    return ModelRecord(
        modelId=spec.name,
        name=spec.name,
        provider=spec.provider,
        capabilities=tuple(ModelCapability(type=c) for c in spec.capabilities),
        status=ModelStatus.ACTIVE if spec.enabled else ModelStatus.INACTIVE,
        prices=(
            None
            if prices is None
            else ModelPrices(inputPer1k=prices.input_per_1k, outputPer1k=prices.output_per_1k)
        ),
        contextWindow=spec.context_window,
        typicalLatencyMs=spec.typical_latency_ms,
    )


def score_snapshot(engine: Engine, default_score: float | None = None) -> dict[str, Any]:
    """Every score with its version, and every registered model's registry entry, in
    ``ModelCatalog.apply_snapshot``'s format."""
    with engine.connect() as conn:
        snapshot: dict[str, Any] = {
            "models": current_scores(conn),
            "registry": [change.to_message() for change in registry.current_changes(conn)],
        }
    if default_score is not None:
        snapshot["default_score"] = default_score
    return snapshot


def current_scores(conn: Connection) -> dict[str, dict[str, dict[str, Any]]]:
    """model -> complexity -> {score, version}: the scores part of a snapshot."""
    models: dict[str, dict[str, dict[str, Any]]] = {}
    rows = conn.execute(
        text(
            "SELECT model_name, complexity_level, score, version FROM model_scores"
            " ORDER BY model_name, complexity_level"
        )
    )
    for model, complexity, score, version in rows:
        models.setdefault(model, {})[complexity] = {"score": score, "version": version}
    return models


def history_cursor(engine: Engine) -> int:
    """The newest ``score_history`` id: where a follower of the updates starts."""
    with engine.connect() as conn:
        return int(
            conn.execute(text("SELECT coalesce(max(id), 0) FROM score_history")).scalar_one()
        )


def updates_since(engine: Engine, cursor: int, limit: int = 1000) -> tuple[list[ScoreUpdate], int]:
    """Score changes recorded after ``cursor`` (a ``score_history`` id), oldest first, at most
    ``limit``; and the cursor to ask with next. A catalog's first load (version 0) is not a
    change: it is in the snapshot, as the catalog file is on every instance."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT id, changed_at, model_name, complexity_level, old_score, new_score,"
                " reason, confidence, based_on_samples, version FROM score_history"
                " WHERE id > :cursor ORDER BY id LIMIT :limit"
            ),
            {"cursor": cursor, "limit": limit},
        ).all()
    # Filtered here, not in SQL, so the cursor moves past the rows it skips.
    last = rows[-1].id if rows else cursor
    rows = [r for r in rows if r.version >= 1]
    updates = [
        ScoreUpdate(
            timestamp=r.changed_at,
            model=r.model_name,
            complexity=r.complexity_level,
            old_score=r.old_score,
            new_score=r.new_score,
            reason=r.reason,
            confidence=r.confidence,
            based_on_samples=r.based_on_samples,
            version=r.version,
        )
        for r in rows
    ]
    return updates, last
