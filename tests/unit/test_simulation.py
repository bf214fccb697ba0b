"""The simulator's pure parts: scenarios, the hidden truth and its oracle, the measurements."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest

from routelearn.errors import ConfigError
from routelearn.simulation.metrics import Recorder, curve, summarise, time_to_move_away
from routelearn.simulation.scenario import Scenario, load_scenario
from routelearn.simulation.world import OUTAGE_LATENCY_MS, World

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def scenario(**extra: object) -> Scenario:
    data: dict[str, object] = {
        "name": "t",
        "duration": 100,
        "models": [
            {
                "name": "a",
                "provider": "p",
                "catalog": {"scores": {"complex": 4.5}},
                "truth": {
                    c: {"success": 0.9, "latency_ms": 100.0}
                    for c in ("simple", "medium", "complex")
                },
            },
            {
                "name": "b",
                "provider": "q",
                "available_from": 30,
                "truth": {
                    c: {"success": 0.99, "latency_ms": 100.0}
                    for c in ("simple", "medium", "complex")
                },
            },
        ],
        "events": [
            {"at": 50, "kind": "change", "model": "a", "truth": {"complex": {"success": 0.5}}},
            {"at": 60, "kind": "outage", "provider": "q", "duration": 10},
        ],
    }
    data.update(extra)
    return Scenario.model_validate(data)


def test_shipped_scenarios_load() -> None:
    names = {load_scenario(p).name for p in SCENARIOS.glob("*.yaml")}
    assert {"steady", "model-degrades", "better-model", "provider-outage"} <= names


def test_a_bad_scenario_names_the_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\nmodels: []\nrequests_per_second: -1\n")
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert "requests_per_second" in str(err.value) and "models" in str(err.value)
    with pytest.raises(ValueError, match="unknown model 'zz'"):
        scenario(events=[{"at": 1, "kind": "change", "model": "zz", "truth": {}}])


def test_catalog_holds_only_models_available_by_then() -> None:
    s = scenario()
    assert [m["name"] for m in s.catalog_config(10)["models"]] == ["a"]
    assert [m["name"] for m in s.catalog_config(30)["models"]] == ["a", "b"]
    assert s.catalog_config(0)["models"][0]["scores"] == {"complex": 4.5}
    assert s.arrivals() == [30]


def test_truth_changes_at_its_time_and_outages_fail_fast() -> None:
    world = World(scenario())
    assert world.success_probability("a", "complex", 49.9) == 0.9
    assert world.success_probability("a", "complex", 50.0) == 0.5
    assert world.success_probability("a", "simple", 50.0) == 0.9  # only complex changed
    assert world.success_probability("b", "simple", 10) == 0.0  # not available yet
    assert world.success_probability("b", "simple", 40) == 0.99
    assert world.success_probability("b", "simple", 65) == 0.0  # outage
    sample = world.sample("b", "simple", 65, random.Random(1))
    assert not sample.success and sample.latency_ms == OUTAGE_LATENCY_MS


def test_sampling_follows_the_truth() -> None:
    world = World(scenario())
    rng = random.Random(3)
    samples = [world.sample("a", "complex", 10, rng) for _ in range(4000)]
    rate = sum(s.success for s in samples) / len(samples)
    assert abs(rate - 0.9) < 0.02
    latencies = sorted(s.latency_ms for s in samples)
    assert abs(latencies[len(latencies) // 2] - 100.0) < 5.0  # the median given


def test_oracle_picks_the_truly_best_available_candidate() -> None:
    world = World(scenario())
    assert world.oracle("complex", 10, ["a", "b"]) == ("a", 0.9)  # b not there yet
    assert world.oracle("complex", 40, ["a", "b"]) == ("b", 0.99)
    assert world.oracle("complex", 65, ["a", "b"]) == ("a", 0.5)  # b in outage
    assert world.oracle("complex", 40, ["unknown"]) == (None, 0.0)


def test_summary_curve_and_time_to_move_away() -> None:
    rec = Recorder()
    for second in range(20):
        # 10 requests a second; model "bad" gets all of them until 8 s, then 1 in 10.
        for i in range(10):
            model = "bad" if second < 8 or i == 0 else "good"
            rec.record(
                second + 0.5,
                "complex",
                model,
                success=model == "good",
                expected=0.5 if model == "bad" else 0.9,
                oracle=0.9,
                cost=0.01,
                exploratory=False,
            )
    buckets = rec.buckets()
    summary = summarise(buckets)
    assert summary.requests == 200
    expected = (80 * 0.5 + 12 * 0.5 + 108 * 0.9) / 200
    assert math.isclose(summary.expected_rate, expected)
    assert math.isclose(summary.relative_to_oracle, expected / 0.9)
    assert time_to_move_away(buckets, "complex", "bad", since=5) == 3.0
    assert time_to_move_away(buckets, "complex", "good", since=8) is None
    points = curve(buckets, 5.0, tracked=[("complex", "bad")])
    assert [p.start for p in points] == [0, 5, 10, 15]
    assert points[0].share["bad/complex"] == 1.0 and math.isclose(
        points[2].share["bad/complex"], 0.1
    )
