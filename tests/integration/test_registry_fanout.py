"""A registry change reaches every running instance: set a model inactive through the API, and
three instances' routers (each with its own ScoreUpdateSubscriber, real worker, real broker)
stop choosing it within seconds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import ExitStack
from typing import Any

import httpx
import pytest
from sqlalchemy import Engine

from routelearn.domain.api_keys import Role
from routelearn.instance.catalog import ModelCatalog
from routelearn.instance.router import ModelRouter
from routelearn.instance.subscriber import ScoreUpdateSubscriber
from routelearn.settings import Settings
from routelearn.store import instances
from tests.integration.test_api import api, bearer, keys
from tests.services import wait_for

pytestmark = [pytest.mark.integration, pytest.mark.broker]
__all__ = ["api", "keys"]  # fixtures, used by name

INSTANCES = ("i1", "i2", "i3")
CATALOG = {
    "version": 1,
    "models": [
        {"name": "best", "provider": "p", "scores": {"simple": 4.5}},
        {"name": "second", "provider": "p", "scores": {"simple": 3.0}},
    ],
}


class Sink:
    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def publish(self, event: dict[str, Any]) -> bool:
        self.events.append(event)
        return True


@pytest.fixture
def fleet(settings: Settings, engine: Engine, worker: Any) -> Iterator[dict[str, Any]]:
    """Three running instances: router and subscriber each, registered with the service."""
    for instance_id in INSTANCES:
        instances.register(engine, instance_id)
    with ExitStack() as stack:
        routers: dict[str, Any] = {}
        for instance_id in INSTANCES:
            catalog = ModelCatalog.from_config(CATALOG)
            subscriber = ScoreUpdateSubscriber(settings, instance_id, catalog)
            subscriber.start()
            stack.callback(subscriber.stop, 10)
            router = ModelRouter(catalog, Sink(), instance_id=instance_id, explore_share=0.0)
            routers[instance_id] = (router, subscriber)
        yield routers


def choices(fleet: dict[str, Any]) -> set[str]:
    return {router.route("simple").model for router, _ in fleet.values()}


def test_a_model_set_inactive_stops_every_instance_choosing_it(
    api: str, keys: dict[Role, str], fleet: dict[str, Any]
) -> None:
    operator = bearer(keys[Role.OPERATOR])
    for name in ("best", "second"):
        registered = httpx.post(
            f"{api}/api/models",
            json={"modelId": name, "name": name, "provider": "p"},
            headers=operator,
        )
        assert registered.status_code == 201, registered.text
    wait_for(
        lambda: all(s.stats.registry_applied == 2 for _, s in fleet.values()),
        20,
        message="the registrations on every instance",
    )
    assert choices(fleet) == {"best"}

    started = time.monotonic()
    patched = httpx.patch(
        f"{api}/api/models/best/status", json={"status": "inactive"}, headers=operator
    )
    assert patched.status_code == 200, patched.text
    wait_for(lambda: choices(fleet) == {"second"}, 20, message="every router off 'best'")
    took = time.monotonic() - started
    print(f"\n'best' set inactive: every router stopped choosing it after {took * 1000:.0f} ms")
    for router, subscriber in fleet.values():
        entry = router.catalog.entry("best")
        assert entry is not None and entry.status == "inactive" and not entry.enabled
        assert subscriber.stats.malformed == 0
    assert took < 10  # seconds: not the next learner tick (60 s), nor a restart

    httpx.patch(
        f"{api}/api/models/best/status", json={"status": "active"}, headers=operator
    ).raise_for_status()
    wait_for(lambda: choices(fleet) == {"best"}, 20, message="every router back on 'best'")


def test_an_instance_away_during_the_change_gets_it_from_its_snapshot(
    api: str, keys: dict[Role, str], settings: Settings, engine: Engine, worker: Any
) -> None:
    operator = bearer(keys[Role.OPERATOR])
    httpx.post(
        f"{api}/api/models",
        json={"modelId": "best", "name": "best", "provider": "p"},
        headers=operator,
    ).raise_for_status()
    httpx.patch(
        f"{api}/api/models/best/status", json={"status": "maintenance"}, headers=operator
    ).raise_for_status()
    # Not registered as an instance when the change was fanned out: only its snapshot has it.
    catalog = ModelCatalog.from_config(CATALOG)
    subscriber = ScoreUpdateSubscriber(settings, "late", catalog, request_snapshot=True)
    subscriber.start()
    try:
        assert subscriber.wait_until_current(20)
    finally:
        assert subscriber.stop(10)
    entry = catalog.entry("best")
    assert entry is not None and entry.status == "maintenance" and not entry.enabled
    router = ModelRouter(catalog, Sink(), instance_id="late", explore_share=0.0)
    assert router.route("simple").model == "second"


def test_changes_left_in_the_outbox_are_sent_by_the_periodic_run(
    settings: Settings, engine: Engine, worker: Any, celery_app: Any
) -> None:
    from routelearn.constants import FAN_OUT_REGISTRY_TASK
    from routelearn.domain.registry import ModelRecord
    from routelearn.store import registry

    instances.register(engine, "i1")
    # Written as the API writes, but no fan-out asked for (as when the broker was down then).
    registry.register(engine, ModelRecord.model_validate({"name": "best", "provider": "p"}))
    with engine.connect() as conn:
        assert len(registry.unsent_changes(conn)) == 1
    celery_app.send_task(FAN_OUT_REGISTRY_TASK)  # what beat sends every 30 s

    def sent() -> bool:
        with engine.connect() as conn:
            return registry.unsent_changes(conn) == []

    wait_for(sent, 20, message="the outbox sent")
    catalog = ModelCatalog.from_config(CATALOG)
    subscriber = ScoreUpdateSubscriber(settings, "i1", catalog)
    assert subscriber.drain() == 1 and subscriber.stats.registry_applied == 1
    entry = catalog.entry("best")
    assert entry is not None and entry.registry_version >= 1


def test_a_routing_rule_reaches_every_instance_and_its_removal_too(
    api: str, keys: dict[Role, str], fleet: dict[str, Any], settings: Settings
) -> None:
    """The routing policy rides the registry's fan-out: a rule set through the API steers
    every running instance's router within seconds; deleted, it stops; an instance away
    during the change gets the rule from its snapshot."""
    operator = bearer(keys[Role.OPERATOR])
    for name in ("best", "second"):
        httpx.post(
            f"{api}/api/models",
            json={"modelId": name, "name": name, "provider": "p"},
            headers=operator,
        ).raise_for_status()

    def creative(router: ModelRouter) -> Any:
        return router.route("simple", agent_type="creative", request_type="chat")

    rule = {
        "name": "creative to second",
        "condition": {"agentType": ["creative"]},
        "targetModels": [{"modelId": "second", "weight": 1.0, "fallbackOrder": 1}],
    }
    started = time.monotonic()
    made = httpx.post(f"{api}/api/routing/rules", json=rule, headers=operator)
    assert made.status_code == 201, made.text
    wait_for(
        lambda: {creative(r).model for r, _ in fleet.values()} == {"second"},
        20,
        message="every router following the rule",
    )
    took = time.monotonic() - started
    print(f"\na routing rule reached every instance's router after {took * 1000:.0f} ms")
    for router, subscriber in fleet.values():
        decision = creative(router)
        assert (decision.reason.value, decision.rule) == ("rule", made.json()["id"])
        assert router.route("simple", agent_type="coder").model == "best"  # not matched
        assert subscriber.stats.policy_applied >= 1 and subscriber.stats.malformed == 0

    late = ModelCatalog.from_config(CATALOG)
    subscriber = ScoreUpdateSubscriber(settings, "late", late, request_snapshot=True)
    subscriber.start()
    try:
        assert subscriber.wait_until_current(20)
    finally:
        assert subscriber.stop(10)
    assert creative(ModelRouter(late, Sink(), instance_id="late", explore_share=0.0)).model == (
        "second"
    )

    deleted = httpx.delete(f"{api}/api/routing/rules/{made.json()['id']}", headers=operator)
    assert deleted.status_code == 204
    wait_for(
        lambda: {creative(r).model for r, _ in fleet.values()} == {"best"},
        20,
        message="every router back on the learned scores",
    )


def test_a_workspaces_spend_reaches_every_instance_which_then_refuses_it(
    api: str,
    keys: dict[Role, str],
    fleet: dict[str, Any],
    engine: Engine,
    celery_app: Any,
) -> None:
    """Budgets hold fleet-wide: spend reported by one instance's events, ingested, is sent by
    routelearn.fan_out_policy_inputs (beat) to every instance, whose routers then refuse the
    workspace's requests locally; another workspace is untouched."""
    from routelearn.constants import FAN_OUT_POLICY_INPUTS_TASK
    from routelearn.domain.routing_policy.engine import BudgetExhausted
    from routelearn.service.ingestion import Ingestor
    from tests.factories import make_event

    operator = bearer(keys[Role.OPERATOR])
    # Priced: under a budget a model without prices does not qualify (its cost is unknown).
    for name in ("best", "second"):
        httpx.post(
            f"{api}/api/models",
            json={
                "modelId": name,
                "name": name,
                "provider": "p",
                "prices": {"inputPer1k": 0.001, "outputPer1k": 0.002},
            },
            headers=operator,
        ).raise_for_status()
    for workspace in ("ws-spent", "ws-fresh"):
        httpx.post(
            f"{api}/api/workspaces/{workspace}/config",
            json={"budgetLimits": {"daily": 0.05}},
            headers=operator,
        ).raise_for_status()
    wait_for(
        lambda: all(
            s.stats.policy_applied == 2 and s.stats.registry_applied == 2 for _, s in fleet.values()
        ),
        20,
        message="the models and configs on every instance",
    )
    event = {**make_event("success", event_id="cost-1"), "workspace_id": "ws-spent"}
    Ingestor(engine).ingest([{**event, "usage": {"cost_usd": 0.06}}], source="test")

    def refused(router: ModelRouter) -> bool:
        try:
            router.route("simple", workspace_id="ws-spent")
        except BudgetExhausted:
            return True
        return False

    celery_app.send_task(FAN_OUT_POLICY_INPUTS_TASK)  # what beat sends every 10 s
    wait_for(
        lambda: all(refused(r) for r, _ in fleet.values()), 20, message="every router refusing"
    )
    for router, _ in fleet.values():
        assert router.route("simple", workspace_id="ws-fresh").model == "best"
        assert router.catalog.policy.spend_of("ws-spent") == {
            "daily": 0.06,
            "weekly": 0.06,
            "monthly": 0.06,
        }


def test_a_quality_floor_leaves_a_failing_model_out_on_every_instance_and_the_api(
    api: str,
    keys: dict[Role, str],
    fleet: dict[str, Any],
    engine: Engine,
    celery_app: Any,
) -> None:
    """A workspace's minSuccessRate judged on the fleet's recent success rate: the model that
    has been failing is left out for that workspace, on the instances (from the fan-out's
    quality report) and in POST /api/route (from model_quality) alike."""
    from routelearn.constants import FAN_OUT_POLICY_INPUTS_TASK
    from routelearn.service.ingestion import Ingestor
    from tests.factories import make_event

    operator, instance = bearer(keys[Role.OPERATOR]), bearer(keys[Role.INSTANCE])
    for name in ("best", "second"):
        httpx.post(
            f"{api}/api/models",
            json={"modelId": name, "name": name, "provider": "p"},
            headers=operator,
        ).raise_for_status()
    httpx.post(
        f"{api}/api/workspaces/ws-strict/config",
        json={"qualityRequirements": {"minSuccessRate": 0.9}},
        headers=operator,
    ).raise_for_status()
    # best fails half its simple requests; second none.
    failures = [
        make_event(
            "failure" if n % 2 else "success",
            model="best",
            complexity="simple",
            event_id=f"q-best-{n}",
            response_time_ms=300.0,
        )
        for n in range(40)
    ]
    failures += [
        make_event(
            "success",
            model="second",
            complexity="simple",
            event_id=f"q-second-{n}",
            response_time_ms=200.0,
        )
        for n in range(40)
    ]
    Ingestor(engine).ingest(failures, source="test")
    celery_app.send_task(FAN_OUT_POLICY_INPUTS_TASK)

    def strict(router: ModelRouter) -> str:
        return router.route("simple", workspace_id="ws-strict").model

    wait_for(
        lambda: {strict(r) for r, _ in fleet.values()} == {"second"},
        20,
        message="every router leaving best out for ws-strict",
    )
    for router, _ in fleet.values():
        assert router.route("simple", workspace_id="ws-other").model == "best"
        quality = router.catalog.policy.quality_of("best", "simple")
        assert quality is not None and quality.success_rate == 0.5

    def routed(workspace: str) -> str | None:
        response = httpx.post(
            f"{api}/api/route",
            json={"prompt": "hi", "complexity": "simple", "workspaceId": workspace},
            headers=instance,
        )
        return str(response.json()["modelId"]) if response.status_code == 200 else None

    wait_for(lambda: routed("ws-strict") == "second", 20, message="the API leaving best out")
    assert routed("ws-other") == "best"


def test_every_learner_tick_sends_its_estimates_to_every_instance(
    fleet: dict[str, Any], engine: Engine, celery_app: Any, settings: Settings
) -> None:
    """The learner's estimate report rides its fan-out round to every instance, where the
    routers' directed exploration reads it: here "second", with little evidence, is the one
    explored, not "third", known to be poor."""
    from routelearn.constants import LEARN_SCORES_TASK
    from routelearn.service.ingestion import Ingestor
    from tests.factories import make_event

    plan = {"best": (400, 0.98), "second": (25, 0.9), "third": (400, 0.6)}
    events = [
        make_event(
            "success" if n < rate * total else "failure",
            model=model,
            complexity="simple",
            event_id=f"e-{model}-{n}",
            response_time_ms=300.0,
        )
        for model, (total, rate) in plan.items()
        for n in range(total)
    ]
    Ingestor(engine).ingest(events, source="test")
    celery_app.send_task(LEARN_SCORES_TASK)

    def held(router: ModelRouter) -> bool:
        return router.catalog.estimates.of("third", "simple") is not None

    wait_for(lambda: all(held(r) for r, _ in fleet.values()), 20, message="estimates everywhere")
    reports = [r.catalog.estimates.report for r, _ in fleet.values()]
    assert all(r == reports[0] for r in reports)  # one report, the same on every instance
    report = reports[0]
    assert report is not None
    best, second, third = (report.of(m, "simple") for m in ("best", "second", "third"))
    assert best is not None and second is not None and third is not None
    assert best.mean > second.mean > third.mean
    assert second.spread > max(best.spread, third.spread)
    # An instance whose catalog ranks third above second explores second all the same.
    catalog = ModelCatalog.from_config(
        {
            "version": 1,
            "models": [
                {"name": name, "provider": "p", "scores": {"simple": score}}
                for name, score in (("best", 4.5), ("second", 3.0), ("third", 4.0))
            ],
        }
    )
    catalog.estimates.apply(report)
    explorer = ModelRouter(
        catalog, Sink(), instance_id="explorer", explore_share=1.0, explore_strategy="ucb"
    )
    assert {explorer.route("simple").model for _ in range(50)} == {"second"}
    # An instance that starts now has them from its snapshot, not only from the next tick.
    late = ModelCatalog.from_config(CATALOG)
    subscriber = ScoreUpdateSubscriber(settings, "late", late, request_snapshot=True)
    subscriber.start()
    try:
        assert subscriber.wait_until_current(20)
    finally:
        assert subscriber.stop(10)
    assert late.estimates.report == report
