"""The whole central configuration, out and in (routelearn.domain.config_document).

``export`` reads it in one snapshot. ``apply`` writes a document in one transaction, or nothing:
every model it names must be in the document or the registry (checked first, each path named),
then the models, endpoints, rules, agent preferences, workspace configs and scores it changes are
written through the same store functions the API uses, so each change goes to its outbox (or,
for scores, comes back to be fanned out) like any other. What the document does not mention is
left as it is. ``dry_run`` does the same and rolls back: the diff without the change.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, Engine, select

from routelearn.domain.config_document import ConfigDocument
from routelearn.domain.event import Complexity
from routelearn.domain.registry import EndpointSpec
from routelearn.domain.routing_policy.change import PolicyKind
from routelearn.domain.routing_policy.config import AgentPreferences, RoutingRule, WorkspaceConfig
from routelearn.domain.score_update import ScoreUpdate
from routelearn.store import policy, registry, scores
from routelearn.store.policy import UnknownReferences
from routelearn.store.tables import models

_SCORE_REASON = "config import"


@dataclass
class Section:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    def classify(self, name: str, old: Any, new: Any) -> bool:
        """Note ``name`` and say whether it must be written."""
        if old is None:
            self.added.append(name)
        elif old != new:
            self.changed.append(name)
        else:
            self.unchanged.append(name)
            return False
        return True


@dataclass
class ImportResult:
    sections: dict[str, Section]
    applied: bool
    # Scores the import changed (version + 1), for the caller to fan out after the commit.
    score_changes: tuple[ScoreUpdate, ...] = ()
    learned_kept: list[str] = field(default_factory=list)

    @property
    def changed_anything(self) -> bool:
        return any(s.added or s.changed for s in self.sections.values())


def export(engine: Engine) -> ConfigDocument:
    with engine.connect() as conn:  # one snapshot of every table
        endpoints = {
            model_id: tuple(
                EndpointSpec(
                    url=e.url, type=e.type, weight=e.weight, healthCheckUrl=e.health_check_url
                )
                for e in found
            )
            for model_id, found in registry.all_endpoints(conn).items()
        }
        pieces = policy.current_changes(conn)
        held = scores.current_scores(conn)
        return ConfigDocument(
            models=tuple(registry.all_records(conn)),
            modelEndpoints=endpoints,
            routingRules=tuple(c.piece for c in pieces if isinstance(c.piece, RoutingRule)),
            agentPreferences={
                c.key: c.piece for c in pieces if isinstance(c.piece, AgentPreferences)
            },
            workspaceConfigs={
                c.key: c.piece for c in pieces if isinstance(c.piece, WorkspaceConfig)
            },
            scores={
                model: {Complexity(level): item["score"] for level, item in by_level.items()}
                for model, by_level in held.items()
            },
        )


def apply(
    engine: Engine,
    document: ConfigDocument,
    *,
    dry_run: bool = False,
    overwrite_learned: bool = False,
    with_updates: Callable[[Connection, Sequence[ScoreUpdate]], None] | None = None,
) -> ImportResult:
    """Write ``document`` (module doc). Raises UnknownReferences (paths under ``config.``).
    ``with_updates`` gets the changed scores in the import's transaction (the pgmq bridge)."""
    sections = {name: Section() for name in _SECTIONS}
    with engine.connect() as conn:
        transaction = conn.begin()
        try:
            registered = set(conn.execute(select(models.c.model_id)).scalars())
            known = registered | {m.id for m in document.models}
            missing = [(f"config.{p}", m) for p, m in document.references() if m not in known]
            if missing:
                raise UnknownReferences(missing)

            held_models = {r.id: r for r in registry.all_records(conn)}
            wanted = [
                m for m in document.models
                if sections["models"].classify(m.id, held_models.get(m.id), m)
            ]  # fmt: skip
            registry.put_records(conn, wanted)

            held_endpoints = registry.all_endpoints(conn)
            for model_id, endpoints in sorted(document.model_endpoints.items()):
                by_url = {e.url: e for e in held_endpoints.get(model_id, [])}
                for spec in sorted(endpoints, key=lambda e: e.url):
                    held = by_url.get(spec.url)
                    before = None
                    if held is not None:
                        before = (held.type, held.weight, held.health_check_url)
                    after = (spec.type, spec.weight, spec.health_check_url)
                    if sections["modelEndpoints"].classify(f"{model_id} {spec.url}", before, after):
                        registry.put_endpoint(conn, model_id, spec.url, *after)

            held_pieces = {(c.kind, c.key): c.piece for c in policy.current_changes(conn)}
            for kind, section, items in (
                (PolicyKind.RULE, "routingRules", [(r.id, r) for r in document.routing_rules]),
                (PolicyKind.AGENT, "agentPreferences", sorted(document.agent_preferences.items())),
                (
                    PolicyKind.WORKSPACE,
                    "workspaceConfigs",
                    sorted(document.workspace_configs.items()),
                ),
            ):
                for key, piece in items:
                    if sections[section].classify(key, held_pieces.get((kind, key)), piece):
                        policy.put_in(conn, kind, key, piece)

            held_scores = scores.current_scores(conn)
            wanted_scores: dict[tuple[str, str], float] = {}
            for model, by_level in sorted(document.scores.items()):
                for complexity, score in sorted(by_level.items()):
                    current = held_scores.get(model, {}).get(complexity.value)
                    before = None if current is None else current["score"]
                    name = f"{model} {complexity.value}"
                    if sections["scores"].classify(name, before, score):
                        wanted_scores[(model, complexity.value)] = score
            written = scores.write_scores(conn, wanted_scores, _SCORE_REASON, overwrite_learned)
            if written.changes and with_updates is not None and not dry_run:
                with_updates(conn, written.changes)
            kept: list[str] = []
            if written.kept_learned:  # the learner's evidence wins: not changed after all
                kept = _kept(conn, wanted_scores)
                score_section = sections["scores"]
                score_section.changed = [n for n in score_section.changed if n not in kept]
        except BaseException:
            transaction.rollback()
            raise
        if dry_run:
            transaction.rollback()
            return ImportResult(sections, False, (), kept)
        transaction.commit()
    return ImportResult(sections, True, written.changes, kept)


_SECTIONS = (
    "models",
    "modelEndpoints",
    "routingRules",
    "agentPreferences",
    "workspaceConfigs",
    "scores",
)


def _kept(conn: Connection, wanted: dict[tuple[str, str], float]) -> list[str]:
    """The scores ``write_scores`` left alone because the learner owns them."""
    held = scores.current_scores(conn)
    return [
        f"{model} {complexity}"
        for (model, complexity), score in sorted(wanted.items())
        if held.get(model, {}).get(complexity, {}).get("score") != score
    ]
