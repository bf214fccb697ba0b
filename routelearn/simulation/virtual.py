"""A scenario in virtual time, many seeds in the time of one real run: for comparing designs.

`routelearn simulate` is the measure of record: the real pipeline in real time, one run per
150 s, and a run's "moved to" varies from 2 to 10 ticks with the luck of a few explored
outcomes. One run per design says little. This runs the same scenario with the same parts
where the learning happens: the real `ModelRouter`s and catalogs, the `World`, the score
policy's own functions (`decide_all`, `estimate_all`, `state_after`) and the recency sums
(`routelearn.domain.recency`), and in place of the database and the broker, a learner tick that
counts in memory: the change window, the segment before it and the short windows from per-tick
snapshots, as `routelearn.store.learner` takes them from ``metric_snapshots``. What it leaves
out: latency (every latency factor is 1: no histograms), ingestion and fan-out delays (a tick
sees every outcome before it, and every instance gets its result at once), requests spread
over threads, and chance in where a tick falls (ticks land on the scenario's whole intervals,
where its events are). So its figures compare designs with each other over many
seeds; the real simulator confirms the one chosen.

    python -m routelearn.simulation.virtual scenarios/model-upgraded.yaml --seeds 24 \\
        --param rise_g=6.63 --router probe_share=0.25
"""

from __future__ import annotations

import argparse
import math
import random
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from routelearn.domain import recency
from routelearn.domain.estimates import EstimateReport
from routelearn.domain.event import Complexity
from routelearn.domain.latency import NUM_BUCKETS
from routelearn.domain.policy.base import EvidenceBatch
from routelearn.domain.policy.calibrated import CalibratedParams, CalibratedPolicy
from routelearn.instance.catalog.model import ModelCatalog
from routelearn.instance.router import ModelRouter
from routelearn.simulation.fleet import scenario_router
from routelearn.simulation.metrics import Recorder, Summary, summarise
from routelearn.simulation.runner import Move, find_moves, policy_params
from routelearn.simulation.scenario import Scenario, load_scenario
from routelearn.simulation.world import World
from routelearn.store.learner import BEFORE_WINDOW_TICKS, CHANGE_WINDOW_TICKS, SHORT_WINDOW_TICKS

if TYPE_CHECKING:
    from routelearn.domain.recency import Vector

Key = tuple[str, str]
Counts = dict[Key, tuple[int, int]]
_START = datetime(2026, 1, 1, tzinfo=UTC)


class _Sink:
    """The routers' event sink: the virtual learner counts outcomes itself."""

    def publish(self, event: dict[str, Any]) -> bool:
        return True


def _ticks_back(ticks: float) -> int:
    """How many snapshots back the newest one at least ``ticks`` intervals old is (a tick's
    snapshot is taken as it ends)."""
    return math.ceil(ticks)


@dataclass
class VirtualLearner:
    """The learner's tick over in-memory counters, scores and recency sums."""

    policy: CalibratedPolicy
    interval: float
    default_score: float
    scores: dict[Key, float] = field(default_factory=dict)
    versions: dict[Key, int] = field(default_factory=dict)
    counts: dict[Key, list[int]] = field(default_factory=dict)
    snapshots: list[Counts] = field(default_factory=list)
    # key -> (weighted successes, weighted failures, successes seen, failures seen)
    state: dict[Key, tuple[float, float, int, int]] = field(default_factory=dict)

    def count(self, key: Key, success: bool) -> None:
        counts = self.counts.setdefault(key, [0, 0])
        counts[0 if success else 1] += 1

    def _between(self, keys: Sequence[Key], later: int, earlier: int) -> tuple[Vector, Vector]:
        """Successes and failures between the snapshots ``earlier`` and ``later`` ticks back
        (0: the counters now); NaN where one is missing."""
        import numpy as np

        def at(back: int, key: Key) -> tuple[int, int] | None:
            if back == 0:
                counts = self.counts.get(key)
                return None if counts is None else (counts[0], counts[1])
            return self.snapshots[-back].get(key) if len(self.snapshots) >= back else None

        s = np.full(len(keys), np.nan)
        f = np.full(len(keys), np.nan)
        for i, key in enumerate(keys):
            then, now = at(earlier, key), at(later, key)
            if then is not None and now is not None:
                s[i], f[i] = now[0] - then[0], now[1] - then[1]
        return s, f

    def tick(self, as_of: datetime) -> tuple[list[tuple[Key, float, int]], EstimateReport]:
        """The score changes (key, new score, version) and the estimate report."""
        import numpy as np

        keys = sorted(self.counts)
        n = len(keys)
        successes = np.array([self.counts[k][0] for k in keys], dtype=float)
        failures = np.array([self.counts[k][1] for k in keys], dtype=float)
        none = np.zeros((n, NUM_BUCKETS))
        weighted_s, weighted_f = np.zeros(n), np.zeros(n)
        seen_s, seen_f = np.zeros(n), np.zeros(n)
        elapsed = np.full(n, np.nan)
        for i, key in enumerate(keys):
            if key in self.state:
                weighted_s[i], weighted_f[i], seen_s[i], seen_f[i] = self.state[key]
                elapsed[i] = self.interval
        recent = recency.advance(
            recency.Rows(successes, failures, none),
            recency.Rows(seen_s, seen_f, none),
            recency.Rows(weighted_s, weighted_f, none),
            elapsed,
            self.policy.decay,
        )
        window = _ticks_back(CHANGE_WINDOW_TICKS)
        window_s, window_f = self._between(keys, 0, window)
        before_s, before_f = self._between(keys, window, _ticks_back(BEFORE_WINDOW_TICKS))
        batch = EvidenceBatch(
            keys=keys,
            current_scores=np.array(
                [self.scores.get(k, self.default_score) for k in keys], dtype=float
            ),
            successes=[int(v) for v in successes],
            failures=[int(v) for v in failures],
            histograms=np.zeros((n, NUM_BUCKETS), dtype=np.int64),
            mean_response_ms=[None] * n,
            recent=recent,
            outcomes_at_last_adjustment=[0] * n,
            window_successes=window_s,
            window_failures=window_f,
            before_successes=before_s,
            before_failures=before_f,
            short=tuple(self._between(keys, 0, _ticks_back(t)) for t in SHORT_WINDOW_TICKS),
        )
        changes = []
        for i, decision in self.policy.decide_all(batch):
            key = keys[i]
            self.versions[key] = self.versions.get(key, 0) + 1
            self.scores[key] = decision.new_score
            changes.append((key, decision.new_score, self.versions[key]))
        means, spreads = self.policy.estimate_all(batch)
        kept = self.policy.state_after(batch)
        for i, key in enumerate(keys):
            counts = self.counts[key]
            self.state[key] = (
                float(kept.successes[i]),
                float(kept.failures[i]),
                counts[0],
                counts[1],
            )
        self.snapshots.append({k: (v[0], v[1]) for k, v in self.counts.items()})
        del self.snapshots[: -_ticks_back(BEFORE_WINDOW_TICKS) - 1]
        report = EstimateReport.of_rows(
            as_of, self.policy.name, keys, means.tolist(), spreads.tolist()
        )
        return changes, report


def run_virtual(
    scenario: Scenario,
    seed: int,
    router: Mapping[str, Any] | None = None,
    params: Mapping[str, float | str] | None = None,
) -> tuple[Summary, list[Move]]:
    """One run of ``scenario`` under the calibrated policy: its summary and its moves."""
    world = World(scenario)
    interval = scenario.learner_interval
    now = [0.0]

    def clock() -> float:
        return now[0]

    rng = random.Random(seed)
    fleet: list[tuple[ModelRouter, ModelCatalog, random.Random]] = []
    for n in range(scenario.instances):
        catalog = ModelCatalog.from_config(scenario.catalog_config(0.0))
        routed = scenario_router(
            scenario,
            catalog,
            _Sink(),
            f"virtual-{n}",
            random.Random(rng.random()),
            clock,
            **(router or {}),
        )
        fleet.append((routed, catalog, random.Random(rng.random())))
    chosen: dict[str, Any] = {**policy_params("calibrated", scenario), **(params or {})}
    policy = CalibratedPolicy(CalibratedParams(**chosen))
    learner = VirtualLearner(policy, interval, scenario.default_score)
    for entry in fleet[0][1].models():
        for complexity in Complexity:
            learner.scores[(entry.name, complexity.value)] = entry.scores[complexity]
    recorder = Recorder()
    complexities = list(scenario.mix)
    weights = list(scenario.mix.values())
    arrivals = scenario.arrivals()
    step = 1.0 / (scenario.instances * scenario.requests_per_second)
    next_tick, k = interval, 0
    while True:
        t = k * step
        while t >= next_tick:  # the ticks due before this request
            now[0] = next_tick
            changes, report = learner.tick(_START + timedelta(seconds=next_tick))
            for _, catalog, _ in fleet:
                for (model, level), score, version in changes:
                    catalog.apply_update(model, level, score, version)
                catalog.estimates.apply(report)
            next_tick += interval
        if t >= scenario.duration:
            break
        now[0] = t
        while arrivals and arrivals[0] <= t:
            config = scenario.catalog_config(arrivals.pop(0))
            for _, catalog, _ in fleet:
                catalog.reload(config)
        routed, catalog, instance_rng = fleet[k % len(fleet)]
        k += 1
        complexity = instance_rng.choices(complexities, weights)[0]
        decision = routed.route(complexity)
        sample = world.sample(decision.model, complexity, t, instance_rng)
        routed.report(decision, sample.success, sample.latency_ms)
        learner.count((decision.model, complexity.value), sample.success)
        _, oracle = world.oracle(complexity, t, [e.name for e, _ in catalog.candidates(complexity)])
        recorder.record(
            t,
            complexity.value,
            decision.model,
            success=sample.success,
            expected=world.success_probability(decision.model, complexity, t),
            oracle=oracle,
            cost=0.0,
            exploratory=decision.exploratory,
        )
    buckets = recorder.buckets()
    return summarise(buckets), find_moves(scenario, world, buckets)


def _settings(pairs: Sequence[str]) -> dict[str, float | str]:
    """NAME=VALUE pairs: a number where the value reads as one, else the text."""
    settings: dict[str, float | str] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            raise SystemExit(f"expected NAME=VALUE, got {pair!r}")
        try:
            settings[name] = float(value)
        except ValueError:
            settings[name] = value
    return settings


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("scenario")
    parser.add_argument("--seeds", type=int, default=16)
    parser.add_argument("--param", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--router", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--instances", type=int)
    parser.add_argument("--rps", type=float)
    args = parser.parse_args(argv)
    scenario = load_scenario(args.scenario)
    update = {"instances": args.instances, "requests_per_second": args.rps}
    update = {k: v for k, v in update.items() if v is not None}
    scenario = Scenario.model_validate({**scenario.model_dump(), **update})
    params, router = _settings(args.param), _settings(args.router)
    ratios: list[float] = []
    moves: dict[str, list[float]] = {}
    for seed in range(args.seeds):
        summary, found = run_virtual(scenario, seed, router, params)
        ratios.append(summary.relative_to_oracle)
        for move in found:
            if move.kind == "away" and not move.led:
                continue  # nothing to move away from
            label = f"{move.kind} {move.model}/{move.complexity}"
            moves.setdefault(label, []).append(move.ticks if move.ticks is not None else 99.0)
    print(
        f"{scenario.name}: {args.seeds} seeds, relative to the oracle: mean "
        f"{statistics.mean(ratios):.2%}, lowest {min(ratios):.2%}"
    )
    for label, ticks in moves.items():
        goal = 5 if label.startswith("toward") else 3
        met = sum(1 for t in ticks if t <= goal)
        shown = ", ".join("never" if t == 99.0 else f"{t:g}" for t in sorted(ticks))
        print(
            f"  {label}: ticks {shown}; within {goal}: {met} of {len(ticks)}, median "
            f"{statistics.median(ticks):g}"
        )


if __name__ == "__main__":
    main()
