"""A short simulated run through the real pipeline (publisher, worker processes, beat, learner,
fan-out, subscribers): the learned scores move traffic away from a model that degrades."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from routelearn.settings import Settings
from routelearn.simulation.runner import simulate
from routelearn.simulation.scenario import Change, Scenario
from tests.factories import behaviour
from tests.services import BROKER_BASE, PG_BASE, run_cli_process

pytestmark = pytest.mark.integration


SCENARIO = Scenario.model_validate(
    {
        "name": "test-degrade",
        "duration": 36,
        "instances": 3,
        "requests_per_second": 15,
        "mix": {"simple": 0.0, "medium": 0.0, "complex": 1.0},
        "learner_interval": 2,
        "anomaly_interval": 2,
        # Off: traffic may only move because the learned scores moved.
        "circuit_breaker": None,
        "models": [
            {
                "name": "lead",
                "provider": "a",
                "catalog": {"scores": {"complex": 4.8}},
                "truth": behaviour(0.99),
            },
            {
                "name": "second",
                "provider": "b",
                "catalog": {"scores": {"complex": 3.6}},
                "truth": behaviour(0.85),
            },
        ],
        "events": [
            {
                "at": 10,
                "kind": "change",
                "model": "lead",
                "label": "lead degrades",
                "truth": {"complex": {"success": 0.4}},
            },
        ],
    }
)


def test_learned_scores_move_traffic_away_from_a_degraded_model(tmp_path: Path) -> None:
    report = simulate(
        SCENARIO,
        "calibrated",
        pg_base=PG_BASE,
        broker_base=BROKER_BASE,
        out_dir=tmp_path,
        echo=lambda line: None,
    )
    (move,) = report.moves
    assert (move.model, move.complexity, move.kind, move.led) == ("lead", "complex", "away", True)
    assert move.seconds is not None, "traffic never moved away from the degraded model"
    assert move.ticks is not None and move.ticks <= 5
    data = json.loads(report.data.read_text())
    # The learner lowered the degraded model's score after the degradation, and instances
    # applied it: that, not a breaker (off), is what moved the traffic.
    lowered = [
        h
        for h in data["score_history"]
        if h["model"] == "lead" and h["t"] > 10 and h["new"] < h["old"]
    ]
    assert lowered, data["score_history"]
    final = {(h["model"], h["complexity"]): h["new"] for h in data["score_history"]}
    assert final[("lead", "complex")] < final.get(("second", "complex"), 3.6)
    # What the routers believed at each tick's end: lead's score and estimate fell with it.
    lead = [b for b in data["beliefs"] if b["model"] == "lead" and b["complexity"] == "complex"]
    assert len(lead) >= 15, lead  # one a tick (2 s) over 36 s
    first, last = lead[0], lead[-1]
    assert first["score"] >= 4.5 and last["score"] < 4.0, lead
    assert last["mean"] is not None and last["mean"] < 4.0 and last["spread"] > 0, lead
    assert report.plot.stat().st_size > 10_000  # a PNG was drawn
    assert 0.9 < report.summary.relative_to_oracle <= 1.0


def short(
    name: str,
    models: list[dict[str, object]],
    events: list[dict[str, object]],
    requests_per_second: float = 25,
) -> Scenario:
    """A scenario of the same shape as the test above, sized for CI: complex work only,
    3 instances, a 2 s learner tick, no breaker."""
    return Scenario.model_validate(
        {
            "name": name,
            "duration": 40,
            "instances": 3,
            "requests_per_second": requests_per_second,
            "mix": {"simple": 0.0, "medium": 0.0, "complex": 1.0},
            "learner_interval": 2,
            "anomaly_interval": 2,
            "circuit_breaker": None,
            "models": models,
            "events": events,
        }
    )


RECOVERY = short(
    "test-recover",
    [
        {"name": "lead", "provider": "a", "catalog": {"scores": {"complex": 4.8}},
         "truth": behaviour(0.99)},
        {"name": "second", "provider": "b", "catalog": {"scores": {"complex": 4.0}},
         "truth": behaviour(0.92)},
    ],
    [
        {"at": 8, "kind": "change", "model": "lead", "label": "lead degrades",
         "truth": {"complex": {"success": 0.5}}},
        {"at": 22, "kind": "change", "model": "lead", "label": "lead recovers",
         "truth": {"complex": {"success": 0.99}}},
    ],
)  # fmt: skip

UPGRADE = short(
    "test-upgrade",
    [
        {"name": "lead", "provider": "a", "catalog": {"scores": {"complex": 4.0}},
         "truth": behaviour(0.9)},
        {"name": "weak", "provider": "b", "catalog": {"scores": {"complex": 2.5}},
         "truth": behaviour(0.7)},
    ],
    [
        {"at": 14, "kind": "change", "model": "weak", "label": "weak upgraded",
         "truth": {"complex": {"success": 0.995}}},
    ],
    # The 5% exploration is all the evidence the weak model gets: 40 requests/s give it about
    # 12 outcomes a tick: 3 ticks to the move in two runs on this machine (at 25/s: 3-4).
    requests_per_second=40,
)  # fmt: skip


@pytest.mark.parametrize("scenario", [RECOVERY, UPGRADE], ids=lambda s: s.name)
def test_traffic_moves_to_a_model_that_became_the_best_within_five_ticks(
    scenario: Scenario, tmp_path: Path
) -> None:
    """Short versions of scenarios/model-recovers.yaml and model-upgraded.yaml: a known model,
    learned low (a degraded leader; a weak model), becomes the best; the routers' directed
    exploration and the learner's change window bring its traffic to it within 5 ticks."""
    report = simulate(
        scenario,
        "calibrated",
        pg_base=PG_BASE,
        broker_base=BROKER_BASE,
        out_dir=tmp_path,
        echo=lambda line: None,
    )
    (toward,) = [m for m in report.moves if m.kind == "toward"]
    winner = scenario.events[-1]
    assert isinstance(winner, Change)
    assert (toward.model, toward.complexity, toward.at) == (winner.model, "complex", winner.at)
    assert toward.ticks is not None, f"traffic never moved to {toward.model}"
    assert toward.ticks <= 5, toward
    assert report.summary.exploratory_share <= 0.06


def test_simulate_command_names_a_bad_scenario(settings: Settings, tmp_path: Path) -> None:
    """The ``simulate`` group's subprocess smoke test: a scenario that does not validate is
    refused before anything starts, naming the field."""
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nduration: -5\n")
    result = run_cli_process(settings, "simulate", str(bad), "--out", str(tmp_path))
    assert result.returncode != 0
    assert "duration" in result.stderr
