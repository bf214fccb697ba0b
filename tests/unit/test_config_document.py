"""The configuration document: validated whole, references named by path, rendered the same
whatever order its parts came in."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from routelearn.domain.config_document import ConfigDocument, parse, render


def document(**parts: Any) -> dict[str, Any]:
    model = {"modelId": "a", "name": "A", "provider": "p"}
    rule = {
        "id": "r1",
        "name": "r",
        "targetModels": [{"modelId": "a", "weight": 1.0, "fallbackOrder": 1}],
    }
    return {"models": [model], "routingRules": [rule], **parts}


def test_ids_listed_twice_are_refused() -> None:
    twice = document()
    twice["models"] = twice["models"] * 2
    with pytest.raises(ValidationError, match="models: modelId 'a' is listed twice"):
        ConfigDocument.model_validate(twice)


def test_references_outside_the_models_are_named_by_path() -> None:
    parsed = ConfigDocument.model_validate(
        document(
            agentPreferences={"coder": {"preferredModels": ["b"]}},
            workspaceConfigs={"ws": {"modelRestrictions": {"blockedModels": ["c"]}}},
            modelEndpoints={"d": [{"url": "https://d.example.com"}]},
        )
    )
    assert parsed.references() == [
        ("modelEndpoints.d", "d"),
        ("routingRules.0.targetModels.0.modelId", "a"),
        ("agentPreferences.coder.preferredModels.0", "b"),
        ("workspaceConfigs.ws.modelRestrictions.blockedModels.0", "c"),
    ]


def test_rendering_does_not_depend_on_the_order_given_and_reads_back() -> None:
    one = document(scores={"b": {"simple": 1.0}, "a": {"complex": 2.0, "simple": 3.0}})
    two = dict(one, scores={"a": {"simple": 3.0, "complex": 2.0}, "b": {"simple": 1.0}})
    for fmt in ("json", "yaml"):
        first = render(ConfigDocument.model_validate(one), fmt)
        assert first == render(ConfigDocument.model_validate(two), fmt)
        back = ConfigDocument.model_validate(parse(first)["config"])
        assert render(back, fmt) == first
    with pytest.raises(ValueError, match="not JSON or YAML"):
        parse("{unclosed: [")
