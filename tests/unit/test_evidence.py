from __future__ import annotations

import pytest

from beat_schedule import schedule
from routelearn.constants import LEARN_QUEUE, LEARN_SCORES_TASK
from routelearn.domain import latency
from routelearn.domain.evidence import Counters, build_evidence, recent_windows
from routelearn.errors import ConfigError
from routelearn.settings import Settings, load_settings


def hist(*head: int) -> tuple[int, ...]:
    return head + (0,) * (latency.NUM_BUCKETS - len(head))


def test_windows_are_differences_of_consecutive_snapshots() -> None:
    snaps = [Counters(10, 1, hist(1, 2)), Counters(15, 1, hist(2, 4))]
    windows = recent_windows(snaps, Counters(25, 4, hist(5, 4)))
    assert [(w.successes, w.failures, w.histogram) for w in windows] == [
        (5, 0, hist(1, 2)),
        (10, 3, hist(3, 0)),
    ]


def test_no_snapshot_means_no_window_and_resets_never_go_negative() -> None:
    assert recent_windows([], Counters(5, 5)) == ()
    (window,) = recent_windows([Counters(100, 50, ())], Counters(3, 1, hist(1, 2)))
    assert (window.successes, window.failures, window.histogram) == (0, 0, ())


def test_evidence_carries_totals_windows_and_a_sane_gate() -> None:
    evidence = build_evidence(
        "m",
        "simple",
        2.5,
        Counters(8, 2),
        [Counters(4, 1)],
        mean_response_ms=None,
        window_seconds=60.0,
        outcomes_at_last_adjustment=500,
    )
    assert (evidence.successes, evidence.failures) == (8, 2)
    assert len(evidence.recent) == 1 and evidence.recent[0].successes == 4
    assert evidence.outcomes_at_last_adjustment == 10  # counters were reset below it


def test_beat_runs_the_learner_on_its_queue_and_expires_before_the_next_tick() -> None:
    settings = Settings(learner_interval=5.0)
    entry = schedule(settings)["learn-scores"]
    assert entry["task"] == LEARN_SCORES_TASK and entry["schedule"] == 5.0
    assert entry["options"]["queue"] == LEARN_QUEUE
    assert 0 < entry["options"]["expires"] < 5.0


def test_learner_limits_must_fit_the_visibility_timeout(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ROUTELEARN_LEARNER_TIME_LIMIT", "50")
    with pytest.raises(ConfigError, match="ROUTELEARN_LEARNER_TIME_LIMIT"):
        load_settings()
    monkeypatch.setenv("ROUTELEARN_LEARNER_TIME_LIMIT", "40")
    monkeypatch.setenv("ROUTELEARN_SCORE_POLICY", "best")
    with pytest.raises(ConfigError, match="ROUTELEARN_SCORE_POLICY='best'"):
        load_settings()
