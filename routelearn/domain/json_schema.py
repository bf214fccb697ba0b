"""JSON Schemas (draft 2020-12) of what crosses the wire, for producers and consumers that are
not Python: the routing event an instance publishes, and the round of score updates (or the
snapshot) it receives on its own queue.

The event's schema is generated from the model the workers validate with (``RoutingEvent``);
the round's is written out field by field after ``ScoreUpdate.from_message`` and
``RegistryChange.from_message``, which stay the authority (the schema cannot say "a time zone
is required"). The repository's ``schema/`` holds the rendered files; a unit test keeps them
equal to ``render()``.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from routelearn.domain.event import Complexity, RoutingEvent
from routelearn.domain.policy.base import MAX_SCORE, MIN_SCORE
from routelearn.domain.registry import EVENT_TYPE as REGISTRY_EVENT_TYPE
from routelearn.domain.registry import REMOVED, ModelStatus
from routelearn.domain.routing_policy.change import EVENT_TYPE as POLICY_EVENT_TYPE
from routelearn.domain.routing_policy.change import PolicyKind
from routelearn.domain.routing_policy.config import AgentPreferences, RoutingRule, WorkspaceConfig
from routelearn.domain.score_update import EVENT_TYPE

DIALECT = "https://json-schema.org/draft/2020-12/schema"
BASE_ID = "https://routelearn.dev/schema/"


def routing_event() -> dict[str, Any]:
    schema = RoutingEvent.model_json_schema(mode="validation")
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + "routing-event.schema.json",
        "title": "RoutingEvent",
        "description": (
            "One routing decision or its outcome, as an instance publishes it (a batch is a JSON "
            "array of these, the argument of task routelearn.ingest_events)."
        ),
        **{k: v for k, v in schema.items() if k != "title"},
    }


def _score(description: str, nullable: bool) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "number", "minimum": MIN_SCORE, "maximum": MAX_SCORE}
    if nullable:
        return {"description": description, "anyOf": [number, {"type": "null"}]}
    return {"description": description, **number}


def score_update() -> dict[str, Any]:
    return {
        "type": "object",
        "description": "One learned score change (seed 000's ModelScoreUpdater event + version).",
        "properties": {
            "event_type": {"const": EVENT_TYPE},
            "timestamp": {
                "type": "string",
                "format": "date-time",
                "description": "ISO 8601 with a time zone",
            },
            "model": {"type": "string", "minLength": 1},
            "complexity": {"enum": [c.value for c in Complexity]},
            "old_score": _score("the score before; null for a model first scored", True),
            "new_score": _score("the score to apply", False),
            "reason": {"type": "string"},
            "confidence": {
                "anyOf": [{"type": "number", "minimum": 0, "maximum": 1}, {"type": "null"}]
            },
            "based_on_samples": {"type": "integer", "minimum": 0},
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "apply only if newer than the version held",
            },
        },
        "required": [
            "timestamp",
            "model",
            "complexity",
            "new_score",
            "based_on_samples",
            "version",
        ],
    }


def registry_change() -> dict[str, Any]:
    nullable_number = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}
    return {
        "type": "object",
        "description": (
            "One model's central registry entry (routelearn.domain.registry.RegistryChange): "
            "choose the model only while status is active."
        ),
        "properties": {
            "event_type": {"const": REGISTRY_EVENT_TYPE},
            "timestamp": {"type": "string", "format": "date-time"},
            "model": {"type": "string", "minLength": 1},
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "apply only if newer than the version held (one sequence for "
                "every model)",
            },
            "status": {"enum": [*(s.value for s in ModelStatus), REMOVED]},
            "provider": {"type": "string", "minLength": 1},
            "capabilities": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "input_per_1k": nullable_number,
            "output_per_1k": nullable_number,
            "context_window": {"anyOf": [{"type": "integer", "minimum": 1}, {"type": "null"}]},
            "typical_latency_ms": nullable_number,
            "tags": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "regions": {"type": "array", "items": {"type": "string", "minLength": 1}},
        },
        "required": ["timestamp", "model", "version", "status", "provider"],
    }


def policy_change() -> dict[str, Any]:
    """The routing policy change, its document by kind from the pydantic models (their
    definitions under ``$defs``, for the caller to put at the root)."""
    documents: dict[PolicyKind, type[BaseModel]] = {
        PolicyKind.RULE: RoutingRule,
        PolicyKind.AGENT: AgentPreferences,
        PolicyKind.WORKSPACE: WorkspaceConfig,
    }
    branches = []
    defs: dict[str, Any] = {}
    for kind, model in documents.items():
        found = model.model_json_schema(by_alias=True, ref_template="#/$defs/{model}")
        defs.update(found.pop("$defs", {}))
        defs[model.__name__] = found
        branches.append(
            {
                "properties": {
                    "kind": {"const": kind.value},
                    "document": {
                        "anyOf": [{"$ref": f"#/$defs/{model.__name__}"}, {"type": "null"}]
                    },
                }
            }
        )
    return {
        "type": "object",
        "description": (
            "One piece of the central routing policy (routelearn.domain.routing_policy."
            "PolicyChange): a rule (key: its id), an agent's preferences (key: agentType) or a "
            "workspace's config (key: workspaceId); document null: removed."
        ),
        "properties": {
            "event_type": {"const": POLICY_EVENT_TYPE},
            "timestamp": {"type": "string", "format": "date-time"},
            "kind": {"enum": [k.value for k in PolicyKind]},
            "key": {"type": "string", "minLength": 1},
            "version": {
                "type": "integer",
                "minimum": 1,
                "description": "apply only if newer than the version held for this kind and key",
            },
            "document": {"anyOf": [{"type": "object"}, {"type": "null"}]},
        },
        "required": ["timestamp", "kind", "key", "version", "document"],
        "oneOf": branches,
        "$defs": defs,
    }


def spend_report() -> dict[str, Any]:
    usd = {"type": "number", "minimum": 0}
    return {
        "type": "object",
        "description": (
            "What each budgeted workspace has spent per period, as of one moment "
            "(routelearn.domain.routing_policy.spend.SpendReport): keep the newest."
        ),
        "properties": {
            "as_of": {"type": "string", "format": "date-time"},
            "workspaces": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"daily": usd, "weekly": usd, "monthly": usd},
                    "required": ["daily", "weekly", "monthly"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["as_of", "workspaces"],
    }


def _per_model_and_complexity(value: dict[str, Any]) -> dict[str, Any]:
    """model -> complexity -> ``value``: the shape of the reports' ``models``."""
    return {
        "type": "object",
        "additionalProperties": {
            "type": "object",
            "propertyNames": {"enum": [c.value for c in Complexity]},
            "additionalProperties": value,
        },
    }


def quality_report() -> dict[str, Any]:
    nullable = {"anyOf": [{"type": "number", "minimum": 0}, {"type": "null"}]}
    return {
        "type": "object",
        "description": (
            "The fleet's recent success rate and mean latency per model and complexity, which "
            "quality floors judge (routelearn.domain.routing_policy.quality.QualityReport): "
            "keep the newest; null: too little evidence."
        ),
        "properties": {
            "as_of": {"type": "string", "format": "date-time"},
            "models": _per_model_and_complexity(
                {
                    "type": "object",
                    "properties": {
                        "success_rate": {
                            "anyOf": [
                                {"type": "number", "minimum": 0, "maximum": 1},
                                {"type": "null"},
                            ]
                        },
                        "latency_ms": nullable,
                        "samples": {"type": "integer", "minimum": 0},
                    },
                    "required": ["success_rate", "latency_ms", "samples"],
                    "additionalProperties": False,
                }
            ),
        },
        "required": ["as_of", "models"],
    }


def estimate_report() -> dict[str, Any]:
    return {
        "type": "object",
        "description": (
            "The learner's estimate of each model's score per complexity and its spread (the "
            "posterior's standard deviation), sent with every tick's round "
            "(routelearn.domain.estimates.EstimateReport): keep the newest; routers direct "
            "their exploration by it; a model not listed has no evidence yet."
        ),
        "properties": {
            "as_of": {"type": "string", "format": "date-time"},
            "policy": {"type": "string"},
            "models": _per_model_and_complexity(
                {
                    "type": "array",
                    "description": "[mean, spread]",
                    "prefixItems": [
                        {"type": "number", "minimum": 0, "maximum": 5},
                        {"type": "number", "minimum": 0},
                    ],
                    "minItems": 2,
                    "maxItems": 2,
                }
            ),
        },
        "required": ["as_of", "policy", "models"],
    }


def score_message() -> dict[str, Any]:
    change = policy_change()
    documents = change.pop("$defs")  # referenced from the root, as "#/$defs/RoutingRule"
    return {
        "$schema": DIALECT,
        "$id": BASE_ID + "score-message.schema.json",
        "title": "ScoreMessage",
        "description": (
            "A message on an instance's queue model_score_updates.<instance_id>: a round of "
            "updates, or a full snapshot (the answer to task routelearn.send_snapshot)."
        ),
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "updates": {"type": "array", "items": {"$ref": "#/$defs/update"}},
                    "models": {"type": "array", "items": {"$ref": "#/$defs/registry_change"}},
                    "policy": {"type": "array", "items": {"$ref": "#/$defs/policy_change"}},
                    "spend": {"$ref": "#/$defs/spend_report"},
                    "quality": {"$ref": "#/$defs/quality_report"},
                    "estimates": {"$ref": "#/$defs/estimate_report"},
                },
                "required": ["updates"],
            },
            {
                "type": "object",
                "properties": {
                    "snapshot": {"$ref": "#/$defs/snapshot"},
                    "policy": {
                        "type": "array",
                        "description": "every current piece of the routing policy",
                        "items": {"$ref": "#/$defs/policy_change"},
                    },
                    "estimates": {"$ref": "#/$defs/estimate_report"},
                },
                "required": ["snapshot"],
            },
        ],
        "$defs": {
            "update": score_update(),
            "registry_change": registry_change(),
            "policy_change": change,
            "spend_report": spend_report(),
            "quality_report": quality_report(),
            "estimate_report": estimate_report(),
            **documents,
            "snapshot": {
                "type": "object",
                "description": "Every current score: models -> complexity -> score and version.",
                "properties": {
                    "models": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "object",
                            "propertyNames": {"enum": [c.value for c in Complexity]},
                            "additionalProperties": {
                                "type": "object",
                                "properties": {
                                    "score": _score("the current score", False),
                                    "version": {"type": "integer", "minimum": 0},
                                },
                                "required": ["score", "version"],
                            },
                        },
                    },
                    "registry": {"type": "array", "items": {"$ref": "#/$defs/registry_change"}},
                },
                "required": ["models"],
            },
        },
    }


SCHEMAS: dict[str, Callable[[], dict[str, Any]]] = {
    "routing-event.schema.json": routing_event,
    "score-message.schema.json": score_message,
}


def render(name: str) -> str:
    return json.dumps(SCHEMAS[name](), indent=2, sort_keys=True) + "\n"


def write(folder: Path) -> list[Path]:
    """Write every schema into ``folder`` (the repository's ``schema/``)."""
    paths = []
    for name in SCHEMAS:
        path = folder / name
        path.write_text(render(name))
        paths.append(path)
    return paths


if __name__ == "__main__":  # python -m routelearn.domain.json_schema schema/
    import sys

    for written in write(Path(sys.argv[1] if len(sys.argv) > 1 else "schema")):
        print(written)
