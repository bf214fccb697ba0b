"""Event builders shared by the tests."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from routelearn.domain.score_update import ScoreUpdate
from routelearn.instance.catalog import ModelCatalog


def make_event(
    outcome: str = "routed",
    *,
    model: str = "gpt-4o",
    complexity: str = "complex",
    decision_id: str | None = None,
    event_id: str | None = None,
    response_time_ms: float | None = None,
    instance_id: str = "instance-1",
    timestamp: str | None = None,
    provider: str = "github_models",
    score: float = 4.8,
) -> dict[str, Any]:
    """An event in the seed's format; ``event_id``/``decision_id`` only when given."""
    event: dict[str, Any] = {
        "timestamp": timestamp or datetime.now(UTC).isoformat(),
        "instance_id": instance_id,
        "routing_decision": {
            "complexity": complexity,
            "selected_model": model,
            "selected_provider": provider,
            "complexity_score": score,
            "outcome": outcome,
            "response_time_ms": response_time_ms,
            "capabilities_required": [],
            "prefer": None,
            "user_model_request": None,
        },
    }
    if event_id is not None:
        event["event_id"] = event_id
    if decision_id is not None:
        event["decision_id"] = decision_id
    return event


def decision_pair(
    outcome: str,
    *,
    model: str = "gpt-4o",
    complexity: str = "complex",
    response_time_ms: float | None = 300.0,
    instance_id: str = "instance-1",
) -> list[dict[str, Any]]:
    """A decision's ``routed`` event and its outcome event, with fresh ids."""
    decision_id = str(uuid.uuid4())
    common: dict[str, Any] = {
        "model": model,
        "complexity": complexity,
        "decision_id": decision_id,
        "instance_id": instance_id,
    }
    return [
        make_event("routed", event_id=str(uuid.uuid4()), **common),
        make_event(
            outcome, event_id=str(uuid.uuid4()), response_time_ms=response_time_ms, **common
        ),
    ]


def one_model_catalog(model: str) -> ModelCatalog:
    """An instance's catalog holding one model, every score at the default 2.5."""
    return ModelCatalog.from_config(
        {"version": 1, "default_score": 2.5, "models": [{"name": model, "provider": "p"}]}
    )


def score_update(
    version: int,
    new_score: float = 4.9,
    model: str = "gpt-4o",
    complexity: str = "complex",
    old_score: float | None = None,
) -> ScoreUpdate:
    """A learned score change as the learner makes them (250 uses, confidence 0.9)."""
    return ScoreUpdate(
        timestamp=datetime.now(UTC),
        model=model,
        complexity=complexity,
        old_score=old_score,
        new_score=new_score,
        reason="Learned from 250 real uses",
        confidence=0.9,
        based_on_samples=250,
        version=version,
    )


# Seed 004's "Register Model" example, as written there.
SEED_MODEL: dict[str, Any] = {
    "name": "GPT-4 Turbo",
    "version": "gpt-4-1106-preview",
    "provider": "openai",
    "modelType": "chat",
    "capabilities": [{"type": "text-generation", "maxTokens": 4096}],
    "parameters": {"temperature": 0.7, "maxTokens": 4096},
    "status": "active",
    "tags": ["gpt-4", "high-quality", "reasoning"],
}


def behaviour(success: float) -> dict[str, dict[str, float]]:
    """A simulated model's truth at every complexity: ``success``, 300 ms."""
    return {c: {"success": success, "latency_ms": 300.0} for c in ("simple", "medium", "complex")}
