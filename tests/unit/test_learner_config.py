"""The learner's configuration: its beat entry and its limits."""

from __future__ import annotations

import pytest

from routelearn.constants import LEARN_QUEUE, LEARN_SCORES_TASK
from routelearn.errors import ConfigError
from routelearn.service.schedule import schedule
from routelearn.settings import Settings, load_settings


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
