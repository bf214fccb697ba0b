"""The server and an instance holding the same state take the same decision (hypothesis).

The server: the API's central router, loaded from the registry, the scores and the routing
policy as the database holds them, with the workspaces' spend. The instance: a ModelRouter over
a catalog that received the same registry changes, scores, policy changes and spend report the
way the fan-out sends them (each message through its JSON form and back). Same random seed,
same requests, one after the other: same model, same reason, same rule and split arm, or the
same refusal.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

from hypothesis import event, given, settings
from hypothesis import strategies as st
from sqlalchemy import create_engine

from routelearn.api.central import CentralRouter
from routelearn.domain.event import Complexity
from routelearn.domain.registry import RegistryChange
from routelearn.domain.routing_policy.change import PolicyChange, PolicyKind
from routelearn.domain.routing_policy.config import (
    AgentPreferences,
    RoutingRule,
    WorkspaceConfig,
)
from routelearn.domain.routing_policy.quality import Quality, QualityReport
from routelearn.domain.routing_policy.spend import SpendReport
from routelearn.errors import RouteLearnError
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.router import ModelRouter
from routelearn.settings import Settings
from tests.unit.router.fakes import Collector

NAMES = ("m0", "m1", "m2", "m3", "m4")
CAPABILITIES = ("chat", "vision", "json")
AGENTS = ("creative", "coder")
WORKSPACES = ("w1", "w2")
WHEN = datetime(2026, 12, 3, tzinfo=UTC)


def subset(
    items: tuple[str, ...], max_size: int | None = None, min_size: int = 0
) -> st.SearchStrategy[list[str]]:
    if not items:
        return st.just([])
    size = len(items) if max_size is None else min(max_size, len(items))
    return st.lists(st.sampled_from(items), unique=True, min_size=min_size, max_size=size)


@st.composite
def registry(draw: st.DrawFn) -> list[RegistryChange]:
    names = draw(subset(NAMES, min_size=2))
    changes = []
    for version, name in enumerate(sorted(names), start=1):
        priced = draw(st.booleans())
        price = draw(st.floats(0.0001, 0.05))
        changes.append(
            RegistryChange(
                model=name,
                version=version,
                status=draw(st.sampled_from(["active", "active", "active", "inactive"])),
                provider=draw(st.sampled_from(["p1", "p2", "p3"])),
                capabilities=tuple(draw(subset(CAPABILITIES))),
                input_per_1k=price if priced else None,
                output_per_1k=price * 2 if priced else None,
                context_window=None,
                typical_latency_ms=None,
                timestamp=WHEN,
                tags=tuple(draw(subset(("gdpr", "hipaa")))),
                regions=tuple(draw(subset(("us", "eu")))),
            )
        )
    return changes


@st.composite
def rule(draw: st.DrawFn, index: int, names: list[str]) -> RoutingRule:
    targets = draw(subset(tuple(names), 3, min_size=1))
    weights = [draw(st.integers(1, 5)) for _ in targets]
    total = sum(weights)
    condition: dict[str, Any] = {}
    if draw(st.booleans()):
        condition["agentType"] = draw(subset(AGENTS, min_size=1))
    if draw(st.booleans()):
        condition["contentLength"] = {"max": draw(st.integers(0, 60))}
    document: dict[str, Any] = {
        "id": f"rule-{index}",
        "name": f"rule {index}",
        "condition": condition,
        "targetModels": [
            {"modelId": m, "weight": w / total, "fallbackOrder": i + 1}
            for i, (m, w) in enumerate(zip(targets, weights, strict=True))
        ],
        "priority": draw(st.integers(0, 3)),
        "enabled": draw(st.booleans()),
    }
    if len(targets) > 1 and draw(st.booleans()):
        primary = draw(st.integers(0, 100))
        document["trafficSplit"] = {"primary": primary, "canary": 100 - primary}
    return RoutingRule.model_validate(document)


@st.composite
def policy(draw: st.DrawFn, names: list[str]) -> list[PolicyChange]:
    pieces: list[tuple[PolicyKind, str, Any]] = []
    for index in range(draw(st.integers(0, 3))):
        made = draw(rule(index, names))
        pieces.append((PolicyKind.RULE, made.id, made))
    for agent in draw(subset(AGENTS)):
        preferred = draw(subset(tuple(names), 2))
        rest = tuple(n for n in names if n not in preferred)
        document: dict[str, Any] = {
            "preferredModels": preferred,
            "fallbackModels": draw(subset(rest, 1)),
            "requiredCapabilities": draw(subset(CAPABILITIES, 1)),
        }
        if draw(st.booleans()):
            document["performanceRequirements"] = {
                "maxCostPerToken": draw(st.floats(1e-7, 1e-4)),
                "minSuccessRate": draw(st.sampled_from([0.6, 0.95])),
            }
        pieces.append((PolicyKind.AGENT, agent, AgentPreferences.model_validate(document)))
    for workspace in draw(subset(WORKSPACES)):
        config: dict[str, Any] = {
            "modelRestrictions": {
                "blockedModels": draw(subset(tuple(names), 1)),
                "allowedProviders": draw(subset(("p1", "p2", "p3"))),
            },
            "complianceRequirements": {
                "allowedRegions": draw(subset(("us", "eu"))),
                "requiredTags": draw(subset(("gdpr",))),
            },
        }
        if draw(st.booleans()):
            config["qualityRequirements"] = {"minSuccessRate": 0.8, "maxLatency": 1000}
        if draw(st.booleans()):
            config["budgetLimits"] = {"daily": draw(st.sampled_from([0.001, 0.01, 1.0]))}
        pieces.append((PolicyKind.WORKSPACE, workspace, WorkspaceConfig.model_validate(config)))
    return [
        PolicyChange(kind, key, version, piece, WHEN)
        for version, (kind, key, piece) in enumerate(pieces, start=1)
    ]


request = st.fixed_dictionaries(
    {
        "complexity": st.sampled_from(list(Complexity)),
        "capabilities": subset(CAPABILITIES, 1),
        "agent_type": st.sampled_from([None, *AGENTS]),
        "workspace_id": st.sampled_from([None, *WORKSPACES]),
        "prompt": st.text(alphabet="ab ", max_size=80),
    }
)


World = tuple[list[RegistryChange], dict[str, Any], list[PolicyChange], SpendReport, QualityReport]


@st.composite
def world(draw: st.DrawFn) -> World:
    changes = draw(registry())
    names = [c.model for c in changes]
    scores = {
        name: {
            c.value: {"score": draw(st.floats(0.0, 5.0)), "version": 1}
            for c in Complexity
            if draw(st.booleans())
        }
        for name in names
    }
    usd = st.sampled_from([0.0, 0.0005, 0.009, 2.0])
    spend = {w: {"daily": draw(usd), "weekly": 0.0, "monthly": 0.0} for w in WORKSPACES}
    rate = st.none() | st.sampled_from([0.5, 0.9, 0.99])
    ms = st.none() | st.sampled_from([300.0, 3000.0])
    quality = QualityReport(
        WHEN,
        {(n, c.value): Quality(draw(rate), draw(ms), 50) for n in names for c in Complexity},
    )
    return changes, scores, draw(policy(names)), SpendReport(WHEN, spend), quality


def over_the_wire(message: dict[str, Any]) -> Any:
    return json.loads(json.dumps(message))


def outcome(call: Any) -> tuple[Any, ...]:
    try:
        decision = call()
    except RouteLearnError as exc:
        return ("refused", type(exc).__name__, str(exc))
    return (decision.model, decision.reason, decision.rule, decision.arm, decision.score)


@settings(max_examples=150, deadline=None)
@given(world(), st.lists(request, min_size=1, max_size=12), st.integers(0, 2**32 - 1))
def test_the_server_and_an_instance_decide_alike(
    state: World,
    requests: list[dict[str, Any]],
    seed: int,
) -> None:
    changes, scores, pieces, spend, quality = state
    server = CentralRouter(
        Settings(api_route_explore_share=0.1, default_score=2.5),
        create_engine("postgresql+psycopg://nowhere/x"),  # connects on first use: never here
        Collector(),
        rng=random.Random(seed),
    )
    server.load(changes, scores, pieces)
    server.router.spend = spend.workspaces.get  # as the server reads them from the database
    server.router.quality = quality.of

    catalog = ModelCatalog.from_config(
        {"version": 1, "default_score": 2.5, "models": []}, enable_unknown=True
    )
    for change in changes:
        catalog.apply_registry(RegistryChange.from_message(over_the_wire(change.to_message())))
    for model, held in scores.items():
        for complexity, item in held.items():
            catalog.apply_update(model, complexity, item["score"], item["version"])
    catalog.policy.apply(PolicyChange.from_message(over_the_wire(p.to_message())) for p in pieces)
    catalog.policy.apply_spend(SpendReport.from_message(over_the_wire(spend.to_message())))
    catalog.policy.apply_quality(QualityReport.from_message(over_the_wire(quality.to_message())))
    instance = ModelRouter(
        catalog, Collector(), instance_id="i1", explore_share=0.1, rng=random.Random(seed)
    )

    for asked in requests:
        decided = decide_on_server(server, asked)
        assert decided == decide_on_instance(instance, asked), asked
        event(f"outcome: {decided[1] if decided[0] == 'refused' else decided[1].value}")


def decide_on_server(server: CentralRouter, asked: dict[str, Any]) -> tuple[Any, ...]:
    return outcome(
        lambda: (
            server.route(
                asked["prompt"],
                complexity=asked["complexity"],
                max_tokens=None,
                capabilities=asked["capabilities"],
                prefer=None,
                budget=None,
                agent_type=asked["agent_type"],
                workspace_id=asked["workspace_id"],
            ).decision
        )
    )


def decide_on_instance(instance: ModelRouter, asked: dict[str, Any]) -> tuple[Any, ...]:
    """What the server does with the request, on the instance's own router."""
    prompt = asked["prompt"]
    return outcome(
        lambda: instance.route(
            asked["complexity"],
            asked["capabilities"],
            prompt_tokens=instance.tokens.count(prompt),
            agent_type=asked["agent_type"],
            workspace_id=asked["workspace_id"],
            content_length=len(prompt),
        )
    )
