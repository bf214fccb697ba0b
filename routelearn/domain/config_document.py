"""The whole central configuration as one document (``GET /api/config/export``,
``POST /api/config/import``, ``routelearn config export`` / ``import``): the registry's models
and their endpoints, the routing rules, agent preferences, workspace configs, and the scores.

Seed 004's shape (``{"config": {"models", "routingRules", "agentPreferences",
"workspaceConfigs"}}``) plus ``modelEndpoints`` and ``scores``. Nothing in it depends on when or
where it was made (no versions, no times), and every list is in a fixed order, so an export
imported into an empty database exports again to the same bytes. Validated whole: one bad entry
refuses the document, naming its path. Pure: pydantic only.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, model_validator

from routelearn.domain.event import Complexity, ModelName
from routelearn.domain.registry import EndpointSpec, ModelRecord
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    Key,
    RoutingRule,
    WorkspaceConfig,
    model_references,
)

FORMAT_VERSION = 1
Score = Annotated[float, Field(ge=0.0, le=5.0, allow_inf_nan=False)]


class ConfigDocument(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    version: int = FORMAT_VERSION
    models: tuple[ModelRecord, ...] = ()
    model_endpoints: dict[ModelName, tuple[EndpointSpec, ...]] = Field(
        default_factory=dict, alias="modelEndpoints"
    )
    routing_rules: tuple[RoutingRule, ...] = Field(default=(), alias="routingRules")
    agent_preferences: dict[Key, AgentPreferences] = Field(
        default_factory=dict, alias="agentPreferences"
    )
    workspace_configs: dict[Key, WorkspaceConfig] = Field(
        default_factory=dict, alias="workspaceConfigs"
    )
    scores: dict[ModelName, dict[Complexity, Score]] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _unique(self) -> ConfigDocument:
        if self.version != FORMAT_VERSION:
            raise ValueError(f"version {self.version} is not {FORMAT_VERSION}")
        for what, ids in (
            ("models: modelId", [m.id for m in self.models]),
            ("routingRules: id", [r.id for r in self.routing_rules]),
        ):
            seen: set[str] = set()
            for item in ids:
                if item in seen:
                    raise ValueError(f"{what} {item!r} is listed twice")
                seen.add(item)
        return self

    def references(self) -> list[tuple[str, str]]:
        """(path, modelId) of every model the document names outside ``models``: to check
        against ``models`` and the registry."""
        found: list[tuple[str, str]] = []
        for model_id in self.model_endpoints:
            found.append((f"modelEndpoints.{model_id}", model_id))
        for i, rule in enumerate(self.routing_rules):
            found += [(f"routingRules.{i}.{p}", m) for p, m in model_references(rule)]
        for agent, preferences in self.agent_preferences.items():
            found += [
                (f"agentPreferences.{agent}.{p}", m) for p, m in model_references(preferences)
            ]
        for workspace, config in self.workspace_configs.items():
            found += [(f"workspaceConfigs.{workspace}.{p}", m) for p, m in model_references(config)]
        return found

    def document(self) -> dict[str, Any]:
        """JSON-ready, camelCase, in a fixed order: models and rules by id, maps by key."""
        return {
            "version": self.version,
            "models": [m.document() for m in sorted(self.models, key=lambda m: m.id)],
            "modelEndpoints": {
                model_id: [
                    e.model_dump(mode="json", by_alias=True)
                    for e in sorted(endpoints, key=lambda e: e.url)
                ]
                for model_id, endpoints in sorted(self.model_endpoints.items())
            },
            "routingRules": [r.document() for r in sorted(self.routing_rules, key=lambda r: r.id)],
            "agentPreferences": {
                k: v.document() for k, v in sorted(self.agent_preferences.items())
            },
            "workspaceConfigs": {
                k: v.document() for k, v in sorted(self.workspace_configs.items())
            },
            "scores": {
                model: {c.value: scores[c] for c in Complexity if c in scores}
                for model, scores in sorted(self.scores.items())
            },
        }


def _documents(pieces: dict[str, AgentPreferences] | dict[str, WorkspaceConfig]) -> dict[str, Any]:
    return {key: piece.document() for key, piece in sorted(pieces.items())}


def render(document: ConfigDocument, fmt: str) -> str:
    """The export as text: ``json`` (indented, keys in order) or ``yaml``."""
    body = {"config": document.document()}
    if fmt == "json":
        return json.dumps(body, indent=2, sort_keys=True) + "\n"
    if fmt == "yaml":
        return str(yaml.safe_dump(body, sort_keys=True, allow_unicode=True))
    raise ValueError(f"format {fmt!r} is not json or yaml")


def parse(text: str | bytes) -> Any:
    """A JSON or YAML export read back to data (YAML is a superset of JSON); pydantic validates
    it. Raises ValueError with the parser's message."""
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ValueError(f"not JSON or YAML: {exc}") from None
