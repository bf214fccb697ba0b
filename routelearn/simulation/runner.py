"""``routelearn simulate``: a scenario through the real pipeline, measured against the oracle.

A scratch database and Redis db, real ``celery worker`` processes (one for ingestion, one for
the learning queues) and a real ``celery beat`` with the scenario's intervals; the simulated
instances publish their decisions and outcomes and apply the fan-out's score updates like any
application would. Nothing here reads the learned scores except through the instances'
catalogs.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine, text

from routelearn.constants import INGEST_QUEUE, LEARN_QUEUE, MAINTENANCE_QUEUE
from routelearn.harness import beat, scratch, workers
from routelearn.instance.catalog.file import parse_catalog
from routelearn.simulation.fleet import Fleet
from routelearn.simulation.metrics import (
    Bucket,
    Summary,
    curve,
    share_between,
    summarise,
    time_to_move_away,
    time_to_win,
)
from routelearn.simulation.plot import write_plot
from routelearn.simulation.scenario import Change, Outage, Scenario
from routelearn.simulation.world import World
from routelearn.store import instances
from routelearn.store.engine import make_engine
from routelearn.store.scores import import_catalog

# A model "led" a complexity before an event if it took at least this share of its traffic in
# the LEAD_WINDOW seconds just before.
LEAD_SHARE, LEAD_WINDOW = 0.5, 3.0


@dataclass(frozen=True, slots=True)
class Move:
    label: str
    # "away": a degraded or failing model losing traffic; "toward": a new, recovered or upgraded
    # model winning it
    kind: str
    model: str
    complexity: str
    at: float
    seconds: float | None  # None: it never happened within the run
    ticks: float | None  # seconds / learner interval
    led: bool = True  # "away": the model led its complexity just before (else nothing to move)


@dataclass(frozen=True, slots=True)
class Report:
    scenario: str
    policy: str
    summary: Summary
    moves: tuple[Move, ...]
    plot: Path
    data: Path
    strategy: str = "thompson"


def policy_params(policy: str, scenario: Scenario) -> dict[str, bool | int | float]:
    # The production half-life (180 s) is three 60 s ticks; a scenario keeps three ticks.
    if policy == "calibrated":
        return {"half_life_seconds": 3 * scenario.learner_interval}
    return {}


def simulate(
    scenario: Scenario,
    policy: str,
    *,
    pg_base: str,
    broker_base: str,
    out_dir: Path,
    echo: Callable[[str], None] = print,
    params: Mapping[str, float] | None = None,
) -> Report:
    """``params``: score policy parameters to set for the run, over `policy_params`."""
    world = World(scenario)
    logs = out_dir / "logs"
    overrides: dict[str, object] = {
        "learner_interval": scenario.learner_interval,
        "anomaly_interval": scenario.anomaly_interval,
        "score_policy": policy,
        "score_policy_params": {**policy_params(policy, scenario), **(params or {})},
        "default_score": scenario.default_score,
    }
    with scratch(pg_base, broker_base, overrides) as settings:
        engine = make_engine(settings.database_url)
        try:
            import_catalog(
                engine, parse_catalog(scenario.catalog_config(0.0)), f"scenario {scenario.name}"
            )
            fleet = Fleet(scenario, settings, world)
            for instance in fleet.instances:
                instances.register(engine, instance.instance_id)
            with (
                workers(settings, INGEST_QUEUE, 1, 1, logs / "ingest"),
                workers(settings, f"{LEARN_QUEUE},{MAINTENANCE_QUEUE}", 1, 1, logs),
                beat(settings, logs),
            ):
                echo(
                    f"{scenario.name}: {scenario.instances} instances x "
                    f"{scenario.requests_per_second:g} req/s for {scenario.duration:g} s, "
                    f"policy {policy}, exploration {scenario.exploration_strategy}, "
                    f"learner tick {scenario.learner_interval:g} s"
                )
                beliefs: list[dict[str, object]] = []
                fleet.start()
                try:
                    _watch(fleet, scenario, echo, beliefs)
                finally:
                    fleet.stop()
            history = _score_history(engine, fleet.started_at_wall)
        finally:
            engine.dispose()
    buckets = fleet.recorder.buckets()
    summary = summarise(buckets)
    moves = tuple(find_moves(scenario, world, buckets))
    tracked = [(m.complexity, m.model) for m in moves]
    points = curve(buckets, scenario.learner_interval, tracked)
    strategy = scenario.exploration_strategy
    stem = f"{scenario.name}-{policy}" + ("" if strategy == "thompson" else f"-{strategy}")
    plot = write_plot(
        out_dir / f"{stem}.png",
        f"{scenario.name} ({policy}, {strategy}): routed {summary.relative_to_oracle:.1%} of "
        "the oracle",
        points,
        [(e.at, e.label or e.kind) for e in scenario.events]
        + [
            (e.at + e.duration, f"{e.label or 'outage'} ends")
            for e in scenario.events
            if isinstance(e, Outage)
        ]
        + [(t, "new model") for t in scenario.arrivals()],
    )
    data = out_dir / f"{stem}.json"
    data.write_text(
        json.dumps(
            {
                "scenario": scenario.name,
                "policy": policy,
                "exploration_strategy": strategy,
                "summary": asdict(summary),
                "moves": [asdict(m) for m in moves],
                "curve": [asdict(p) for p in points],
                "score_history": history,
                "beliefs": beliefs,
            },
            indent=2,
            default=lambda v: None if isinstance(v, float) and math.isnan(v) else str(v),
        )
    )
    return Report(scenario.name, policy, summary, moves, plot, data, strategy)


def _score_history(engine: Engine, started_at: datetime) -> list[dict[str, object]]:
    """Every score change of the run, with its time in run seconds (for the JSON report)."""
    with engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT changed_at, model_name, complexity_level, old_score, new_score, version,"
                " reason FROM score_history WHERE policy <> 'catalog' ORDER BY id"
            )
        ).all()
    return [
        {
            "t": round((r[0] - started_at).total_seconds(), 2),
            "model": r[1],
            "complexity": r[2],
            "old": r[3],
            "new": r[4],
            "version": r[5],
            "reason": r[6],
        }
        for r in rows
    ]


def _watch(
    fleet: Fleet,
    scenario: Scenario,
    echo: Callable[[str], None],
    beliefs: list[dict[str, object]],
) -> None:
    """One line per learner tick, about the tick that just ended; and a line as soon as the
    traffic has moved away from a model that degraded. Adds what the routers believed at each
    edge of the run's ticks, a moment after it (`Fleet.beliefs`, timed), to ``beliefs``."""
    width = scenario.learner_interval
    edge = width
    pending: list[Move] = []
    while edge <= scenario.duration + 1e-9:
        time.sleep(max(0.0, edge - fleet.elapsed()) + 0.2)
        beliefs += fleet.beliefs(fleet.elapsed())
        buckets = fleet.recorder.buckets()
        window = {s: b for s, b in buckets.items() if edge - width <= s < edge}
        if window:
            line = _line(window)
            echo(f"t={edge:6.1f}s  {line}")
        for event in scenario.events:
            if edge - width <= event.at < edge:
                pending += [
                    m for m in find_moves(scenario, fleet.world, buckets) if m.at == event.at
                ]
        for move in [m for m in pending if m.kind == "away" and m.led]:
            seconds = time_to_move_away(buckets, move.complexity, move.model, move.at)
            if seconds is not None:
                echo(
                    f"          {move.label}: traffic moved away from {move.model}/"
                    f"{move.complexity} {seconds:.0f} s ({seconds / width:.1f} ticks) after it"
                )
                pending.remove(move)
        edge += width


def _line(window: dict[int, Bucket]) -> str:
    n = sum(b.requests for b in window.values())
    observed = sum(b.successes for b in window.values()) / n
    expected = sum(b.expected for b in window.values()) / n
    oracle = sum(b.oracle for b in window.values()) / n
    cost = sum(b.cost for b in window.values()) / n
    ratio = expected / oracle if oracle else math.nan
    return (
        f"routed {observed:.3f} (true {expected:.3f})  oracle {oracle:.3f}  "
        f"ratio {ratio:6.1%}  mean cost ${cost * 1000:.3f}/1k req  ({n} req)"
    )


def find_moves(scenario: Scenario, world: World, buckets: dict[int, Bucket]) -> list[Move]:
    moves: list[Move] = []
    tick = scenario.learner_interval

    def away(label: str, model: str, complexity: str, at: float) -> None:
        led = share_between(buckets, complexity, model, at - LEAD_WINDOW, at) >= LEAD_SHARE
        seconds = time_to_move_away(buckets, complexity, model, at) if led else None
        ticks = None if seconds is None else seconds / tick
        moves.append(Move(label, "away", model, complexity, at, seconds, ticks, led))

    def toward(label: str, model: str, complexity: str, at: float) -> None:
        seconds = time_to_win(buckets, complexity, model, at)
        ticks = None if seconds is None else seconds / tick
        moves.append(Move(label, "toward", model, complexity, at, seconds, ticks))

    for event in scenario.events:
        if isinstance(event, Change):
            for complexity, delta in event.truth.items():
                before = world.behaviour(event.model, complexity, max(0.0, event.at - 1e-6))
                if delta.success is not None and delta.success < before.success:
                    away(event.label or "degradation", event.model, complexity.value, event.at)
                elif delta.success is not None and delta.success > before.success:
                    # A recovery or an upgrade: measured where the model is now the best.
                    best, _ = world.oracle(complexity, event.at, world.available_at(event.at))
                    if best == event.model:
                        toward(event.label or "recovery", event.model, complexity.value, event.at)
        elif isinstance(event, Outage):
            for name in world.models():
                if world.provider(name) != event.provider:
                    continue
                for complexity in scenario.mix:
                    # Only where the provider's model led: the others had nothing to lose.
                    start = event.at - LEAD_WINDOW
                    if share_between(buckets, complexity.value, name, start, event.at) >= 0.5:
                        away(event.label or "outage", name, complexity.value, event.at)
    for model in scenario.models:
        if model.available_from <= 0:
            continue
        for complexity in scenario.mix:
            others = [m.name for m in scenario.models if m.name != model.name]
            best, _ = world.oracle(complexity, model.available_from, [*others, model.name])
            if best == model.name:
                toward("new model", model.name, complexity.value, model.available_from)
    return moves
