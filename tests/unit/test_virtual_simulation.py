"""The virtual-time simulator: its learner counts the windows the real learner reads, and a
scenario run through it moves traffic as the real simulator's does."""

from __future__ import annotations

import math
import statistics
from pathlib import Path

import pytest

from routelearn.domain.policy.calibrated import CalibratedPolicy
from routelearn.simulation.scenario import Scenario, load_scenario
from routelearn.simulation.virtual import VirtualLearner, _ticks_back, run_virtual
from routelearn.store.learner import BEFORE_WINDOW_TICKS, CHANGE_WINDOW_TICKS
from tests.factories import behaviour

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def test_a_window_starts_at_the_newest_snapshot_old_enough() -> None:
    # Snapshots are taken as ticks end: "at least 2.5 intervals old" is 3 ticks back.
    assert [_ticks_back(t) for t in (0.5, 1.5, 2.5, 3.0, 8.5)] == [1, 2, 3, 3, 9]


def test_the_learner_counts_each_segment_between_its_snapshots() -> None:
    learner = VirtualLearner(CalibratedPolicy(), 5.0, 2.5)
    key = ("m", "complex")
    # Ten ticks: tick i adds i successes and one failure.
    for i in range(1, 11):
        for _ in range(i):
            learner.count(key, True)
        learner.count(key, False)
        learner.snapshots.append({key: (learner.counts[key][0], learner.counts[key][1])})
    learner.count(key, True)  # since the last snapshot
    window = _ticks_back(CHANGE_WINDOW_TICKS)
    s, f = learner._between([key], 0, window)
    assert (s[0], f[0]) == (1 + 10 + 9, 2)  # now, and ticks 10 and 9
    s, f = learner._between([key], window, _ticks_back(BEFORE_WINDOW_TICKS))
    assert (s[0], f[0]) == (8 + 7 + 6 + 5 + 4 + 3, 6)
    s, f = learner._between([("other", "complex")], 0, 1)
    assert math.isnan(s[0]) and math.isnan(f[0])


def test_a_degraded_leader_loses_its_traffic_and_a_new_better_model_wins_it() -> None:
    scenario = Scenario.model_validate(
        {
            "name": "virtual",
            "duration": 60,
            "instances": 3,
            "requests_per_second": 15,
            "mix": {"simple": 0.0, "medium": 0.0, "complex": 1.0},
            "learner_interval": 2,
            "anomaly_interval": 2,
            "circuit_breaker": None,
            "models": [
                {"name": "lead", "provider": "a", "catalog": {"scores": {"complex": 4.8}},
                 "truth": behaviour(0.99)},
                {"name": "second", "provider": "b", "catalog": {"scores": {"complex": 3.6}},
                 "truth": behaviour(0.85)},
                {"name": "new", "provider": "c", "available_from": 30, "truth": behaviour(0.995)},
            ],
            "events": [
                {"at": 10, "kind": "change", "model": "lead",
                 "truth": {"complex": {"success": 0.4}}},
            ],
        }
    )  # fmt: skip
    summary, moves = run_virtual(scenario, seed=1)
    by_kind = {(m.kind, m.model, m.complexity): m for m in moves}
    away = by_kind[("away", "lead", "complex")]
    assert away.led and away.ticks is not None and away.ticks <= 3, away
    toward = by_kind[("toward", "new", "complex")]
    assert toward.ticks is not None, toward  # it took over half the traffic
    assert summary.requests == 60 * 45
    assert 0.85 < summary.relative_to_oracle <= 1.0


@pytest.mark.parametrize(
    ("name", "median_ticks"),
    [("better-model", 5.0), ("model-recovers", 5.0), ("model-upgraded", 6.0)],
)
def test_a_model_that_became_the_best_wins_its_traffic_within_five_ticks_over_seeds(
    name: str, median_ticks: float
) -> None:
    """Issue 15's goal over seeds rather than one run, in the virtual simulator (deterministic
    per seed): over the first 8 seeds, the median of the ticks until traffic moves to the model
    that became the best is within 5 for every complexity of a new model and of a recovery.
    For an upgraded model learned weak, the part of the goal not met (docs/score-policies.md,
    "Many seeds"), within 6: a pin, so that it gets no slower unnoticed."""
    scenario = load_scenario(SCENARIOS / f"{name}.yaml")
    ticks: dict[str, list[float]] = {}
    for seed in range(8):
        _, moves = run_virtual(scenario, seed)
        for move in moves:
            if move.kind == "toward":
                took = math.inf if move.ticks is None else move.ticks  # never
                ticks.setdefault(f"{move.model}/{move.complexity}", []).append(took)
    assert len(ticks) >= 2, ticks
    for label, took_all in ticks.items():
        assert len(took_all) == 8, (label, took_all)
        assert statistics.median(took_all) <= median_ticks, (label, sorted(took_all))
