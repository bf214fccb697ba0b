"""``routelearn.fan_out_scores``: one round of score updates to every active instance's queue;
``routelearn.fan_out_registry``: the registry's outbox of changes, and the routing policy's,
the same way; ``routelearn.fan_out_policy_inputs``: the spend and quality the routing policy
reads."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime
from typing import Any

from celery import shared_task

from routelearn.constants import (
    FAN_OUT_POLICY_INPUTS_TASK,
    FAN_OUT_REGISTRY_TASK,
    FAN_OUT_SCORES_TASK,
)
from routelearn.domain.estimates import EstimateReport, InvalidEstimateReport
from routelearn.domain.registry import RegistryChange
from routelearn.domain.routing_policy.change import PolicyChange
from routelearn.domain.routing_policy.engine import budget_zones, needs_quality
from routelearn.domain.routing_policy.spend import SpendReport
from routelearn.domain.score_update import InvalidScoreUpdate, ScoreUpdate
from routelearn.messaging.fanout import fan_out
from routelearn.observability import metrics
from routelearn.observability.metrics import FanOutKind
from routelearn.service.tasks.base import RouteLearnTask
from routelearn.store import instances, policy, quality, registry, usage

log = logging.getLogger(__name__)


@shared_task(name=FAN_OUT_SCORES_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def fan_out_scores(
    self: RouteLearnTask, updates: list[Any], estimates: dict[str, Any] | None = None
) -> dict[str, int]:
    """Safe to run twice: instances ignore a version they already hold, and an estimate report
    older than theirs."""
    app = self.rl_app
    parsed = []
    for message in updates:
        try:
            parsed.append(ScoreUpdate.from_message(message))
        except InvalidScoreUpdate as exc:  # a bad message is dropped, the rest still goes out
            log.error("score update not sent: %s", exc)
    inputs = None
    if estimates is not None:
        try:
            inputs = {"estimates": EstimateReport.from_message(estimates).to_message()}
        except InvalidEstimateReport as exc:
            log.error("estimate report not sent: %s", exc)
    if not parsed and inputs is None:
        return {"instances": 0, "updates": 0}
    targets = instances.active_ids(app.engine)
    report = fan_out(app.settings, targets, parsed, inputs=inputs)
    if report.messages:
        metrics.observe_fanout(FanOutKind.SCORES, report.seconds)
    if report.trimmed_queues:
        log.warning(
            "%d instance queues were full: their oldest rounds were dropped", report.trimmed_queues
        )
    return {"instances": report.instances, "updates": len(parsed), "trimmed": report.trimmed_queues}


@shared_task(name=FAN_OUT_REGISTRY_TASK, bind=True, base=RouteLearnTask, on_transient="requeue")
def fan_out_registry(self: RouteLearnTask) -> dict[str, int]:
    """Send the registry's changes not sent yet, then the routing policy's, oldest first, and
    mark them sent in the same transaction: a failed send leaves them for the next run. Safe to
    run twice at once (each takes other rows) and to repeat (instances ignore a version they
    hold)."""
    app = self.rl_app
    started = time.perf_counter()
    sent = pieces = 0
    targets: list[str] | None = None
    for outbox in (registry, policy):
        while True:
            with app.engine.begin() as conn:
                rows = outbox.unsent_changes(conn)
                if not rows:
                    break
                if targets is None:
                    targets = instances.active_ids(app.engine)
                # With no instance registered yet there is no one to tell: a starting instance
                # takes the registry and the policy from its snapshot.
                if outbox is registry:
                    changes = [RegistryChange.from_message(payload) for _, payload in rows]
                    fan_out(app.settings, targets, [], changes)
                    sent += len(rows)
                else:
                    policies = [PolicyChange.from_message(payload) for _, payload in rows]
                    fan_out(app.settings, targets, [], (), policies)
                    pieces += len(rows)
                outbox.mark_sent(conn, [row_id for row_id, _ in rows])
    if (sent or pieces) and targets:
        metrics.observe_fanout(FanOutKind.REGISTRY, time.perf_counter() - started)
    return {"instances": len(targets or ()), "changes": sent, "policy": pieces}


@shared_task(
    name=FAN_OUT_POLICY_INPUTS_TASK, bind=True, base=RouteLearnTask, on_transient="requeue"
)
def fan_out_policy_inputs(self: RouteLearnTask) -> dict[str, int]:
    """Send the routing policy's inputs that move with traffic to every instance, so their
    routers decide as the API does (beat, every ROUTELEARN_POLICY_INPUTS_INTERVAL): each
    budgeted workspace's spend per period, and, while some piece sets a quality or performance
    floor, each model's recent success rate and latency (also kept in ``model_quality`` for
    the API). Nothing is sent while no piece needs either. Safe to repeat: an instance keeps
    the newest report."""
    app = self.rl_app
    now = datetime.now(UTC)
    inputs: dict[str, Any] = {}
    with app.engine.begin() as conn:
        state = policy.state_of(policy.current_changes(conn))
        zones = budget_zones(state)
        if zones:
            inputs["spend"] = SpendReport(now, usage.spend(conn, zones, now)).to_message()
        if needs_quality(state):
            inputs["quality"] = quality.refresh(conn, now).to_message()
    if not inputs:
        return {"instances": 0, "workspaces": 0, "models": 0}
    targets = instances.active_ids(app.engine)
    fan_out(app.settings, targets, [], inputs=inputs)
    return {
        "instances": len(targets),
        "workspaces": len(zones),
        "models": len(inputs.get("quality", {}).get("models", {})),
    }
